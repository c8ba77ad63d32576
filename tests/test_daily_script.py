"""scripts/procmine-daily (issue 29): the scheduled run of the README, run twice on one day."""

import json
import os
import shutil
import subprocess
import sys

import pytest

import procmine
from procmine.analysis.cards import _read
from procmine.sources.append import append_history
from conftest import ROOT
from test_daily import DAY1, export

pytestmark = pytest.mark.skipif(not shutil.which("sh"), reason="needs sh")


def test_the_daily_script_twice_in_a_day(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    export(inbox / "d1.xlsx", DAY1, "2024-03-06 07:00")
    data = tmp_path / "data"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PROCMINE": f"{sys.executable} -m procmine.cli",
           "PROCMINE_AS_OF": "2024-03-14"}
    # as of Thu 03-14 (limit 5): A accepted 03-04, B and C 03-05, all open: B and C have
    # 03-06, 07, 08, 11, 12, 13, 14 = 7 working days, A 8 → three red cards → exit 3
    for _ in range(2):
        res = subprocess.run(["sh", str(ROOT / "scripts" / "procmine-daily"), str(data), str(inbox)],
                             capture_output=True, text=True, env=env)
        assert res.returncode == 3, res.stderr
    alerts = json.loads((data / "out" / "督办-2024-03-14.json").read_text(encoding="utf-8"))
    assert alerts["red"] == 3
    assert (data / "out" / "督办-2024-03-14.xlsx").is_file()
    # the second run counted nothing twice: 7 events, its 7 rows already present; one run of the day
    assert len(procmine.read_log(data / "log")) == 7
    assert [(h["new"], h["present"]) for h in append_history(data / "log")] == [(7, 0), (0, 7)]
    cards = _read(data / "log" / "_cards")
    assert (cards["level"] == "run").sum() == 1 and (cards["level"] == "red").sum() == 3


def test_the_daily_script_says_how_to_call_it(tmp_path):
    res = subprocess.run(["sh", str(ROOT / "scripts" / "procmine-daily")], capture_output=True, text=True)
    assert res.returncode == 2 and "usage: procmine-daily DATA EXPORT" in res.stderr
