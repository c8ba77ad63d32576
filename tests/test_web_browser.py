"""The workbench in a real browser: Debian's chromium driven through /usr/bin/chromedriver (Selenium;
nothing downloaded). init → login → upload of the sample and of a broken workbook → overview →
finding → case → back → a filter → a download; a 部门 account sees its own cases only.
Screenshots go to tests/artifacts/web-*.png."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

CHROMIUM, DRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not (CHROMIUM.exists() and DRIVER.exists()),
                                 reason="needs Debian's chromium and chromium-driver (scripts/system-deps test)")]
selenium = pytest.importorskip("selenium")
pytest.importorskip("uvicorn")

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

import web_fixture as wf  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(__file__).parent / "artifacts"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def server(tmp_path, monkeypatch):
    import uvicorn

    from procmine.web import Project, create_app

    monkeypatch.setenv("PROCMINE_MASK_KEY", "web-tests-mask-key-0123456789")
    root = tmp_path / "proj"
    proj = Project.init(root, "admin", wf.PASSWORDS["admin"])
    proj.users.add("market", wf.PASSWORDS["market"], "dept", "市场监管局")
    proj.users.add("reform", wf.PASSWORDS["reform"], "reform")
    proj.users.add("auditor", wf.PASSWORDS["auditor"], "audit")
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(root), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(100):
        if srv.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", proj
    srv.should_exit = True
    thread.join(10)


@pytest.fixture()
def browser(tmp_path):
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1280,1000", "--lang=zh-CN"):
        opts.add_argument(flag)
    opts.add_experimental_option("prefs", {"download.default_directory": str(tmp_path / "downloads"),
                                           "download.prompt_for_download": False})
    drv = webdriver.Chrome(service=Service(str(DRIVER)), options=opts)
    drv.set_page_load_timeout(60)
    yield drv
    drv.quit()


def shot(drv, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    drv.save_screenshot(str(ARTIFACTS / f"web-{name}.png"))


def sign_in(drv, base: str, name: str) -> None:
    drv.get(base + "/login")
    drv.find_element(By.ID, "username").send_keys(name)
    drv.find_element(By.ID, "password").send_keys(wf.PASSWORDS[name])
    drv.find_element(By.ID, "login").click()
    WebDriverWait(drv, 30).until(EC.url_contains("/overview"))


def test_workbench_in_chromium(server, browser, tmp_path):
    base, proj = server
    # htmx swaps parts of a page in place: an element found just before a swap goes stale, so
    # every wait looks again rather than failing on it
    drv, wait = browser, WebDriverWait(browser, 120, ignored_exceptions=(StaleElementReferenceException,))
    sign_in(drv, base, "admin")
    assert "还没有办件日志" in drv.page_source
    shot(drv, "1-empty")

    # upload the shipped sample (four workbooks at once)
    drv.get(base + "/upload")
    sample = sorted(str(p) for p in (ROOT / "logs").glob("*.xlsx"))
    drv.find_element(By.ID, "files").send_keys("\n".join(sample))
    # one progress bar per chosen file, named as the file
    names = [li.text for li in drv.find_elements(By.CSS_SELECTOR, "#upload-files li")]
    assert len(names) == 4 and all(any(n.startswith(Path(f).name) for n in names) for f in sample), names
    drv.find_element(By.ID, "upload-button").click()
    ok = wait.until(EC.presence_of_element_located((By.ID, "upload-ok")))
    # the sample's accounting (README, procmine demo): 20,774 rows = 20,767 used + 0 duplicates + 7 rejected
    assert "读取 20,774 行 = 采用 20,767 + 重复 0 + 拒收 7" in ok.text and "核对一致" in ok.text
    assert "新建数据集" in ok.text and "3,500 件" in ok.text
    # the version line (outside the swapped result) is swapped too: the new dataset's version 0
    assert drv.find_element(By.ID, "dataset-version").text == "0"
    bars = drv.find_elements(By.CSS_SELECTOR, "#upload-files progress")
    assert [b.get_attribute("value") for b in bars] == ["100"] * 4  # every file sent whole
    shot(drv, "2-uploaded")
    # the same workbooks again: appended, nothing is new and nothing changes
    drv.get(base + "/upload")
    drv.find_element(By.ID, "files").send_keys("\n".join(sample))
    drv.find_element(By.ID, "upload-button").click()
    ok = wait.until(EC.presence_of_element_located((By.ID, "upload-ok")))
    assert "版本 1" in ok.text and "新增 0 + 更新 0" in ok.text and "3,500 件（新办件 0，更新 0）" in ok.text, ok.text
    wait.until(lambda d: d.find_element(By.ID, "dataset-version").text == "1")  # the page's version line too
    assert "rows read gave" not in drv.page_source and "读取的 20774 行对应" in drv.page_source  # the note, in Chinese
    shot(drv, "2b-appended-again")
    version = proj.version()

    # a broken workbook: the error is shown, the log is unchanged
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04 not a workbook")
    drv.get(base + "/upload")
    drv.find_element(By.ID, "files").send_keys(str(broken))
    drv.find_element(By.ID, "upload-button").click()
    err = wait.until(EC.presence_of_element_located((By.ID, "upload-error")))
    assert "数据集未改变" in err.text and "broken.xlsx" in err.text
    assert proj.version() == version
    shot(drv, "3-broken-upload")

    # overview → a finding → one of its cases → back
    drv.get(base + "/overview")
    assert "3,500" in drv.find_element(By.CLASS_NAME, "tiles").text  # the sample's cases
    shot(drv, "4-overview")
    link = drv.find_element(By.CLASS_NAME, "finding-link")
    summary = link.text
    link.click()
    wait.until(EC.url_contains("/findings/"))
    assert summary in drv.find_element(By.TAG_NAME, "h1").text
    shot(drv, "5-finding")
    finding_url = drv.current_url
    case_link = drv.find_element(By.CLASS_NAME, "case-link")
    case_id = case_link.text
    case_link.click()
    wait.until(EC.url_contains("/cases/"))
    assert case_id in drv.find_element(By.TAG_NAME, "h1").text
    steps = drv.find_elements(By.CSS_SELECTOR, "ol.timeline li.step")
    assert len(steps) >= 3
    shot(drv, "6-case")
    drv.back()
    wait.until(EC.url_to_be(finding_url))
    assert summary in drv.find_element(By.TAG_NAME, "h1").text

    # a filter (htmx swaps the table in place and pushes the URL)
    drv.get(base + "/cases")
    Select(drv.find_element(By.NAME, "service")).select_by_visible_text("食品经营许可")
    wait.until(EC.url_contains("service="))
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#case-list p").text.startswith("1,200 件"))
    services = {td.text for td in drv.find_elements(By.CSS_SELECTOR, "#case-table tbody tr td:nth-child(2)")}
    assert services == {"食品经营许可"}
    filtered_url = drv.current_url  # pushed by htmx
    shot(drv, "7-filtered")

    # the map, filtered to one service; a node lists the cases through it
    drv.get(base + "/map")
    Select(drv.find_element(By.ID, "map-service")).select_by_visible_text("建筑工程施工许可")
    drv.find_element(By.ID, "map-apply").click()
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#map svg")))
    wait.until(lambda d: "800 件" in d.find_element(By.TAG_NAME, "main").text)  # the service's cases
    shot(drv, "7a-map")
    node = next(a for a in drv.find_elements(By.CLASS_NAME, "node-link") if a.text == "审批")
    node.click()
    wait.until(EC.url_contains("step="))
    counted = drv.find_element(By.CSS_SELECTOR, "#case-list p").text
    assert counted.startswith("800 件") and "经过环节 审批" in counted  # every case of the service is approved

    # indicators: the monthly trend drawn by the vendored ECharts (as SVG): the sample's cases are accepted
    # January to June and the last ones decided in July (counted by month of 办结), so seven months, and
    # July (still open cases, and the month of the last record) is provisional: 未结
    drv.get(base + "/indicators")
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#trend svg")))
    rows = drv.find_elements(By.CSS_SELECTOR, "table.grid")[0].find_elements(By.CSS_SELECTOR, "tbody tr")
    assert len(rows) == 7 and rows[-1].text.startswith("2024-07 未结")
    shot(drv, "7b-indicators")
    logs = [e for e in drv.get_log("browser") if e["level"] == "SEVERE" and e.get("source") != "network"]
    assert not logs, logs  # no script error, nothing refused by the Content-Security-Policy

    # a download: the filtered cases as CSV (1,200 rows and the header)
    import httpx

    drv.get(filtered_url)  # the filtered list again
    href = wait.until(EC.presence_of_element_located((By.ID, "download-cases"))).get_attribute("href")
    assert "service=%E9%A3%9F%E5%93%81%E7%BB%8F%E8%90%A5%E8%AE%B8%E5%8F%AF" in href  # 食品经营许可
    cookies = {c["name"]: c["value"] for c in drv.get_cookies()}
    r = httpx.get(href, cookies=cookies)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert len(r.text.strip().splitlines()) == 1 + 1200

    # a 部门 account sees only the cases its department took part in
    drv.find_element(By.CSS_SELECTOR, "form[action='/logout'] button").click()
    WebDriverWait(drv, 30).until(EC.url_contains("/login"))
    sign_in(drv, base, "market")
    drv.get(base + "/cases")
    shot(drv, "8-department")
    deps = [td.text for td in drv.find_elements(By.CSS_SELECTOR, "#case-table tbody tr td:nth-child(10)")]
    assert deps and all("市场监管局" in d for d in deps)
    drv.get(base + f"/cases/{case_id}")  # the 企业开办 / other department's case of the finding, by URL
    visible = "市场监管局" in (proj.whole(proj.version()).cases.set_index("case_id")
                            .loc[case_id, "departments_took_part"])
    assert ("未找到" in drv.page_source) != visible


ODD = ["SC/2024/001", "市场 监管#1", "A?b=1&c", "100%-x"]   # 市场监管局's
ODD_OTHER = "PO/2024/#2?x"                                 # 公安局's


def test_every_role_in_chromium(server, browser, tmp_path):
    """admin, 改革办, 部门 and 审计 through the same pages; case ids with URL-special characters followed
    from their links; a 部门 account finds no other department's case anywhere."""
    import urllib.parse

    import httpx

    base, proj = server
    drv, wait = browser, WebDriverWait(browser, 60, ignored_exceptions=(StaleElementReferenceException,))
    rows = []
    for cid, dep in [(c, "市场监管局") for c in ODD] + [(ODD_OTHER, "公安局")]:
        rows += [[cid, wf.S, "受理", dep, "张三", "2024-03-01 09:00", "2024-03-01 09:30", 5, "营业执照", wf.APPLICANT,
                  wf.PHONE, "", ""],
                 [cid, wf.S, "办结", dep, "李四", "2024-03-04 10:00", "2024-03-04 10:30", 5, "", wf.APPLICANT,
                  wf.PHONE, "", ""]]
    export = wf.write_export(tmp_path / "odd.csv", rows + wf.ROWS)
    sign_in(drv, base, "admin")
    drv.get(base + "/upload")
    drv.find_element(By.ID, "files").send_keys(str(export))
    drv.find_element(By.ID, "upload-button").click()
    ok = wait.until(EC.presence_of_element_located((By.ID, "upload-ok")))
    assert "11 件" in ok.text  # 5 odd ids + the fixture's 6
    every = set(ODD) | {ODD_OTHER} | {r[0] for r in wf.ROWS}
    mine = set(ODD) | wf.INSIDE

    def signed(name):
        drv.delete_all_cookies()
        sign_in(drv, base, name)
        return {c["name"]: c["value"] for c in drv.get_cookies()}

    def listed():
        drv.get(base + "/cases")
        return {a.text for a in drv.find_elements(By.CSS_SELECTOR, "#case-table a.case-link")}

    for name, role in (("admin", "管理员"), ("reform", "改革办"), ("market", "部门"), ("auditor", "审计")):
        cookies = signed(name)
        drv.get(base + "/overview")
        assert role in drv.page_source
        shot(drv, f"role-{name}-overview")
        seen = listed()
        shot(drv, f"role-{name}-cases")
        assert seen == (mine if name == "market" else every), seen  # 审计 sees every case (read-only, masked)
        # each odd id followed from its link reaches its own case page (uvicorn decodes %2F once)
        for cid in ODD:
            drv.get(base + "/cases?" + urllib.parse.urlencode({"q": cid}))
            link = next(a for a in drv.find_elements(By.CSS_SELECTOR, "#case-table a.case-link") if a.text == cid)
            link.click()
            wait.until(EC.url_contains("/cases/"))
            assert cid in drv.find_element(By.TAG_NAME, "h1").text, cid
            j = httpx.get(drv.current_url + ".json", cookies=cookies).json()
            assert j["case"]["case_id"] == cid
        drv.get(base + "/map")
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#map svg")))
        shot(drv, f"role-{name}-map")
        drv.get(base + "/upload")
        assert ("未找到" in drv.page_source) == (name in ("market", "auditor"))
        if name == "auditor":
            drv.get(base + "/cases/" + urllib.parse.quote(ODD[0], safe=""))
            assert wf.APPLICANT not in drv.page_source and wf.PHONE not in drv.page_source
            shot(drv, "role-auditor-case")
        if name != "market":
            continue
        # 部门: another department's case by URL, its twin, CSV, search, lists, map and downloads
        other = urllib.parse.quote(ODD_OTHER, safe="")
        outside = ["OUT-B3", "OUT-C4", "OUT-B5", ODD_OTHER]
        for url in (f"/cases/{other}", f"/cases/{other}.json", f"/cases/{other}.csv", "/cases/OUT-B3",
                    "/cases/OUT-B3.json"):
            r = httpx.get(base + url, cookies=cookies)
            assert r.status_code == 404 and not [c for c in outside if c in r.text], url
        drv.get(base + f"/cases/{other}")
        assert "未找到" in drv.page_source and ODD_OTHER not in drv.page_source
        shot(drv, "role-market-other-case")
        for url in ("/cases?q=PO", "/cases?q=OUT", "/cases.json?q=%2F", "/overview.json", "/findings.json",
                    "/cards.json", "/map.json", "/map.json?view=department", "/variants.json", "/ratings.json",
                    "/bundles.json", "/indicators.json", "/download/cases.csv", "/download/cards.csv",
                    "/download/report.html"):
            r = httpx.get(base + url, cookies=cookies, timeout=120)
            assert r.status_code in (200, 404), url
            assert not [c for c in outside if c in r.text], url
    logs = [e for e in drv.get_log("browser") if e["level"] == "SEVERE" and e.get("source") != "network"]
    assert not logs, logs
