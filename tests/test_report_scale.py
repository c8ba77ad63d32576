"""Reports at scale (issue 15): beyond ``--max-case-rows`` the case tables keep the worst
cases, in the one severity order of ``procmine.report.structure.worst_first``, and name the full
per-case file written beside the report. Each answer below is worked out by hand."""

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

import procmine
from procmine.cli import cli
from procmine.errors import UsageError
from procmine.messages import say
from procmine.privacy import Masker
from procmine.report.structure import ReportOptions, build_report, worst_first
from procmine.report.html import render_html
from procmine.report.xlsx import render_xlsx
from test_audit import mklog

ID = "11010519491231002X"  # a resident ID number (valid check digit) used as a case id: masked everywhere


def _case(cid, accept, finish, sla):
    rows = [(cid, "受理", f"{accept} 09:00", f"{accept} 09:30", {"sla": sla})]
    if finish:
        rows.append((cid, "办结", f"{finish} 15:00", f"{finish} 15:30", {"sla": sla}))
    return rows


@pytest.fixture(scope="module")
def rules(tmp_path_factory):
    p = tmp_path_factory.mktemp("rules") / "rules.yaml"
    p.write_text('clock: {as_of: "2024-03-22"}\n', encoding="utf-8")  # Fri; warn_days 1 (the preset)
    return str(p)


@pytest.fixture(scope="module")
def log():
    # March 2024 has no holidays: Mon 04 … Fri 08, Mon 11 … Fri 15, Mon 18 … Fri 22. The clock counts
    # working days from the day after 受理 to 办结, or to the as-of date (Fri 03-22) for open cases.
    return mklog(
        _case("C-01", "2024-03-04", "2024-03-06", 2)    # Tue, Wed = 2 of 2: 按时, clock 2
        + _case("C-02", "2024-03-04", "2024-03-07", 2)  # Tue–Thu = 3 of 2: 超期, 1 day over
        + _case("C-03", "2024-03-18", None, 5)          # open: Tue–Fri = 4 of 5, 1 left: 临期
        + _case("C-04", "2024-03-04", "2024-03-07", 3)  # 3 of 3: 按时, clock 3
        + _case("C-05", "2024-03-11", None, 7)          # open: Tue 12 … Fri 22 = 9 of 7: 超期在办, 2 over
        + _case("C-06", "2024-03-04", "2024-03-06", 2)  # 按时, clock 2
        + _case("C-07", "2024-03-04", "2024-03-15", 4)  # Tue 05 … Fri 15 = 9 of 4: 超期, 5 days over
        + _case("C-08", "2024-03-21", None, 10)         # open: Fri = 1 of 10, 9 left: other open
        + _case(ID, "2024-03-04", "2024-03-06", 2))     # 按时, clock 2


# worst first: 超期在办 (C-05) before any decided-late case, even one further over; then 超期 by days
# over (C-07 5, C-02 1); 临期 (C-03); other open (C-08); the rest by longest clock (C-04 3), then the
# clock-2 ties by case id: the ID number (digits sort before letters), C-01, C-06.
FULL_ORDER = ["C-05", "C-07", "C-02", "C-03", "C-08", "C-04", ID, "C-01", "C-06"]


@pytest.fixture  # per test: after conftest's throw-away masking key is in place
def cut_report(log, rules):
    return build_report(log, rules=rules, options=ReportOptions(max_case_rows=3))


def _shown(ids):
    m = Masker()
    return [m.text(i) for i in ids]


def test_the_worst_three_are_kept_in_order_and_the_note_names_the_file(cut_report):
    rep = cut_report
    assert [r[0] for r in rep.cases.rows] == ["C-05", "C-07", "C-02"]
    assert rep.cases.full_file == "report.cases.csv"
    assert rep.cases.note.startswith("显示最严重的 3 件（共 9 件）；全部办件见 report.cases.csv。排序：超期在办")
    assert say("report.cases.note", "zh", n=50) in rep.cases.note  # what a blank means is still said
    page = rep.cases_page  # the page's own limit (5,000) is above 3: it shows the same three
    assert [r[0] for r in page.rows] == ["C-05", "C-07", "C-02"] and page.full_file == "report.cases.csv"
    assert list(rep.cases_frame.iloc[:, 0]) == _shown(FULL_ORDER)


def test_the_file_beside_holds_every_case_worst_first_masked(log, rules, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    options = ReportOptions.for_output(out / "季度报告.xlsx", max_case_rows=3)
    rep = build_report(log, rules=rules, options=options)
    book = render_xlsx(rep, out / "季度报告.xlsx")
    beside = out / "季度报告.cases.csv"
    text = beside.read_text(encoding="utf-8-sig")
    assert ID not in text and Masker().text(ID) in text  # masked like every output
    frame = pd.read_csv(beside, encoding="utf-8-sig", dtype=str)
    assert list(frame["办件编号"]) == _shown(FULL_ORDER)
    assert list(frame["时限结果"]) == ["超期在办", "超期", "超期", "在办", "在办", "按时", "按时", "按时", "按时"]
    assert list(frame.columns) == rep.cases.columns  # the sheet's columns, all the rows

    ws = load_workbook(book)["案例"]
    note = ws["A1"].value
    assert "显示最严重的 3 件（共 9 件）" in note and "季度报告.cases.csv" in note
    assert [c.value for c in ws["A"][2:]] == ["C-05", "C-07", "C-02"]  # note, header, three cases

    html = render_html(rep, out / "季度报告.html").read_text(encoding="utf-8")
    assert "显示最严重的 3 件（共 9 件）；全部办件见 季度报告.cases.csv。" in html
    assert sorted(p.name for p in out.iterdir()) == ["季度报告.cases.csv", "季度报告.html", "季度报告.xlsx"]


def test_under_the_limit_nothing_changes(log, rules, tmp_path):
    rep = build_report(log, rules=rules)  # 9 cases, default limits 10,000 / 5,000
    in_case_order = sorted([f"C-0{i}" for i in range(1, 9)] + [ID])
    assert [r[0] for r in rep.cases.rows] == _shown(in_case_order)
    assert rep.cases.note == say("report.cases.note", "zh", n=50)
    assert rep.cases.full_file is None and rep.cases_frame is None and rep.cases_page is rep.cases
    same = build_report(log, rules=rules, options=ReportOptions(max_case_rows=9))  # exactly at the limit
    assert same.cases.rows == rep.cases.rows and same.cases.note == rep.cases.note
    render_xlsx(rep, tmp_path / "r.xlsx")
    html = render_html(rep, tmp_path / "r.html").read_text(encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html", "r.xlsx"]  # no file beside
    assert "最严重" not in html and ".cases.csv" not in html


def test_the_page_can_be_cut_while_the_workbook_holds_all(log, rules, tmp_path):
    rep = build_report(log, rules=rules, options=ReportOptions(max_case_rows=20, page_case_rows=4))
    assert len(rep.cases.rows) == 9 and rep.cases.full_file is None  # the sheet: unchanged
    assert [r[0] for r in rep.cases_page.rows] == ["C-05", "C-07", "C-02", "C-03"]
    render_xlsx(rep, tmp_path / "report.xlsx")
    assert not (tmp_path / "report.cases.csv").exists()
    html = render_html(rep, tmp_path / "report.html").read_text(encoding="utf-8")
    assert "显示最严重的 4 件（共 9 件）；全部办件见 report.cases.csv。" in html
    assert len(pd.read_csv(tmp_path / "report.cases.csv", encoding="utf-8-sig")) == 9


def test_english_note(log, rules):
    rep = build_report(log, rules=rules, lang="en", options=ReportOptions(max_case_rows=3))
    assert rep.cases.note.startswith("Showing the 3 most serious of 9 cases; every case is in report.cases.csv. "
                                     "Order: open, past the limit (most working days over first); late")


def test_beyond_a_spreadsheet_the_file_is_parquet(log, rules, tmp_path, monkeypatch):
    import procmine.report.structure as report_mod

    assert ReportOptions().cases_file(2_000_000) == "report.cases.parquet"
    monkeypatch.setattr(report_mod, "SPREADSHEET_ROWS", 5)  # pretend 9 cases are more than a spreadsheet opens
    rep = build_report(log, rules=rules, options=ReportOptions(max_case_rows=3))
    assert "report.cases.parquet" in rep.cases.note
    render_xlsx(rep, tmp_path / "report.xlsx")
    frame = pd.read_parquet(tmp_path / "report.cases.parquet")
    assert list(frame["办件编号"]) == _shown(FULL_ORDER)
    assert list(frame["办理时长（工作日）"]) == [9, 9, 3, 4, 1, 3, 2, 2, 2]


def test_cli_max_case_rows(log, rules, tmp_path):
    path = tmp_path / "log.parquet"
    procmine.write_log(log, path)
    runner = CliRunner()
    res = runner.invoke(cli, ["report", str(path), "-o", str(tmp_path / "r.xlsx"), "--rules", rules,
                              "--max-case-rows", "3"])
    assert res.exit_code == 0, res.output
    assert "r.cases.csv" in res.output
    assert len(pd.read_csv(tmp_path / "r.cases.csv", encoding="utf-8-sig")) == 9
    bad = runner.invoke(cli, ["report", str(path), "-o", str(tmp_path / "r.xlsx"), "--max-case-rows", "0"])
    assert bad.exit_code == 2
    with pytest.raises(UsageError):
        ReportOptions(max_case_rows=0)


def test_severity_order_unknowns_last_ties_by_id():
    nan = np.nan
    cases = pd.DataFrame([
        # case_id, outcome, due_soon, days_left, clock_days, sla_days
        ("b", "超期在办", False, -1, 6, 5),
        ("a", "超期在办", False, -1, 6, 5),       # tie with b: the smaller id first
        ("c", "超期", False, nan, 10, nan),       # a calendar-day limit: days over unknown → last of 超期
        ("d", "超期", False, nan, 4, 2),          # 2 over
        ("e", "撤回", False, nan, nan, nan),      # no clock: last of all
        ("f", "按时", False, nan, 1, 3),
        ("g", "在办", False, nan, 2, nan),        # open without a limit: after open cases with one
        ("h", "在办", False, 5, 3, 8),
        ("i", "在办", True, 0, 5, 5),             # 临期: 0 days left
    ], columns=["case_id", "outcome", "due_soon", "days_left", "clock_days", "sla_days"])
    assert list(cases["case_id"].iloc[worst_first(cases)]) == ["a", "b", "d", "c", "i", "h", "g", "f", "e"]
