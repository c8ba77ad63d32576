"""Consistent commands: -o everywhere a command writes, the same options wherever they apply,
one meaning per option name, --json on stdout, summaries aligned by display width."""

import json

import pandas as pd
import pytest
from click.testing import CliRunner
from rich.cells import cell_len

import procmine
from procmine.report import terminal as render
from procmine.cli import cli, main
from conftest import HEADER, T, build_workbook

# the commands that write a file, and those that read a log (and so could take each option)
WRITERS = ("import", "cases", "audit", "discover", "variants", "conform", "report", "demo", "redesign", "suggest",
           "compare", "monitor", "indicators", "ratings", "bundles")
AS_OF = ("cases", "audit", "report", "monitor", "indicators", "ratings", "bundles", "compare")
NO_MASK = ("import", "cases", "audit", "discover", "variants", "conform", "report", "redesign", "suggest", "compare",
           "monitor", "ratings", "bundles")
ENGINE = ("cases", "audit", "report", "monitor", "indicators", "ratings", "bundles", "compare")
ACTIVITY_LABEL = ("discover", "variants", "conform", "report")
LANG = ("audit", "discover", "report")


def _options(command: str) -> dict[str, object]:
    return {opt: p for p in cli.commands[command].params for opt in getattr(p, "opts", [])}


@pytest.mark.parametrize("command", WRITERS)
def test_every_writer_takes_dash_o_and_output(command):
    opts = _options(command)
    assert "-o" in opts and "--output" in opts and opts["-o"] is opts["--output"]


@pytest.mark.parametrize("option, commands", [("--as-of", AS_OF), ("--no-mask", NO_MASK), ("--engine", ENGINE),
                                              ("--memory-limit", ENGINE), ("--activity-label", ACTIVITY_LABEL),
                                              ("--lang", LANG)])
def test_shared_options_wherever_they_apply(option, commands):
    missing = [c for c in commands if option not in _options(c)]
    assert missing == []


def test_service_has_one_meaning():
    """--service selects a service wherever it is shown; import's naming option is --service-name."""
    for name, command in cli.commands.items():
        for p in command.params:
            if "--service" in getattr(p, "opts", []) and not p.hidden:
                assert "only this service" in (p.help or ""), name
    assert "--service-name" in _options("import")
    assert _options("import")["--service"].hidden


def test_top_level_help_names_the_main_flow():
    out = CliRunner().invoke(cli, ["--help"]).output
    flow = out[out.index("main flow"):]
    assert flow.index("procmine import") < flow.index("procmine audit") < flow.index("procmine report")
    assert "procmine demo" in flow


@pytest.fixture
def export(tmp_path):
    # 3 cases: A and B go 受理 → 审批, C only 受理 (no 事项 column: the service comes from --service-name)
    rows = [["办件编号", "办理环节", "承办部门", "经办人", "开始时间", "结束时间"]]
    for case in ("A", "B"):
        rows += [[case, "受理", "局", "甲", T(4, 9), T(4, 10)], [case, "审批", "局", "乙", T(5, 9), T(5, 10)]]
    rows += [["C", "受理", "局", "甲", T(6, 9), T(6, 10)]]
    return build_workbook(tmp_path / "无事项.xlsx", {"s": rows})


def test_import_old_service_spelling_still_works_and_says_so(export, tmp_path):
    runner = CliRunner()
    new = runner.invoke(cli, ["import", str(export), "--service-name", "食品经营许可", "-o", str(tmp_path / "n.parquet")])
    assert new.exit_code == 0, new.output
    old = runner.invoke(cli, ["import", str(export), "--service", "食品经营许可", "-o", str(tmp_path / "o.parquet")])
    assert old.exit_code == 0
    assert "--service is now --service-name" in old.stderr
    for name in ("n", "o"):
        assert set(procmine.read_log(tmp_path / f"{name}.parquet")["service"]) == {"食品经营许可"}
    assert main(["import", str(export), "--service", "a", "--service-name", "b", "-o", str(tmp_path / "b.parquet")]) == 2


def test_variants_writes_every_variant(export, tmp_path):
    log = tmp_path / "log.parquet"
    assert main(["import", str(export), "-o", str(log)]) == 0
    res = CliRunner().invoke(cli, ["variants", str(log), "--top", "1", "-o", str(tmp_path / "v.csv")])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(tmp_path / "v.csv", encoding="utf-8-sig")
    # by hand: 受理 → 审批 for A and B (2 of 3 cases), 受理 alone for C
    assert list(table["variant_steps"]) == ["受理 → 审批", "受理"]
    assert list(table["cases"]) == [2, 1] and table["share"].round(4).tolist() == [0.6667, 0.3333]
    res = CliRunner().invoke(cli, ["variants", str(log), "-o", str(tmp_path / "v.json")])
    data = json.loads((tmp_path / "v.json").read_text(encoding="utf-8"))
    assert data["variants"] == 2 and [v["cases"] for v in data["all"]] == [2, 1]
    assert main(["variants", str(log), "-o", str(tmp_path / "v.txt")]) == 2  # .csv, .json or .xlsx
    assert not (tmp_path / "v.txt").exists()


def test_discover_json_goes_to_stdout(export, tmp_path):
    log = tmp_path / "log.parquet"
    assert main(["import", str(export), "-o", str(log)]) == 0
    res = CliRunner().invoke(cli, ["discover", str(log), "-o", str(tmp_path / "m.svg"), "--json"])
    assert res.exit_code == 0, res.output
    graph = json.loads(res.stdout)
    # 受理 → 审批 twice (A, B): with the start and end markers, one edge between the two steps
    edge = [e for e in graph["edges"] if (e["source"], e["target"]) == ("受理", "审批")]
    assert edge and edge[0]["count"] == 2 and graph["cases"] == 3
    assert (tmp_path / "m.json").exists()  # and beside the picture, as before


def test_demo_takes_dash_o_and_keeps_out_as_a_hidden_alias(tmp_path, monkeypatch):
    import procmine.demo as demo_mod

    seen = []
    monkeypatch.setattr(demo_mod, "run_demo", lambda out, logs, progress, max_case_rows: seen.append(out) or {"log": out})
    runner = CliRunner()
    assert runner.invoke(cli, ["demo", "-o", str(tmp_path / "a")]).exit_code == 0
    assert runner.invoke(cli, ["demo", "--output", str(tmp_path / "b")]).exit_code == 0
    assert runner.invoke(cli, ["demo", "--out", str(tmp_path / "c")]).exit_code == 0
    assert runner.invoke(cli, ["demo"]).exit_code == 0
    assert seen == [tmp_path / "a", tmp_path / "b", tmp_path / "c", pd.io.common.Path("out")]
    assert "--out " not in runner.invoke(cli, ["demo", "--help"]).output


def test_engine_and_as_of_reach_monitor_and_indicators(export, tmp_path):
    log = tmp_path / "log.parquet"
    assert main(["import", str(export), "-o", str(log)]) == 0
    runner = CliRunner()
    res = runner.invoke(cli, ["monitor", str(log), "--as-of", "2024-03-29", "--engine", "duckdb",
                              "--memory-limit", "1GB", "-o", str(tmp_path / "a.json")])
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "a.json").read_text(encoding="utf-8"))
    assert data["as_of"].startswith("2024-03-29")
    res = runner.invoke(cli, ["indicators", str(log), "--as-of", "2024-03-29", "--memory-limit", "1GB"])
    assert res.exit_code == 0, res.output


def test_summaries_align_by_display_width(tmp_path):
    a = build_workbook(tmp_path / "食品经营许可_2024上半年.xlsx",
                       {"东城区": [HEADER[:7], ["A", "x", "受理", "d", "p", T(4), T(4, 10)]]})
    b = build_workbook(tmp_path / "plain.xlsx", {"Sheet1": [HEADER[:7], ["B", "x", "受理", "d", "p", T(4), T(4, 10)]]})
    text = render.import_summary(procmine.read_export([a, b]), None, None)
    lines = text.splitlines()
    head, rows = lines[0], [ln for ln in lines[2:4]]
    assert "东城区" in rows[0] and "Sheet1" in rows[1]
    # every row of the table is as wide on screen as the header: the columns line up
    assert [cell_len(r) for r in rows] == [cell_len(head)] * 2
    assert [cell_len(r[: r.index(" long")]) for r in rows] == [28 + 1 + 14] * 2


def test_cell_pads_and_cuts_by_display_width():
    assert render.cell("东城区", 8) == "东城区  "        # 6 columns + 2 spaces
    assert render.cell("ab", 4, ">") == "  ab"
    assert cell_len(render.cell("食品经营许可事项", 7)) == 7  # cut inside a wide character: padded to 7


def test_a_command_reading_an_export_prints_its_row_accounting(tmp_path):
    # 3 data rows, one without a case id: read 3 = used 2 + duplicates 0 + rejected 1
    src = build_workbook(tmp_path / "明细.xlsx", {"s": [HEADER[:7], ["A", "x", "受理", "d", "p", T(4, 9), T(4, 10)],
                                                      ["A", "x", "审批", "d", "p", T(5, 9), T(5, 10)],
                                                      [None, "x", "审批", "d", "p", T(5, 9), T(5, 10)]]})
    for argv in (["audit", str(src)], ["variants", str(src)], ["audit", str(tmp_path)]):
        res = CliRunner().invoke(cli, argv)
        assert res.exit_code == 0, res.output
        assert "rows read 3 = used 2 + duplicates 0 + rejected 1; 1 cases, 2 events" in res.stderr
        assert "log.rejects.csv" in res.stderr
    log = tmp_path / "log.parquet"
    assert main(["import", str(src), "-o", str(log)]) == 0
    res = CliRunner().invoke(cli, ["audit", str(log)])
    assert res.exit_code == 0 and "rows read" not in res.stderr  # a canonical log: nothing to account for


def test_audit_summary_in_english(sample_log_path):
    from procmine.analysis.audit import audit

    res = CliRunner().invoke(cli, ["audit", str(sample_log_path), "--lang", "en", "--top", "3"])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    # the sample's three services, each a line in English (ground truth: 1,500 / 800 / 1,200 cases)
    assert any(ln.startswith("企业开办一件事: 1500 cases, No trip at all") for ln in lines)
    assert any(ln.startswith("建筑工程施工许可: 800 cases") for ln in lines)
    findings = audit(procmine.read_log(sample_log_path)).findings[:3]
    shown = [ln for ln in lines if ln[:5].strip().rstrip(".").isdigit()]
    assert len(shown) == 3
    for ln, f in zip(shown, findings):
        assert ln.endswith(f.text("en")) and f.text("en") != f.text("zh")
    zh = CliRunner().invoke(cli, ["audit", str(sample_log_path), "--top", "1"]).stdout
    assert "1500 件" in zh  # the default stays Chinese
