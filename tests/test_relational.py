"""Relational sources: case, step, document and rating tables (issue 13)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import relational_data as rd
from procmine import read_export
from procmine.cli import main

PROVENANCE = ["source_file", "source_sheet", "source_row"]
TS = lambda s: pd.Timestamp(s, tz="Asia/Shanghai")  # noqa: E731


@pytest.fixture(scope="module")
def workbook(tmp_path_factory):
    return rd.write_workbook(tmp_path_factory.mktemp("rel") / "办件导出.xlsx")


@pytest.fixture(scope="module")
def wb_result(workbook):
    return read_export(workbook)


def test_workbook_and_csv_files_give_the_same_log(wb_result, tmp_path):
    csv = read_export(rd.write_csvs(tmp_path / "csv"))
    pd.testing.assert_frame_equal(wb_result.log.drop(columns=PROVENANCE), csv.log.drop(columns=PROVENANCE))
    # the same files given one by one on the command line
    files = sorted((tmp_path / "csv").glob("*.csv"))
    one_by_one = read_export(files)
    pd.testing.assert_frame_equal(csv.log, one_by_one.log)


def test_roles_keys_and_accounting(wb_result):
    roles = {s.sheet: (s.layout, s.mapping) for s in wb_result.sheets}
    assert {k: v[0] for k, v in roles.items()} == {"办件信息": "case", "办理过程": "step", "收取材料": "doc",
                                                   "好差评": "rating"}
    assert all("key 办件编号" in m for _, m in roles.values())
    for s in wb_result.sheets:
        assert s.rows_read == s.rows_used + s.duplicates + s.rejected, s
    assert wb_result.rows_read == sum(len(t) for t in rd.TABLES.values())


def test_orphans_and_unusable_rows_are_rejected_with_reasons(wb_result):
    rej = {(r.sheet, int(r.row)): r.reason for r in wb_result.rejects.itertuples()}
    assert rej == {
        ("办理过程", 7): "case C999 is not in the case table",
        ("收取材料", 5): "case C998 is not in the case table",
        ("收取材料", 6): "no document name (材料名称 is empty)",
        ("好差评", 4): "case C997 is not in the case table",
        ("办件信息", 5): "case C004 has no steps and no 申请/受理/办结/送达 time",
    }


def test_case_fields_on_every_step(wb_result):
    log = wb_result.log
    c1 = log[log.case_id == "C001"]
    assert list(c1.activity) == ["受理", "审查", "决定"]
    assert set(c1.service) == {"食品经营许可"} and set(c1.applicant) == {"甲公司"}
    assert set(c1.applicant_id) == {"91330100MA0001"}
    assert set(c1.accept_time) == {TS("2024-03-01 10:00")} and set(c1.finish_time) == {TS("2024-03-06 16:00")}
    assert set(c1.deliver_time) == {TS("2024-03-08 10:00")} and set(c1.apply_time) == {TS("2024-03-01 09:00")}
    assert set(c1.sla_days) == {10.0} and set(c1.statutory_days) == {20.0} and set(c1.status) == {"办结"}
    assert set(c1.channel) == {"窗口"} and set(c1.case_department) == {"市场监管局"}
    # step-level values stay the step's
    assert list(c1.department) == ["窗口", "食品科", "局领导"] and list(c1.resource) == ["张三", "李四", "王五"]
    assert list(c1["办理意见"]) == ["同意受理", "符合条件", "准予许可"]
    c2 = log[log.case_id == "C002"]
    assert c2.finish_time.isna().all() and set(c2.status) == {"在办"}


def test_documents_go_to_the_named_step_else_the_intake(wb_result):
    log = wb_result.log.set_index(["case_id", "activity"])
    assert list(log.loc[("C001", "受理"), "materials"]) == ["营业执照"]  # no step named: the intake (受理)
    assert list(log.loc[("C001", "审查"), "materials"]) == ["健康证明"]  # the table names the step
    assert list(log.loc[("C001", "决定"), "materials"]) == []
    assert log.loc[("C001", "受理"), "document_take"] == "营业执照:纸质"
    assert list(log.loc[("C003", "受理"), "materials"]) == ["申请书"]  # a milestone-only case: its 受理


def test_a_case_without_steps_becomes_its_milestones(wb_result):
    c3 = wb_result.log[wb_result.log.case_id == "C003"]
    assert list(c3.activity) == ["申请", "受理", "办结"]
    assert list(c3.start_time) == [TS("2024-03-05 08:30"), TS("2024-03-05 09:00"), TS("2024-03-05 15:00")]
    assert (c3.start_time == c3.end_time).all()
    assert set(c3.department) == {"行政审批局"} and set(c3.sla_days) == {0.0}  # 即办
    assert set(c3.source_sheet) == {"办件信息"} and set(c3.source_row) == {4}


def test_ratings_become_case_attributes(wb_result):
    log = wb_result.log
    c1 = log[log.case_id == "C001"].iloc[0]
    assert c1.rating == "非常满意" and c1.rating_time == TS("2024-03-08 11:00") and c1.rating_channel == "pad"
    c2 = log[log.case_id == "C002"].iloc[0]
    assert (c2.rating, c2.rating_text, c2.rectify_status) == ("不满意", "等太久", "已整改")
    assert c2.rectify_time == TS("2024-03-07 17:00")
    assert log[log.case_id == "C003"].rating.isna().all()
    assert isinstance(log["rating_time"].dtype, pd.DatetimeTZDtype)


def test_latest_rating_is_kept(tmp_path):
    tables = dict(rd.TABLES)
    tables["好差评"] = pd.concat([rd.RATING, pd.DataFrame({"办件编号": ["C001"], "评价等级": ["不满意"],
                                                          "评价时间": ["2024-03-01 11:00"]})], ignore_index=True)
    folder = tmp_path / "t"
    folder.mkdir()
    for name, frame in tables.items():
        frame.to_csv(folder / f"{name}.csv", index=False)
    r = read_export(folder)
    assert r.log[r.log.case_id == "C001"].rating.iloc[0] == "非常满意"
    assert "an earlier rating of case C001 (the latest rating is kept)" in set(r.rejects.reason)


def test_single_flat_tables_are_read_as_before(tmp_path):
    # a workbook with a flat event sheet and a 台账 (stage columns): not relational
    events = rd.STEP.assign(事项名称="食品经营许可").iloc[:5]
    ledger = pd.DataFrame({"办件编号": ["L1"], "事项名称": ["营业执照"], "受理时间": ["2024-03-01 09:00"],
                           "审核时间": ["2024-03-02 09:00"], "办结时间": ["2024-03-03 09:00"]})
    path = tmp_path / "mixed.xlsx"
    with pd.ExcelWriter(path) as xl:
        events.to_excel(xl, sheet_name="明细", index=False)
        ledger.to_excel(xl, sheet_name="台账", index=False)
    r = read_export(path)
    assert [s.layout for s in r.sheets] == ["long", "wide"]
    assert list(r.log[r.log.case_id == "L1"].activity) == ["受理", "审核", "办结"]


def test_user_mapping_names_tables_and_keys(tmp_path):
    folder = tmp_path / "odd"
    folder.mkdir()
    rd.CASE.rename(columns={"办件编号": "单号"}).to_csv(folder / "main.csv", index=False)
    rd.STEP.rename(columns={"办件编号": "单号"}).to_csv(folder / "flow.csv", index=False)
    mapping = tmp_path / "m.yaml"
    mapping.write_text("tables: {case: main, step: flow}\nkeys: {case: 单号, step: 单号}\n", encoding="utf-8")
    r = read_export(folder, mapping)
    assert {s.file: s.layout for s in r.sheets} == {"main.csv": "case", "flow.csv": "step"}
    assert set(r.log.case_id) == {"C001", "C002", "C003"}


def test_codes_in_a_user_mapping(tmp_path):
    folder = rd.write_dialect(rd.GONGCHENG, tmp_path / "gc")
    mapping = tmp_path / "m.yaml"
    mapping.write_text('codes: {blzt: {"8": 准予许可}}\n', encoding="utf-8")
    r = read_export(folder, mapping)
    assert "准予许可" in set(r.log.activity)


def test_summary_shows_roles_and_keys(workbook, tmp_path, capsys):
    out = tmp_path / "log.parquet"
    assert main(["import", str(workbook), "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "case table, key 办件编号" in text and "step table, key 办件编号" in text
    assert "rating table, key 办件编号" in text and "document table, key 办件编号" in text
    rejects = pd.read_csv(tmp_path / "log.rejects.csv")
    assert len(rejects) == 5
    assert main(["import", str(workbook), "-o", str(out), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {s["layout"] for s in data["sheets"]} == {"case", "step", "doc", "rating"}


# ---------------------------------------------------------------- dialects


def test_qianzhiku_tables(tmp_path):
    r = read_export(rd.write_dialect(rd.QIANZHIKU, tmp_path / "qzk"))
    log = r.log
    roles = {s.file: s.layout for s in r.sheets}
    assert roles == {"PRE_APASINFO.csv": "case", "PRE_ACCEPT.csv": "case", "PRE_TRANSACT.csv": "case",
                     "PRE_NODE.csv": "step", "PRE_ATTR.csv": "doc"}
    p1 = log[log.case_id == "330100P001"]
    assert list(p1.activity) == ["窗口受理", "科室审核", "领导审批"]
    assert list(p1.resource) == ["张三", "王五", "赵六"]
    assert list(p1.department) == ["政务服务中心", "食品科", "局领导"]
    first = p1.iloc[0]
    assert first.service == "食品经营许可" and first.applicant == "甲公司" and first.applicant_id == "91330100MA0001"
    assert first.apply_time == TS("2024-04-01 09:00") and first.accept_time == TS("2024-04-01 09:30")
    assert first.finish_time == TS("2024-04-03 11:00") and first.deliver_time == TS("2024-04-07 10:00")
    assert first.due_time == TS("2024-04-16 17:00") and first.sla_days == 10 and first.status == "准予许可"
    assert list(first.materials) == ["营业执照", "食品安全管理制度"]
    p2 = log[log.case_id == "330100P002"].iloc[0]
    assert pd.isna(p2.sla_days) and p2.sla_calendar_days == 15  # PROMISETYPE 4 = 天
    p3 = log[log.case_id == "330100P003"]
    assert list(p3.activity) == ["申请", "受理", "办结"] and set(p3.sla_months) == {1.0}  # 1 月: a calendar month
    assert "PROJPWD" not in log.columns
    assert not log.astype(str).apply(lambda c: c.str.contains("834291")).any().any()
    assert set(r.rejects.reason) == {"case 330100P404 is not in the case table",
                                     "case 330100P999 is not in the case table"}


def test_qianzhiku_lower_case_columns_and_table_names(tmp_path):
    lower = {k.lower(): v.rename(columns=str.lower) for k, v in rd.QIANZHIKU.items()}
    a = read_export(rd.write_dialect(rd.QIANZHIKU, tmp_path / "upper")).log
    b = read_export(rd.write_dialect(lower, tmp_path / "lower")).log
    assert len(a) == len(b) and list(a.case_id) == list(b.case_id) and list(a.activity) == list(b.activity)
    assert list(a.sla_days.fillna(-1)) == list(b.sla_days.fillna(-1))


def test_platform_case_table(tmp_path):
    r = read_export(rd.write_dialect(rd.PLATFORM, tmp_path / "pf"))
    log = r.log
    c1 = log[log.case_id == "2024SP0001"]
    assert list(c1.activity) == ["申请", "受理", "办结"]
    first = c1.iloc[0]
    assert first.service == "公共场所卫生许可" and first.applicant == "某酒店" and first.case_department == "卫健委"
    assert first.sla_days == 0 and first.task_type == "即办件"  # tasktype 1 = 即办
    assert first.due_time == TS("2024-05-06 17:00") and first.finish_time == TS("2024-05-06 16:00")
    c2 = log[log.case_id == "2024SP0002"].iloc[0]
    assert c2.sla_days == 5 and c2.task_type == "承诺件"
    c3 = log[log.case_id == "2024SP0003"]
    assert list(c3.activity) == ["申请", "受理"] and c3.finish_time.isna().all()
    assert r.rejects.empty


def test_gongcheng_tables_with_status_codes(tmp_path):
    r = read_export(rd.write_dialect(rd.GONGCHENG, tmp_path / "gc"))
    log = r.log
    g1 = log[log.case_id == "GC001"]
    assert list(g1.activity) == ["收件", "受理", "办结(通过)"]
    assert list(g1.department) == ["窗口", "审批科", "审批科"] and list(g1.resource) == ["钱一", "孙二", "孙二"]
    assert list(g1.BLYJ) == ["收件", "受理", "准予许可"]
    assert g1.iloc[0].service == "建筑工程施工许可证核发" and g1.iloc[0].accept_time == TS("2024-06-03 09:00")
    assert g1.iloc[0].channel == "窗口受理"
    assert list(log[log.case_id == "GC002"].activity) == ["收件", "受理", "补正告知"]
    assert log[log.case_id == "GC002"].iloc[0].channel == "全流程网上办理"


def test_gongcheng_step_table_alone(tmp_path):
    only = {"SPGL_XMSPSXBLXXXXB": rd.GONGCHENG["SPGL_XMSPSXBLXXXXB"]}
    r = read_export(rd.write_dialect(only, tmp_path / "gc1"))
    assert len(r.log) == 6 and set(r.log.case_id) == {"GC001", "GC002"}
    assert list(r.log[r.log.case_id == "GC001"].activity) == ["收件", "受理", "办结(通过)"]


def test_dialect_preset_by_name(tmp_path):
    r = read_export(rd.write_dialect(rd.QIANZHIKU, tmp_path / "q"), "qianzhiku")
    assert len(r.log) == 7


def test_excel_damaged_case_keys_are_rejected(tmp_path):
    case = rd.CASE.copy()
    case["办件编号"] = [2024001, 33010120240300000001, 2024003, 2024004]
    step = rd.STEP.copy()
    step["办件编号"] = [2024001, 2024001, 2024001, 33010120240300000001, 33010120240300000002, "2024999"]
    path = tmp_path / "num.xlsx"
    with pd.ExcelWriter(path) as xl:
        case.to_excel(xl, sheet_name="办件", index=False)
        step.to_excel(xl, sheet_name="过程", index=False)
    r = read_export(path)
    assert set(r.log.case_id) == {"2024001", "2024003"}  # numeric keys match as text
    damaged = r.rejects[r.rejects.reason.str.contains("stored by Excel as a number")]
    assert sorted(zip(damaged.sheet, damaged.row)) == [("办件", 3), ("过程", 5), ("过程", 6)]


def test_an_unrelated_event_table_beside_relational_tables(tmp_path):
    folder = rd.write_csvs(tmp_path / "mix")
    other = rd.STEP.assign(办件编号=["X1", "X1", "X2", "X2", "X3", "X3"], 事项名称="户籍迁移")
    other.to_csv(folder / "另一系统.csv", index=False)
    r = read_export(folder)
    assert set(r.log[r.log.service == "户籍迁移"].case_id) == {"X1", "X2", "X3"}
    assert len(r.rejects) == 5  # only the relational tables' own rejects


def test_documents_linked_by_step_id(tmp_path):
    folder = tmp_path / "ids"
    folder.mkdir()
    rd.CASE.to_csv(folder / "办件.csv", index=False)
    rd.STEP.assign(环节编号=["S1", "S2", "S3", "S4", "S5", "S6"]).to_csv(folder / "过程.csv", index=False)
    pd.DataFrame({"办件编号": ["C001", "C001", "C002"], "材料名称": ["营业执照", "补正材料", "申请书"],
                  "环节编号": ["S1", "S3", "S9"]}).to_csv(folder / "材料.csv", index=False)
    log = read_export(folder).log.set_index(["case_id", "activity"])
    assert list(log.loc[("C001", "受理"), "materials"]) == ["营业执照"]
    assert list(log.loc[("C001", "决定"), "materials"]) == ["补正材料"]  # S3 is 决定
    assert list(log.loc[("C002", "收件"), "materials"]) == ["申请书"]  # unknown step id: the intake


def test_case_level_in_person_counts_once_per_case(tmp_path):
    folder = tmp_path / "ip"
    folder.mkdir()
    rd.CASE.assign(是否到场=["是", "否", "是", "是"]).to_csv(folder / "办件.csv", index=False)
    rd.STEP.to_csv(folder / "过程.csv", index=False)
    log = read_export(folder).log
    assert log[log.case_id == "C001"].in_person.tolist() == [True, pd.NA, pd.NA]
    assert log[log.case_id == "C002"].in_person.tolist() == [False, False]
    assert log[log.case_id == "C003"].in_person.tolist() == [True, pd.NA, pd.NA]  # milestones 申请/受理/办结


def test_rating_and_document_columns_of_the_case_table_itself(tmp_path):
    folder = tmp_path / "cols"
    folder.mkdir()
    rd.CASE.assign(评价等级=["满意", None, "不满意", None], 评价时间=["2024-03-09 10:00", None, "2024-03-06", None],
                   提交材料=["营业执照、身份证", None, "申请书", None]).to_csv(folder / "办件.csv", index=False)
    rd.STEP.to_csv(folder / "过程.csv", index=False)
    r = read_export(folder)
    assert {s.file: s.layout for s in r.sheets} == {"办件.csv": "case", "过程.csv": "step"}
    log = r.log.set_index(["case_id", "activity"])
    assert log.loc[("C001", "决定"), "rating"] == "满意"
    assert log.loc[("C003", "办结"), "rating_time"] == pd.Timestamp("2024-03-06", tz="Asia/Shanghai")
    assert list(log.loc[("C001", "受理"), "materials"]) == ["营业执照", "身份证"]
    assert list(log.loc[("C003", "受理"), "materials"]) == ["申请书"]
