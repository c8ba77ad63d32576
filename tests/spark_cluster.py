"""A throw-away standalone Spark cluster on 127.0.0.1 for the tests and the benchmarks:
a master and workers, each in its own JVM, from the Spark that pyspark ships
(``$SPARK_HOME/bin/spark-class …deploy.master.Master`` / ``…deploy.worker.Worker``;
pyspark's ``sbin/`` has no start scripts).

The cluster processes get the same local-only settings the engine gives a local
Spark: bound to loopback (``SPARK_LOCAL_IP=127.0.0.1``), Python workers in this
interpreter (``PYSPARK_PYTHON``), Spark's own logging at errors only (procmine's
``spark-conf``), their work and log files in a temporary folder. Each runs in its own
process group and is told by the kernel to stop when this process dies
(``PR_SET_PDEATHSIG``), so even a killed test run leaves no JVM behind; ``stop()``
(or leaving the ``with`` block) ends them all and removes the folder.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import procmine.engine.runner as runner

SPARK_CONF = Path(runner.__file__).with_name("spark-conf")


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:  # pragma: no cover - not Linux: stop() still ends them
        pass


class LocalCluster:
    """``with LocalCluster() as c: …c.url…`` — a master and ``workers`` workers of
    ``cores`` cores and ``memory`` each, up and registered when the block starts."""

    def __init__(self, workers: int = 2, cores: int = 1, memory: str = "2g", timeout: float = 120.0,
                 python: str | None = None) -> None:
        self.workers, self.cores, self.memory, self.timeout = workers, cores, memory, timeout
        self.python = python or sys.executable
        self.procs: list[subprocess.Popen] = []
        self.dir: Path | None = None
        self.port = self.webui = 0

    @property
    def url(self) -> str:
        return f"spark://127.0.0.1:{self.port}"

    def _env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SPARK_", "PYSPARK_"))}
        env.update(SPARK_HOME=str(spark_home()), SPARK_LOCAL_IP="127.0.0.1", SPARK_CONF_DIR=str(SPARK_CONF),
                   PYSPARK_PYTHON=self.python, PYSPARK_DRIVER_PYTHON=self.python,
                   SPARK_WORKER_DIR=str(self.dir / "work"), SPARK_LOG_DIR=str(self.dir / "logs"))
        return env

    def _spawn(self, name: str, *args: str) -> None:
        log = open(self.dir / f"{name}.log", "wb")
        try:
            self.procs.append(subprocess.Popen(
                [str(spark_home() / "bin" / "spark-class"), *args], stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, env=self._env(), cwd=self.dir, start_new_session=True,
                preexec_fn=_die_with_parent))
        finally:
            log.close()

    def status(self) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.webui}/json", timeout=5) as r:
            return json.load(r)

    def start(self) -> "LocalCluster":
        self.dir = Path(tempfile.mkdtemp(prefix="procmine-spark-cluster-"))
        try:
            self.port, self.webui = free_port(), free_port()
            self._spawn("master", "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                        "--port", str(self.port), "--webui-port", str(self.webui))
            for i in range(self.workers):
                self._spawn(f"worker{i}", "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1",
                            "--cores", str(self.cores), "--memory", self.memory, "--webui-port", str(free_port()),
                            "--work-dir", str(self.dir / "work"), self.url)
            deadline = time.monotonic() + self.timeout
            alive = -1
            while time.monotonic() < deadline:
                dead = [p for p in self.procs if p.poll() is not None]
                if dead:
                    raise RuntimeError(f"a Spark cluster process exited ({dead[0].args[1]}):\n{self.logs()}")
                try:
                    alive = int(self.status().get("aliveworkers", 0))
                except (OSError, ValueError):
                    alive = -1
                if alive >= self.workers:
                    return self
                time.sleep(0.5)
            raise RuntimeError(f"the Spark cluster was not up after {self.timeout:.0f} s "
                               f"({max(alive, 0)} of {self.workers} workers registered):\n{self.logs()}")
        except BaseException:
            self.stop()
            raise

    def logs(self, tail: int = 2000) -> str:
        out = []
        for f in sorted(self.dir.glob("*.log")) if self.dir else []:
            out.append(f"--- {f.name}\n{f.read_text(errors='replace')[-tail:]}")
        return "\n".join(out)

    def stop(self) -> None:
        for p in reversed(self.procs):  # workers first, then the master
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        self.procs = []
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self) -> "LocalCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


if __name__ == "__main__":  # python tests/spark_cluster.py: start one, print its status, stop it
    with LocalCluster() as c:
        st = c.status()
        print(c.url, st.get("status"), "alive workers:", st.get("aliveworkers"), "cores:", st.get("cores"))
