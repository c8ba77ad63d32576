"""Issue 27: findings a leader trusts at a glance (priorities, units, words instead of rule keys)."""

import re

import pytest

from procmine.analysis.audit import Finding
from procmine.privacy import Masker
from procmine.report.structure import _actions, _Text
from procmine.rules import load_rules


def finding(kind, service, cases, impact, unit, severity, score, share):
    f = Finding(kind, service, cases, impact, unit, [], {}, severity=severity, score=score,
                details={"share_of_cases": share})
    return f


def test_priorities_take_the_highest_severity_first_then_impact():
    t = _Text("zh", load_rules(), Masker(enabled=False))
    low_but_huge = finding("rework", "甲", 30, 5000, "steps", "low", 5000, 0.1)
    breach = finding("sla_overrun", "乙", 12, 20, "working_days", "high", 150, 0.12)
    half = finding("excess_visits", "丙", 60, 70, "trips", "high", 280, 0.6)
    medium = finding("repeated_material", "丁", 25, 40, "documents", "medium", 20, 0.25)
    lines = _actions([low_but_huge, breach, half, medium], t)
    # 高 first (by impact: 丙's 280 before 乙's 150), then 中; the 低 item with the largest score is not among them
    assert [line.split("：")[0] for line in lines] == ["丙", "乙", "丁"]
    # each reason is one sentence: it ends the line with one 。 and holds no other
    for line in lines:
        reason = line.split("理由：", 1)[1]
        assert reason.endswith("。") and reason.count("。") == 1
    assert "违反时限" in lines[1] and "60%" in lines[0]


# the units a numeric column's header may name, in its parentheses: exactly one of these
UNITS = {"次", "份", "个", "工作日", "百分点"}
COUNTS = {"涉及办件"}  # a count of cases: the header says what is counted


def _one_unit(header: str) -> bool:
    m = re.fullmatch(r"[^（）]+（([^（）]+)）", header)
    if m is None:
        return header in COUNTS
    return m.group(1) in UNITS


@pytest.fixture(scope="module")
def sample_report(tmp_path_factory):
    import procmine
    from procmine.report.structure import build_report
    from procmine.report.html import render_html
    from procmine.report.xlsx import render_xlsx
    from conftest import ROOT

    out = tmp_path_factory.mktemp("rep")
    rep = build_report(procmine.read_export(ROOT / "logs").log, max_services_maps=1)
    return rep, render_xlsx(rep, out / "r.xlsx"), render_html(rep, out / "r.html")


def test_every_numeric_column_of_the_findings_table_has_one_unit(sample_report):
    from html.parser import HTMLParser

    import openpyxl

    rep, xlsx, html = sample_report
    # the structure: no column of units beside a mixed 数量
    assert "单位" not in rep.findings.columns and "数量" not in rep.findings.columns
    ws = openpyxl.load_workbook(xlsx, read_only=True)["发现"]
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    head = next(i for i, r in enumerate(rows) if r and "说明" in r)
    header, body = rows[head], [r for r in rows[head + 1:] if r and r[1] is not None and isinstance(r[1], int)]
    numeric = [c for c in range(1, len(header)) if header[c] and header[c] != "序号"
               and any(isinstance(r[c], (int, float)) for r in body)]
    assert len(numeric) >= 4  # 涉及办件 and several unit columns on the sample
    for c in numeric:
        assert _one_unit(header[c]), header[c]

    class Cells(HTMLParser):
        def __init__(self):
            super().__init__()
            self.tables, self.cell, self.inside = [], None, False

        def handle_starttag(self, tag, attrs):
            if tag == "section":
                self.inside = dict(attrs).get("id") == "findings"
            if not self.inside:
                return
            if tag == "table":
                self.tables.append([])
            elif tag == "tr":
                self.tables[-1].append([])
            elif tag in ("td", "th"):
                self.cell = [tag, dict(attrs).get("class", ""), ""]

        def handle_data(self, data):
            if self.cell is not None:
                self.cell[2] += data

        def handle_endtag(self, tag):
            if tag in ("td", "th") and self.cell is not None and self.inside:
                self.tables[-1][-1].append(self.cell)
                self.cell = None

    p = Cells()
    p.feed(html.read_text(encoding="utf-8"))
    assert p.tables
    for table in p.tables:
        header = [c[2].strip() for c in table[0]]
        for i, name in enumerate(header):
            nums = [r[i] for r in table[1:] if i < len(r) and "num" in r[i][1] and r[i][2].strip()]
            if nums and name != "序号":
                assert _one_unit(name), name


def test_maps_label_waits_in_the_findings_working_days_with_the_unit_in_the_legend(sample_report):
    rep = sample_report[0]
    service_maps = [p for p in rep.pictures if "环节流程图" in p.title]
    assert service_maps
    svg = service_maps[0].svg
    assert "等待单位：工作日" in svg and re.search(r"等待 \d+\.\d工作日", svg)
    assert not re.search(r"等待 [\d.]+时", svg)  # no calendar hours


def test_a_map_wait_is_office_time_over_one_days_office_hours():
    from procmine.analysis.discover import activity_map
    from procmine.rules import load_rules
    from test_audit import mklog

    # 受理 ends Friday 2024-03-08 16:00, 审查 starts Monday 03-11 10:00: 1.5 h (Fri) + 1.5 h (Mon) = 3 office
    # hours = 0.4 working days of 7.5 h (calendar time: 66 h)
    log = mklog([("A", "受理", "2024-03-08 15:00", "2024-03-08 16:00"),
                 ("A", "审查", "2024-03-11 10:00", "2024-03-11 11:00")])
    pm = activity_map(log, "waiting", unit="office_days", calendar=load_rules().calendar())
    assert pm.edges["wait_p50"].iloc[0] == pytest.approx(3 / 7.5)


def _rule_keys() -> set[str]:
    """Every key of the default rules file, at any depth."""
    import yaml
    from conftest import ROOT

    data = yaml.safe_load((ROOT / "templates" / "rules" / "最多跑一次.yaml").read_text(encoding="utf-8"))
    keys: set[str] = set()

    def walk(x):
        if isinstance(x, dict):
            for k, v in x.items():
                keys.add(str(k))
                walk(v)

    walk(data)
    return keys


def _named_keys(text: str, keys: set[str]) -> set[str]:
    return {k for k in keys if re.search(rf"(?<![A-Za-z_]){re.escape(k)}(?![A-Za-z_])", text)}


def test_no_rule_file_key_appears_outside_the_last_page(sample_report):
    from html.parser import HTMLParser

    import openpyxl

    rep, xlsx, html = sample_report
    keys = _rule_keys()
    assert {"sla_days", "ranking_hours", "thresholds", "min_cases"} <= keys
    wb = openpyxl.load_workbook(xlsx, read_only=True)
    names = wb.sheetnames
    assert names[-1] == "测算方法"  # the last sheet is how this was measured …
    last = " ".join(str(v) for r in wb[names[-1]].iter_rows(values_only=True) for v in r if v is not None)
    assert {"sla_days", "ranking_hours", "min_cases"} <= _named_keys(last, keys)  # … and names the keys
    for name in names[:-1]:
        text = " ".join(str(v) for r in wb[name].iter_rows(values_only=True) for v in r if isinstance(v, str))
        assert not _named_keys(text, keys), (name, _named_keys(text, keys))

    class Text(HTMLParser):
        def __init__(self):
            super().__init__()
            self.parts, self.skip, self.method = [], 0, False

        def handle_starttag(self, tag, attrs):
            if tag in ("style", "script"):
                self.skip += 1
            if tag == "section":
                self.method = dict(attrs).get("id") == "method"

        def handle_endtag(self, tag):
            if tag in ("style", "script"):
                self.skip -= 1
            if tag == "section":
                self.method = False

        def handle_data(self, data):
            if not self.skip and not self.method:
                self.parts.append(data)

    p = Text()
    page = html.read_text(encoding="utf-8")
    p.feed(page)
    assert 'id="method"' in page and page.rindex("<section") == page.index('<section id="method"')
    assert not _named_keys(" ".join(p.parts), keys), _named_keys(" ".join(p.parts), keys)


def test_a_paradoxical_driver_is_not_a_cause_and_identical_groups_are_said(tmp_path):
    from procmine.analysis.audit import audit
    from procmine.report.structure import build_report
    from test_audit import mklog

    # 甲局 decides every case the next working day (按时, limit 2) and 6 of its 10 are rated 非常不满意;
    # 乙局 decides on 03-12, 6 working days after 03-04 (超期), and all 10 are rated 非常满意: the 超期 cases
    # are rated better (a paradox), and the outcome groups are exactly the department groups
    rows = []
    for i in range(20):
        late = i >= 10
        dept = "乙局" if late else "甲局"
        end = "2024-03-12 10:00" if late else "2024-03-05 10:00"
        rating = "非常满意" if late or i >= 6 else "非常不满意"
        rows += [(f"R{i:02d}", "受理", "2024-03-04 09:00", "2024-03-04 09:10", {"dept": dept, "sla": 2}),
                 (f"R{i:02d}", "决定", end, end, {"dept": dept, "sla": 2, "rating": rating,
                                                  "rating_time": "2024-03-13 09:00"})]
    log = mklog(rows)
    drivers = {f.details["factor"]: f for f in audit(log).findings if f.kind == "rating_driver"}
    assert drivers["outcome"].details["paradoxical"] is True
    assert "不作为成因" in drivers["outcome"].summary and "可能是差评的成因" not in drivers["outcome"].summary
    assert drivers["department"].details["same_groups_as"] == "outcome"
    assert "同一批办件" in drivers["department"].summary
    rep = build_report(log, max_services_maps=0)
    assert not any(r[2] == "差评成因" for r in rep.findings.rows)  # not under 减跑动/减时间 …
    section = next(s for s in rep.sections if s.anchor == "ratings")
    table = section.tables[0]  # … but first in 好差评, with its interval and its reading
    assert table.name == "差评相关因素" and len(table.rows) == 2
    readings = {r[0]: r[-1] for r in table.rows}
    assert "不作为成因" in readings["是否按时"] and "同一批办件" in readings["承办部门"]
    assert all(r[6] is not None and r[6] > 0 for r in table.rows)  # the interval's low end, in points


def test_page_one_counts_what_was_left_out(tmp_path):
    from procmine.report.structure import build_report, rejects_beside
    from test_audit import mklog

    (tmp_path / "log.rejects.csv").write_text("file,sheet,row,reason\n" + "a.xlsx,s,1,no case id\n" * 4,
                                              encoding="utf-8-sig")
    rejects = rejects_beside(tmp_path / "log.parquet")
    assert (rejects.rows, rejects.file) == (4, "log.rejects.csv")
    a = {"service": "甲事项", "sla": 5}
    ai = {**a, "in_person": True}  # 是否到场 = 是: the case's trips are known
    b = {"service": "乙事项", "sla": 5}
    log = mklog([
        ("A1", "窗口受理", "2024-03-04 09:00", "2024-03-04 09:10", ai), ("A1", "审批", "2024-03-05 09:00", "2024-03-05 10:00", a),
        ("A2", "窗口受理", "2024-03-04 09:00", "2024-03-04 09:10", ai), ("A2", "审批", "2024-03-06 09:00", "2024-03-06 10:00", a),
        # A3: a correction notice never followed by the correction: the clock stops and is never seen to
        # resume, so its length is unknown (计时不明); nothing says whether the applicant came
        ("A3", "受理", "2024-03-04 09:00", "2024-03-04 09:30", a), ("A3", "补正告知", "2024-03-05 10:00", "2024-03-05 10:10", a),
        ("A3", "办结", "2024-03-12 10:00", "2024-03-12 10:30", a),
        # 乙事项's steps say nothing of the applicant's presence: their trips cannot be told
        ("B1", "内部审查", "2024-03-04 09:00", "2024-03-04 10:00", b),
        ("B2", "内部审查", "2024-03-05 09:00", "2024-03-05 10:00", b)])
    rep = build_report(log, rejects=rejects, max_services_maps=0)
    notes = rep.overview_notes
    assert notes[0] == "未计入的数据："
    assert any("导入时剔除4行" in n and "log.rejects.csv" in n for n in notes)
    assert any(n.startswith("3件（共5件）无法判断跑动次数") for n in notes)  # A3, B1, B2
    assert any(n.startswith("1件（共5件）办理时长或状态无法确定") for n in notes)


def test_a_statutory_breach_is_said_in_the_reason():
    t = _Text("zh", load_rules(), Masker(enabled=False))
    f = finding("sla_overrun", "乙", 12, 20, "working_days", "high", 150, 0.12)
    f.details["over_statute"] = 3
    (line,) = _actions([f], t)
    # 20 working days over 12 cases = 1.7 a case
    assert "其中3件超过法定时限" in line and "平均每件超期1.7个工作日" in line


def test_the_page_needs_no_horizontal_scroll_at_1400px_and_maps_fit(sample_report, tmp_path):
    import subprocess

    from conftest import chromium_binary

    if not chromium_binary():
        pytest.skip("no Chromium: `make test` installs it, or set PROCMINE_CHROMIUM")
    page = sample_report[2].read_text(encoding="utf-8")
    # a copy of the page that measures itself (the report allows no script: its CSP is dropped here)
    probe = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", page).replace("</body>", """<script>
var wide = [].filter.call(document.querySelectorAll('.map .svgbox svg'), function (s) {
  return s.getBoundingClientRect().width > s.closest('.map').clientWidth + 1; }).length;
document.body.setAttribute('data-measure', document.documentElement.scrollWidth + ' ' + window.innerWidth + ' ' +
  document.querySelectorAll('.map .svgbox svg').length + ' ' + wide);
</script></body>""")
    path = tmp_path / "probe.html"
    path.write_text(probe, encoding="utf-8")
    dom = subprocess.run([chromium_binary(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                          "--disable-component-update", "--disable-sync", "--no-first-run",
                          f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1400,2000",
                          "--virtual-time-budget=5000", "--dump-dom", path.as_uri()],
                         check=True, capture_output=True, timeout=120).stdout.decode()
    scroll, inner, maps, wide = map(int, re.search(r'data-measure="(\d+) (\d+) (\d+) (\d+)"', dom).groups())
    assert inner == 1400 and scroll <= inner  # nothing pushes the page wider than the window
    assert maps >= 2 and wide == 0            # every map fits its box (a click shows it full size)
