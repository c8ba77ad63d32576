"""The monthly trend in the reports (issue 29): the structure carries monitor.monthly's series,
the HTML page draws it as inline SVG, the workbook as a native line chart on 月度趋势. The log is
test_compare_periods' (limit 5 working days, as of Fri 2024-05-31), its months counted by hand."""

import re
import zipfile

import pytest
from openpyxl import load_workbook

from procmine.report.html import render_html
from procmine.report.structure import build_report
from procmine.report.xlsx import render_xlsx
from test_audit import mklog
from test_compare_periods import AS_OF, ROWS

# March, by 办结: A1, A2 on time; A4 open and late since 03-12 → 2/3. By 受理: A1 (1 trip), A2 (2), A3 (1),
#   A4 (1), X1 (2) → at most one trip 3/5; A3 and A4 still open → 未结.
# April, by 办结: B1, X1 on time, B2 超期; A3 late since 04-03 → 2/4. By 受理: B1, B2, one trip each → 1;
#   both decided, April over → final.
# May: Z1 accepted 05-06 and decided 05-07 on time, one trip → 1 and 1; the as-of month → 未结.
MONTHS = ["2024-03", "2024-04", "2024-05"]
PROVISIONAL = [True, False, True]
ON_TIME = [2 / 3, 2 / 4, 1.0]
ONCE = [3 / 5, 1.0, 1.0]


@pytest.fixture(scope="module")
def rep():
    return build_report(mklog(ROWS), as_of=AS_OF)


def test_the_structure_carries_the_monthly_series(rep):
    tr = rep.trend
    assert tr.months == MONTHS and tr.provisional == PROVISIONAL
    lines = {line.label: line.values for line in tr.lines}
    assert lines["按时办结率"] == pytest.approx(ON_TIME) and lines["最多跑一次率"] == pytest.approx(ONCE)
    assert [r[0] for r in tr.table.rows] == ["2024-03（未结）", "2024-04", "2024-05（未结）"]
    # decided with a limit, open and late there, accepted, of which open: March 2, 1, 5, 2; April 3, 1, 2, 0
    assert [r[3:7] for r in tr.table.rows[:2]] == [[2, 1, 5, 2], [3, 1, 2, 0]]
    assert tr.table in rep.tables()


def test_the_html_page_draws_it_as_inline_svg(rep, tmp_path):
    page = render_html(rep, tmp_path / "r.html").read_text(encoding="utf-8")
    svg = re.search(r'<svg[^>]*class="trend".*?</svg>', page, re.S).group(0)
    # two lines × three months; the provisional months' points hollow: 2 lines × 2 months (+1 in the legend)
    assert svg.count("<circle") == 6 + 2 + 1
    assert svg.count('fill="#fff"') == 4 + 1
    # every segment touches a provisional month (03→04, 04→05): dashed, 2 per line
    assert svg.count('stroke-dasharray="6 4"') == 4
    assert svg.count(">未结<") == 2 and ">66.7%<" in svg and ">60.0%<" in svg and ">50.0%<" in svg
    assert "<script" not in page and "href" not in svg  # offline: nothing fetched, nothing run
    assert "http" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert page.index('id="trend"') < page.index('id="findings"')  # right after the summary


def test_the_workbook_has_a_line_chart_beside_the_table(rep, tmp_path):
    path = render_xlsx(rep, tmp_path / "r.xlsx")
    wb = load_workbook(path)
    assert wb.sheetnames[1] == "月度趋势"
    ws = wb["月度趋势"]
    header = next(r for r in range(1, 6) if ws.cell(r, 1).value == "月份")
    assert [ws.cell(header + k, 1).value for k in (1, 2, 3)] == ["2024-03（未结）", "2024-04", "2024-05（未结）"]
    assert ws.cell(header + 1, 2).value == pytest.approx(2 / 3) and ws.cell(header + 2, 3).value == pytest.approx(1.0)
    with zipfile.ZipFile(path) as z:
        charts = [z.read(n).decode("utf-8") for n in z.namelist() if n.startswith("xl/charts/")]
    line = next(c for c in charts if "<c:lineChart>" in c)
    assert "月度趋势" in line and 'prstDash val="dash"' in line  # the provisional stretch, dashed
    assert line.count("<c:ser>") == 4  # each rate: final months solid, provisional stretch dashed


def test_english_report_says_provisional(tmp_path):
    rep = build_report(mklog(ROWS), as_of=AS_OF, lang="en")
    assert rep.trend.table.rows[0][0] == "2024-03 (provisional)" and rep.trend.lines[0].label == "On time"


def test_the_report_compares_two_periods_as_compare_does(tmp_path):
    # test_compare_periods' hand count: on time March 2/3, April 2/4; March still has open cases (A3, A4)
    rep = build_report(mklog(ROWS), as_of=AS_OF, period="2024-03", against="2024-04")
    c = rep.comparison
    assert c.columns[2:4] == ["2024-03", "2024-04"]
    row = next(r for r in c.rows if r[1] == "按时办结率")
    assert row[2:4] == [pytest.approx(2 / 3), pytest.approx(1 / 2)]
    assert "2024-03（5 件）对比 2024-04（4 件）" in c.note and "2024-03 仍有受理的办件在办" in c.note
    assert "2024-04 仍有" not in c.note
    # rates read as percentages, not 0.7 → 0.5; an average of trips to two places (A: 7/5 trips)
    i = c.rows.index(row)
    assert [c.format_of(i, k) for k in (2, 3, 4, 7)] == ["pct", "pct", "pct", "text"]
    trips = next(k for k, r in enumerate(c.rows) if r[1] == "平均跑动次数")
    assert c.format_of(trips, 2) == "float2"
    page = render_html(rep, tmp_path / "r.html").read_text(encoding="utf-8")
    section = page[page.index('id="comparison"'):]
    assert "<td class=\"num\">66.7%</td>" in section and "<td class=\"num\">1.40</td>" in section


def test_a_report_period_needs_its_pair():
    from procmine.errors import UsageError

    with pytest.raises(UsageError, match="--period and --against"):
        build_report(mklog(ROWS), period="2024-03")
