"""Issue 25: every per-case fact is defined once, in the engine. No module outside
``procmine/engine`` (and ``procmine/rules.py``, which loads them) reads the rules'
lifecycle, status, visit or rating vocabularies: a second reading would be a second
definition of a milestone, a status, a trip or a rating."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "procmine"
VOCABULARY = re.compile(
    r"\.(?:lifecycle|status)\s*\[|rules\.(?:staff_travel|remote_delivery|pickup|correction|intake|online_channel"
    r"|office_act|online_step|window_step|signoff|reject)\b|\[\s*['\"](?:rectified_status|good_min_level)['\"]\s*\]")


def test_no_module_outside_the_engine_reads_the_case_vocabularies():
    offenders = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("engine/") or rel == "rules.py":
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if VOCABULARY.search(line):
                offenders.append(f"procmine/{rel}:{n}: {line.strip()}")
    assert not offenders, "read the case table instead:\n" + "\n".join(offenders)


def test_the_lint_sees_a_reading():
    assert VOCABULARY.search("pat = rules.lifecycle['finish']")
    assert VOCABULARY.search("x = cfg['rectified_status']")
    assert not VOCABULARY.search("rules.thresholds['min_cases']")
