"""The ``procmine`` command: each command parses options, calls one library
function and renders its result. Errors become a message and an exit code here,
in ``main``, and nowhere else."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from . import audit as audit_mod
from . import conform as conform_mod
from . import discover as discover_mod
from . import eventlog, importer, maps, metrics, render
from .errors import ProcmineError, UsageError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="procmine")
def cli() -> None:
    """Mine approval-system exports and audit them against 最多跑一次."""


@cli.command("import")
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="canonical log to write (.parquet; .csv/.xes/.xlsx also work)")
@click.option("--mapping", help="column-mapping preset name or YAML file (default: automatic)")
@click.option("--duplicates", type=click.Choice(importer.DUPLICATE_POLICIES), default="auto", show_default=True,
              help="exact duplicate rows: drop, keep, or auto (drop in spreadsheets, keep in CSV/XES)")
@click.option("--service", help="service (事项) name for exports without a 事项 column")
@click.option("--max-unzipped-gb", type=float, default=4.0, show_default=True,
              help="refuse .xlsx files that unpack to more than this (zip-bomb guard)")
@click.option("--json", "as_json", is_flag=True, help="print the accounting as JSON")
@click.option("--no-mask", is_flag=True, help="show ID and phone numbers in reject reasons as they are")
def import_cmd(sources, output, mapping, duplicates, service, max_unzipped_gb, as_json, no_mask) -> None:
    """Import exports (files or folders) into one canonical event log.

    Rejected rows are written beside the output as LOG.rejects.csv.
    """
    result = importer.read_export(sources, mapping, duplicates=duplicates, service=service,
                                  max_unzipped_gb=max_unzipped_gb)
    eventlog.write_log(result.log, output)
    rejects_path = output.with_name(output.name.split(".")[0] + ".rejects.csv")
    if len(result.rejects):
        from .privacy import Masker

        masker = Masker(enabled=not no_mask)
        rejects = result.rejects.assign(reason=[masker.text(r) for r in result.rejects["reason"]])
        eventlog.write_atomic(rejects_path, lambda tmp: eventlog._flat_rejects(rejects, tmp))
    elif rejects_path.exists():
        rejects_path.unlink()
    if as_json:
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        click.echo(render.import_summary(result, output, rejects_path if len(result.rejects) else None))


def _engine_options(f):
    """--memory-limit / --temp-dir for the embedded engine (DuckDB)."""
    def apply(ctx, param, value):
        if value:
            from .engine import duckdb as engine
            engine.configure(**{param.name: value})
        return value
    f = click.option("--temp-dir", "temp_dir", expose_value=False, callback=apply,
                     help="engine spill directory (env PROCMINE_TEMP_DIR)")(f)
    return click.option("--memory-limit", "memory_limit", expose_value=False, callback=apply,
                        help="engine memory limit, e.g. 4GB (env PROCMINE_MEMORY_LIMIT)")(f)


@cli.command("cases")
@click.argument("log", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="cases.csv or cases.parquet")
@click.option("--rules", help="audit-rules preset or YAML file (default: 最多跑一次)")
@click.option("--as-of", help="measure open cases up to this date (default: the latest time in the log)")
@click.option("--no-mask", is_flag=True, help="show case ids that are ID or phone numbers as they are")
@_engine_options
def cases_cmd(log, output, rules, as_of, no_mask) -> None:
    """Per-case metrics: visits, documents, the legal clock (受理→办结), outcome."""
    from .privacy import Masker

    table = metrics.case_metrics(eventlog.read_log(log), rules, as_of=as_of)
    table = table.assign(case_id=Masker(enabled=not no_mask).ids(table["case_id"].astype(str).tolist()))
    eventlog.write_table(table, output)
    click.echo(render.cases_summary(table, output))


@cli.command("audit")
@click.argument("log", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), help="findings.json (default: print a summary only)")
@click.option("--rules", help="audit-rules preset or YAML file (default: templates/rules/最多跑一次.yaml)")
@click.option("--top", type=int, default=15, show_default=True, help="findings shown in the summary")
@click.option("--as-of", help="measure open cases up to this date (default: the latest time in the log)")
@click.option("--no-mask", is_flag=True, help="show ID and phone numbers in evidence as they are")
@_engine_options
def audit_cmd(log, output, rules, top, as_of, no_mask) -> None:
    """Audit a log against 最多跑一次: trips, documents, redundant steps, bottlenecks, time limits."""
    from .privacy import Masker

    result = audit_mod.audit(eventlog.read_log(log), rules, as_of=as_of).masked(Masker(enabled=not no_mask))
    if output:
        eventlog.write_atomic(output, lambda tmp: Path(tmp).write_text(result.to_json(), encoding="utf-8"))
    click.echo(render.audit_summary(result, output, top))


@cli.command("discover")
@click.argument("log", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="map.svg|png|pdf|dot, or map.json for the graph only")
@click.option("--view", type=click.Choice(["activity", "department"]), default="activity", show_default=True)
@click.option("--metric", type=click.Choice(["frequency", "waiting", "service"]), default="frequency", show_default=True)
@click.option("--unit", type=click.Choice(["hours", "working_days"]), default="hours", show_default=True,
              help="unit of waiting times on edges (activity view)")
@click.option("--algorithm", type=click.Choice(["dfg", "inductive", "heuristics"]), default="dfg", show_default=True,
              help="dfg: directly-follows map; inductive/heuristics: pm4py model (+ .bpmn and .pnml beside)")
@click.option("--service", help="only this service (事项)")
@click.option("--from", "date_from", help="cases starting on or after this date (2024-01-01)")
@click.option("--to", "date_to", help="cases starting on or before this date")
@click.option("--top-variants", type=int, help="only the cases of the K most frequent variants")
@click.option("--min-edge-freq", type=int, help="hide edges seen fewer times (default: show the 80 most frequent)")
@click.option("--max-nodes", type=int, default=40, show_default=True, help="show at most this many nodes")
@click.option("--lanes", is_flag=True, help="activity map with one lane (cluster) per department")
@click.option("--json", "as_json", is_flag=True, help="also write the graph as JSON beside the picture")
def discover_cmd(log, output, view, metric, unit, algorithm, service, date_from, date_to, top_variants,
                 min_edge_freq, max_nodes, lanes, as_json) -> None:
    """Draw the real process: activity map, department handover map, or a pm4py model."""
    data = eventlog.read_log(log)
    if algorithm != "dfg":
        sub = discover_mod.filter_log(data, service=service, date_from=date_from, date_to=date_to,
                                      top_variants=top_variants)
        for path in maps.write_model(discover_mod.discover_model(sub, algorithm), output):
            click.echo(f"wrote {path}")
        return
    pm = discover_mod.discover_map(data, view=view, metric=metric, unit=unit, service=service, date_from=date_from,
                                   date_to=date_to, top_variants=top_variants, min_edge_freq=min_edge_freq,
                                   max_nodes=max_nodes)
    graph_json = json.dumps(pm.to_dict(), ensure_ascii=False, indent=2) + "\n"
    if output.suffix.lower() == ".json":
        eventlog.write_atomic(output, lambda tmp: Path(tmp).write_text(graph_json, encoding="utf-8"))
    else:
        maps.render_map(pm, output, title=service, lanes=lanes)
        if as_json:
            eventlog.write_atomic(output.with_suffix(".json"),
                                  lambda tmp: Path(tmp).write_text(graph_json, encoding="utf-8"))
    click.echo(render.map_summary(pm, output))


@cli.command("variants")
@click.argument("log", type=click.Path(path_type=Path))
@click.option("--top", type=int, default=10, show_default=True)
@click.option("--service", help="only this service (事项)")
@click.option("--json", "as_json", is_flag=True)
def variants_cmd(log, top, service, as_json) -> None:
    """Variants (step sequences) with case count, share and median duration."""
    data = discover_mod.filter_log(eventlog.read_log(log), service=service)
    table = discover_mod.variants(data)
    if as_json:
        rows = [{"variant": list(r.variant), "cases": int(r.cases), "share": round(float(r.share), 4),
                 "median_lead_hours": round(float(r.median_lead_hours), 2)} for r in table.head(top).itertuples()]
        click.echo(json.dumps({"variants": int(len(table)), "top": rows}, ensure_ascii=False, indent=2))
    else:
        click.echo(render.variants_table(table, top))


@cli.command("conform")
@click.argument("log", type=click.Path(path_type=Path))
@click.option("--reference", type=click.Path(path_type=Path), required=True,
              help="办事指南 flow: YAML step list (templates/references/), .bpmn or .pnml")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="per-case result (.csv)")
@click.option("--json", "as_json", is_flag=True)
def conform_cmd(log, reference, output, as_json) -> None:
    """Compare every case with the service guide: fits, skipped, extra, repeated steps, wrong order."""
    result = conform_mod.conform(eventlog.read_log(log), reference)
    if output:
        table = result.per_case.assign(deviations=result.per_case["deviations"].map("；".join))
        eventlog.write_table(table, output)
    if as_json:
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        click.echo(render.conformance_summary(result))


@cli.command("report")
@click.argument("log", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="report.xlsx or report.html")
@click.option("--rules", help="audit-rules preset or YAML file")
@click.option("--reference", type=click.Path(path_type=Path), help="办事指南 reference for a conformance section")
@click.option("--title", help="report title")
@click.option("--no-mask", is_flag=True, help="show ID and phone numbers as they are (logged in the report)")
@click.option("--split-date", help="add a before/after comparison section split at this date")
@click.option("--before", "before_log", type=click.Path(path_type=Path), help="add a comparison with this earlier log")
def report_cmd(log, output, rules, reference, title, no_mask, split_date, before_log) -> None:
    """Write the auditor's report: Excel workbook or standalone HTML page."""
    from . import report as report_mod

    suffix = output.suffix.lower()
    if suffix not in (".xlsx", ".html", ".htm"):
        raise UsageError(f"cannot write {output.name}: use .xlsx or .html")
    rep = report_mod.build_report(eventlog.read_log(log), rules=rules, reference=reference, title=title,
                                  mask=not no_mask, split_date=split_date,
                                  before=eventlog.read_log(before_log) if before_log else None)
    _write_report(rep, output)
    click.echo(f"wrote {output}")


def _write_report(rep, output: Path) -> None:
    if output.suffix.lower() == ".xlsx":
        from .report_xlsx import render_xlsx
        render_xlsx(rep, output)
    else:
        from .report_html import render_html
        render_html(rep, output)


@cli.command("demo")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("out"), show_default=True)
@click.option("--logs", "logs_dir", type=click.Path(path_type=Path), help="exports to use (default: the shipped logs/)")
def demo_cmd(out_dir, logs_dir) -> None:
    """Import the shipped sample, audit it, draw maps and write both reports into out/."""
    from . import demo as demo_mod

    from rich.console import Console

    console = Console(stderr=True, highlight=False)
    files = demo_mod.run_demo(out_dir, logs_dir, progress=lambda msg: console.print(msg, markup=False))
    click.echo(render.demo_summary(files))


@cli.command("redesign")
@click.argument("log", type=click.Path(path_type=Path))
@click.option("--plan", type=click.Path(path_type=Path), required=True, help="plan YAML (templates/plans/, procmine suggest)")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="result.json or result.xlsx")
@click.option("--rules", help="audit-rules preset or YAML file")
def redesign_cmd(log, plan, output, rules) -> None:
    """Estimate what a redesign saves: replay every real case under the plan (四减 table)."""
    from . import redesign as redesign_mod

    result = redesign_mod.redesign(eventlog.read_log(log), plan, rules)
    if output:
        _write_result(output, result.to_dict(), {"四减": result.table, "仍未达标": result.still_failing,
                                                 "逐件": result.per_case})
    click.echo(render.redesign_summary(result, output))


@cli.command("suggest")
@click.argument("log", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="plan.yaml")
@click.option("--rules", help="audit-rules preset or YAML file")
def suggest_cmd(log, output, rules) -> None:
    """Draft a plan from the audit findings, for a department to edit and feed to redesign."""
    from . import redesign as redesign_mod

    text = redesign_mod.suggest(eventlog.read_log(log), rules)
    eventlog.write_atomic(output, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    click.echo(f"wrote {output} ({sum(1 for ln in text.splitlines() if ln.lstrip().startswith('- '))} changes)")


@cli.command("compare")
@click.argument("logs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--split-date", help="compare cases starting before / on or after this date (one LOG)")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="comparison.json or comparison.xlsx")
@click.option("--rules", help="audit-rules preset or YAML file")
def compare_cmd(logs, split_date, output, rules) -> None:
    """What a reform changed: per-service metrics in two periods, with bootstrap confidence intervals."""
    from . import compare as compare_mod

    if split_date:
        if len(logs) != 1:
            raise UsageError("--split-date takes one LOG")
        before, after = compare_mod.split_by_date(eventlog.read_log(logs[0]), split_date)
    elif len(logs) == 2:
        before, after = eventlog.read_log(logs[0]), eventlog.read_log(logs[1])
    else:
        raise UsageError("give BEFORE AFTER, or one LOG with --split-date")
    result = compare_mod.compare(before, after, rules)
    if output:
        _write_result(output, result.to_dict(), {"对比": result.table})
    click.echo(render.compare_summary(result, output))


def _write_result(output: Path, data: dict, tables: dict) -> None:
    suffix = output.suffix.lower()
    if suffix == ".json":
        text = json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n"
        eventlog.write_atomic(output, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    elif suffix == ".xlsx":
        eventlog.write_atomic(output, lambda tmp: eventlog.write_tables_xlsx(tables, tmp))
    else:
        raise UsageError(f"cannot write {output.name}: use .json or .xlsx")


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turning procmine's errors into exit codes."""
    try:
        cli.main(args=argv, prog_name="procmine", standalone_mode=False)
    except ProcmineError as exc:
        click.echo(f"procmine: error: {exc.message}", err=True)
        if exc.hint:
            click.echo(exc.hint, err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("procmine: interrupted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("procmine: interrupted; no partial output was left", err=True)
        return 130
    except MemoryError:
        click.echo("procmine: error: out of memory; split the input or use a machine with more memory", err=True)
        return 1
    except OSError as exc:
        click.echo(f"procmine: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), err=True)
        return 1
    return 0


def run() -> None:
    sys.exit(main())
