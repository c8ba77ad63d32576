"""A small workbench project for the web tests: six cases in three departments, worked out by hand.

=========  ==================  ======================================  ==========================
case       departments         what                                    as of 2024-04-30 17:00
=========  ==================  ======================================  ==========================
IN-A1      市场监管局            受理 03-01, 办结 03-05; limit 5          decided in 2 working days
IN-A2      市场监管局, 公安局      受理 03-01, 审核 by 公安局, 办结 03-06      decided in 3 working days
OUT-B3     公安局               step names <script>…, " onmouseover=…   decided; applicant 王小明
OUT-C4     税务局               受理 03-01, never decided; limit 5       open, past its limit: 红牌
OUT-B5     公安局               受理 04-29, 办结 04-30                   decided in 1 working day
IN-A6      市场监管局            受理 04-01, never decided; limit 5       open, past its limit: 红牌
=========  ==================  ======================================  ==========================

IN-A1 and OUT-B3 are rated 非常不满意 (差评) on 2024-03-07 and never rectified.

A 市场监管局 account may see IN-A1, IN-A2 and IN-A6 (the departments that took part:
IN-A2 counts for 公安局 too), and nothing named OUT-….
"""

from __future__ import annotations

import csv
from pathlib import Path

HEADER = ["办件编号", "事项名称", "环节名称", "承办部门", "经办人", "开始时间", "结束时间", "承诺时限", "提交材料", "申请人",
          "联系电话", "评价等级", "评价时间"]
SCRIPT_STEP = '<script>alert("x")</script>'
ATTR_STEP = '" onmouseover="alert(1)'
IMG_DOC = "<img src=x onerror=alert(2)>"
APPLICANT, PHONE = "王小明", "13812345678"
S = "测试事项"
ROWS = [
    ["IN-A1", S, "受理", "市场监管局", "张三", "2024-03-01 09:00", "2024-03-01 09:30", 5, "营业执照", "甲公司", "", "非常不满意", "2024-03-07 10:00"],
    ["IN-A1", S, "审核", "市场监管局", "李四", "2024-03-04 10:00", "2024-03-04 11:00", 5, "", "甲公司", "", "非常不满意", "2024-03-07 10:00"],
    ["IN-A1", S, "办结", "市场监管局", "李四", "2024-03-05 10:00", "2024-03-05 10:30", 5, "", "甲公司", "", "非常不满意", "2024-03-07 10:00"],
    ["IN-A2", S, "受理", "市场监管局", "张三", "2024-03-01 09:00", "2024-03-01 09:20", 5, "营业执照", "乙公司", "", "", ""],
    ["IN-A2", S, "审核", "公安局", "赵六", "2024-03-04 09:00", "2024-03-04 10:00", 5, "", "乙公司", "", "", ""],
    ["IN-A2", S, "办结", "市场监管局", "李四", "2024-03-06 09:00", "2024-03-06 09:30", 5, "", "乙公司", "", "", ""],
    ["OUT-B3", S, "受理", "公安局", "赵六", "2024-03-01 09:00", "2024-03-01 09:10", 5, IMG_DOC, APPLICANT, PHONE, "非常不满意", "2024-03-07 10:00"],
    ["OUT-B3", S, SCRIPT_STEP, "公安局", "赵六", "2024-03-04 09:00", "2024-03-04 10:00", 5, "", APPLICANT, PHONE, "非常不满意", "2024-03-07 10:00"],
    ["OUT-B3", S, ATTR_STEP, "公安局", "赵六", "2024-03-05 09:00", "2024-03-05 10:00", 5, "", APPLICANT, PHONE, "非常不满意", "2024-03-07 10:00"],
    ["OUT-B3", S, "办结", "公安局", "赵六", "2024-03-06 09:00", "2024-03-06 10:00", 5, "", APPLICANT, PHONE, "非常不满意", "2024-03-07 10:00"],
    ["OUT-C4", S, "受理", "税务局", "钱七", "2024-03-01 09:00", "2024-03-01 09:10", 5, "营业执照", "丙公司", "", "", ""],
    ["OUT-C4", S, "审核", "税务局", "钱七", "2024-03-04 09:00", "2024-03-04 10:00", 5, "", "丙公司", "", "", ""],
    ["OUT-B5", S, "受理", "公安局", "赵六", "2024-04-29 09:00", "2024-04-29 09:30", 5, "营业执照", "丁公司", "", "", ""],
    ["OUT-B5", S, "办结", "公安局", "赵六", "2024-04-30 16:00", "2024-04-30 17:00", 5, "", "丁公司", "", "", ""],
    ["IN-A6", S, "受理", "市场监管局", "张三", "2024-04-01 09:00", "2024-04-01 09:30", 5, "营业执照", "戊公司", "", "", ""],
    ["IN-A6", S, "审核", "市场监管局", "李四", "2024-04-02 09:00", "2024-04-02 10:00", 5, "", "戊公司", "", "", ""],
]
INSIDE = {"IN-A1", "IN-A2", "IN-A6"}       # what a 市场监管局 account may see
INSIDE_EVENTS = 3 + 3 + 2                   # their rows above
PASSWORDS = {"admin": "admin-password-1", "reform": "reform-password-1", "market": "market-password-1",
             "police": "police-password-1", "auditor": "auditor-password-1"}


def write_export(path: Path, rows=ROWS) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        w.writerows(rows)
    return path


def make_project(root: Path, tmp: Path):
    from procmine.web import Project

    proj = Project.init(root, "admin", PASSWORDS["admin"])
    proj.users.add("reform", PASSWORDS["reform"], "reform")
    proj.users.add("market", PASSWORDS["market"], "dept", "市场监管局")
    proj.users.add("police", PASSWORDS["police"], "dept", "公安局")
    proj.users.add("auditor", PASSWORDS["auditor"], "audit")
    (root / "rules.yaml").write_text("thresholds:\n  min_cases: 1\n", encoding="utf-8")  # findings from 6 cases
    proj.import_files([write_export(tmp / "export.csv")])
    return proj
