"""`procmine demo`: the whole pipeline on the shipped sample, into one folder."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from .analysis.audit import audit
from .analysis.discover import discover_map
from .messages import localized
from .errors import InputError
from .log.eventlog import write_atomic, write_log, write_table
from .sources.importer import read_export
from .analysis.maps import render_map
from .config import templates_dir
from .privacy import Masker
from .report.structure import Rejects, ReportOptions, build_report
from .report.html import render_html
from .report.xlsx import render_xlsx


def sample_dir() -> Path:
    """The shipped sample exports (logs/ beside the package, or packaged copy)."""
    for candidate in (templates_dir().parent / "logs", Path.cwd() / "logs"):
        if candidate.is_dir() and any(candidate.glob("*.xlsx")):
            return candidate
    raise InputError("the sample exports (logs/) are not installed here", hint="pass --logs FOLDER")


def run_demo(out_dir: str | Path, logs_dir: str | Path | None = None,
             progress: Callable[[str], None] = lambda _: None,
             max_case_rows: int | None = None) -> dict[str, Path]:
    """Import → audit → maps → reports. Returns {label: path} of what was written.
    ``max_case_rows`` caps the reports' case tables (:class:`procmine.report.structure.ReportOptions`).

    >>> files = run_demo("out")      # doctest: +SKIP
    """
    out = Path(out_dir)
    logs = Path(logs_dir) if logs_dir else sample_dir()
    t0 = time.perf_counter()
    files: dict[str, Path] = {}

    def step(msg: str) -> None:
        progress(f"[{time.perf_counter() - t0:5.1f}s] {msg}")

    step(f"importing {logs} …")
    imported = read_export(logs)
    files["canonical log"] = write_log(imported.log, out / "log.parquet")  # the user's own data: not masked
    masker = Masker.for_log(imported.log)
    step(f"  {imported.rows_read} rows read → {imported.events} events, {imported.cases} cases, "
         f"{len(imported.rejects)} rejected, {imported.duplicates} duplicates")
    if len(imported.rejects):
        files["rejected rows"] = write_table(masker.frame(imported.rejects), out / "log.rejects.csv")
    step("auditing against 最多跑一次 …")
    audited = audit(imported.log)
    result = audited.masked(masker)
    findings = masker.json(result.to_json())
    files["findings"] = write_atomic(out / "findings.json",
                                     lambda tmp: Path(tmp).write_text(findings, encoding="utf-8"))
    files["per-case metrics"] = write_table(masker.frame(result.cases), out / "cases.csv")
    step(f"  {len(result.findings)} findings")
    step("supervision list (督办清单) …")
    from .analysis.monitor import ALERT_LABELS, DEPT_LABELS, monitor
    from .report.tables import write_tables

    alerts = monitor(imported.log, measured=result.measured)
    files["督办清单 (alerts)"] = write_tables(
        out / "alerts.xlsx", f"督办清单（截至 {alerts.as_of:%Y-%m-%d}）",
        {"督办清单": masker.frame(alerts.alerts).rename(columns=ALERT_LABELS),
         "按部门": alerts.by_department.rename(columns=DEPT_LABELS)}, notes=localized(alerts.notes, "zh"))
    step(f"  {alerts.red} red, {alerts.yellow} yellow cards")
    step("drawing maps …")
    files["department map"] = render_map(discover_map(imported.log, view="department"), out / "department_map.svg")
    for i, service in enumerate(sorted(imported.log["service"].dropna().unique()), 1):
        files[f"activity map: {service}"] = render_map(
            discover_map(imported.log, service=service, metric="waiting"), out / f"activity_map_{i}.svg",
            title=service)
    step("writing reports …")
    options = ReportOptions.for_output(out / "report.xlsx", max_case_rows=max_case_rows)
    rejects = Rejects(len(imported.rejects), "log.rejects.csv") if len(imported.rejects) else None
    report = masker.data(build_report(imported.log, title="政务服务办件流程分析（示例数据）", options=options,
                                      rejects=rejects, audited=audited))
    files["Excel report"] = render_xlsx(report, out / "report.xlsx")
    files["HTML report"] = render_html(report, out / "report.html")
    cut = report.cases.full_file or (report.cases_page or report.cases).full_file
    if cut:
        files["all cases (beside the reports)"] = out / cut
    step("done")
    return files
