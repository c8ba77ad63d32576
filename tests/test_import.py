import json

import pandas as pd
import pm4py
import pytest
from click.testing import CliRunner

import procmine
from procmine.cli import cli, main
from conftest import HEADER, T, build_workbook


def balanced(result):
    return result.rows_read == sum(s.rows_used for s in result.sheets) + result.duplicates + len(result.rejects)


def test_title_rows_blank_rows_and_total_footer(workbook):
    path = workbook({"明细": [
        ["XX市政务服务办件明细表"], ["导出时间：2024-05-01"], [],
        HEADER,
        ["A1", "食品经营许可", "受理", "市场监管局", "张三", T(5, 9), T(5, 10), "营业执照、身份证", "是", "10个工作日"],
        [],
        ["A1", "食品经营许可", "审批", "市场监管局", "李四", T(6, 9), T(6, 10), None, "否", "10个工作日"],
        ["合计", "2件"],
    ]}, {"明细": ["A1:J1"]})
    r = procmine.read_export(path)
    assert (r.rows_read, r.events, r.cases, len(r.rejects)) == (3, 2, 1, 1)
    assert r.rejects.iloc[0]["row"] == 8 and "合计" in r.rejects.iloc[0]["reason"]
    assert list(r.log["source_row"]) == [5, 7]
    assert balanced(r)
    first = r.log.iloc[0]
    assert first["materials"] == ["营业执照", "身份证"] and bool(first["in_person"]) and first["sla_days"] == 10
    assert str(first["start_time"].tz) == "Asia/Shanghai"


def test_vertically_merged_case_cells_are_filled(workbook):
    rows = [HEADER,
            ["C1", "企业开办", "受理", "政务服务中心", "甲", T(5, 9), T(5, 10), None, "是", 3],
            [None, None, "登记", "市场监管局", "乙", T(5, 11), T(5, 12), None, "否", 3],
            [None, None, "刻章", "公安局", "丙", T(6, 9), T(6, 10), None, "否", 3],
            ["C2", "企业开办", "受理", "政务服务中心", "甲", T(7, 9), T(7, 10), None, "是", 3]]
    path = workbook({"s": rows}, {"s": ["A2:A4", "B2:B4"]})
    r = procmine.read_export(path)
    assert r.events == 4 and r.cases == 2 and r.rejects.empty
    assert list(r.log["case_id"]) == ["C1", "C1", "C1", "C2"]
    assert list(r.log["service"]) == ["企业开办"] * 4


def test_blank_case_cell_without_merge_is_rejected_not_filled(workbook):
    """A blank id that is not a merge must not be guessed from the row above."""
    path = workbook({"s": [HEADER, ["C1", "x", "受理", "d", "p", T(5), T(5, 10)],
                           [None, "x", "登记", "d", "p", T(5, 11), T(5, 12)]]})
    r = procmine.read_export(path)
    assert r.events == 1 and "no case id" in r.rejects.iloc[0]["reason"]


def test_sheets_with_different_dialects_and_files_share_cases(tmp_path):
    a = build_workbook(tmp_path / "q1.xlsx", {
        "东区": [["业务流水号", "事项", "节点名称", "办理单位", "办理人员", "接收时间", "完成时间"],
                 ["X1", "许可", "受理", "局", "甲", "2024/3/5 9:00", "2024/3/5 9:30"]],
        "西区": [["受理编号", "事项名称", "环节名称", "所属部门", "操作人", "到达时间", "办结时间"],
                 ["X2", "许可", "受理", "局", "乙", "2024年3月6日 09:00", "2024年3月6日 10:00"]]})
    b = build_workbook(tmp_path / "q2.xlsx", {"s": [["申请编号", "事项名称", "环节", "办理部门", "操作人", "开始时间", "提交时间"],
                                                   ["X1", "许可", "办结", "局", "丙", T(20, 9), T(20, 10)]]})
    r = procmine.read_export([a, b])
    assert r.cases == 2 and r.events == 3
    assert list(r.log.loc[r.log.case_id == "X1", "activity"]) == ["受理", "办结"]
    assert {s.sheet for s in r.sheets} == {"东区", "西区", "s"}


def test_wide_ledger_is_unpivoted(workbook):
    path = workbook({"台账": [
        ["建筑工程施工许可台账"],
        ["序号", "申请编号", "事项名称", "申请单位", "受理时间", "受理人", "初审时间", "审批开始时间", "审批完成时间", "办结时间", "申请材料", "承诺时限"],
        [1, "J1", "施工许可", "某建设公司", T(5, 9), "甲", T(6, 9), T(7, 9), T(7, 15), T(8, 9), "营业执照、施工合同", "7个工作日"],
        [2, "J2", "施工许可", "某建设公司", T(5, 9), "乙", None, None, None, None, "营业执照", 7],
        [3, "J3", "施工许可", "某建设公司", None, None, None, None, None, None, None, 7],
    ]})
    r = procmine.read_export(path)
    assert r.sheets[0].layout == "wide"
    assert r.rows_read == 3 and r.events == 5 and r.cases == 2 and len(r.rejects) == 1
    j1 = r.log[r.log.case_id == "J1"]
    assert list(j1["activity"]) == ["受理", "初审", "审批", "办结"]
    approve = j1[j1.activity == "审批"].iloc[0]
    assert approve["start_time"] == pd.Timestamp(T(7, 9), tz="Asia/Shanghai")
    assert approve["end_time"] == pd.Timestamp(T(7, 15), tz="Asia/Shanghai")
    assert j1.iloc[0]["resource"] == "甲"
    assert j1["department"].isna().all() and (j1["applicant"] == "某建设公司").all()  # the applicant is not a department
    assert j1.iloc[0]["materials"] == ["营业执照", "施工合同"] and all(m == [] for m in j1["materials"].iloc[1:])
    assert "no stage time" in r.rejects.iloc[0]["reason"]
    assert balanced(r)


def test_long_numeric_ids_are_rejected_not_merged(workbook):
    path = workbook({"s": [HEADER[:7],
                           [3.10101199001011e17, "x", "受理", "d", "p", T(5), T(5, 10)],
                           [3.10101199001011e17, "x", "受理", "d", "p", T(6), T(6, 10)],
                           [20240001, "x", "受理", "d", "p", T(7), T(7, 10)]]})
    r = procmine.read_export(path)
    assert list(r.log["case_id"]) == ["20240001"]
    assert len(r.rejects) == 2 and all("lost digits" in x for x in r.rejects["reason"])
    assert any("Excel damaged" in n for n in r.notes)


def test_scientific_notation_ids_in_text(workbook):
    path = workbook({"s": [HEADER[:7], ["3.10101E+17", "x", "受理", "d", "p", T(5), T(5, 10)],
                           ["OK1", "x", "受理", "d", "p", T(5), T(5, 10)]]})
    r = procmine.read_export(path)
    assert r.events == 1 and "lost digits" in r.rejects.iloc[0]["reason"]


@pytest.mark.parametrize("row, reason", [
    ([None, "x", "受理", "d", "p", T(5), T(5, 10)], "no case id"),
    (["A", "x", None, "d", "p", T(5), T(5, 10)], "no step name"),
    (["A", "x", "受理", "d", "p", None, None], "no start or end time"),
    (["A", "x", "受理", "d", "p", "明天", T(5, 10)], "unparseable time in 开始时间: '明天'"),
    (["A", "x", "受理", "d", "p", T(6), T(5, 10)], "is before start"),
    (["总计", "x", None, None, None, None, None], "summary row"),
])
def test_each_rejection_reason(workbook, row, reason):
    path = workbook({"s": [HEADER[:7], ["OK", "x", "受理", "d", "p", T(5), T(5, 10)], row]})
    r = procmine.read_export(path)
    assert r.events == 1 and len(r.rejects) == 1
    rej = r.rejects.iloc[0]
    assert reason in rej["reason"] and rej["row"] == 3 and rej["sheet"] == "s" and rej["file"] == "export.xlsx"


def test_missing_field_error_lists_columns_and_accepted_names(workbook):
    path = workbook({"s": [["办件编号", "说明", "开始时间"], ["A", "x", T(5)]]})
    with pytest.raises(procmine.MappingError) as err:
        procmine.read_export(path)
    text = str(err.value)
    assert "办理环节" in text and "columns found: 办件编号, 说明, 开始时间" in text and "节点名称" in text


def test_two_columns_claiming_a_field_stop_the_import(workbook):
    path = workbook({"s": [["办件编号", "业务流水号", "办理环节", "开始时间"], ["A", "B", "x", T(5)]]})
    with pytest.raises(procmine.MappingError, match="two columns could be 办件编号.*'办件编号', '业务流水号'"):
        procmine.read_export(path)


def test_repeated_header_name_stops_the_import(workbook):
    path = workbook({"s": [["办件编号", "办理环节", "办理环节", "开始时间"], ["A", "x", "y", T(5)]]})
    with pytest.raises(procmine.MappingError, match="2 columns named '办理环节'"):
        procmine.read_export(path)


def test_user_mapping_file(workbook, tmp_path):
    path = workbook({"s": [["流转单号", "步骤", "处理科室", "时刻"], ["A", "受理", "一科", "2024-03-05 09:00"]]})
    yml = tmp_path / "m.yaml"
    yml.write_text("fields:\n  case_id: 流转单号\n  activity: [步骤]\n  department: 处理科室\n  end_time: 时刻\n"
                   "service: 档案查询\n", encoding="utf-8")
    r = procmine.read_export(path, mapping=yml)
    row = r.log.iloc[0]
    assert (row["case_id"], row["activity"], row["department"], row["service"]) == ("A", "受理", "一科", "档案查询")


def test_bad_mapping_file_names_the_problem(workbook, tmp_path):
    path = workbook({"s": [HEADER[:7]]})
    yml = tmp_path / "m.yaml"
    yml.write_text("fields:\n  caseid: 流转单号\n", encoding="utf-8")
    with pytest.raises(procmine.ConfigError, match="unknown field.*caseid"):
        procmine.read_export(path, mapping=yml)


def test_exact_duplicates_dropped_in_excel_and_counted(workbook):
    row = ["A", "x", "受理", "d", "p", T(5), T(5, 10)]
    path = workbook({"s": [HEADER[:7], row, row, ["A", "x", "审批", "d", "p", T(6), T(6, 10)]]})
    r = procmine.read_export(path)
    assert (r.rows_read, r.events, r.duplicates) == (3, 2, 1)
    assert balanced(r)
    kept = procmine.read_export(path, duplicates="keep")
    assert kept.events == 3 and kept.duplicates == 0


def test_duplicates_across_overlapping_quarter_files(tmp_path):
    row = ["A", "x", "受理", "d", "p", T(5), T(5, 10)]
    a = build_workbook(tmp_path / "q1.xlsx", {"s": [HEADER[:7], row]})
    b = build_workbook(tmp_path / "q2.xlsx", {"s": [HEADER[:7], row, ["A", "x", "办结", "d", "p", T(9), T(9, 10)]]})
    r = procmine.read_export([a, b])
    assert (r.rows_read, r.events, r.duplicates) == (3, 2, 1)
    assert r.sheets[1].duplicates == 1


def test_csv_in_gbk_and_utf8_bom(tmp_path):
    text = "办件编号,办理环节,办理部门,结束时间\nA,受理,窗口,2024-03-05 09:00\nA,受理,窗口,2024-03-05 09:00\n"
    for enc in ("gb18030", "utf-8-sig", "utf-8"):
        p = tmp_path / f"{enc}.csv"
        p.write_bytes(text.encode(enc))
        r = procmine.read_export(p)
        assert r.log.iloc[0]["activity"] == "受理" and r.log.iloc[0]["department"] == "窗口"
        assert r.events == 2 and r.duplicates == 0  # CSV logs keep duplicates by default
        assert procmine.read_export(p, duplicates="drop").events == 1


def test_round_trips_keep_counts(workbook, tmp_path):
    path = workbook({"s": [HEADER,
                           ["A", "许可", "受理", "局", "张", T(5, 9), T(5, 10), "营业执照、身份证", "是", 10],
                           ["A", "许可", "审批", "局", "李", T(6, 9), T(6, 10), None, "否", 10],
                           ["B", "许可", "受理", "局", "张", T(7, 9), T(7, 10), "-2+3+cmd|' /C calc'!A0", "是", 10]]})
    r = procmine.read_export(path)
    for name in ("log.parquet", "log.xlsx", "log.csv", "log.xes"):
        out = procmine.write_log(r.log, tmp_path / name)
        back = procmine.read_export(out) if not name.endswith("parquet") else None
        if back is None:
            log = procmine.read_log(out)
            pd.testing.assert_frame_equal(log, r.log)
        else:
            assert (back.events, back.cases) == (3, 2), name
    from openpyxl import load_workbook
    ws = load_workbook(tmp_path / "log.xlsx").active
    cells = [c.value for row in ws.iter_rows() for c in row]
    assert "-2+3+cmd|' /C calc'!A0" in cells  # stored as text, not a formula
    assert all(c.data_type != "f" for row in ws.iter_rows() for c in row)


def test_pm4py_conversion_works_with_pandas3_strings(workbook):
    path = workbook({"s": [HEADER[:7]] + [[f"C{i}", "x", a, "d", "p", T(5, 9 + k), T(5, 9 + k, 30)]
                                          for i in range(4) for k, a in enumerate(["受理", "审批", "办结"])]})
    r = procmine.read_export(path)
    before = r.log.copy()
    df = procmine.to_pm4py(r.log)
    pd.testing.assert_frame_equal(r.log, before)  # caller's frame untouched
    top = pm4py.filter_variants_top_k(df, 1)
    assert top["case:concept:name"].nunique() == 4
    dfg, _, _ = pm4py.discover_dfg(df)
    assert dfg[("受理", "审批")] == 4


def test_cli_json_and_rejects_file(workbook, tmp_path):
    path = workbook({"s": [HEADER[:7], ["A", "x", "受理", "d", "p", T(5), T(5, 10)],
                           [None, "x", "受理", "d", "p", T(5), T(5, 10)]]})
    out = tmp_path / "o" / "log.parquet"
    res = CliRunner().invoke(cli, ["import", str(path), "-o", str(out), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert {k: data[k] for k in ("rows_read", "events", "cases", "duplicates")} == \
        {"rows_read": 2, "events": 1, "cases": 1, "duplicates": 0}
    assert data["rejected"] == [{"file": "export.xlsx", "sheet": "s", "row": 3, "reason": "no case id (办件编号 is empty)"}]
    rej = pd.read_csv(tmp_path / "o" / "log.rejects.csv", encoding="utf-8-sig")
    assert list(rej["row"]) == [3]


def test_exit_codes_and_messages(workbook, tmp_path, capsys):
    good = workbook({"s": [HEADER[:7], ["A", "x", "受理", "d", "p", T(5), T(5, 10)]]}, name="good.xlsx")
    assert main(["import", str(good), "-o", str(tmp_path / "l.parquet")]) == 0
    bad = workbook({"s": [HEADER[:7], [None, "x", "受理", "d", "p", T(5), T(5, 10)]]}, name="bad.xlsx")
    assert main(["import", str(bad), "-o", str(tmp_path / "l2.parquet")]) == 1
    err = capsys.readouterr().err
    assert "no usable rows" in err and "Traceback" not in err
    assert not (tmp_path / "l2.parquet").exists()
    assert main(["import", str(good)]) == 2  # -o missing
    assert main(["import", str(tmp_path / "nope.xlsx"), "-o", str(tmp_path / "x.parquet")]) == 1  # unreadable input
    notxlsx = tmp_path / "page.xlsx"
    notxlsx.write_text("<html><table><tr><td>办件编号</td></tr></table></html>", encoding="utf-8")
    assert main(["import", str(notxlsx), "-o", str(tmp_path / "x.parquet")]) == 1
    assert "HTML" in capsys.readouterr().err


def test_reexported_event_log_prefers_xes_standard_keys(workbook):
    # BPIC 2020 re-exported from pm4py: both concept:name and Activity, org:resource and Resource
    path = workbook({"log": [["case:concept:name", "concept:name", "Activity", "org:resource", "Resource", "org:role",
                              "time:timestamp"],
                             ["d1", "Declaration SUBMITTED", "x", "STAFF MEMBER", "r1", "EMPLOYEE", "2018-01-01T09:00:00+00:00"],
                             ["d1", "Declaration APPROVED", "y", "ADMIN", "r2", "ADMINISTRATION", "2018-01-02T09:00:00+00:00"]]})
    r = procmine.read_export(path)
    assert r.events == 2 and list(r.log["activity"]) == ["Declaration SUBMITTED", "Declaration APPROVED"]
    assert list(r.log["resource"]) == ["STAFF MEMBER", "ADMIN"] and list(r.log["department"]) == ["EMPLOYEE", "ADMINISTRATION"]
    assert list(r.log["Activity"]) == ["x", "y"]  # kept as an attribute
    assert r.log["end_time"].iloc[0] == pd.Timestamp("2018-01-01 17:00", tz="Asia/Shanghai")


@pytest.mark.parametrize("header, row, expect", [
    (["业务号", "任务名称", "办理机构", "任务处理人", "任务开始时间", "任务完成时间"],
     ["K1", "审查", "某局", "张三", "2024-03-05 09:00:00", "2024-03-05 10:00:00"], ("业务号", "任务名称", "办理机构")),
    (["Case ID", "Activity", "Resource", "Start Timestamp", "Complete Timestamp"],
     ["K1", "审查", "张三", "2024-03-05 09:00:00", "2024-03-05 10:00:00"], ("Case ID", "Activity", None)),
    (["工单号", "审批节点", "受理单位", "创建时间", "完成时间"],
     ["K1", "审查", "某局", "2024-03-05 09:00:00", "2024-03-05 10:00:00"], ("工单号", "审批节点", "受理单位")),
])
def test_other_system_dialects(workbook, header, row, expect):
    r = procmine.read_export(workbook({"s": [header, row]}))
    m = r.sheets[0].mapping
    assert r.events == 1 and f"case_id←{expect[0]}" in m and f"activity←{expect[1]}" in m
    if expect[2]:
        assert f"department←{expect[2]}" in m
    assert r.log["start_time"].notna().all() and r.log["end_time"].notna().all()


def test_case_level_lifecycle_columns_and_limit_units(workbook):
    # a step table that also carries the case's 受理/办结 times, status and limit (with a unit column)
    head = ["办件编号", "事项名称", "环节名称", "开始时间", "结束时间", "受理时间", "办结时间", "办件状态",
            "承诺时限", "期限单位", "法定时限", "申请人"]
    path = workbook({"明细": [
        head,
        ["A1", "食品经营许可", "收件", T(4, 9), T(4, 10), T(4, 10), T(6, 15), "已办结", 5, "工作日", "20个工作日", "甲公司"],
        ["A1", "食品经营许可", "审批", T(6, 9), T(6, 15), T(4, 10), T(6, 15), "已办结", 5, "工作日", "20个工作日", "甲公司"],
        ["A2", "食品经营许可", "收件", T(4, 9), T(4, 10), T(4, 10), None, "审批中", 1, "月", "看情况", "乙公司"],
        ["A3", "食品经营许可", "收件", T(4, 9), T(4, 10), "2024/3/32", None, "审批中", 5, "工作日", None, "丙公司"],
    ]})
    r = procmine.read_export(path)
    log = r.log.set_index("case_id")
    assert list(r.rejects["reason"]) == ["unparseable time in 受理时间: '2024/3/32'"]
    a1 = log.loc["A1"].iloc[0]
    assert a1["accept_time"] == pd.Timestamp(T(4, 10), tz="Asia/Shanghai") and a1["status"] == "已办结"
    assert (a1["sla_days"], a1["statutory_days"], a1["applicant"]) == (5, 20, "甲公司")
    # 1 month is a calendar month (民法典 §201), never 22 working days
    assert pd.isna(log.loc["A2", "sla_days"]) and log.loc["A2", "sla_months"] == 1
    assert pd.isna(log.loc["A2", "statutory_days"]) and any("看情况" in n for n in r.notes)
    from procmine.engine.metrics import case_metrics
    m = case_metrics(r.log).set_index("case_id")
    # 受理 Mon 03-04 → 办结 Wed 03-06 = 2 working days; limit 5: early
    assert (m.loc["A1", "clock_days"], m.loc["A1", "outcome"]) == (2, "提前")
    assert m.loc["A2", "status"] == "在办"


def test_wide_ledger_milestones_and_case_level_presence(workbook):
    path = workbook({"台账": [
        ["申请编号", "事项名称", "受理时间", "审核时间", "办结时间", "领证时间", "是否到场", "承诺时限"],
        ["W1", "建筑工程施工许可", T(4, 9), T(5, 9), T(6, 9), T(8, 9), "是", "20日"],
        ["W2", "建筑工程施工许可", T(4, 9), T(5, 9), T(6, 9), None, "否", "20日"],
    ]})
    r = procmine.read_export(path)
    log = r.log
    assert set(log["activity"]) == {"受理", "审核", "办结", "领证"}
    w1 = log[log["case_id"] == "W1"].set_index("activity")
    # 是否到场 is one fact per case: yes at the first stage only; no → no stage is a visit
    assert w1.loc["受理", "in_person"] == True and w1["in_person"].iloc[1:].isna().all()  # noqa: E712
    assert (log.loc[log["case_id"] == "W2", "in_person"] == False).all()  # noqa: E712
    assert w1.loc["受理", "accept_time"] == pd.Timestamp(T(4, 9), tz="Asia/Shanghai")
    assert w1.loc["受理", "sla_days"] == 20   # 20日 are working days (§82)
    from procmine.engine.metrics import case_metrics
    m = case_metrics(log).set_index("case_id")
    assert m.loc["W1", "clock_days"] == 2 and m.loc["W2", "visits"] == 0
    # W1: came at 受理 Mon, and the 领证 stage Fri is a pick-up: 2 visits
    assert m.loc["W1", "visits"] == 2


def test_import_leaves_the_callers_arrow_memory_pool_as_it_was(workbook, tmp_path):
    import pyarrow as pa

    path = workbook({"s": [HEADER, ["C1", "许可", "受理", "局", "甲", T(5, 9), T(5, 10)]]})
    before = pa.default_memory_pool().backend_name
    r = procmine.read_export(path)
    assert pa.default_memory_pool().backend_name == before
    procmine.write_log(r.log, tmp_path / "log.parquet")
    assert pa.default_memory_pool().backend_name == before
    assert procmine.read_log(tmp_path / "log.parquet")["case_id"].tolist() == ["C1"]
    bad = tmp_path / "empty.csv"
    bad.write_text("x,y\n1,2\n", encoding="utf-8")
    with pytest.raises(procmine.errors.ProcmineError):
        procmine.read_export(bad)  # no header naming a case: an error, and the pool is still restored
    assert pa.default_memory_pool().backend_name == before


def test_sheet_with_whitespace_only_cells_and_padded_values(workbook):
    # blank, full-width and non-breaking spaces are empty cells; padded values keep their content
    path = workbook({"s": [HEADER,
                           ["C1", "许可", " 受理 ", "\u3000", "\xa0", T(5, 9), T(5, 10)],
                           ["\u3000", "许可", "审批", "局", "乙", T(5, 11), T(5, 12)]]})
    r = procmine.read_export(path)
    assert r.events == 1 and "no case id" in r.rejects.iloc[0]["reason"]
    ev = r.log.iloc[0]
    assert ev["activity"] == "受理" and pd.isna(ev["department"]) and pd.isna(ev["resource"])


def test_in_order_compares_keys_without_overflow():
    import numpy as np

    from procmine.log.eventlog import in_order

    top = np.iinfo(np.int64).max  # an event without a time sorts last (order_log's key)
    assert in_order(np.array([0, 0]), np.array([-5, top]))
    assert not in_order(np.array([0, 0]), np.array([top, -5]))  # a difference would overflow and look sorted
    assert in_order(np.array([0, 1]), np.array([9, 1]))          # a new case may start earlier
    assert not in_order(np.array([0, 0, 0]), np.array([1, 1, 1]), np.array([3, 2, 4]))
    assert in_order(np.array([0, 0, 0]), np.array([1, 1, 2]), np.array([3, 4, 0]))


def test_reimporting_a_canonical_parquet_log_keeps_document_lists(workbook, tmp_path):
    path = workbook({"s": [HEADER,
                           ["C1", "许可", "受理", "局", "甲", T(5, 9), T(5, 10), "营业执照、身份证"],
                           ["C1", "许可", "审批", "局", "乙", T(5, 11), T(5, 12), None]]})
    first = procmine.read_export(path).log
    procmine.write_log(first, tmp_path / "log.parquet")
    again = procmine.read_export(tmp_path / "log.parquet").log
    # a list column is read as one name per line, not as the list's Python text
    assert [list(m) for m in again["materials"]] == [["营业执照", "身份证"], []]
    assert list(again["activity"]) == ["受理", "审批"] and again["start_time"].equals(first["start_time"])


def test_has_values_reads_the_footers_and_falls_back_to_the_columns(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from procmine.log.eventlog import has_values

    n = 1000
    empty = pa.table({"case_id": [f"C{i}" for i in range(n)], "rating": pa.nulls(n, pa.string())})
    pq.write_table(empty, tmp_path / "empty.parquet", row_group_size=300)
    one = empty.set_column(1, "rating", pa.array([None] * (n - 1) + ["差评"], pa.string()))
    pq.write_table(one, tmp_path / "one.parquet", row_group_size=300)
    pq.write_table(one, tmp_path / "nostats.parquet", row_group_size=300, write_statistics=False)
    pq.write_table(empty, tmp_path / "empty_nostats.parquet", write_statistics=False)
    assert not has_values(tmp_path / "empty.parquet", ("rating", "applicant"))
    assert not has_values(tmp_path / "empty.parquet", ("applicant",))  # a column the log lacks
    assert has_values(tmp_path / "one.parquet", ("rating",))  # the last row of the last row group
    assert has_values(tmp_path / "nostats.parquet", ("rating",))
    assert not has_values(tmp_path / "empty_nostats.parquet", ("rating",))
