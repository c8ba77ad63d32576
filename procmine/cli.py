"""The ``procmine`` command: each command parses options, calls one library
function and renders its result. Errors become a message and an exit code here,
in ``main``, and nowhere else."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from .analysis import audit as audit_mod
from .analysis import conform as conform_mod
from .analysis import discover as discover_mod
from .sources import convert, importer
from .log import eventlog
from .analysis import maps
from .engine import metrics
from .report import terminal as render
from .messages import localized
from .errors import InputError, ProcmineError, UsageError
from .privacy import Masker


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="procmine")
def cli() -> None:
    """Mine approval-system exports and audit them against 最多跑一次.

    \b
    The main flow:
      procmine import EXPORTS… -o log.parquet     exports → one canonical log (every row accounted for)
      procmine audit log.parquet                  findings: trips, documents, steps, time limits
      procmine report log.parquet -o report.xlsx  the auditor's report (or .html)
    or, to see it all on the shipped sample: procmine demo -o out/

    \b
    Personal data (ID and mobile numbers, applicant columns) is replaced by
    pseudonyms in every file written, except the canonical log of `import`.
    The pseudonym key: $PROCMINE_MASK_KEY, else the file $PROCMINE_MASK_KEY_FILE
    (default ~/.config/procmine/mask.key, created on first use, mode 0600).
    Exit codes: 1 data or runtime problem, 2 usage error, 70 a bug.
    """


@cli.command("import")
@click.argument("sources", nargs=-1, required=True)
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="canonical log to write (.parquet; .csv/.xes/.xlsx also work)  [required]")
@click.option("--mapping", help="column-mapping preset name or YAML file (default: automatic)")
@click.option("--duplicates", type=click.Choice(convert.DUPLICATE_POLICIES), default="auto", show_default=True,
              help="exact duplicate rows: drop, keep, or auto (drop in spreadsheets, keep in CSV/XES)")
@click.option("--service-name", "service", help="service (事项) name for exports without a 事项 column")
@click.option("--service", "service_old", hidden=True,
              help="deprecated spelling of --service-name (elsewhere --service selects a service)")
@click.option("--max-unzipped-gb", type=float, default=4.0, show_default=True,
              help="refuse .xlsx files that unpack to more than this (zip-bomb guard)")
@click.option("--json", "as_json", is_flag=True, help="print the accounting as JSON")
@click.option("--no-mask", is_flag=True, help="show personal data in the rejects file as it is")
@click.option("--table", "tables", multiple=True,
              help="database source: a table to read (repeat for case/step/document/rating tables; default: "
                   "the tables whose columns give them those roles)")
@click.option("--list-tables", is_flag=True, help="database source: list its tables and their roles, import nothing")
@click.option("--query", help="database source: read the rows of this SQL query instead of tables")
@click.option("--password-file", type=click.Path(path_type=Path),
              help="database source: read the password from this file (or set PROCMINE_DB_PASSWORD)")
@click.option("--partitioned", is_flag=True,
              help="write a partitioned Parquet dataset (service=…/month=…); the default when -o is a directory")
@click.option("--batch-rows", type=click.IntRange(min=1), default=None,
              help="rows per batch when streaming into a partitioned dataset (default 200000)")
@click.option("--append", is_flag=True,
              help="merge the exports into the dataset DIR/ (created by the first append): one version per append, "
                   "steps seen before are not counted twice (daily exports)")
def import_cmd(sources, output, mapping, duplicates, service, service_old, max_unzipped_gb, as_json, no_mask, tables,
               list_tables, query, password_file, partitioned, batch_rows, append) -> None:
    """Import exports (files or folders) into one canonical event log.

    A source may also be a database URL (postgresql://user@host/db): its
    tables with a role (--list-tables shows them), or --table NAME …, or
    --query SQL. Case, step, document and rating tables (sheets, CSV files or
    database tables) are joined on the case key.
    Rejected rows are written beside the output as LOG.rejects.csv.

    \b
    With -o DIR/ (no suffix, or an existing directory) or --partitioned, CSV and
    Parquet inputs are streamed in batches into a Parquet dataset partitioned
    by service and month (DIR/service=…/month=YYYY-MM/part-0.parquet).

    \b
    With --append, the exports are merged into DIR/ (a Delta table): new steps
    added, known ones updated, a case's status from its latest export (导出时间);
    the accounting is rows read = new + updated + already present + rejected.
    """
    service = _deprecated_service(service, service_old)
    if list_tables:
        return _list_tables(sources, mapping, password_file, as_json)
    if output is None:
        raise UsageError("import needs -o/--output: the canonical log to write (log.parquet, or DIR/ for a dataset)")
    if append:
        from .sources import append as daily

        if partitioned or batch_rows:
            raise UsageError("--append builds its own dataset: drop --partitioned/--batch-rows")
        result = daily.append_export(list(sources), output, mapping, duplicates=duplicates, service=service,
                                     max_unzipped_gb=max_unzipped_gb, tables=tables, query=query,
                                     password_file=password_file, progress=render.Progress("rows read"))
    elif partitioned or output.suffix == "" or output.is_dir():
        from .sources import streaming

        result = streaming.import_dataset(list(sources), output, mapping, duplicates=duplicates, service=service,
                                          batch_rows=batch_rows or streaming.DEFAULT_BATCH_ROWS,
                                          max_unzipped_gb=max_unzipped_gb, tables=tables, query=query,
                                          password_file=password_file, progress=render.Progress("rows read"))
    else:
        if batch_rows:
            raise UsageError("--batch-rows applies to a partitioned dataset (-o DIR/ or --partitioned)")
        result = importer.read_export(list(sources), mapping, duplicates=duplicates, service=service,
                                      max_unzipped_gb=max_unzipped_gb, tables=tables, query=query,
                                      password_file=password_file, progress=render.Progress("rows read"))
        eventlog.write_log(result.log, output)  # the user's own data in canonical form: not masked
    rejects_path = (output / "_rejects" / f"{result.version:06d}.csv" if append  # every append's own, kept
                    else output.with_name(output.name.split(".")[0] + ".rejects.csv"))
    masker = Masker.for_log(result.log, enabled=not no_mask)
    if len(result.rejects):
        rejects = masker.frame(result.rejects)
        eventlog.write_atomic(rejects_path, lambda tmp: eventlog.write_rejects_csv(rejects, tmp))
    elif rejects_path.exists():
        rejects_path.unlink()
    if as_json:
        click.echo(json.dumps(masker.data(result.to_dict()), ensure_ascii=False, indent=2))
    elif append:
        click.echo(render.append_summary(result, rejects_path if len(result.rejects) else None))
    else:
        click.echo(render.import_summary(result, output, rejects_path if len(result.rejects) else None))


def _list_tables(sources, mapping, password_file, as_json: bool) -> None:
    from .errors import MappingError
    from .sources import database

    if len(sources) != 1 or not database.is_url(sources[0]):
        raise UsageError("--list-tables takes one database URL (postgresql://user@host/db, sqlite:///file.db …)")
    infos = database.list_tables(sources[0], mapping, password_file=password_file)
    try:
        chosen, why = database.choose_tables(infos, mapping, shown=database.shown_url(sources[0], password_file)), None
    except MappingError as exc:
        chosen, why = [], exc.message
    if as_json:
        click.echo(json.dumps({"tables": [i.to_dict() for i in infos], "import_reads": chosen, "needs_table": why},
                              ensure_ascii=False, indent=2))
    else:
        click.echo(render.tables_list(infos, chosen, why))


def _deprecated_service(service: str | None, service_old: str | None) -> str | None:
    """import's old --service (it names the service, where other commands' --service selects one)."""
    if service_old is None:
        return service
    if service is not None and service != service_old:
        raise UsageError("give --service-name once (--service is its old spelling)")
    click.echo("procmine: import --service is now --service-name (elsewhere --service selects a service); "
               "the old spelling still works for now", err=True)
    return service_old


def _engine_options(f):
    """--engine / --spark-master / --memory-limit / --temp-dir / --storage, gathered into one
    ``EngineOptions`` passed to the command as ``engine``."""
    import functools

    @functools.wraps(f)
    def wrapper(*args, engine_name=None, spark_master=None, memory_limit=None, temp_dir=None, storage=None,
                verbose=False, **kwargs):
        from .engine.runner import EngineOptions

        # -v: every step of the engine and the settings it chose (memory limit, threads) at once
        progress = render.Progress("engine", after=0.0, every=0.0) if verbose else render.Progress("engine", every=3.0)
        opts = EngineOptions.from_env(engine_name, spark_master=spark_master, memory_limit=memory_limit,
                                      temp_dir=temp_dir, storage=storage, progress=progress)
        return f(*args, engine=opts, **kwargs)

    wrapper = click.option("-v", "--verbose", "verbose", is_flag=True,
                           help="say what the engine chose (memory limit, threads) and each step it runs")(wrapper)

    wrapper = click.option("--storage", "storage", type=click.Choice(["memory", "disk"]),
                           help="embedded engine's tables: memory (default; spilled past the limit) or disk "
                                "(compressed, in the spill directory: logs far beyond RAM; env PROCMINE_STORAGE)"
                           )(wrapper)
    wrapper = click.option("--temp-dir", "temp_dir", help="embedded engine's spill directory (env PROCMINE_TEMP_DIR)")(wrapper)
    wrapper = click.option("--memory-limit", "memory_limit",
                           help="embedded engine's memory limit, e.g. 8GB (env PROCMINE_MEMORY_LIMIT)")(wrapper)
    wrapper = click.option("--spark-master", "spark_master",
                           help="Spark master or Spark Connect URL: local[2], spark://host:7077, yarn, sc://host:15002 "
                                "(env PROCMINE_SPARK_MASTER; default local[2])")(wrapper)
    return click.option("--engine", "engine_name", type=click.Choice(["duckdb", "spark"]),
                        help="where the definitions run: duckdb (embedded, default) or spark (env PROCMINE_ENGINE)")(wrapper)


def _is_export(log) -> bool:
    """A LOG argument that is an export (.xlsx, .csv, .xes …), not a canonical log or dataset."""
    from .sources.database import is_url

    path = Path(str(log))
    if is_url(str(log)) or not path.exists():
        return False
    if path.is_dir():  # a folder of exports, not a dataset of Parquet parts
        return not any(path.rglob("*.parquet"))
    return path.suffix.lower() not in (".parquet", ".pq")


def _read_log(log):
    """The log a command reads: a Parquet file or dataset directory as it is; an export is
    imported first, its row accounting printed (on stderr), so no rejected row goes unseen."""
    if not _is_export(log):
        return eventlog.read_log(log)
    result = importer.read_export([log], progress=render.Progress("rows read"))
    click.echo(render.import_line(result, Path(str(log))), err=True)
    return result.log


def _measured(log, rules, as_of, engine):
    """The case model of ``log`` run once in the chosen engine, for a command whose
    analysis takes it (``measured=``): monitor, indicators, ratings, bundles."""
    return metrics.measure(log, rules, as_of=as_of, engine=engine)


def _engine_input(log: str, engine, no_mask: bool):
    """What the engine reads (a Parquet path or URL stays a path; other exports are
    imported) and the masker for what the command writes: for a path, decided from
    the log's applicant-type columns alone."""
    from .privacy import is_applicant_column

    data = eventlog.log_input(log, engine) if not _is_export(log) else _read_log(log)
    personal = eventlog.read_columns(data, where=is_applicant_column) if isinstance(data, (Path, str)) else data
    return data, Masker.for_log(personal, enabled=not no_mask)


@cli.command("cases")
@click.argument("log", metavar="LOG")  # a path, or a URL the Spark engine reads (hdfs://, s3a://)
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="cases.csv, cases.parquet, or a folder (a Parquet dataset written batch by batch)")
@click.option("--rules", help="audit-rules preset or YAML file (default: 最多跑一次)")
@click.option("--as-of", help="measure open cases up to this date (default: the latest time in the log)")
@click.option("--no-mask", is_flag=True, help="show personal data (ID and phone numbers, applicants) as it is")
@_engine_options
def cases_cmd(log, output, rules, as_of, no_mask, engine) -> None:
    """Per-case metrics: visits, documents, the legal clock (受理→办结), outcome."""
    data, masker = _engine_input(log, engine, no_mask)
    if output.suffix.lower() in ("", ".parquet", ".pq"):  # straight from the engine, batch by batch
        metrics.write_cases(data, output, rules, as_of=as_of, engine=engine, mask=masker)
        click.echo(f"case table written: {output}")
        return
    table = masker.frame(metrics.case_metrics(data, rules, as_of=as_of, engine=engine))
    eventlog.write_table(table, output)
    click.echo(render.cases_summary(table, output))


@cli.command("audit")
@click.argument("log", metavar="LOG")  # a path, or a URL the Spark engine reads (hdfs://, s3a://)
@click.option("-o", "--output", type=click.Path(path_type=Path), help="findings.json (default: print a summary only)")
@click.option("--rules", help="audit-rules preset or YAML file (default: templates/rules/最多跑一次.yaml)")
@click.option("--top", type=int, default=15, show_default=True, help="findings shown in the summary")
@click.option("--as-of", help="measure open cases up to this date (default: the latest time in the log)")
@click.option("--no-mask", is_flag=True, help="show personal data (ID and phone numbers, applicants) as it is")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True,
              help="language of the summary's findings")
@_engine_options
def audit_cmd(log, output, rules, top, as_of, no_mask, lang, engine) -> None:
    """Audit a log against 最多跑一次: trips, documents, redundant steps, bottlenecks, time limits."""
    data, masker = _engine_input(log, engine, no_mask)
    result = audit_mod.audit(data, rules, as_of=as_of, engine=engine).masked(masker)
    if output:
        text = masker.json(result.to_json())
        eventlog.write_atomic(output, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    click.echo(render.audit_summary(result, output, top, lang))


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
@click.option("--json", "as_json", is_flag=True,
              help="print the graph as JSON (instead of the summary); a picture also gets it beside, MAP.json")
@click.option("--activity-label", help="show step names from this column (the log keeps its codes)")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True, help="language of the map's labels")
@click.option("--no-mask", is_flag=True, help="show personal data (ID and phone numbers, applicants) as it is")
def discover_cmd(log, output, view, metric, unit, algorithm, service, date_from, date_to, top_variants,
                 min_edge_freq, max_nodes, lanes, as_json, activity_label, lang, no_mask) -> None:
    """Draw the real process: activity map, department handover map, or a pm4py model."""
    from .labels import apply_labels

    data = apply_labels(_read_log(log), activity_label)
    if algorithm != "dfg":
        sub = discover_mod.filter_log(data, service=service, date_from=date_from, date_to=date_to,
                                      top_variants=top_variants)
        for path in maps.write_model(discover_mod.discover_model(sub, algorithm), output):
            click.echo(f"wrote {path}")
        return
    pm = discover_mod.discover_map(data, view=view, metric=metric, unit=unit, service=service, date_from=date_from,
                                   date_to=date_to, top_variants=top_variants, min_edge_freq=min_edge_freq,
                                   max_nodes=max_nodes)
    graph_json = json.dumps(Masker.for_log(data, enabled=not no_mask).data(pm.to_dict()), ensure_ascii=False,
                            indent=2) + "\n"
    if output.suffix.lower() == ".json":
        eventlog.write_atomic(output, lambda tmp: Path(tmp).write_text(graph_json, encoding="utf-8"))
    else:
        maps.render_map(pm, output, title=service, lanes=lanes, lang=lang)
        if as_json:
            eventlog.write_atomic(output.with_suffix(".json"),
                                  lambda tmp: Path(tmp).write_text(graph_json, encoding="utf-8"))
    click.echo(graph_json.rstrip("\n") if as_json else render.map_summary(pm, output))


@cli.command("variants")
@click.argument("log", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="every variant: variants.csv, .xlsx or .json (default: print the top ones only)")
@click.option("--top", type=int, default=10, show_default=True, help="variants shown (and in --json)")
@click.option("--service", help="only this service (事项)")
@click.option("--json", "as_json", is_flag=True, help="print the top variants as JSON")
@click.option("--activity-label", help="show step names from this column (the log keeps its codes)")
@click.option("--no-mask", is_flag=True, help="show personal data (ID and phone numbers, applicants) as it is")
def variants_cmd(log, output, top, service, as_json, activity_label, no_mask) -> None:
    """Variants (step sequences) with case count, share and median duration."""
    from .labels import apply_labels

    data = discover_mod.filter_log(apply_labels(_read_log(log), activity_label), service=service)
    table = discover_mod.variants(data)
    masker = Masker.for_log(data, enabled=not no_mask)

    def rows(t):
        return [{"variant": list(r.variant), "cases": int(r.cases), "share": round(float(r.share), 4),
                 "median_lead_hours": round(float(r.median_lead_hours), 2)} for r in t.itertuples()]

    if output and output.suffix.lower() not in (".csv", ".json", ".xlsx"):
        raise UsageError(f"cannot write {output.name}: use .csv, .json or .xlsx")
    if output:
        flat = table.rename(columns={"variant_text": "variant_steps"})[["variant_steps", "steps", "cases", "share",
                                                                         "median_lead_hours"]]
        if output.suffix.lower() == ".csv":
            eventlog.write_table(masker.frame(flat), output)
        else:
            _write_result(output, {"variants": int(len(table)), "all": rows(table)}, {"variants": flat}, masker)
    if as_json:
        click.echo(json.dumps(masker.data({"variants": int(len(table)), "top": rows(table.head(top))}),
                              ensure_ascii=False, indent=2))
    else:
        click.echo(render.variants_table(table, top) + (f"\nwrote {output}" if output else ""))


@cli.command("conform")
@click.argument("log", type=click.Path(path_type=Path))
@click.option("--reference", type=click.Path(path_type=Path), required=True,
              help="办事指南 flow: YAML step list (templates/references/), .bpmn or .pnml")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="per-case result (.csv)")
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
@click.option("--no-mask", is_flag=True, help="show personal data (ID and phone numbers, applicants) as it is")
@click.option("--activity-label", help="compare step names from this column (the log keeps its codes)")
def conform_cmd(log, reference, output, as_json, no_mask, activity_label) -> None:
    """Compare every case with the service guide: fits, skipped, extra, repeated steps, wrong order."""
    from .labels import apply_labels

    data = apply_labels(_read_log(log), activity_label)
    masker = Masker.for_log(data, enabled=not no_mask)
    result = masker.data(conform_mod.conform(data, reference))
    if output:
        table = result.per_case.assign(deviations=result.per_case["deviations"].map("；".join))
        eventlog.write_table(masker.frame(table), output)
    if as_json:
        click.echo(json.dumps(masker.data(result.to_dict()), ensure_ascii=False, indent=2))
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
@click.option("--period", help="add a comparison of two periods: this one (2024-01..2024-03, or days "
                               "2024-01-15..2024-03-31) with --against, counted as the monthly trend counts")
@click.option("--against", help="the period to compare --period with (e.g. 2024-04..2024-06)")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True, help="language of the report")
@click.option("--activity-label", help="show step names from this column (the log keeps its codes)")
@click.option("--max-case-rows", type=click.IntRange(min=1), metavar="N",
              help="case rows in the workbook (default 10,000; the HTML page at most 5,000): beyond, the worst "
                   "cases and the full per-case table beside the report (REPORT.cases.csv)")
@click.option("--as-of", help="measure open cases up to this date (default: the latest time in the log)")
@_engine_options
def report_cmd(log, output, rules, reference, title, no_mask, split_date, before_log, period, against, lang,
               activity_label, max_case_rows, as_of, engine) -> None:
    """Write the auditor's report: Excel workbook or standalone HTML page."""
    from .report import structure as report_mod

    suffix = output.suffix.lower()
    if suffix not in (".xlsx", ".html", ".htm"):
        raise UsageError(f"cannot write {output.name}: use .xlsx or .html")
    data = _read_log(log)
    before = _read_log(before_log) if before_log else None
    rep = report_mod.build_report(data, rules=rules, reference=reference, title=title,
                                  mask=not no_mask, split_date=split_date, before=before, lang=lang,
                                  period=period, against=against,
                                  activity_label=activity_label, as_of=as_of, engine=engine,
                                  options=report_mod.ReportOptions.for_output(output, max_case_rows=max_case_rows),
                                  rejects=report_mod.rejects_beside(log), progress=lambda m: click.echo(m, err=True))
    masker = Masker.for_log(data, enabled=not no_mask).learn(before)
    rep = masker.data(rep)
    click.echo(f"writing {output.name} …", err=True)
    _write_report(rep, output)
    table = rep.cases if suffix == ".xlsx" else (rep.cases_page or rep.cases)
    if table.full_file:
        click.echo(f"wrote {output.parent / table.full_file} (all {rep.cases_total:,} cases; "
                   f"the report shows the worst {len(table.rows):,})")
    click.echo(f"wrote {output}")


def _write_report(rep, output: Path) -> None:
    if output.suffix.lower() == ".xlsx":
        from .report.xlsx import render_xlsx
        render_xlsx(rep, output)
    else:
        from .report.html import render_html
        render_html(rep, output)


@cli.command("demo")
@click.option("-o", "--output", "out_dir", type=click.Path(path_type=Path), default=None,
              help="folder to write into  [default: out]")
@click.option("--out", "out_alias", type=click.Path(path_type=Path), hidden=True, help="old spelling of -o/--output")
@click.option("--logs", "logs_dir", type=click.Path(path_type=Path), help="exports to use (default: the shipped logs/)")
@click.option("--max-case-rows", type=click.IntRange(min=1), metavar="N",
              help="case rows in report.xlsx (default 10,000; report.html at most 5,000): beyond, the worst cases "
                   "and report.cases.csv beside")
def demo_cmd(out_dir, out_alias, logs_dir, max_case_rows) -> None:
    """Import the shipped sample, audit it, draw maps and write both reports into out/ (-o DIR)."""
    from . import demo as demo_mod

    if out_dir is not None and out_alias is not None and out_dir != out_alias:
        raise UsageError("give the folder once: -o/--output (--out is its old spelling)")
    out_dir = out_dir or out_alias or Path("out")

    from rich.console import Console

    console = Console(stderr=True, highlight=False)
    files = demo_mod.run_demo(out_dir, logs_dir, progress=lambda msg: console.print(msg, markup=False),
                              max_case_rows=max_case_rows)
    click.echo(render.demo_summary(files))


@cli.command("redesign")
@click.argument("log", type=click.Path(path_type=Path))
@click.option("--plan", type=click.Path(path_type=Path), required=True, help="plan YAML (templates/plans/, procmine suggest)")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="result.json or result.xlsx")
@click.option("--rules", help="audit-rules preset or YAML file")
@click.option("--no-mask", is_flag=True, help="show personal data (ID and phone numbers, applicants) as it is")
def redesign_cmd(log, plan, output, rules, no_mask) -> None:
    """Estimate what a redesign saves: replay every real case under the plan (四减 table)."""
    from .analysis import redesign as redesign_mod

    data = _read_log(log)
    masker = Masker.for_log(data, enabled=not no_mask)
    result = masker.data(redesign_mod.redesign(data, plan, rules))  # case ids in examples: masked on screen too
    if output:
        _write_result(output, result.to_dict(), {"四减": result.table, "仍未达标": result.still_failing,
                                                 "逐件": result.per_case}, masker)
    click.echo(render.redesign_summary(result, output))


@cli.command("suggest")
@click.argument("log", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="plan.yaml")
@click.option("--rules", help="audit-rules preset or YAML file")
@click.option("--no-mask", is_flag=True, help="show personal data in the plan's comments as it is")
def suggest_cmd(log, output, rules, no_mask) -> None:
    """Draft a plan from the audit findings, for a department to edit and feed to redesign."""
    from .analysis import redesign as redesign_mod

    data = _read_log(log)
    text = redesign_mod.suggest(data, rules, masker=Masker.for_log(data, enabled=not no_mask))
    eventlog.write_atomic(output, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    click.echo(f"wrote {output} ({sum(1 for ln in text.splitlines() if ln.lstrip().startswith('- '))} changes)")


@cli.command("compare")
@click.argument("logs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--split-date", help="compare cases starting before / on or after this date (one LOG)")
@click.option("--period", help="one LOG: the first period, months 2024-01..2024-03 or days 2024-01-15..2024-03-31 "
                               "(with --against; counted as the monthly trend counts: on-time by 办结, trips by 受理)")
@click.option("--against", help="one LOG: the period to compare --period with (change = AGAINST − PERIOD)")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="comparison.json or comparison.xlsx")
@click.option("--rules", help="audit-rules preset or YAML file")
@click.option("--as-of", help="measure open cases of both periods up to this date (default: the latest time in either)")
@click.option("--no-mask", is_flag=True, help="show personal data (ID and phone numbers, applicants) as it is")
@_engine_options
def compare_cmd(logs, split_date, period, against, output, rules, as_of, no_mask, engine) -> None:
    """What a reform changed: per-service metrics in two periods, with bootstrap confidence intervals.

    \b
    Two logs:           procmine compare BEFORE AFTER
    A cut by 受理 date: procmine compare LOG --split-date 2024-04-01
    Any two periods:    procmine compare LOG --period 2024-01..2024-03 --against 2024-04..2024-06"""
    from .analysis import compare as compare_mod

    if (period is None) != (against is None):
        raise UsageError("--period and --against go together", hint=compare_mod.PERIOD_HELP)
    if period and split_date:
        raise UsageError("give --split-date or --period/--against, not both")
    if split_date or period:
        if len(logs) != 1:
            raise UsageError(f"{'--split-date' if split_date else '--period'} takes one LOG")
        spans = (compare_mod.parse_period(period), compare_mod.parse_period(against)) if period else None
        log = _read_log(logs[0])
        masker = Masker.for_log(log, enabled=not no_mask)
        measured = metrics.measure(log, rules, as_of=as_of, events=False, engine=engine)
        if split_date:
            result = masker.data(compare_mod.compare_split(log, split_date, rules, measured=measured))
        else:
            result = masker.data(compare_mod.compare_periods(log, *spans, rules, measured=measured))
    elif len(logs) == 2:
        before, after = _read_log(logs[0]), _read_log(logs[1])
        masker = Masker.for_log(before, enabled=not no_mask).learn(after)
        result = masker.data(compare_mod.compare(before, after, rules, as_of=as_of, engine=engine))
    else:
        raise UsageError("give BEFORE AFTER, or one LOG with --split-date or --period/--against")
    if output:
        _write_result(output, result.to_dict(), {"对比": result.table, "时段": result.periods_table()}, masker)
    click.echo(render.compare_summary(result, output))


@cli.command("monitor")
@click.argument("log", type=click.Path(path_type=Path))
@click.option("--as-of", help="the day to supervise (default: the latest time in the log)")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="alerts.xlsx, alerts.html or alerts.json")
@click.option("--rules", help="audit-rules preset or YAML file (clock.warn_days sets the yellow card)")
@click.option("--fail-on", type=click.Choice(["red", "yellow"]),
              help="exit with code 3 when a red card (or, with yellow, any card or step overrun) exists — "
                   "for a scheduled daily run")
@click.option("--no-mask", is_flag=True, help="show case ids that are ID or phone numbers as they are")
@click.option("--history", is_flag=True,
              help="also list the card history: new, escalated, long red, closed cards, and per department the "
                   "median working days from card to decision")
@click.option("--cards", "cards_store", type=click.Path(path_type=Path),
              help="card history store (default: LOG/_cards in an appended dataset, else LOG.cards beside the log)")
@click.option("--long-days", type=click.IntRange(min=1), default=10, show_default=True,
              help="--history: red cards open at least this many working days")
@_engine_options
def monitor_cmd(log, as_of, output, rules, fail_on, no_mask, history, cards_store, long_days,
                engine) -> int:
    """督办清单: open cases past their limit (红牌), near it (黄牌) and steps over their own limit,
    by department and handler, most urgent first. Each run records its day's cards in the
    card history (a re-run of a day replaces them).

    Exit codes: 0 done; 3 with --fail-on when such cases exist; 1 bad input; 2 usage."""
    from .analysis import cards as cards_mod
    from .analysis import monitor as monitor_mod

    data_log = _read_log(log)
    result = monitor_mod.monitor(data_log, rules, as_of=as_of, measured=_measured(data_log, rules, as_of, engine),
                                 cards=cards_store or cards_mod.store_for(log), long_days=long_days)
    masker = Masker.for_log(data_log, enabled=not no_mask)
    alerts = masker.frame(result.alerts)
    if output:
        from .report.tables import write_tables

        data = result.to_dict()
        data["alerts"] = [dict(row, case_id=cid, resource=res) for row, cid, res in
                          zip(data["alerts"], alerts["case_id"], alerts["resource"])]
        sheets = {"督办清单": alerts.rename(columns=monitor_mod.ALERT_LABELS),
                  "按部门": result.by_department.rename(columns=monitor_mod.DEPT_LABELS)}
        data.pop("history", None)
        if history:
            sheets.update({k: v.rename(columns=cards_mod.HISTORY_LABELS)
                           for k, v in masker.data(result.history).sheets().items()})
            data["history"] = masker.data(result.history).to_dict()
        write_tables(output, f"督办清单（截至 {result.as_of:%Y-%m-%d}）", sheets, data,
                     notes=localized(result.notes, "zh"))
    click.echo(render.monitor_summary(result, alerts, output))
    if history:
        click.echo(render.card_history_summary(masker.data(result.history)))
    if fail_on == "red" and result.red:
        return 3
    if fail_on == "yellow" and (result.red or result.yellow or result.steps_over):
        return 3
    return 0


@cli.command("indicators")
@click.argument("log", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), help="indicators.xlsx, .html or .json")
@click.option("--rules", help="audit-rules preset or YAML file")
@click.option("--as-of", help="measure open cases up to this date")
@click.option("--by", "by", type=click.Choice(["month"]),
              help="also each indicator by month (rates over decided cases by month of 办结, intake and trips by "
                   "month of 受理; open cases past their limit count as late; months still open are provisional)")
@_engine_options
def indicators_cmd(log, output, rules, as_of, by, engine) -> None:
    """The standard efficiency indicators per service and per department (formulas in the README)."""
    from .analysis import monitor as monitor_mod
    from .report.tables import write_tables

    data_log = _read_log(log)
    tables = monitor_mod.indicators(data_log, rules, as_of=as_of, measured=_measured(data_log, rules, as_of, engine),
                                    by=by)
    if output:
        sheets = {"按事项": tables["service"], "按部门": tables["department"], "缺失原因": tables["reasons"]}
        if by == "month":
            sheets.update({"按月": tables["month"], "月份口径": tables["basis"]})
        write_tables(output, "政务服务效能指标", sheets)
    click.echo(render.indicators_summary(tables, output))


@cli.command("ratings")
@click.argument("log", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), help="ratings.xlsx, .html or .json")
@click.option("--rules", help="audit-rules preset or YAML file (ratings.good_min_level, ratings.rectify_days)")
@click.option("--no-mask", is_flag=True, help="show personal data as it is")
@click.option("--as-of", help="the day rectification deadlines are checked on (default: the latest time in the log)")
@_engine_options
def ratings_cmd(log, output, rules, no_mask, as_of, engine) -> None:
    """好差评 linked to the cases: 差评率 by trips, outcome, correction, channel and department (with
    bootstrap intervals), and the rectification loop (差评 not rectified, rectified late, per department)."""
    from .analysis.ratings import analyse_ratings
    from .report.tables import write_tables

    data_log = _read_log(log)
    r = analyse_ratings(data_log, rules, measured=_measured(data_log, rules, as_of, engine))
    if r is None:
        raise InputError("the log has no ratings (评价等级/满意度 column, or a rating table)",
                         hint="import an export with rating columns; see the README's 好差评 section")
    masker = Masker.for_log(data_log, enabled=not no_mask)
    tables = {"差评成因": r.factors, "显著因素": r.drivers, "未整改差评": masker.frame(r.not_rectified),
              "逾期整改": masker.frame(r.rectified_late), "按部门整改": r.by_department}
    if output:
        write_tables(output, "好差评分析", tables)
    click.echo(render.ratings_summary(r, output))


@cli.command("bundles")
@click.argument("log", type=click.Path(path_type=Path))
@click.option("--bundle", "bundle_files", multiple=True, default=("一件事",), show_default=True,
              help="bundle definition (templates/bundles/NAME.yaml or a YAML file); repeatable")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="bundles.xlsx, .html or .json")
@click.option("--rules", help="audit-rules preset or YAML file (bundles.window_days, bundles.min_applicants)")
@click.option("--no-mask", is_flag=True, help="show applicant keys as they are")
@click.option("--as-of", help="measure open cases up to this date (default: the latest time in the log)")
@_engine_options
def bundles_cmd(log, bundle_files, output, rules, no_mask, as_of, engine) -> None:
    """一件事: each applicant's cases across a bundle's services (trips, documents handed over twice,
    working days, the five promises) and candidate bundles nobody declared yet."""
    from .analysis import bundles as bundles_mod
    from .report.tables import write_tables

    defs = [b for f in bundle_files for b in bundles_mod.load_bundles(f)]
    data_log = _read_log(log)
    result = bundles_mod.bundle_instances(data_log, defs, rules, measured=_measured(data_log, rules, as_of, engine))
    masker = Masker.for_log(data_log, enabled=not no_mask)
    inst = masker.frame(result.instances)   # the applicant column becomes a pseudonym
    cand = masker.frame(result.candidates.assign(evidence=["、".join(e) for e in result.candidates["evidence"]]))
    if output:
        write_tables(output, "一件事分析", {"实例": inst, "候选一件事": cand},
                     {"instances": inst.to_dict(orient="records"), "candidates": cand.to_dict(orient="records")})
    click.echo(render.bundles_summary(inst, cand, output))


@cli.command("serve")
@click.argument("project_dir", type=click.Path(path_type=Path), required=False)
@click.option("--init", "init", is_flag=True, help="create PROJECT_DIR and its first administrator, then stop")
@click.option("--admin", default="admin", show_default=True, help="with --init: the administrator's account name")
@click.option("--password-file", type=click.Path(path_type=Path), help="with --init: read the password from this file")
@click.option("--demo", is_flag=True, help="a project on the shipped sample (default folder workbench-demo/)")
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on (this machine only by default)")
@click.option("--port", type=int, default=8000, show_default=True)
@click.option("--secure-cookies", is_flag=True, help="send the session cookie over HTTPS only (behind a TLS proxy)")
@click.option("--user-header", help="trust this header (e.g. X-Remote-User) for the signed-in user, from --trusted-proxy only")
@click.option("--trusted-proxy", "trusted_proxies", multiple=True,
              help="address of the reverse proxy (its X-Forwarded-For and --user-header are believed)")
def serve_cmd(project_dir, init, admin, password_file, demo, host, port, secure_cookies, user_header,
              trusted_proxies) -> None:
    """The workbench: a web app over a project's log, with accounts and roles (see the README)."""
    from . import web

    if demo:
        project_dir = project_dir or Path("workbench-demo")
        _, password = web.demo_project(project_dir)
        if password:
            click.echo(f"created {project_dir}: sign in as admin with the password {password}")
    if project_dir is None:
        raise UsageError("give the PROJECT_DIR (or --demo)")
    if init:
        password = (web.read_password_file(password_file) if password_file else
                    click.prompt("password for " + admin, hide_input=True, confirmation_prompt=True))
        web.init_project(project_dir, admin, password)
        click.echo(f"created {project_dir} with the administrator {admin}; start it with: procmine serve {project_dir}")
        return
    if user_header and not trusted_proxies:
        raise UsageError("--user-header needs --trusted-proxy (the proxy's address)")
    click.echo(f"procmine workbench on http://{host}:{port}/ (Ctrl-C stops it)")
    web.serve(project_dir, host, port, web.WebConfig(secure_cookies=secure_cookies, user_header=user_header,
                                                    trusted_proxies=tuple(trusted_proxies)))


def _write_result(output: Path, data: dict, tables: dict, masker: Masker) -> None:
    suffix = output.suffix.lower()
    if suffix == ".json":
        text = masker.json(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
        eventlog.write_atomic(output, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    elif suffix == ".xlsx":
        masked = {name: masker.frame(t) for name, t in tables.items()}
        eventlog.write_atomic(output, lambda tmp: eventlog.write_tables_xlsx(masked, tmp))
    else:
        raise UsageError(f"cannot write {output.name}: use .json or .xlsx")


INTERNAL_ERROR = 70  # EX_SOFTWARE: a bug in procmine, not bad input


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turning procmine's errors into exit codes."""
    try:
        rv = cli.main(args=argv, prog_name="procmine", standalone_mode=False)
    except ProcmineError as exc:
        click.echo(f"procmine: error: {exc.message}", err=True)
        if exc.hint:
            click.echo(exc.hint, err=True)
        return exc.exit_code
    except click.exceptions.Abort as exc:  # click turns KeyboardInterrupt into Abort
        signum = getattr(exc.__cause__, "signum", None)  # streaming.Interrupted (SIGINT, SIGTERM)
        if signum is None:
            click.echo("procmine: interrupted", err=True)
            return 130
        click.echo("procmine: interrupted; no partial output was left", err=True)
        return 128 + signum
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
    except Exception as exc:  # a bug, not bad input: say so instead of a traceback
        if os.environ.get("PROCMINE_DEBUG"):
            raise
        click.echo(f"procmine: internal error: {type(exc).__name__}: {str(exc)[:300]}", err=True)
        click.echo("this is a bug in procmine; please report it with the command you ran "
                   "(PROCMINE_DEBUG=1 shows the traceback)", err=True)
        return INTERNAL_ERROR
    return rv if isinstance(rv, int) else 0


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
