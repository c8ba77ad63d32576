"""Issue 15: the engine's calendar lookups give WorkCalendar's numbers."""

import os

import numpy as np
import pandas as pd
import pytest

from procmine.engine import workcal

from procmine.engine.runner import DuckDBEngine, EngineOptions
from procmine.calendar.workdays import WorkCalendar


def _stamps(n, seed):
    rng = np.random.default_rng(seed)
    base = pd.Timestamp("2023-09-20")
    s = base + pd.to_timedelta(rng.integers(0, 40 * 24 * 60, n), unit="min") + pd.to_timedelta(rng.integers(0, 60, n), unit="s")
    e = s + pd.to_timedelta(rng.integers(0, 20 * 24 * 60, n), unit="min")
    s, e = pd.Series(s), pd.Series(e)
    s[::17] = pd.NaT
    return s, e


def _by_hand(cal, s, e):
    """Day by day with chinese_calendar directly: an independent reference."""
    from chinese_calendar import is_workday

    spans = [(int(a[:2]) * 60 + int(a[3:]), int(b[:2]) * 60 + int(b[3:])) for a, b in cal.office_hours]
    days, between, hours = [], [], []
    for a, b in zip(s, e):
        if pd.isna(a) or pd.isna(b):
            days.append(np.nan), between.append(np.nan), hours.append(np.nan)
            continue
        n, mins, d = 0, 0.0, a.normalize()
        while d <= b.normalize():
            if is_workday(d.date()):
                if d > a.normalize():
                    n += 1
                for lo, hi in spans:
                    x, y = d + pd.Timedelta(minutes=lo), d + pd.Timedelta(minutes=hi)
                    mins += max((min(y, b) - max(x, a)).total_seconds() / 60.0, 0.0)
            d += pd.Timedelta(days=1)
        between.append(float(n))
        days.append(float(n + (cal.first_day == "include" and is_workday(a.date()))))
        hours.append(mins / 60.0)
    return days, between, hours


@pytest.mark.parametrize("first_day", ["exclude", "include"])
def test_calendar_lookups_in_the_engine_match_a_day_by_day_count(first_day):
    cal = WorkCalendar(first_day=first_day)
    s, e = _stamps(300, 7)
    days, between, hours = _by_hand(cal, s, e)
    np.testing.assert_array_equal(workcal.working_days(cal, s, e), days)
    np.testing.assert_array_equal(workcal.days_between(cal, s, e), between)
    np.testing.assert_allclose(workcal.working_hours(cal, s, e), hours, atol=1e-6)


def test_friday_afternoon_to_monday_morning_is_three_working_hours_in_the_engine():
    cal = WorkCalendar(office_hours=(("08:30", "17:30"),))
    s, e = pd.Series([pd.Timestamp("2024-03-08 16:00")]), pd.Series([pd.Timestamp("2024-03-11 10:00")])
    # Fri 16:00–17:30 = 1.5 h, Mon 08:30–10:00 = 1.5 h
    assert workcal.working_hours(cal, s, e).iloc[0] == pytest.approx(3.0)


def test_memory_limit_and_spill_directory_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("PROCMINE_MEMORY_LIMIT", "512MB")
    monkeypatch.setenv("PROCMINE_TEMP_DIR", str(tmp_path))
    con = DuckDBEngine(EngineOptions.from_env()).con
    limit = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    assert limit.replace(" ", "").upper().startswith(("512", "488"))
    assert con.execute("SELECT current_setting('temp_directory')").fetchone()[0] == str(tmp_path)


def test_cli_engine_options_reach_the_engine(tmp_path, monkeypatch, sample_log_path):
    """--memory-limit / --temp-dir are passed to the engine that runs the definitions
    (an options object, not the process environment)."""
    from click.testing import CliRunner

    from procmine.cli import cli
    from procmine.engine import runner

    monkeypatch.delenv("PROCMINE_MEMORY_LIMIT", raising=False)
    seen = []
    real = runner.DuckDBEngine.__init__

    def spy(self, options):
        real(self, options)
        seen.append((self.con.execute("SELECT current_setting('memory_limit')").fetchone()[0],
                     self.con.execute("SELECT current_setting('temp_directory')").fetchone()[0]))

    monkeypatch.setattr(runner.DuckDBEngine, "__init__", spy)
    r = CliRunner().invoke(cli, ["cases", "--memory-limit", "600MB", "--temp-dir", str(tmp_path),
                                 "--output", str(tmp_path / "c.csv"), str(sample_log_path)])
    assert r.exit_code == 0, r.output
    assert seen and seen[0][0].replace(" ", "").upper().startswith(("600", "572")) and seen[0][1] == str(tmp_path)
    assert "PROCMINE_MEMORY_LIMIT" not in os.environ


def test_a_bad_memory_limit_is_a_clear_error(sample_log_path):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", "from procmine.cli import run; run()", "audit", "--memory-limit",
                           "lots", str(sample_log_path)], capture_output=True, text=True)
    assert done.returncode == 1
    assert "--memory-limit takes sizes like" in done.stderr and "Traceback" not in done.stderr


def test_an_attribute_named_like_the_engines_own_columns_changes_nothing(tmp_path, sample_log_path):
    """An export's own column `filename` is an attribute like any other; the engine's
    file and row keys do not collide with it."""
    from procmine.engine.metrics import case_metrics

    log = pd.read_parquet(sample_log_path)
    log.assign(filename="办件导出.xlsx").to_parquet(tmp_path / "with.parquet", index=False)
    pd.testing.assert_frame_equal(case_metrics(sample_log_path), case_metrics(tmp_path / "with.parquet"))


def test_long_runs_name_their_steps_on_stderr(sample_log_path, capsys):
    """Progress names the step being run (not DuckDB's own unlabelled bar, which is off)."""
    from procmine.engine.runner import open_engine
    from procmine.engine.metrics import case_metrics
    from procmine.report.terminal import Progress

    seen = []
    opts = EngineOptions(progress=seen.append)
    with open_engine(opts) as eng:
        assert eng.con.execute("SELECT current_setting('enable_progress_bar')").fetchone()[0] is False
    cases = case_metrics(str(sample_log_path), engine=opts)
    assert len(cases) and "waits and working hours" in seen and seen[-1] == "per-case outcome"
    shown = Progress("engine", after=0, every=0)
    shown("per-case clock")
    assert capsys.readouterr().err.startswith("… engine: per-case clock (")


def test_disk_storage_gives_the_same_numbers_and_leaves_nothing_behind(tmp_path, sample_log_path):
    """--storage disk keeps the engine's tables in a database file in the spill
    directory: the same per-case table and findings as in memory, and the file is
    gone when the run ends (also when it fails)."""
    import duckdb

    from procmine.analysis.audit import audit
    from procmine.engine.metrics import case_metrics

    spill = tmp_path / "spill"
    spill.mkdir()
    disk = EngineOptions.from_env("duckdb", temp_dir=str(spill), storage="disk")
    pd.testing.assert_frame_equal(case_metrics(sample_log_path), case_metrics(sample_log_path, engine=disk))
    a, b = audit(sample_log_path), audit(sample_log_path, engine=disk)
    assert [(f.kind, f.service, f.cases, f.impact, f.evidence) for f in a.findings] == \
           [(f.kind, f.service, f.cases, f.impact, f.evidence) for f in b.findings]
    assert list(spill.iterdir()) == []
    inside = []
    with pytest.raises(duckdb.BinderException):
        with DuckDBEngine(disk) as eng:
            inside += [p.name for p in spill.rglob("*.duckdb")]  # the database file, while the engine is open
            eng.con.execute("SELECT no_such_column FROM (SELECT 1 AS x)")
    assert inside == ["engine.duckdb"]
    assert list(spill.iterdir()) == []


def test_blocks_of_cases_give_the_same_numbers_and_leave_nothing_behind(tmp_path, sample_log_path):
    """A log beyond ``block_events`` runs its per-case steps block by block of whole
    cases: every case measured once, exactly as in one pass, and the blocks' files gone
    afterwards. The sample has 25,567 events, so 5,000 per block makes 6 blocks."""
    from procmine.analysis.audit import audit
    from procmine.engine.metrics import case_metrics

    spill = tmp_path / "spill"
    spill.mkdir()
    said: list[str] = []
    blocks = EngineOptions(temp_dir=str(spill), block_events=5_000, progress=said.append)
    whole = case_metrics(sample_log_path)
    split = case_metrics(sample_log_path, engine=blocks)
    assert len(split) == 3_500 and split["case_id"].is_unique
    pd.testing.assert_frame_equal(whole, split)
    assert len(pd.read_parquet(sample_log_path)) == 25_567
    assert "cases split into 6 blocks" in said and "cases, block 6 of 6" in said
    assert list(spill.iterdir()) == []
    a, b = audit(sample_log_path), audit(sample_log_path, engine=blocks)
    assert [(f.kind, f.service, f.cases, f.impact, f.evidence) for f in a.findings] == \
           [(f.kind, f.service, f.cases, f.impact, f.evidence) for f in b.findings]
    assert list(spill.iterdir()) == []


def test_blocks_are_whole_cases_of_about_the_same_number_of_events(tmp_path, monkeypatch):
    """Blocks are cut by the events of the cases before a case (in case-code order), not
    by the number of cases: one case of 9 events and nine of 1 event, split at 6 events
    per block (18 events: 3 blocks), put the big case alone in the first block. No file
    is left in the working directory (DuckDB's default spill directory is made there
    for the blocks and removed)."""
    monkeypatch.chdir(tmp_path)
    rows = [("A", i) for i in range(9)] + [(f"B{i}", 0) for i in range(9)]
    log = pd.DataFrame({"case_id": [r[0] for r in rows], "service": "s", "activity": "受理",
                        "start_time": pd.Timestamp("2024-03-04 09:00", tz="Asia/Shanghai")
                                      + pd.to_timedelta([r[1] for r in rows], unit="h")})
    with DuckDBEngine(EngineOptions(block_events=6)) as eng:
        eng.load(log)
        eng.con.execute("CREATE TEMP TABLE d_case AS SELECT case_id, "
                        "CAST(row_number() OVER (ORDER BY case_id) AS BIGINT) AS c, n "
                        "FROM (SELECT case_id, count(*) AS n FROM ev GROUP BY case_id) x")
        blocks = eng.split_by_case(18)
        sizes = []
        for i, b in enumerate(blocks):
            eng.use_block(b, i, len(blocks))
            sizes.append(sorted(r[0] for r in eng.con.execute("SELECT DISTINCT case_id FROM ev").fetchall()))
        eng.use_block(None)
    # cumulative events before each case: A 0, B0 9, B1 10, … B8 17; block = before × 3 // 18
    assert sizes == [["A"], ["B0", "B1", "B2"], ["B3", "B4", "B5", "B6", "B7", "B8"]]
    assert list(tmp_path.iterdir()) == []


def test_per_case_steps_drop_only_their_own_tables():
    """A per-case step run block by block may drop only tables made in its block (a table
    from before the blocks would be gone for the next block)."""
    from procmine.engine.definitions import BY_CASE, DONE_AFTER

    for step, dropped in DONE_AFTER.items():
        if step in BY_CASE:
            assert set(dropped) <= set(BY_CASE), step


def test_a_bad_block_size_is_a_clear_error(monkeypatch):
    from procmine.errors import UsageError

    monkeypatch.setenv("PROCMINE_BLOCK_EVENTS", "lots")
    with pytest.raises(UsageError, match="positive whole number"):
        EngineOptions.from_env("duckdb")


def test_an_unknown_storage_is_a_clear_error(monkeypatch):
    from procmine.errors import UsageError

    monkeypatch.setenv("PROCMINE_STORAGE", "tape")
    with pytest.raises(UsageError, match="memory or disk"):
        EngineOptions.from_env("duckdb")


def test_the_embedded_engine_picks_its_memory_limit_from_the_log_and_the_machine():
    from procmine.engine.runner import auto_memory_limit

    gib = 1 << 30
    # 250 bytes an event: 10M events → 2.5 GB, well under 40% of a 24 GiB machine (9.6 GiB)
    assert auto_memory_limit(10_000_000, 24 * gib) == 2_500_000_000
    # a small log still gets 1.5 GiB; a huge one at most 40% of the machine
    assert auto_memory_limit(1_000, 24 * gib) == 1536 << 20
    assert auto_memory_limit(100_000_000, 24 * gib) == int(24 * gib * 0.4)
    # a machine whose memory cannot be read: the log decides alone
    assert auto_memory_limit(20_000_000, 0) == 5_000_000_000


def test_audit_v_says_what_the_engine_chose(tmp_path):
    # 2 events: the limit is the 1.5 GiB floor (250 B × 2 is far below it); -v says so at once,
    # with the threads, and names the steps; without -v a quick run says nothing of it
    from click.testing import CliRunner

    from procmine.cli import cli
    from test_audit import mklog

    log = mklog([("A", "受理", "2024-03-04 09:00", "2024-03-04 09:30"),
                 ("A", "办结", "2024-03-05 09:00", "2024-03-05 09:30")])
    path = tmp_path / "log.parquet"
    log.to_parquet(path)
    loud = CliRunner().invoke(cli, ["audit", str(path), "-v"])
    assert loud.exit_code == 0, loud.output
    assert "memory limit 1.5 GiB for 2 events" in loud.stderr and "threads" in loud.stderr
    assert "per-case outcome" in loud.stderr
    quiet = CliRunner().invoke(cli, ["audit", str(path)])
    assert quiet.exit_code == 0 and "memory limit" not in quiet.stderr


def test_a_memory_limit_the_user_gives_is_kept():
    import pandas as pd

    from procmine.engine.runner import open_engine

    frame = pd.DataFrame({"case_id": ["a"], "activity": ["受理"]})
    eng = open_engine("duckdb")
    eng.load(frame)
    picked = eng.con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    assert picked.replace(" ", "") in ("1.5GiB", "1.4GiB", "1536.0MiB")  # DuckDB's own rounding of 1536 MiB
    from procmine.engine.runner import EngineOptions

    eng = open_engine(EngineOptions(memory_limit="3GB"))
    eng.load(frame)
    given = eng.con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    assert given.replace(" ", "") in ("2.7GiB", "2.8GiB", "3.0GB", "2.7GB")  # 3 GB = 2.79 GiB
