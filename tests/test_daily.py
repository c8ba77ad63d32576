"""Daily operation (issue 29): exports appended to a dataset; answers worked out by hand."""

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

import procmine
from procmine.sources.append import append_export, append_history, export_time, step_keys
from procmine.log.eventlog import SOURCE
from procmine.engine.metrics import case_metrics
from conftest import ROOT, build_workbook

HEAD = ["办件编号", "事项名称", "办理环节", "承办部门", "开始时间", "结束时间", "承诺时限", "受理时间", "办结时间", "办件状态"]


def export(path, rows, exported=None, head=HEAD):
    """An .xlsx export: a title row (with 导出时间 when given), the header, the rows."""
    title = "办件明细" + (f" 导出时间：{exported}" if exported else "")
    return build_workbook(path, {"办件": [[title], head, *rows]})


# Three cases of 食品经营许可 (limit 5 working days), March 2024 (no holiday in it):
# A accepted Mon 03-04; 审查 starts 03-05 and ends 03-06 17:00; a 补正 on 03-05 and another on 03-06;
#   decided 03-07 09:10 (办结 step) — first open, then decided.
# B accepted Tue 03-05; open throughout; only in the first export (unchanged later, not exported again).
# C accepted 03-05; two 补正 requests at the same minute (14:00), ending 15:00 and 16:00 — a repeated 补正
#   with equal start times, two steps; decided 03-07 15:00 with no new step (only its case columns change).
S = "食品经营许可"
A_OPEN = ("A", S, "受理", "窗口", "2024-03-04 09:00", "2024-03-04 09:30", 5, "2024-03-04 09:30", None, "在办")
def A(step, start, end, status="在办", finish=None):
    return ["A", S, step, "审批科", start, end, 5, "2024-03-04 09:30", finish, status]
def C(step, start, end, status="在办", finish=None):
    return ["C", S, step, "审批科", start, end, 5, "2024-03-05 13:30", finish, status]
B_ROW = ["B", S, "受理", "窗口", "2024-03-05 10:00", "2024-03-05 10:30", 5, "2024-03-05 10:30", None, "在办"]

DAY1 = [list(A_OPEN), A("审查", "2024-03-05 09:00", None), A("补正", "2024-03-05 10:00", "2024-03-05 11:00"),
        B_ROW, C("受理", "2024-03-05 13:00", "2024-03-05 13:30"), C("补正", "2024-03-05 14:00", "2024-03-05 15:00"),
        C("补正", "2024-03-05 14:00", "2024-03-05 16:00")]
DAY2 = [list(A_OPEN), A("审查", "2024-03-05 09:00", "2024-03-06 17:00"),
        A("补正", "2024-03-05 10:00", "2024-03-05 11:00"), A("补正", "2024-03-06 10:00", "2024-03-06 11:00"),
        B_ROW, C("受理", "2024-03-05 13:00", "2024-03-05 13:30"), C("补正", "2024-03-05 14:00", "2024-03-05 15:00"),
        C("补正", "2024-03-05 14:00", "2024-03-05 16:00")]
DONE_A = dict(status="办结", finish="2024-03-07 09:10")
DONE_C = dict(status="办结", finish="2024-03-07 15:00")
DAY3 = [[*A_OPEN[:8], "2024-03-07 09:10", "办结"], A("审查", "2024-03-05 09:00", "2024-03-06 17:00", **DONE_A),
        A("补正", "2024-03-05 10:00", "2024-03-05 11:00", **DONE_A),
        A("补正", "2024-03-06 10:00", "2024-03-06 11:00", **DONE_A),
        A("办结", "2024-03-07 09:00", "2024-03-07 09:10", **DONE_A),
        C("受理", "2024-03-05 13:00", "2024-03-05 13:30", **DONE_C),
        C("补正", "2024-03-05 14:00", "2024-03-05 15:00", **DONE_C),
        C("补正", "2024-03-05 14:00", "2024-03-05 16:00", **DONE_C),
        [None, S, "受理", "窗口", "2024-03-07 10:00", None, 5, None, None, "在办"]]  # no case id: rejected
FINAL = DAY3[:-1] + [B_ROW]  # the final state in one export: day 3's cases and B as it was


def events(log):
    """The events as a set (rows sorted), without provenance."""
    out = log.drop(columns=list(SOURCE)).astype(str)
    return out.sort_values(list(out.columns)).reset_index(drop=True)


@pytest.fixture
def days(tmp_path):
    return {"d1": export(tmp_path / "d1.xlsx", DAY1, "2024-03-06 07:00"),
            "d2": export(tmp_path / "d2.xlsx", DAY2, "2024-03-07 07:00"),
            "d3": export(tmp_path / "d3.xlsx", DAY3, "2024-03-08 07:00"),
            "final": export(tmp_path / "final.xlsx", FINAL)}


def test_three_daily_exports_give_the_log_and_case_table_of_the_final_state(tmp_path, days):
    ds = tmp_path / "log"
    r1 = append_export([days["d1"]], ds)
    # day 1: all 7 rows are steps the dataset did not have; 3 cases
    assert (r1.version, r1.rows_read, r1.new, r1.updated, r1.present, r1.rejected) == (0, 7, 7, 0, 0, 0)
    assert (r1.cases_new, r1.cases_updated, r1.events, r1.cases) == (3, 0, 7, 3)
    r2 = append_export([days["d2"]], ds)
    # day 2: A's second 补正 is new; A's 审查 now has its end (updated); the other 6 rows were there
    assert (r2.rows_read, r2.new, r2.updated, r2.present, r2.rejected) == (8, 1, 1, 6, 0)
    assert (r2.cases_new, r2.cases_updated, r2.events) == (0, 1, 8)
    r2b = append_export([days["d2"]], ds)  # the same export again, in full: nothing counted twice
    assert (r2b.version, r2b.rows_read, r2b.new, r2b.updated, r2b.present) == (2, 8, 0, 0, 8)
    assert r2b.events == 8
    r3 = append_export([days["d3"]], ds)
    # day 3: A's 办结 step is new; A's 4 other rows and C's 3 rows carry their case's new status
    # (办结, finish time): updated; the row without a case id is rejected. 9 = 1 + 7 + 0 + 1
    assert (r3.rows_read, r3.new, r3.updated, r3.present, r3.rejected) == (9, 1, 7, 0, 1)
    assert (r3.cases_new, r3.cases_updated, r3.events, r3.cases) == (0, 2, 9, 3)
    assert r3.rows_read == r3.new + r3.updated + r3.present + r3.rejected

    final = procmine.read_export([days["final"]]).log
    got = procmine.read_log(ds)
    assert len(got) == 9  # A 5 steps, B 1, C 3 (the repeated 补正 stays two)
    pd.testing.assert_frame_equal(events(got), events(final))
    # the case table (the engine reads the dataset's current files) is that of the final state
    want = case_metrics(final).sort_values("case_id").reset_index(drop=True)
    have = case_metrics(ds).sort_values("case_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(have, want)
    assert list(have.set_index("case_id")["outcome"].isna()) == [False, False, False]
    # last month's numbers reproduce: version 0 is day 1 as imported alone
    pd.testing.assert_frame_equal(events(procmine.read_log(ds, version=0)),
                                  events(procmine.read_export([days["d1"]]).log))
    hist = append_history(ds)
    assert [h["version"] for h in hist] == [0, 1, 2, 3]
    assert hist[3]["files"] == ["d3.xlsx"] and hist[3]["exports"][0]["export_time"].startswith("2024-03-08T07:00")
    assert [(h["new"], h["updated"], h["present"], h["rejected"]) for h in hist] == \
        [(7, 0, 0, 0), (1, 1, 6, 0), (0, 0, 8, 0), (1, 7, 0, 1)]


def test_an_older_export_appended_late_changes_nothing(tmp_path, days):
    ds = tmp_path / "log"
    append_export([days["d1"], days["d2"], days["d3"]], ds)  # all three in one append
    before = events(procmine.read_log(ds))
    r = append_export([days["d1"]], ds)  # exported 03-06: older than what the dataset has
    # its 7 rows: A's open 审查 and the case columns of A and C are older states → already present
    assert (r.new, r.updated, r.present) == (0, 0, 7)
    pd.testing.assert_frame_equal(events(procmine.read_log(ds)), before)
    assert len(before) == 9


def test_export_order_decides_without_an_export_time(tmp_path):
    # no 导出时间 in the titles: the later append wins (a case first open, then decided)
    ds = tmp_path / "log"
    append_export([export(tmp_path / "a.xlsx", [list(A_OPEN)])], ds)
    r = append_export([export(tmp_path / "b.xlsx", [[*A_OPEN[:8], "2024-03-04 16:00", "办结"]])], ds)
    assert (r.new, r.updated, r.present) == (0, 1, 0)
    log = procmine.read_log(ds)
    assert list(log["status"]) == ["办结"] and str(log["finish_time"].iloc[0]) == "2024-03-04 16:00:00+08:00"


def test_a_platform_step_id_is_the_steps_identity(tmp_path):
    # with 环节编号, a step whose start time was corrected is the same step (updated), not a second one
    head = HEAD + ["环节编号"]
    ds = tmp_path / "log"
    append_export([export(tmp_path / "a.xlsx", [A("审查", "2024-03-05 09:00", None) + ["N1"]], head=head)], ds)
    r = append_export([export(tmp_path / "b.xlsx", [A("审查", "2024-03-05 08:00", "2024-03-06 17:00") + ["N1"],
                                                    A("审查", "2024-03-05 08:00", "2024-03-06 17:00") + ["N2"]],
                              head=head)], ds)
    assert (r.new, r.updated, r.present) == (1, 1, 0)
    log = procmine.read_log(ds)
    assert sorted(log["环节编号"]) == ["N1", "N2"] and (log["start_time"].dt.hour == 8).all()


def test_step_keys_count_equal_steps_in_row_order():
    from test_audit import mklog
    rows = [("A", "补正", "2024-03-05 14:00", "2024-03-05 15:00"), ("A", "补正", "2024-03-05 14:00", None),
            ("A", "补正", "2024-03-06 14:00", None)]
    keys = list(step_keys(mklog(rows)))
    assert len(set(keys)) == 3 and keys[0].endswith("\x1f0") and keys[1].endswith("\x1f1") \
        and keys[2].endswith("\x1f0")


def test_export_time_from_the_title():
    assert export_time("办件明细表 导出时间：2024年3月5日 08:30") == pd.Timestamp("2024-03-05 08:30", tz="Asia/Shanghai")
    assert export_time("导出日期: 2024-03-05") == pd.Timestamp("2024-03-05", tz="Asia/Shanghai")
    assert export_time("导出人：张三 导出时间：2024/3/5 8:30 共120条") == pd.Timestamp("2024-03-05 08:30", tz="Asia/Shanghai")
    assert export_time("办件明细表") is None and export_time(None) is None


def test_append_refuses_a_folder_that_is_not_an_appended_dataset(tmp_path, days):
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(procmine.OutputError):
        append_export([days["d1"]], other)
    assert [p.name for p in other.iterdir()] == ["notes.txt"]


def test_two_exports_of_one_name_in_one_append_are_refused(tmp_path):
    # the platform names every day's export alike: in one append their rows could not be told apart
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    one = export(tmp_path / "a" / "明细.xlsx", DAY1, "2024-03-06 07:00")
    two = export(tmp_path / "b" / "明细.xlsx", DAY2, "2024-03-07 07:00")
    with pytest.raises(procmine.UsageError, match="one at a time"):
        append_export([one, two], tmp_path / "log")
    assert not (tmp_path / "log").exists()
    append_export([one], tmp_path / "log")
    r = append_export([two], tmp_path / "log")  # one at a time: as day 1 then day 2
    assert (r.new, r.updated, r.present) == (1, 1, 6)


def test_read_log_versions_only_for_an_appended_dataset(tmp_path, days):
    p = procmine.write_log(procmine.read_export([days["d1"]]).log, tmp_path / "log.parquet")
    with pytest.raises(procmine.UsageError):
        procmine.read_log(p, version=0)
    ds = tmp_path / "log"
    append_export([days["d1"]], ds)
    with pytest.raises(procmine.InputError, match="no version 5"):
        procmine.read_log(ds, version=5)


def test_an_interrupted_append_leaves_the_dataset_as_before(tmp_path, days):
    ds = tmp_path / "log"
    append_export([days["d1"]], ds)
    before = events(procmine.read_log(ds))
    after_state = None
    script = ("import sys; from procmine.sources.append import append_export; "
              "append_export(sys.argv[1:-1], sys.argv[-1])")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    killed_before = False
    # kill the append at growing delays: each time the dataset is either as before or fully appended
    for delay in (0.2, 0.5, 0.8, 1.1, 1.4, 1.8, 2.4, 3.5):
        if after_state is not None:
            break
        p = subprocess.Popen([sys.executable, "-c", script, str(days["d2"]), str(days["d3"]), str(ds)], env=env)
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        rc = p.wait()
        now = events(procmine.read_log(ds))
        if now.equals(before):
            killed_before = killed_before or rc == -signal.SIGKILL
        else:
            after_state = now
    assert killed_before
    # an append that does get through sees no trace of the interrupted ones
    r = append_export([days["d2"], days["d3"]], ds)
    final = events(procmine.read_export([days["final"]]).log)
    pd.testing.assert_frame_equal(events(procmine.read_log(ds)), final)
    if after_state is not None:
        pd.testing.assert_frame_equal(after_state, final)
        assert (r.new, r.updated) == (0, 0)


def test_an_error_inside_the_write_leaves_the_dataset_as_before(tmp_path, days, monkeypatch):
    import deltalake

    ds = tmp_path / "log"
    append_export([days["d1"]], ds)
    before = events(procmine.read_log(ds))

    class Boom(Exception):
        pass

    def failing(self, *a, **kw):
        # as an append killed before its commit: a data file of the new version is on disk, no commit
        import pyarrow as pa
        import pyarrow.parquet as pq
        pq.write_table(pa.table({"case_id": ["X"], "activity": ["受理"]}), ds / "part-stray.parquet")
        raise Boom("disk gone")
    monkeypatch.setattr(deltalake.DeltaTable, "merge", failing)
    with pytest.raises(Boom):
        append_export([days["d2"]], ds)
    monkeypatch.undo()
    # the stray file is not part of any version: readers and the engine do not see it
    pd.testing.assert_frame_equal(events(procmine.read_log(ds)), before)
    assert [h["version"] for h in append_history(ds)] == [0]
    assert sorted(case_metrics(ds)["case_id"]) == ["A", "B", "C"]


def test_cli_import_append_prints_the_accounting(tmp_path, days):
    ds = tmp_path / "log"
    cmd = [sys.executable, "-m", "procmine.cli", "import", "-o", str(ds), "--append"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    first = subprocess.run(cmd[:4] + [str(days["d1"])] + cmd[4:], capture_output=True, text=True, env=env)
    assert first.returncode == 0, first.stderr
    assert "rows read 7 = 7 new + 0 updated + 0 already present + 0 rejected" in first.stdout
    second = subprocess.run(cmd[:4] + [str(days["d2"])] + cmd[4:], capture_output=True, text=True, env=env)
    assert "rows read 8 = 1 new + 1 updated + 6 already present + 0 rejected" in second.stdout, second.stdout
    assert "appended as version 1" in second.stdout
    # the same day again (a second run in one day): nothing counted twice
    again = subprocess.run(cmd[:4] + [str(days["d2"])] + cmd[4:], capture_output=True, text=True, env=env)
    assert "rows read 8 = 0 new + 0 updated + 8 already present + 0 rejected" in again.stdout
    assert "the dataset has 8 events of 3 cases" in again.stdout
    # day 3 has a row without a case id: set aside in the dataset's folder, one file per append
    third = subprocess.run(cmd[:4] + [str(days["d3"])] + cmd[4:], capture_output=True, text=True, env=env)
    assert "+ 1 rejected" in third.stdout and "_rejects/000003.csv" in third.stdout
    rejected = pd.read_csv(ds / "_rejects" / "000003.csv")
    assert len(rejected) == 1 and rejected["row"].tolist() == [11]  # title, header, then the 9th data row
    assert len(procmine.read_log(ds)) == 9
    # an ordinary import into the dataset's folder is refused (it would replace the history)
    plain = subprocess.run(cmd[:4] + [str(days["d3"])] + ["-o", str(ds)], capture_output=True, text=True, env=env)
    assert plain.returncode != 0 and len(procmine.read_log(ds)) == 9


@pytest.mark.spark
def test_spark_reads_the_appended_dataset_as_duckdb_does(tmp_path, days, spark_master):
    from conftest import require_spark
    from procmine.engine.runner import EngineOptions

    require_spark()
    ds = tmp_path / "log"
    append_export([days["d1"]], ds)
    append_export([days["d2"]], ds)  # day 1's files of A are replaced: Spark must not read them too
    duck = case_metrics(ds)
    spark = case_metrics(ds, engine=EngineOptions(engine="spark", spark_master=spark_master))
    assert len(spark) == 3
    pd.testing.assert_frame_equal(duck, spark, check_exact=True)


def test_a_dataset_with_merged_files_reads_back_whole(tmp_path):
    """A month's files left as the first append wrote them (large_string) beside a month a merge rewrote
    (string_view, as delta-rs writes) unify: the log reads back with every step — by hand, X's two steps
    of March untouched, Y's 受理 and 审核 (its end filled in by the second export) and its new 办结."""
    import csv

    def day(path, rows):
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["办件编号", "事项名称", "环节名称", "开始时间", "结束时间"])
            w.writerows(rows)
        return path

    ds = tmp_path / "log"
    append_export([day(tmp_path / "d1.csv", [["X", "S", "受理", "2024-03-01 09:00", "2024-03-01 09:30"],
                                             ["X", "S", "办结", "2024-03-04 09:00", "2024-03-04 09:30"],
                                             ["Y", "S", "受理", "2024-04-01 09:00", "2024-04-01 09:30"],
                                             ["Y", "S", "审核", "2024-04-02 09:00", ""]])], ds)
    append_export([day(tmp_path / "d2.csv", [["Y", "S", "审核", "2024-04-02 09:00", "2024-04-02 10:00"],
                                             ["Y", "S", "办结", "2024-04-03 09:00", "2024-04-03 09:30"]])], ds)
    log = procmine.read_log(ds)
    assert list(zip(log["case_id"], log["activity"])) == [("X", "受理"), ("X", "办结"), ("Y", "受理"), ("Y", "审核"),
                                                           ("Y", "办结")]
    assert log["end_time"].notna().all()  # 审核's end came with the second export
