"""A throw-away PostgreSQL server for the tests: initdb in a temporary folder,
listening on 127.0.0.1 on a free port, password authentication (scram), stopped
afterwards. PostgreSQL refuses to run as root, so as root the server runs as
the ``postgres`` user (or ``nobody``).

When the binaries are missing the tests are skipped — except under CI (the
``CI`` environment variable set), where that is a failure: install Debian's
``postgresql`` package (``make test`` does).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

PASSWORD = "Pw-S3cret!x9"
USER = "procmine"


def pg_bin() -> Path | None:
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True):
        if Path(d, "initdb").exists() and Path(d, "pg_ctl").exists():
            return Path(d)
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found and shutil.which("pg_ctl") else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self) -> None:
        self.bin = pg_bin()
        if self.bin is None:
            message = ("PostgreSQL server binaries (initdb, pg_ctl) not found: install Debian's 'postgresql' "
                       "package (apt-get install postgresql) to run the database tests")
            if os.environ.get("CI"):
                pytest.fail(message)
            pytest.skip(message)
        self.root = Path(tempfile.mkdtemp(prefix="procmine-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            user = "postgres"
            try:
                pwd.getpwnam(user)
            except KeyError:
                user = "nobody"
            entry = pwd.getpwnam(user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
            os.chmod(self.root, 0o700)
            self.prefix = ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--clear-groups"]
        pwfile = self.root / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self.prefix:
            os.chown(pwfile, pwd.getpwnam(self._user()).pw_uid, -1)
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", USER, f"--pwfile={pwfile}",
                  "-A", "scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync")
        pwfile.unlink()
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"), "-w", "-t", "60",
                  "-o", f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
        self.url = f"postgresql://{USER}@127.0.0.1:{self.port}/postgres"

    def _user(self) -> str:
        try:
            pwd.getpwnam("postgres")
            return "postgres"
        except KeyError:
            return "nobody"

    def _run(self, *cmd: str) -> None:
        env = {**os.environ, "LC_ALL": "C"}
        done = subprocess.run(self.prefix + list(cmd), capture_output=True, text=True, env=env, cwd=self.root)
        if done.returncode:
            log = (self.root / "log").read_text() if (self.root / "log").exists() else ""
            raise RuntimeError(f"{' '.join(cmd[:1])} failed: {done.stderr or done.stdout}\n{log[-2000:]}")

    def engine(self):
        from sqlalchemy import create_engine

        return create_engine(f"postgresql+psycopg://{USER}:{PASSWORD}@127.0.0.1:{self.port}/postgres")

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
