"""The ``procmine`` command: each command parses options, calls one library
function and renders its result. Errors become a message and an exit code here,
in ``main``, and nowhere else."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from . import audit as audit_mod
from . import eventlog, importer, metrics, render
from .errors import ProcmineError


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
def import_cmd(sources, output, mapping, duplicates, service, max_unzipped_gb, as_json) -> None:
    """Import exports (files or folders) into one canonical event log.

    Rejected rows are written beside the output as LOG.rejects.csv.
    """
    result = importer.read_export(sources, mapping, duplicates=duplicates, service=service,
                                  max_unzipped_gb=max_unzipped_gb)
    eventlog.write_log(result.log, output)
    rejects_path = output.with_name(output.name.split(".")[0] + ".rejects.csv")
    if len(result.rejects):
        eventlog.write_atomic(rejects_path, lambda tmp: eventlog._flat_rejects(result.rejects, tmp))
    elif rejects_path.exists():
        rejects_path.unlink()
    if as_json:
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        click.echo(render.import_summary(result, output, rejects_path if len(result.rejects) else None))


@cli.command("cases")
@click.argument("log", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="cases.csv or cases.parquet")
@click.option("--rules", help="audit-rules preset or YAML file (default: 最多跑一次)")
def cases_cmd(log, output, rules) -> None:
    """Per-case metrics: visits, documents, working days, time limit."""
    table = metrics.case_metrics(eventlog.read_log(log), rules)
    eventlog.write_table(table, output)
    click.echo(render.cases_summary(table, output))


@cli.command("audit")
@click.argument("log", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), help="findings.json (default: print a summary only)")
@click.option("--rules", help="audit-rules preset or YAML file (default: templates/rules/最多跑一次.yaml)")
@click.option("--top", type=int, default=15, show_default=True, help="findings shown in the summary")
def audit_cmd(log, output, rules, top) -> None:
    """Audit a log against 最多跑一次: trips, documents, redundant steps, bottlenecks, time limits."""
    result = audit_mod.audit(eventlog.read_log(log), rules)
    if output:
        eventlog.write_atomic(output, lambda tmp: Path(tmp).write_text(result.to_json(), encoding="utf-8"))
    click.echo(render.audit_summary(result, output, top))


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
