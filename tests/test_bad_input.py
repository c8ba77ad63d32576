"""Every bad input is exit 1 with advice, never an internal error (exit 70)."""

import re
import sqlite3
import sys
import zipfile
from pathlib import Path

import pytest

import procmine
from procmine.cli import main
from procmine.analysis.conform import load_reference
from procmine.errors import ConfigError
from procmine.sources.mapping import load_mapping, templates_dir
from procmine.analysis.redesign import load_plan
from procmine.rules import load_rules
from conftest import HEADER, T, build_workbook


@pytest.fixture
def small_log(tmp_path):
    """Two cases of 食品经营许可 as a canonical Parquet log."""
    rows = [HEADER[:7]]
    for case in ("A1", "A2"):
        rows += [[case, "食品经营许可", "受理", "局", "甲", T(4, 9), T(4, 10)],
                 [case, "食品经营许可", "审批", "局", "乙", T(5, 9), T(5, 10)]]
    src = build_workbook(tmp_path / "src.xlsx", {"s": rows})
    path = tmp_path / "log.parquet"
    procmine.write_log(procmine.read_export(src).log, path)
    return path


@pytest.fixture
def an_xlsx(tmp_path):
    return build_workbook(tmp_path / "规则.xlsx", {"s": [["thresholds", "min_cases"], ["", 3]]})


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


# ------------------------------------------------------------ GBK files are read


def test_gbk_rules_plan_reference_and_mapping_are_read(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_bytes("name: 本地规则\nsla_days: {食品经营许可: 7}\n".encode("gbk"))
    r = load_rules(rules)
    assert r.name == "本地规则" and r.sla_days == {"食品经营许可": 7.0}

    plan = tmp_path / "plan.yaml"
    plan.write_bytes("name: 优化方案\nchanges:\n  - remove: 审核签发\n".encode("gbk"))
    p = load_plan(plan)
    assert p.name == "优化方案" and [c.names for c in p.changes] == [["审核签发"]]

    ref = tmp_path / "ref.yaml"
    ref.write_bytes("name: 办事指南\nsteps: [受理, 审批]\n".encode("gbk"))
    assert load_reference(ref).name == "办事指南"

    mapping = tmp_path / "map.yaml"
    mapping.write_bytes("fields:\n  case_id: [本地流水码]\n".encode("gbk"))
    assert "本地流水码" in load_mapping(mapping).names("case_id")


def test_gbk_rules_through_the_cli(small_log, tmp_path, capsys):
    rules = tmp_path / "rules.yaml"
    rules.write_bytes("# 本地规则（记事本 ANSI）\nthresholds: {min_cases: 1}\n".encode("gbk"))
    code, err = run(capsys, "audit", small_log, "--rules", rules)
    assert code == 0 and "error" not in err


def test_utf16_with_bom_is_read(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_bytes("name: 统一码\n".encode("utf-16"))  # 记事本's "Unicode": a BOM, then UTF-16LE
    assert load_rules(rules).name == "统一码"


# ------------------------------------------------------------ a spreadsheet where YAML is wanted


@pytest.mark.parametrize("argv, what", [
    (["audit", "{log}", "--rules", "{xlsx}"], "rules file"),
    (["redesign", "{log}", "--plan", "{xlsx}"], "plan"),
    (["conform", "{log}", "--reference", "{xlsx}"], "reference"),
    (["import", "{src}", "--mapping", "{xlsx}", "-o", "{out}"], "mapping file"),
])
def test_a_spreadsheet_given_as_a_yaml_file_is_refused_with_advice(small_log, an_xlsx, tmp_path, capsys, argv, what):
    values = {"log": small_log, "xlsx": an_xlsx, "src": tmp_path / "src.xlsx", "out": tmp_path / "o.parquet"}
    code, err = run(capsys, *[a.format(**values) for a in argv])
    assert code == 1, err
    assert f"a {what} must be a YAML text file" in err and "spreadsheet" in err
    assert "templates/" in err or "procmine suggest" in err  # how to make one
    assert "internal error" not in err and "Traceback" not in err


# ------------------------------------------------------------ unknown keys


def test_misspelt_top_level_rules_key_names_the_nearest(small_log, tmp_path, capsys):
    rules = tmp_path / "r.yaml"
    rules.write_text("threshold:\n  min_cases: 1\n", encoding="utf-8")
    code, err = run(capsys, "audit", small_log, "--rules", rules)
    assert code == 1
    assert "unknown key 'threshold'; did you mean 'thresholds'?" in err


def test_misspelt_section_key_names_the_nearest(tmp_path):
    rules = tmp_path / "r.yaml"
    rules.write_text("thresholds:\n  min_case: 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown key 'thresholds\.min_case'; did you mean 'thresholds\.min_cases'"):
        load_rules(rules)
    rules.write_text("visits:\n  pick_up: 领证\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"did you mean 'visits\.pickup'"):
        load_rules(rules)


def test_every_key_of_the_default_preset_is_known_and_sla_days_are_free(tmp_path):
    # the preset itself, given as a user file, names every key the preset has: none is refused
    user = tmp_path / "copy.yaml"
    user.write_bytes((templates_dir() / "rules" / "最多跑一次.yaml").read_bytes())
    assert load_rules(user).name == load_rules().name
    free = tmp_path / "free.yaml"
    free.write_text("sla_days:\n  任何事项: 3\n  another service: 5\n", encoding="utf-8")
    assert load_rules(free).sla_days == {"任何事项": 3.0, "another service": 5.0}


def test_a_key_added_to_the_preset_is_known_at_once(tmp_path, monkeypatch):
    """Known keys come from the preset file, not from a list in the code."""
    import procmine.rules as rules_mod

    tdir = tmp_path / "templates"
    (tdir / "rules").mkdir(parents=True)
    (tdir / "catalogue").mkdir()
    (tdir / "catalogue" / "电子证照.yaml").write_bytes((templates_dir() / "catalogue" / "电子证照.yaml").read_bytes())
    preset = (templates_dir() / "rules" / "最多跑一次.yaml").read_text(encoding="utf-8")
    preset = preset.replace("thresholds:\n", "thresholds:\n  brand_new_limit: 4\n", 1)
    (tdir / "rules" / "最多跑一次.yaml").write_text(preset, encoding="utf-8")
    monkeypatch.setattr(rules_mod, "templates_dir", lambda: tdir)
    user = tmp_path / "u.yaml"
    user.write_text("thresholds: {brand_new_limit: 2}\n", encoding="utf-8")
    assert rules_mod.load_rules(user).thresholds["brand_new_limit"] == 2.0


@pytest.mark.parametrize("text, message", [
    ("name: x\nchange:\n  - remove: 审核签发\n", "unknown key 'change'; did you mean 'changes'?"),
    ("name: x\nchanges:\n  - remov: 审核签发\n", "line 3: unknown change 'remov'; did you mean 'remove'?"),
    ("name: x\nchanges:\n  - merge: [初审, 复审]\n    int: 审查\n", "line 3: unknown key 'int'; did you mean 'into'?"),
    ("name: x\nchanges:\n  - cap_wait: {departmen: 局, hours: 24}\n", "did you mean 'department'?"),
    ("name: x\nchanges:\n  - remove: 受理\n    share: [身份证]\n", "one change per item"),
])
def test_unknown_plan_keys_are_errors(small_log, tmp_path, capsys, text, message):
    plan = tmp_path / "plan.yaml"
    plan.write_text(text, encoding="utf-8")
    code, err = run(capsys, "redesign", small_log, "--plan", plan)
    assert code == 1 and message in err


# ------------------------------------------------------------ databases


def test_database_without_the_extra_names_the_pip_command(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "sqlalchemy", None)  # as if SQLAlchemy were not installed
    code, err = run(capsys, "import", "postgresql://u@localhost/db", "--table", "t", "-o", tmp_path / "l.parquet")
    assert code == 1
    assert "pip install 'procmine[db]'" in err and "internal error" not in err


def test_mysql_without_its_driver_is_exit_1_naming_pymysql(tmp_path, capsys, monkeypatch):
    pytest.importorskip("sqlalchemy")
    for module in ("pymysql", "MySQLdb"):
        monkeypatch.setitem(sys.modules, module, None)
    code, err = run(capsys, "import", "mysql://u:secret@localhost/db", "--table", "t", "-o", tmp_path / "l.parquet")
    assert code == 1
    assert "pip install pymysql" in err and "secret" not in err


def test_missing_table_lists_the_tables_there(tmp_path, capsys):
    pytest.importorskip("sqlalchemy")
    db = tmp_path / "gov.db"
    with sqlite3.connect(db) as conn:
        conn.execute("create table 办件 (办件编号 text)")
        conn.execute("create table steps (办件编号 text)")
    code, err = run(capsys, "import", f"sqlite:///{db}", "--table", "cases", "-o", tmp_path / "l.parquet")
    assert code == 1
    assert "no table 'cases'" in err and "tables there: steps, 办件" in err


def test_missing_sqlite_file_is_not_created(tmp_path, capsys):
    pytest.importorskip("sqlalchemy")
    db = tmp_path / "none.db"
    code, err = run(capsys, "import", f"sqlite:///{db}", "--table", "t", "-o", tmp_path / "l.parquet")
    assert code == 1 and "no database file" in err
    assert not db.exists()


# ------------------------------------------------------------ a damaged sheet


def test_damaged_sheet_says_what_to_do(tmp_path, capsys):
    good = build_workbook(tmp_path / "good.xlsx", {"s": [HEADER[:7], ["A1", "x", "受理", "d", "p", T(4), T(4, 10)]]})
    bad = tmp_path / "bad.xlsx"
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(bad, "w", zipfile.ZIP_DEFLATED) as zout:
        for name in zin.namelist():
            data = zin.read(name)
            if name.startswith("xl/worksheets/sheet"):  # a cell reference without its row: B2 → B
                data = re.sub(rb'r="B2"', b'r="B"', data, count=1)
            zout.writestr(name, data)
    code, err = run(capsys, "import", bad, "-o", tmp_path / "l.parquet")
    assert code == 1 and "internal error" not in err
    assert "Range is missing the expected row component" in err  # calamine's own words, kept
    assert "export it again" in err and "open it in Excel/WPS, save it again" in err  # and what to do


def test_misspelt_mapping_keys_name_the_nearest(tmp_path, capsys):
    src = build_workbook(tmp_path / "src.xlsx", {"s": [HEADER[:7], ["A", "x", "受理", "d", "p", T(4), T(4, 10)]]})
    mapping = tmp_path / "m.yaml"
    mapping.write_text("feilds:\n  case_id: 流转单号\n", encoding="utf-8")
    code, err = run(capsys, "import", src, "--mapping", mapping, "-o", tmp_path / "l.parquet")
    assert code == 1 and "unknown key 'feilds'; did you mean 'fields'?" in err
    mapping.write_text("wide:\n  start_sufixes: [开始时间]\n", encoding="utf-8")
    code, err = run(capsys, "import", src, "--mapping", mapping, "-o", tmp_path / "l.parquet")
    assert code == 1 and "did you mean 'wide.start_suffixes'?" in err


@pytest.mark.parametrize("preset", sorted(p.name for p in (templates_dir() / "mappings").glob("*.yaml")))
def test_every_shipped_mapping_preset_copied_as_a_user_file_is_accepted(tmp_path, preset):
    from procmine.sources.mapping import check_mapping_keys, load_yaml

    copy = tmp_path / preset
    copy.write_bytes((templates_dir() / "mappings" / preset).read_bytes())
    check_mapping_keys(load_yaml(copy.read_text(encoding="utf-8")), copy)  # raises on an unknown key
