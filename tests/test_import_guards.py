"""An import never guesses: a long export without its step column is not read as a 台账."""

import datetime as dt

import pandas as pd
import pytest

import procmine
from procmine.cli import main
from procmine.errors import MappingError
from conftest import T


def _long_export_without_steps(n_rows=1200, steps_per_case=4, lifecycle=False):
    """A step table (one row per step) whose 办理环节 column was left out of the export."""
    head = ["办件编号", "事项名称", "承办部门", "经办人"] + (["受理时间", "办结时间"] if lifecycle else []) + ["开始时间", "结束时间"]
    rows = [head]
    for i in range(n_rows):
        start = dt.datetime(2024, 3, 4, 9) + dt.timedelta(days=i // 40, hours=3 * (i % steps_per_case))
        life = [dt.datetime(2024, 3, 4, 9), dt.datetime(2024, 3, 8, 17)] if lifecycle else []
        rows.append([f"C{i // steps_per_case:04d}", "食品经营许可", "市场监管局", "张三", *life,
                     start, start + dt.timedelta(hours=1)])
    return rows


def test_long_export_without_step_column_is_refused_not_read_as_start_end_stages(workbook, tmp_path, capsys):
    path = workbook({"明细": _long_export_without_steps()})
    with pytest.raises(MappingError) as err:
        procmine.read_export(path)
    assert "办理环节" in err.value.message  # names the column it needs
    assert "'开始时间' and '结束时间' are the times of a step" in err.value.hint
    out = tmp_path / "l.parquet"
    assert main(["import", str(path), "-o", str(out)]) == 1
    msg = capsys.readouterr().err
    assert "no column for 办理环节" in msg and "Traceback" not in msg
    assert not out.exists()


def test_long_export_with_case_milestones_but_no_step_column_is_refused(workbook):
    # 受理时间/办结时间 are two stages named by their prefixes, but 300 cases are on 4 rows each:
    # a step table, not a 台账
    path = workbook({"明细": _long_export_without_steps(lifecycle=True)})
    with pytest.raises(MappingError) as err:
        procmine.read_export(path)
    msg = err.value.message
    assert "no column for 办理环节" in msg and "case C0000 is on 4 different rows" in msg
    assert "300 cases" in msg  # 1,200 rows / 4 rows per case


def test_real_ledger_still_imports_with_events_counted_by_hand(workbook):
    path = workbook({"台账": [
        ["申请编号", "事项名称", "受理时间", "审核时间", "办结时间", "承诺时限"],
        ["W1", "建筑工程施工许可", T(4, 9), T(5, 9), T(6, 9), 20],   # 3 stages filled → 3 events
        ["W2", "建筑工程施工许可", T(4, 9), T(5, 9), None, 20],       # 2 events
        ["W3", "建筑工程施工许可", T(4, 9), None, None, 20],          # 1 event
        ["W3", "建筑工程施工许可", T(4, 9), None, None, 20],          # the same row again: a duplicate, not a step
    ]})
    r = procmine.read_export(path)
    assert r.sheets[0].layout == "wide"
    assert (r.rows_read, r.cases, r.events) == (4, 3, 6)
    assert r.duplicates == 1
    assert sorted(r.log.loc[r.log.case_id == "W1", "activity"]) == sorted(["受理", "审核", "办结"])


def test_bare_step_time_in_a_ledger_is_kept_as_an_attribute_not_a_stage(workbook):
    path = workbook({"台账": [
        ["申请编号", "受理时间", "审核时间", "完成时间"],
        ["W1", T(4, 9), T(5, 9), T(6, 9)],
    ]})
    r = procmine.read_export(path)
    assert list(r.log["activity"]) == ["受理", "审核"]  # 完成 says when, not what: no stage
    assert "完成时间" in r.log.columns


def test_two_bare_times_alone_never_make_a_ledger_even_one_row_per_case(workbook):
    path = workbook({"s": [["办件编号", "开始时间", "结束时间"], ["A1", T(4, 9), T(4, 10)], ["A2", T(5, 9), T(5, 10)]]})
    with pytest.raises(MappingError, match="办理环节"):
        procmine.read_export(path)


def test_a_ledger_forced_wide_in_a_mapping_file_may_repeat_cases(workbook, tmp_path):
    mapping = tmp_path / "m.yaml"
    mapping.write_text("layout: wide\n", encoding="utf-8")
    path = workbook({"台账": [["申请编号", "受理时间", "审核时间"], ["W1", T(4, 9), T(5, 9)], ["W1", T(11, 9), T(12, 9)]]})
    r = procmine.read_export(path, mapping=str(mapping))
    assert r.events == 4 and r.cases == 1
    assert isinstance(r.log, pd.DataFrame)
