import json
import subprocess

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

import procmine
from procmine.cli import cli
from procmine.privacy import Masker, is_resident_id
from procmine.report import build_report
from procmine.report_html import render_html
from procmine.report_xlsx import render_xlsx
from conftest import ROOT, chromium_binary
from test_audit import mklog

ARTIFACTS = ROOT / "tests" / "artifacts"
SHEETS = ["概览", "发现", "瓶颈", "材料", "跑动", "变体", "案例", "流程图"]


@pytest.fixture(scope="module")
def sample_report():
    return build_report(procmine.read_export(ROOT / "logs").log, title="测试报告")


def test_workbook_sheets_headers_chart_and_image(sample_report, tmp_path):
    path = render_xlsx(sample_report, tmp_path / "r.xlsx")
    wb = load_workbook(path)
    assert wb.sheetnames == SHEETS
    assert [c.value for c in wb["发现"][2]][:4] == ["序号", "类型", "事项", "环节/部门/材料"]  # row 1: a note
    assert wb["发现"].freeze_panes == "A3" and wb["发现"].auto_filter.ref
    assert len(wb["跑动"]._charts) == 1 and len(wb["瓶颈"]._charts) == 1
    assert len(wb["流程图"]._images) == 1 + 3
    cases = wb["案例"]
    assert cases.max_row == 3500 + 1 and cases.cell(2, 10).number_format == "#,##0.0"
    overview = {r[0].value: r for r in wb["概览"].iter_rows(min_row=4, max_row=6)}
    from procmine.audit import audit
    expected = audit(procmine.read_export(ROOT / "logs").log).metrics["食品经营许可"]["at_most_once_rate"]
    assert overview["食品经营许可"][3].value == pytest.approx(expected, abs=1e-4)  # 最多跑一次率 = the audit's


def test_same_content_in_html(sample_report, tmp_path):
    html = render_html(sample_report, tmp_path / "r.html").read_text(encoding="utf-8")
    for word in ["概览", "发现", "流程图", "跑动", "瓶颈", "材料", "变体", "案例", "<svg", "公积金中心"]:
        assert word in html
    assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html
    assert html.count("<tr>") > 100


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
    assert any("跑动" in s for s in rep.skipped)  # trips unknown: said, not shown as zeros
    assert rep.overview.rows[0][3] is None and "—" in html


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
