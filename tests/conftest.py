from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest
from openpyxl import Workbook

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"


def in_ci() -> bool:
    """CI runs `bash .ci/run` with CI=true."""
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


@pytest.fixture(autouse=True)
def _mask_key(tmp_path_factory, monkeypatch):
    """Tests never read or create the real ~/.config/procmine/mask.key: one
    throw-away key file per test session (subprocesses inherit the variable)."""
    monkeypatch.delenv("PROCMINE_MASK_KEY", raising=False)
    monkeypatch.setenv("PROCMINE_MASK_KEY_FILE", str(tmp_path_factory.getbasetemp() / "procmine-mask.key"))


def require_shared(path: Path) -> Path:
    """A file from ../shared/data: skipped when absent, but a failure in CI
    (CI=true), where the data must be there."""
    if not path.exists():
        msg = (f"{path} is missing: the tests on real logs need ../shared/data beside the repository "
               "(CI must provide it)")
        if in_ci():
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg)
    return path


def chromium_binary() -> str | None:
    """Chromium for the tests that print pages: $PROCMINE_CHROMIUM, else the first of
    chromium, chromium-browser, google-chrome, google-chrome-stable on PATH that is not
    Ubuntu's snap stub."""
    candidates = [os.environ.get("PROCMINE_CHROMIUM")] if os.environ.get("PROCMINE_CHROMIUM") else []
    candidates += [shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")]
    for c in candidates:
        if c and os.access(c, os.X_OK) and not _snap_stub(c):
            return c
    return None


def _snap_stub(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return head.startswith(b"#!") and b"snap" in head


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI a test skipped because shared data is missing fails instead (safety net
    for tests that call pytest.skip themselves)."""
    outcome = yield
    report = outcome.get_result()
    if in_ci() and report.skipped and isinstance(report.longrepr, tuple):
        reason = str(report.longrepr[2])
        if "shared" in reason and ("data" in reason or "present" in reason):
            report.outcome = "failed"
            report.longrepr = f"{reason} (CI=true: the shared data must be present)"


def build_workbook(path: Path, sheets: dict[str, list[list]], merges: dict[str, list[str]] | None = None) -> Path:
    """Write a workbook: {sheet name: rows}, optional {sheet: ["A3:A5", …]} merges."""
    wb = Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
        for ref in (merges or {}).get(name, []):
            ws.merge_cells(ref)
    wb.save(path)
    return path


@pytest.fixture
def workbook(tmp_path):
    def make(sheets, merges=None, name="export.xlsx"):
        return build_workbook(tmp_path / name, sheets, merges)
    return make


HEADER = ["办件编号", "事项名称", "办理环节", "承办部门", "经办人", "开始时间", "结束时间", "提交材料", "是否到场", "承诺时限"]


def T(day: int, hour: int = 9, minute: int = 0) -> dt.datetime:
    return dt.datetime(2024, 3, day, hour, minute)


_REAL_CACHE: dict = {}


@pytest.fixture(scope="session")
def real_log():
    """Import a shared real log once per test session (they are large)."""
    import procmine

    def get(name):
        path = require_shared(SHARED / name)
        if name not in _REAL_CACHE:
            _REAL_CACHE[name] = procmine.read_export(path)
        return _REAL_CACHE[name]
    return get


@pytest.fixture(scope="session")
def sample_log_path(tmp_path_factory):
    """The shipped sample (logs/) imported once, as a canonical Parquet log."""
    import procmine

    path = tmp_path_factory.mktemp("sample") / "log.parquet"
    procmine.write_log(procmine.read_export(Path(__file__).resolve().parents[1] / "logs").log, path)
    return path


def require_spark() -> None:
    """pyspark and Java for the Spark engine tests: skipped when absent on a developer's
    machine, a failure in CI (the test set-up installs both)."""
    import importlib.util

    missing = [what for what, ok in (("pyspark", importlib.util.find_spec("pyspark") is not None),
                                     ("sqlglot", importlib.util.find_spec("sqlglot") is not None),
                                     ("java", shutil.which("java") is not None)) if not ok]
    if missing:
        msg = f"the Spark engine tests need {', '.join(missing)} (make test installs them)"
        if in_ci():
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg)


@pytest.fixture(scope="session")
def spark_cluster():
    """A standalone Spark cluster on 127.0.0.1 (a master and two workers of one core
    and 2g each, their own JVMs: tests/spark_cluster.py), started once, only when a
    test asks for it (a Spark test is selected), and stopped at the end of the session
    whatever the tests did — the Spark session first, then the cluster."""
    require_spark()
    from spark_cluster import LocalCluster

    with LocalCluster(workers=2, cores=1, memory="2g") as cluster:
        try:
            yield cluster
        finally:
            from pyspark.sql import SparkSession

            active = SparkSession.getActiveSession()
            if active is not None:
                active.stop()


@pytest.fixture(scope="session")
def spark_master(spark_cluster):
    """The test cluster's master URL (spark://127.0.0.1:port)."""
    return spark_cluster.url


@pytest.fixture
def spark_options(spark_master):
    """EngineOptions for the Spark engine on the test cluster."""
    from procmine.engine.runner import EngineOptions

    return EngineOptions(engine="spark", spark_master=spark_master)
