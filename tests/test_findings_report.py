"""Issue 27: findings a leader trusts at a glance (priorities, units, words instead of rule keys)."""

import pytest

from procmine.audit import Finding
from procmine.privacy import Masker
from procmine.report import _actions, _Text
from procmine.rules import load_rules


def finding(kind, service, cases, impact, unit, severity, score, share):
    f = Finding(kind, service, cases, impact, unit, [], {}, severity=severity, score=score,
                details={"share_of_cases": share})
    return f


def test_priorities_take_the_highest_severity_first_then_impact():
    t = _Text("zh", load_rules(), Masker(enabled=False))
    low_but_huge = finding("rework", "甲", 30, 5000, "steps", "low", 5000, 0.1)
    breach = finding("sla_overrun", "乙", 12, 20, "working_days", "high", 150, 0.12)
    half = finding("excess_visits", "丙", 60, 70, "trips", "high", 280, 0.6)
    medium = finding("repeated_material", "丁", 25, 40, "documents", "medium", 20, 0.25)
    lines = _actions([low_but_huge, breach, half, medium], t)
    # 高 first (by impact: 丙's 280 before 乙's 150), then 中; the 低 item with the largest score is not among them
    assert [line.split("：")[0] for line in lines] == ["丙", "乙", "丁"]
    # each reason is one sentence: it ends the line with one 。 and holds no other
    for line in lines:
        reason = line.split("理由：", 1)[1]
        assert reason.endswith("。") and reason.count("。") == 1
    assert "违反时限" in lines[1] and "60%" in lines[0]
