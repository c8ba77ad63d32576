"""Issue 15: the engine's calendar lookups give WorkCalendar's numbers."""

import os

import numpy as np
import pandas as pd
import pytest

from procmine.engine import duckdb as eng
from procmine.workdays import WorkCalendar


def _stamps(n, seed):
    rng = np.random.default_rng(seed)
    base = pd.Timestamp("2023-09-20")
    s = base + pd.to_timedelta(rng.integers(0, 40 * 24 * 60, n), unit="min") + pd.to_timedelta(rng.integers(0, 60, n), unit="s")
    e = s + pd.to_timedelta(rng.integers(-600, 20 * 24 * 60, n), unit="min")
    s, e = pd.Series(s), pd.Series(e)
    s[::17] = pd.NaT
    return s, e


@pytest.mark.parametrize("first_day", ["exclude", "include"])
def test_calendar_lookups_in_the_engine_match_workcalendar(first_day):
    cal = WorkCalendar(first_day=first_day)
    s, e = _stamps(500, 7)
    got = eng.intervals(eng.connect(), cal, s, e)
    pd.testing.assert_series_equal(got["working_days"], cal.working_days(s, e), check_names=False)
    pd.testing.assert_series_equal(got["days_between"], cal.days_between(s, e), check_names=False)
    np.testing.assert_allclose(got["working_hours"], cal.working_hours(s, e), atol=1e-6)


def test_friday_afternoon_to_monday_morning_is_three_working_hours_in_the_engine():
    cal = WorkCalendar(office_hours=(("08:30", "17:30"),))
    s, e = pd.Series([pd.Timestamp("2024-03-08 16:00")]), pd.Series([pd.Timestamp("2024-03-11 10:00")])
    assert eng.intervals(eng.connect(), cal, s, e)["working_hours"].iloc[0] == pytest.approx(3.0)


def test_memory_limit_and_spill_directory_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("PROCMINE_MEMORY_LIMIT", "512MB")
    monkeypatch.setenv("PROCMINE_TEMP_DIR", str(tmp_path))
    con = eng.connect()
    limit = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    assert limit.replace(" ", "").upper().startswith(("512", "488"))
    assert con.execute("SELECT current_setting('temp_directory')").fetchone()[0] == str(tmp_path)


def test_cli_engine_options_set_the_limit_and_spill_directory(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from procmine.cli import cli

    monkeypatch.setenv("PROCMINE_MEMORY_LIMIT", "")  # restored afterwards, with the process engine
    monkeypatch.setenv("PROCMINE_TEMP_DIR", "")
    monkeypatch.setattr(eng, "_DEFAULT", None)
    CliRunner().invoke(cli, ["cases", "--memory-limit", "600MB", "--temp-dir", str(tmp_path),
                                 "--output", str(tmp_path / "c.csv"), str(tmp_path / "missing")])
    assert os.environ["PROCMINE_MEMORY_LIMIT"] == "600MB" and os.environ["PROCMINE_TEMP_DIR"] == str(tmp_path)
    con = eng.default()
    assert con.execute("SELECT current_setting('temp_directory')").fetchone()[0] == str(tmp_path)
    assert con.execute("SELECT current_setting('memory_limit')").fetchone()[0].replace(" ", "").upper().startswith(("600", "572"))
