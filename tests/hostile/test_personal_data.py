"""Every command, run through the real entry point on a log full of personal data:
no output file (except the canonical log itself) contains a raw ID number, mobile
number or applicant name."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT, build_workbook

_W = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def resident_id(first17: str) -> str:
    """Append the GB 11643 check digit (worked out here, not with procmine's code)."""
    return first17 + "10X98765432"[sum(int(d) * w for d, w in zip(first17, _W)) % 11]


CASE_IDS = [resident_id("33010619850312001"), resident_id("33010619900101002"),
            resident_id("11010519491231002"), "15957112345", "18600001111", "SP20240001", "SP20240002", "SP20240003"]
NAMES = ["张三丰", "欧阳娜娜", "杭州青山科技有限公司", "李四光", "王小明", "诸葛亮", "上官婉儿", "浙江绿水餐饮管理有限公司"]
PHONES = ["13812345678", "13900001111", "15012345678", "17798765432", "18811112222", "13566667777", "19912340000",
          "13344445555"]
CERTS = [resident_id("33010219800101003"), resident_id("33010219810202004"), "91330106MA2XXXXX1A",
         resident_id("33010219830404006"), resident_id("33010219840505007"), "E12345678",
         resident_id("33010219860707009"), "91330100MA2YYYYY2B"]
STEPS = [("受理", "综合窗口", 1, True), ("材料审查", "市场监管局", 2, None), ("审批", "市场监管局", 3, None),
         ("窗口领证", "综合窗口", 5, True)]
HEADER = ["办件编号", "事项名称", "办理环节", "承办部门", "经办人", "开始时间", "结束时间", "提交材料", "是否到场",
          "承诺时限", "申请人", "联系电话", "证件号码", "备注"]


def _rows():
    import datetime as dt

    rows = [HEADER]
    for i, cid in enumerate(CASE_IDS):
        month = 3 if i < 4 else 9  # two periods, for compare --split-date
        base = dt.datetime(2024, month, 4 + i, 9, 0)
        for k, (step, dept, day, here) in enumerate(STEPS):
            start = base + dt.timedelta(days=day - 1, hours=k)
            note = f"{NAMES[i]}（{CERTS[i]}）来电{PHONES[i]}补充说明" if k == 1 else None
            mats = f"{NAMES[i]}身份证复印件、营业执照" if k == 0 else None
            rows.append([cid, "食品经营许可", step, dept, "窗口人员甲", start, start + dt.timedelta(hours=2), mats,
                         "是" if here else None, 20, NAMES[i], int(PHONES[i]) if i % 2 else PHONES[i], CERTS[i],
                         note])
        if i % 3 == 0:  # the same step again: repeated materials and rework
            start = base + dt.timedelta(days=2, hours=5)
            rows.append([cid, "食品经营许可", "材料审查", "市场监管局", "窗口人员甲", start,
                         start + dt.timedelta(hours=1), f"{NAMES[i]}身份证复印件", "是", 20, NAMES[i], PHONES[i],
                         CERTS[i], f"申请人{NAMES[i]}再次到场，电话{PHONES[i]}"])
    # rejected rows whose reasons quote the raw cells
    rows.append([CASE_IDS[0], "食品经营许可", "补正", "综合窗口", "窗口人员甲", f"{NAMES[0]}说下周来", None, None,
                 None, 20, NAMES[0], PHONES[0], CERTS[0], None])
    rows.append([None, "食品经营许可", "受理", "综合窗口", "窗口人员甲", None, None, None, None, 20, NAMES[1],
                 PHONES[1], CERTS[1], f"{NAMES[1]} {PHONES[1]}"])
    return rows


RAW = set(CASE_IDS[:5] + NAMES + PHONES + CERTS)


def procmine(*args, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
               COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "procmine.cli", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def texts(path: Path):
    """(label, text) of every part of an output file: xlsx unzipped, all XML parts."""
    if path.suffix == ".xlsx":
        with zipfile.ZipFile(path) as z:
            for name in z.namelist():
                yield f"{path.name}!{name}", z.read(name).decode("utf-8", "replace")
    else:
        yield path.name, path.read_bytes().decode("utf-8", "replace")


@pytest.fixture(scope="module")
def run_everything(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pii")
    exports = tmp / "exports"
    exports.mkdir()
    build_workbook(exports / "食品经营许可_办件.xlsx", {"办件": _rows()})
    out = tmp / "out"
    out.mkdir()
    (tmp / "loose.yaml").write_text("thresholds: {min_cases: 1, parallel_min_cases: 2}\n", encoding="utf-8")
    (tmp / "ref.yaml").write_text("name: 指南\nservice: 食品经营许可\nsteps:\n  - 受理\n  - 材料审查\n  - 审批\n"
                                  "  - 窗口领证\n", encoding="utf-8")
    (tmp / "plan.yaml").write_text("name: 方案\nservice: 食品经营许可\nchanges:\n  - remove: 审批\n"
                                   "  - deliver: [窗口领证]\n", encoding="utf-8")
    log = out / "log.parquet"
    rules = ["--rules", tmp / "loose.yaml"]
    commands = [
        ["import", exports, "-o", log],
        ["import", exports, "-o", log, "--json"],
        ["cases", log, "-o", out / "cases.csv", *rules],
        ["audit", log, "-o", out / "findings.json", *rules],
        ["discover", log, "-o", out / "map.svg", "--json"],
        ["discover", log, "-o", out / "departments.json", "--view", "department"],
        ["variants", log, "--json"],
        ["conform", log, "--reference", tmp / "ref.yaml", "-o", out / "conform.csv", "--json"],
        ["report", log, "-o", out / "report.xlsx", *rules],
        ["report", log, "-o", out / "report.html", *rules],
        ["redesign", log, "--plan", tmp / "plan.yaml", "-o", out / "redesign.json", *rules],
        ["redesign", log, "--plan", tmp / "plan.yaml", "-o", out / "redesign.xlsx", *rules],
        ["suggest", log, "-o", out / "suggested.yaml", *rules],
        ["compare", log, "--split-date", "2024-06-01", "-o", out / "compare.json", *rules],
        ["compare", log, "--split-date", "2024-06-01", "-o", out / "compare.xlsx", *rules],
        ["demo", "--logs", exports, "--out", out / "demo"],
    ]
    results = {}
    for cmd in commands:
        r = procmine(*cmd, cwd=tmp)
        results[" ".join(map(str, cmd[:1] + [c for c in cmd[1:] if str(c).startswith("-")]))] = r
        assert r.returncode == 0, (cmd, r.stderr[-2000:])
        assert "Traceback" not in r.stderr
    return out, results, log


def test_no_output_file_contains_raw_personal_data(run_everything):
    out, _, log = run_everything
    files = [p for p in out.rglob("*") if p.is_file() and p.suffix != ".parquet"]
    names = {p.name for p in files}
    # every command left its file (the rejects beside the log, from import and from demo)
    assert {"log.rejects.csv", "cases.csv", "findings.json", "map.svg", "map.json", "departments.json",
            "conform.csv", "report.xlsx", "report.html", "redesign.json", "redesign.xlsx", "suggested.yaml",
            "compare.json", "compare.xlsx"} <= names
    assert len(list((out / "demo").glob("*"))) >= 6
    leaks = []
    for path in files:
        for label, text in texts(path):
            leaks += [(label, raw) for raw in RAW if raw in text]
    assert not leaks
    # the canonical log keeps what was imported (needed to link cases)
    import procmine as pm
    kept = pm.read_log(log)
    assert set(CASE_IDS) <= set(kept["case_id"]) and NAMES[0] in set(kept["applicant"])


def test_outputs_show_pseudonyms_where_the_data_was(run_everything):
    out, _, _ = run_everything
    cases = (out / "cases.csv").read_text(encoding="utf-8-sig")
    assert cases.count("身份证-") >= 3 and cases.count("手机-") >= 2 and "SP20240001" in cases
    rejects = (out / "log.rejects.csv").read_text(encoding="utf-8-sig")
    assert "申请人-" in rejects  # the name quoted in a reject reason
    assert "申请人-" in (out / "report.html").read_text(encoding="utf-8") or "身份证-" in (out / "report.html").read_text()


def test_terminal_output_has_no_raw_personal_data(run_everything):
    _, results, _ = run_everything
    leaks = [(cmd, raw) for cmd, r in results.items() for raw in RAW if raw in r.stdout]
    assert not leaks


def test_no_mask_shows_the_raw_values(run_everything, tmp_path):
    """The check above can fail: with --no-mask the raw values are there."""
    out, _, log = run_everything
    r = procmine("cases", log, "-o", tmp_path / "raw.csv", "--no-mask", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert CASE_IDS[0] in (tmp_path / "raw.csv").read_text(encoding="utf-8-sig")
