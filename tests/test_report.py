import html
import json
import os
import re
import shutil
import subprocess

import pytest
import yaml
from click.testing import CliRunner
from openpyxl import load_workbook

import procmine
from procmine.cli import cli
from procmine.privacy import Masker, is_resident_id
from procmine.report.structure import build_report
from procmine.report.html import render_html
from procmine.report.xlsx import render_xlsx, text_width
from conftest import ROOT, chromium_binary
from test_audit import mklog

ARTIFACTS = ROOT / "tests" / "artifacts"
SHEETS = ["概览", "月度趋势", "发现", "瓶颈", "材料", "跑动", "变体", "督办清单", "效能指标", "差评相关因素", "差评率分组", "差评整改", "未整改差评",
          "一件事实例", "候选一件事", "案例", "流程图", "测算方法"]
PLAYBOOK = ["寄递", "电子送达", "一次性告知", "容缺受理", "电子证照", "数据共享", "并联审批", "审批层级", "限时办结",
            "督办", "网上", "共享", "审查标准", "牵头部门"]
CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


@pytest.fixture(scope="module")
def sample_log():
    return procmine.read_export(ROOT / "logs").log


@pytest.fixture(scope="module")
def sample_report(sample_log):
    return build_report(sample_log, title="测试报告")


@pytest.fixture(scope="module")
def sample_book(sample_report, tmp_path_factory):
    path = render_xlsx(sample_report, tmp_path_factory.mktemp("book") / "r.xlsx")
    return path, load_workbook(path)


def _header_row(ws, first: str) -> int:
    for row in ws.iter_rows(min_row=1, max_row=12):
        if row[0].value == first:
            return row[0].row
    raise AssertionError(f"no header starting {first!r} in {ws.title}")


def _col(ws, header_row: int, name: str) -> str:
    for c in ws[header_row]:
        if c.value == name:
            return c.column_letter
    raise AssertionError(f"no column {name!r} in {ws.title}")


# ----------------------------------------------------------------------------- workbook


def test_workbook_sheets_and_print_setup(sample_book):
    _, wb = sample_book
    assert wb.sheetnames == SHEETS
    for ws in wb.worksheets:
        ps = ws.page_setup
        assert ps.orientation == "landscape" and int(ps.paperSize) == 9, ws.title
        assert ws.sheet_properties.pageSetUpPr.fitToPage and ps.fitToWidth in (1, None), ws.title
        assert "&P" in ws.oddFooter.center.text and "&N" in ws.oddFooter.center.text, ws.title
        assert "测试报告" in ws.oddHeader.left.text, ws.title
        if ws.title != "流程图":
            assert ws.print_title_rows, ws.title  # header rows repeat on every printed page
    assert wb["概览"].page_setup.fitToHeight in (1, None)  # the summary is one page (1 is the default)
    assert wb["发现"].page_setup.fitToHeight == 0  # other sheets: as many pages tall as needed


def test_workbook_widths_wraps_and_filters(sample_book):
    _, wb = sample_book
    f = wb["发现"]
    h = _header_row(f, "维度")
    assert f.freeze_panes == f"A{h + 1}"
    for name, low, high in [("说明", 30, 50), ("建议措施", 16, 30), ("证据办件", 14, 20)]:
        col = _col(f, h, name)
        assert low <= f.column_dimensions[col].width <= high, name
        assert f[f"{col}{h + 1}"].alignment.wrap_text, name
    service = _col(f, h, "事项")
    assert f.column_dimensions[service].width >= text_width("建筑工程施工许可") * 0.75  # wraps at most once
    v = wb["变体"]
    assert v[f"{_col(v, _header_row(v, '事项'), '路径')}{_header_row(v, '事项') + 1}"].alignment.wrap_text
    assert not wb["跑动"].auto_filter.ref and not wb["概览"].auto_filter.ref  # a few rows: no filter
    cases = wb["案例"]
    ch = _header_row(cases, "办件编号")
    assert cases.auto_filter.ref and cases.max_row == ch + 3500
    area = cases.print_area if isinstance(cases.print_area, str) else ",".join(cases.print_area)
    assert int(re.findall(r"\$(\d+)", area)[-1]) == ch + 50
    assert "前50行" in str(cases["A1"].value)
    days = _col(cases, ch, "办理时长（工作日）")
    assert cases[f"{days}{ch + 1}"].number_format == "#,##0" and isinstance(cases[f"{days}{ch + 1}"].value, (int, float))
    assert len(wb["跑动"]._charts) == 1 and len(wb["瓶颈"]._charts) == 1
    assert len(wb["流程图"]._images) == 1 + 3


def test_overview_holds_four_reductions_and_top_actions(sample_book, sample_log):
    _, wb = sample_book
    ws = wb["概览"]
    cells = [[c.value for c in row] for row in ws.iter_rows()]
    text = "\n".join(str(v) for row in cells for v in row if v is not None)
    assert "最值得先做的三件事" in text and "四减主要指标" in text
    actions = [row[0] for row in cells if isinstance(row[0], str) and re.match(r"^[123]\. ", row[0])]
    assert len(actions) == 3
    for a in actions:
        assert any(p in a for p in PLAYBOOK) and "涉及" in a and re.search(r"\d", a), a
    header = next(i for i, row in enumerate(cells) if row[:2] == ["维度", "指标"])
    services = cells[header][3:6]
    assert services == ["企业开办一件事", "建筑工程施工许可", "食品经营许可"]
    measures = {row[1]: row[3:6] for row in cells[header + 1:] if row[1]}
    for name in ["最多跑一次率", "跑零次率", "平均跑动次数", "每件提交材料（份）", "重复提交材料（份）",
                 "可共享免交材料（份次）", "按时办结率", "中位办理时长（工作日）", "超期在办（件）", "每件环节数"]:
        assert name in measures, name
    from procmine.analysis.audit import audit

    result = audit(sample_log)
    assert measures["最多跑一次率"][2] == pytest.approx(result.metrics["食品经营许可"]["at_most_once_rate"])
    dims = [row[0] for row in cells[header + 1:] if row[0] in ("减跑动", "减材料", "减时间", "减环节")]
    assert dims == ["减跑动", "减材料", "减时间", "减环节"]


def test_findings_grouped_by_dimension_and_ranked_inside(sample_report):
    t = sample_report.findings
    order = ["减跑动", "减材料", "减时间", "减环节"]
    groups = t.groups
    assert groups == sorted(groups, key=order.index)  # grouped in 四减 order
    for g in set(groups):
        ranks = [r[1] for r, gg in zip(t.rows, groups) if gg == g]
        assert ranks == list(range(1, len(ranks) + 1))
    assert "严重程度" in sample_report.severity_note and "工作日" in sample_report.calendar_note
    assert "国务院" in sample_report.calendar_note and "调休" in sample_report.calendar_note


# ----------------------------------------------------------------------------- missing is missing


def _no_trip_log():
    rows = []
    for i in range(6):
        rows += [(f"C{i}", "Review file", f"2024-03-0{4 + i % 3} 09:00", f"2024-03-0{4 + i % 3} 10:00",
                  {"service": "Permits"}),
                 (f"C{i}", "Decide", f"2024-03-0{5 + i % 3} 09:00", f"2024-03-0{5 + i % 3} 11:00", {"service": "Permits"})]
    return mklog(rows)


def test_missing_is_blank_or_dash_never_zero(tmp_path):
    rep = build_report(_no_trip_log())
    heads = rep.cases.columns
    for row in rep.cases.rows:
        for name in ("部门数", "跑动次数", "提交材料数"):
            assert row[heads.index(name)] is None, name
    wb = load_workbook(render_xlsx(rep, tmp_path / "r.xlsx"))
    ov = {row[1].value: row[3].value for row in wb["概览"].iter_rows() if len(row) > 3 and row[1].value}
    assert ov["最多跑一次率"] == "—" and ov["每件提交材料（份）"] == "—"
    text = " ".join(str(c.value) for row in wb["概览"].iter_rows() for c in row if c.value)
    assert "不是零" in text and "跑动未知" in text
    html = render_html(rep, tmp_path / "r.html").read_text(encoding="utf-8")
    assert '<td class="missing">—</td>' in html


# ----------------------------------------------------------------------------- HTML


def test_html_summary_first_findings_without_scroll_box(sample_report, tmp_path):
    html = render_html(sample_report, tmp_path / "r.html").read_text(encoding="utf-8")
    for word in ["概览", "发现", "流程图", "跑动", "瓶颈", "材料", "变体", "案例", "<svg", "公积金中心"]:
        assert word in html
    assert html.index("最值得先做的三件事") < html.index("四减主要指标") < html.index('id="findings"')
    for dim in ["减跑动", "减材料", "减时间", "减环节"]:
        assert f"<h3>{dim}（" in html
    assert 'class="scroll"' not in html and "max-height:560px" not in html
    assert "@media print" in html and "A4" in html
    assert html.count('<tr class="screen-only">') == 3500 - 50 and "打印版只含前50行" in html
    assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html
    assert "<script" not in html.replace("&lt;script", "")


def test_without_graphviz_the_report_says_how_to_install_it(sample_log, tmp_path, monkeypatch):
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # no `dot`
    rep = build_report(sample_log[sample_log["service"] == "食品经营许可"])
    assert rep.pictures == [] and "graphviz" in rep.map_note.lower()
    html = render_html(rep, tmp_path / "r.html").read_text(encoding="utf-8")
    # no map drawn (the monthly trend's chart is procmine's own SVG, not Graphviz's)
    assert "apt-get install graphviz" in html and html.count("<svg") == html.count('class="trend"') == 1
    wb = load_workbook(render_xlsx(rep, tmp_path / "r.xlsx"))
    assert "apt-get install graphviz" in wb["流程图"]["A1"].value
    log = tmp_path / "log.parquet"
    procmine.write_log(sample_log[sample_log["service"] == "食品经营许可"], log)
    res = CliRunner().invoke(cli, ["discover", str(log), "-o", str(tmp_path / "m.svg")])
    assert res.exit_code != 0 and "graphviz" in (res.output + str(res.exception)).lower()


# ----------------------------------------------------------------------------- one language per report


def _english_log():
    rows = []
    for i in range(8):
        d = 4 + i % 4
        ex = {"service": "Building permit", "dept": "Planning office" if i % 2 else "Fire brigade",
              "materials": ["Site plan", "Site plan"] if i % 2 else ["Site plan"], "sla": 1}
        rows += [(f"B{i}", "Application received", f"2024-03-0{d} 09:00", f"2024-03-0{d} 09:30", ex),
                 (f"B{i}", "Technical review", f"2024-03-{d + 2:02d} 09:00", f"2024-03-{d + 2:02d} 10:00", ex),
                 (f"B{i}", "Decision", f"2024-03-{d + 6:02d} 09:00", f"2024-03-{d + 6:02d} 09:05", ex)]
    return mklog(rows)


def _program_strings(rep) -> list[str]:
    """Every string the report shows that is not a value copied from the log."""
    out = [rep.title, rep.subtitle, rep.calendar_note, rep.severity_note, rep.map_note or ""]
    out += list(rep.text.values()) + rep.actions + rep.skipped + rep.notes + rep.overview_notes
    out += [p.title for p in rep.pictures]
    out += [html.unescape(x) for p in rep.pictures for x in re.findall(r"<text[^>]*>([^<]*)</text>", p.svg)]
    for t in rep.tables():
        out += [t.name, t.note or ""] + [str(c) for c in t.columns] + list(t.groups or [])
        for row in t.rows:
            out += [v for v, f in zip(row, t.formats) if f == "text" and isinstance(v, str)]
    return out


def _log_values(log) -> set[str]:
    values = set()
    for col in log.columns:
        if str(log[col].dtype) in ("string", "object") and col != "materials":
            values |= {str(v) for v in log[col].dropna().unique()}
    from procmine.rules import load_rules

    cat = load_rules().catalogue
    values |= {str(x) for ms in log["materials"].dropna() for m in ms for x in (m, cat.normalize(m))}
    return {v for v in values if len(v) > 1}


TECH = re.compile(r"procmine audit|procmine|sla_days|ranking_hours|thresholds|Graphviz|graphviz|make setup|apt-get|brew|macOS|Ctrl|"
                  r"P90|bootstrap|Excel|dot|install|--no-mask", re.I)


_STRIPPERS: dict = {}


def _strip(text: str, log_values: set[str]) -> str:
    """The text without values copied from the log (longest first) and technical names."""
    key = id(log_values)
    if key not in _STRIPPERS:  # one compiled alternation per set of values, not a pass per value
        ordered = sorted(log_values, key=len, reverse=True)
        _STRIPPERS[key] = (log_values, re.compile("|".join(map(re.escape, ordered))) if ordered else None)
    rx = _STRIPPERS[key][1]
    if rx is not None:
        text = rx.sub(" ", text)
    return TECH.sub(" ", text)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_one_language_per_report_for_a_non_chinese_log(lang, tmp_path):
    log = _english_log()
    rep = build_report(log, lang=lang)
    values = _log_values(log)
    for s in _program_strings(rep):
        rest = _strip(s, values)
        if lang == "en":
            assert not CJK.search(rest), s
        else:
            assert not re.search(r"[A-Za-z]{3,}", rest), s
    page = render_html(rep, tmp_path / "r.html").read_text(encoding="utf-8")
    assert (f'lang="{"en" if lang == "en" else "zh-CN"}"') in page


def test_english_report_of_bpic15_reads_in_names(real_log, tmp_path):
    log = real_log("bpic15_municipality1.csv.gz").log
    from procmine.labels import label_columns

    assert label_columns(log)[0]["column"] == "event_activityNameEN"
    rep = build_report(log, lang="en", activity_label="event_activityNameEN", max_services_maps=1)
    values = _log_values(log)
    for s in _program_strings(rep):
        assert not CJK.search(_strip(s, values)), s
    col = rep.findings.columns.index("What we found")  # the unit columns before it vary with the findings
    text = " ".join(r[col] for r in rep.findings.rows)
    assert not re.search(r"\b01_HOOFD_\d+\b(?!\])", text)  # names, not codes (a shared name keeps [code])
    assert any("Step names are taken from" in n for n in rep.notes)
    svg = rep.pictures[0].svg  # a 398-step log: one legible map that says what it hides
    assert svg.count('class="node"') <= 20 + 2 and "hidden edges carry" in svg and "showing 20 of" in svg
    zh = build_report(log, lang="zh", max_services_maps=1)
    for s in _program_strings(zh):
        assert not re.search(r"[A-Za-z]{3,}", _strip(s, values)), s


def test_catalogue_has_both_languages_for_every_report_key():
    data = yaml.safe_load((ROOT / "templates" / "messages" / "report.yaml").read_text(encoding="utf-8"))
    for key, texts in data.items():
        assert key.startswith("report."), key
        assert set(texts) == {"zh", "en"} and all(isinstance(v, str) and v for v in texts.values()), key
        assert not CJK.search(texts["en"]), key  # English text never falls back to Chinese


# ----------------------------------------------------------------------------- readable activity names


def test_label_column_detected_and_applied(tmp_path):
    rows = []
    names = {"A_010": "register request", "A_020": "check completeness", "A_030": "send decision"}
    for i in range(6):
        for k, (code, name) in enumerate(names.items()):
            rows.append((f"K{i}", code, f"2024-03-0{4 + k} 09:00", f"2024-03-0{4 + k} 10:00"))
    log = mklog(rows)
    log["step_name"] = log["activity"].map(names).astype("string")
    from procmine.labels import apply_labels, import_hint, label_columns

    found = label_columns(log)
    assert [c["column"] for c in found] == ["step_name"]
    assert set(apply_labels(log, "step_name")["activity"]) == set(names.values())
    assert set(log["activity"]) == set(names)  # the log keeps its codes
    hint = import_hint(log)[0]
    assert "--activity-label step_name" in hint and "fields: {activity: step_name}" in hint
    assert label_columns(_english_log()) == []  # names already: nothing to suggest
    path = tmp_path / "log.parquet"
    procmine.write_log(log, path)
    res = CliRunner().invoke(cli, ["report", str(path), "-o", str(tmp_path / "r.html"), "--lang", "en",
                                   "--activity-label", "step_name"])
    assert res.exit_code == 0, res.output
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "check completeness" in html and "Three actions" in html
    res = CliRunner().invoke(cli, ["report", str(path), "-o", str(tmp_path / "r2.html"), "--activity-label", "nope"])
    assert res.exit_code != 0
    res = CliRunner().invoke(cli, ["discover", str(path), "-o", str(tmp_path / "m.dot"), "--activity-label", "step_name",
                                   "--lang", "en"])
    assert res.exit_code == 0, res.output
    dot = (tmp_path / "m.dot").read_text(encoding="utf-8")
    assert "check completeness" in dot and "A_020" not in dot and "start" in dot


# ----------------------------------------------------------------------------- paper


def _tool(name: str) -> str:
    path = chromium_binary() if name == "chromium" else shutil.which(name)
    if not path:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is required under CI (the test set-up installs it)")
        pytest.skip(f"{name} not installed (the test set-up installs it; required under CI)")
    return path


def _pages(pdf) -> list[str]:
    _tool("pdftotext")
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    n = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    return [subprocess.run(["pdftotext", "-layout", "-f", str(i), "-l", str(i), str(pdf), "-"], capture_output=True,
                           text=True, check=True).stdout for i in range(1, n + 1)]


def _keep_pngs(pdf, prefix: str, pages: int = 3) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob(f"{prefix}-*.png"):
        old.unlink()
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", str(pages), str(pdf), str(ARTIFACTS / prefix)],
                   check=True, capture_output=True, timeout=120)


def test_workbook_prints_summary_on_one_page_and_findings_one_page_wide(sample_book, tmp_path):
    soffice = _tool("soffice")
    path, _ = sample_book
    subprocess.run([soffice, "--headless", "--norestore", f"-env:UserInstallation=file://{tmp_path / 'lo'}",
                    "--convert-to", "pdf", "--outdir", str(tmp_path), str(path)], check=True, capture_output=True,
                   timeout=300)
    pdf = tmp_path / "r.pdf"
    pages = _pages(pdf)
    _keep_pngs(pdf, "workbook")
    sheet = [p.splitlines()[0].split()[-1] if p.strip() else "" for p in pages]  # the page header names the sheet
    assert sheet[0] == "概览" and sheet[1] == "月度趋势"  # 概览 is exactly one page, and so is the trend
    assert sheet[2] == "发现"
    assert "最值得先做的三件事" in pages[0] and "每件环节数" in pages[0]  # … and all of it is on that page
    finding_pages = [p for s, p in zip(sheet, pages) if s == "发现"]
    assert all("证据办件" in p for p in finding_pages)  # the last column on every page: one page wide
    assert sheet.count("案例") <= 2
    assert len(pages) <= 30


def test_html_prints_to_a_bounded_number_of_pages(sample_report, tmp_path):
    chromium = _tool("chromium")
    page = render_html(sample_report, tmp_path / "report.html")
    pdf = tmp_path / "report.pdf"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", "--no-pdf-header-footer", f"--print-to-pdf={pdf}",
                    page.as_uri()], check=True, capture_output=True, timeout=180)
    pages = _pages(pdf)
    _keep_pngs(pdf, "html")
    assert len(pages) <= 20
    first = pages[0]
    assert "最值得先做的三件事" in first and "每件环节数" in first and "发现（" not in first


# ----------------------------------------------------------------------------- kept from before


def test_hostile_text_is_text(tmp_path):
    log = mklog([("=HYPERLINK(\"http://x\")", "<script>alert(1)</script>", "2024-03-04 09:00", "2024-03-04 10:00"),
                 ("=HYPERLINK(\"http://x\")", "@SUM(A1)", "2024-03-05 09:00", "2024-03-05 10:00"),
                 ("11010519491231002X", "受理", "2024-03-04 09:00", "2024-03-04 10:00"),
                 ("11010519491231002X", "-2+3", "2024-03-06 09:00", "2024-03-06 10:00")])
    rep = build_report(log)
    html = render_html(rep, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "11010519491231002X" not in html
    wb = load_workbook(render_xlsx(rep, tmp_path / "r.xlsx"))
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                assert "11010519491231002X" not in str(cell.value or "")
    values = {str(c.value) for ws in wb.worksheets for row in ws.iter_rows() for c in row}
    assert "=HYPERLINK(\"http://x\")" in values and "@SUM(A1)" in " ".join(values)


def test_masking_is_stable_and_checksum_based():
    assert is_resident_id("11010519491231002X") and not is_resident_id("110105194912310021")
    m = Masker()
    a = m.text("申请人身份证 11010519491231002X，电话 13812345678")
    assert "11010519491231002X" not in a and "13812345678" not in a
    assert a == Masker().text("申请人身份证 11010519491231002X，电话 13812345678")
    assert m.text("订单 110105194912310021") == "订单 110105194912310021"  # bad checksum: not an ID
    assert Masker(enabled=False).text("13812345678") == "13812345678"


def test_cli_report_no_mask_is_logged(tmp_path):
    log = tmp_path / "log.parquet"
    procmine.write_log(mklog([("11010519491231002X", "受理", "2024-03-04 09:00", "2024-03-04 10:00")]), log)
    runner = CliRunner()
    res = runner.invoke(cli, ["report", str(log), "-o", str(tmp_path / "r.html"), "--no-mask"])
    assert res.exit_code == 0, res.output
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "11010519491231002X" in html and "未脱敏" in html
    assert runner.invoke(cli, ["report", str(log), "-o", str(tmp_path / "r.pdf")]).exit_code != 0
    assert runner.invoke(cli, ["report", str(log), "-o", str(tmp_path / "r.html"), "--lang", "fr"]).exit_code != 0


@pytest.mark.skipif(not chromium_binary(), reason="no Chromium: `make test` installs it, or set PROCMINE_CHROMIUM")
def test_html_in_headless_chromium(sample_report, tmp_path):
    page = render_html(sample_report, tmp_path / "report.html")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "report.png"
    shot.unlink(missing_ok=True)
    subprocess.run([chromium_binary(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run",
                    f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,2000",
                    f"--screenshot={shot}", page.as_uri()], check=True, capture_output=True, timeout=120)
    import matplotlib.image as mpimg
    pixels = mpimg.imread(shot)
    assert pixels.shape[0] > 1000 and pixels.std() > 0.05  # a page, not blank
    dom = subprocess.run([chromium_binary(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                          "--disable-component-update", "--disable-sync", "--no-first-run",
                          f"--user-data-dir={tmp_path / 'profile2'}", "--dump-dom", page.as_uri()],
                         check=True, capture_output=True, timeout=120).stdout.decode()
    assert "测试报告" in dom and dom.count("<svg") >= 4


@pytest.mark.parametrize("name", ["receipt.xes.gz", "bpic2020/PermitLog.xes.gz"])
def test_reports_for_real_logs(real_log, name, tmp_path):
    rep = build_report(real_log(name).log)
    render_xlsx(rep, tmp_path / "r.xlsx")
    html = render_html(rep, tmp_path / "r.html").read_text(encoding="utf-8")
    assert any("跑动" in s for s in rep.skipped + rep.overview_notes)  # trips unknown: said, not shown as zeros
    measures = {row[1]: row[3] for row in rep.overview.rows}
    assert measures["最多跑一次率"] is None and '<td class="missing">—</td>' in html


def test_demo_writes_everything(tmp_path):
    res = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    for name in ["log.parquet", "findings.json", "cases.csv", "report.xlsx", "report.html", "department_map.svg"]:
        assert (tmp_path / "out" / name).stat().st_size > 0
    assert "report.html" in res.output
    assert json.loads((tmp_path / "out" / "findings.json").read_text(encoding="utf-8"))["findings"]


def test_report_gains_a_comparison_section(tmp_path):
    log = procmine.read_export(ROOT / "logs" / "食品经营许可_2024上半年.xlsx").log
    rep = build_report(log, split_date="2024-04-01")
    wb = load_workbook(render_xlsx(rep, tmp_path / "r.xlsx"))
    assert "对比" in wb.sheetnames
    assert [c.value for c in wb["对比"][2]][:3] == ["事项", "指标", "改革前"]
    html = render_html(rep, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "改革前后对比" in html and "最多跑一次率" in html
