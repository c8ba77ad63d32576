"""The registry of finding kinds: a kind is one module (or, here, one object defined in
this test file) and the audit picks it up with nothing else changed."""

import dataclasses
import json
from pathlib import Path

import pytest

from procmine.analysis import audit as audit_module
from procmine.analysis.audit import audit
from procmine.analysis.kinds import Finding, Kind, register, registered, unregister
from procmine.config import load_yaml, templates_dir
from procmine.engine.findings import Step, evidence_map, top_coded
from procmine.rules import load_rules
from test_audit import mklog

KINDS_DIR = Path(__file__).resolve().parent.parent / "procmine" / "analysis" / "kinds"


# ----------------------------------------------------------------------------- a toy kind


def _many_steps_sql(q) -> None:
    """Per service, the cases with more events than the threshold, and how many more."""
    most = int(TOY.threshold(q.t, "toy_max_steps"))
    q.eng.materialize("toy_many", f"""
SELECT s, c, count(*) - {most} AS extra FROM fx WHERE s IS NOT NULL GROUP BY s, c HAVING count(*) > {most}""")
    q.out.frames["toy"] = q.names.named(q.eng.fetch(
        "SELECT s, count(*) AS cases, CAST(sum(extra) AS BIGINT) AS extra FROM toy_many GROUP BY s"), service="s:s")
    q.out.evidence["toy"] = evidence_map(q.names.named(q.eng.fetch(top_coded(
        "SELECT s, c, extra AS w FROM toy_many", ["s"], "w", q.eng.name)), service="s:s"), ["service"])


def _many_steps(ctx, agg) -> None:
    for r in agg["toy"].sort_values("service").itertuples(index=False):
        ctx.add(Finding("toy_many_steps", r.service, int(r.cases), int(r.extra), "steps",
                        agg.evidence["toy"].get((r.service,), []),
                        {"service": r.service, "cases": int(r.cases), "extra": int(r.extra)}))


TOY = Kind("toy_many_steps", dimension="steps", label={"zh": "环节过多", "en": "Too many steps"},
           build=_many_steps, aggregate=Step("toy_many_steps", _many_steps_sql, makes=("toy_many",)),
           thresholds={"toy_max_steps": 2},
           messages={"finding.toy_many_steps": {"zh": "{service}：{cases}件环节过多，共多{extra}个环节",
                                                "en": "{service}: {cases} cases with {extra} steps too many"},
                     "action.toy_many_steps": {"zh": "精简环节", "en": "Cut steps"}})


@pytest.fixture
def toy():
    register(TOY)
    try:
        yield TOY
    finally:
        unregister(TOY.name)


def _log():
    # A: 4 events, B: 2, C: 3 — with at most 2 steps, A has 2 too many and C 1; B none
    return mklog([
        ("A", "受理", "2024-03-04 09:00", "2024-03-04 09:20"),
        ("A", "审核", "2024-03-04 10:00", "2024-03-04 11:00"),
        ("A", "复核", "2024-03-05 10:00", "2024-03-05 11:00"),
        ("A", "办结", "2024-03-06 10:00", "2024-03-06 10:10"),
        ("B", "受理", "2024-03-04 09:00", "2024-03-04 09:20"),
        ("B", "办结", "2024-03-05 09:00", "2024-03-05 09:20"),
        ("C", "受理", "2024-03-04 09:00", "2024-03-04 09:20"),
        ("C", "审核", "2024-03-04 14:00", "2024-03-04 15:00"),
        ("C", "办结", "2024-03-05 14:00", "2024-03-05 14:10"),
    ])


def test_a_kind_defined_in_a_test_is_audited_and_in_the_findings_json(toy, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text("thresholds: {min_cases: 1}\n", encoding="utf-8")
    data = json.loads(audit(_log(), str(rules)).to_json())
    (f,) = [f for f in data["findings"] if f["kind"] == "toy_many_steps"]
    # by hand: cases A (+2) and C (+1) → 2 cases, 3 steps; A first (heavier); 2 of the 3 cases ≥ 50 % → high
    assert (f["service"], f["cases"], f["impact"], f["evidence"]) == ("测试事项", 2, {"value": 3, "unit": "steps"},
                                                                        ["A", "C"])
    assert (f["dimension"], f["severity"], f["summary"], f["action"]) == (
        "steps", "high", "测试事项：2件环节过多，共多3个环节", "精简环节")
    assert "toy_many_steps" in audit_module.KINDS and audit_module.DIMENSION["toy_many_steps"] == "steps"


def test_a_kinds_threshold_is_read_from_the_rules(toy):
    # a rules file may set only the keys the preset lists; a Rules object may carry any
    base = load_rules()
    rules = dataclasses.replace(base, thresholds={**base.thresholds, "min_cases": 1, "toy_max_steps": 3})
    (f,) = [f for f in audit(_log(), rules).findings if f.kind == "toy_many_steps"]
    assert (f.cases, f.impact, f.evidence) == (1, 1, ["A"])  # only A has more than 3 events, by one


def test_an_unregistered_kind_is_gone():
    assert "toy_many_steps" not in [k.name for k in registered()]
    assert "toy_many_steps" not in audit_module.KINDS


# ----------------------------------------------------------------------------- the registry


def test_every_module_in_the_folder_is_a_registered_kind_in_order():
    files = sorted(p.stem for p in KINDS_DIR.glob("*.py") if p.stem not in ("__init__", "base"))
    kinds = registered()
    assert sorted(k.name for k in kinds) == files
    # the order the audit has always run them in (and lists what it skipped in)
    assert [k.name for k in kinds] == [
        "excess_visits", "repeated_material", "shareable_material", "rework", "duplicate_check", "rubber_stamp",
        "parallelizable", "serial_signoff", "bottleneck", "sla_overrun", "open_overdue", "rating_driver",
        "bundle_candidate"]
    assert {k.name for k in kinds if k.legal_breach} == {"sla_overrun", "open_overdue"}  # 超期: a legal breach


def test_the_built_in_kinds_thresholds_are_the_presets_with_its_defaults():
    # the preset (templates/rules/) is where a user reads and sets them: the defaults agree
    preset = load_yaml((templates_dir() / "rules" / "最多跑一次.yaml").read_text(encoding="utf-8"))["thresholds"]
    declared = {key: value for k in registered() for key, value in k.thresholds.items()}
    assert declared and {key: preset.get(key) for key in declared} == declared


def test_a_kind_is_declared_completely_or_refused():
    with pytest.raises(ValueError, match="dimension"):
        Kind("x", dimension="speed", label={"zh": "x", "en": "x"}, build=print)
    with pytest.raises(ValueError, match="requires"):
        Kind("x", dimension="time", label={"zh": "x", "en": "x"}, build=print, requires="weather")
    with pytest.raises(ValueError, match="label"):
        Kind("x", dimension="time", label={"zh": "x"}, build=print)


def test_a_kind_cannot_take_a_name_or_a_message_already_taken():
    with pytest.raises(ValueError, match="registered twice"):
        register(Kind("rework", dimension="steps", label={"zh": "x", "en": "x"}, build=print))
    clash = Kind("toy_clash", dimension="time", label={"zh": "x", "en": "x"}, build=print,
                 messages={"finding.rework": {"zh": "x", "en": "x"}})
    register(clash)
    try:
        from procmine.analysis.kinds import catalogue

        with pytest.raises(ValueError, match="finding.rework"):
            catalogue()
    finally:
        unregister("toy_clash")


def test_the_report_names_a_registered_kind_and_says_its_sentences_in_english(toy):
    from procmine.report.structure import build_report

    base = load_rules()
    rules = dataclasses.replace(base, thresholds={**base.thresholds, "min_cases": 1})
    log = _log()
    rep = build_report(log, rules=rules, lang="en", mask=False, max_services_maps=0,
                       audited=audit(log, rules))
    rows = [dict(zip(rep.findings.columns, r)) for r in rep.findings.rows]
    cols = rep.findings.columns
    kind, summary, action = cols[2], cols[-3], cols[-2]
    (row,) = [r for r in rows if r[kind] == "Too many steps"]  # the kind's own label, not "Other"
    assert (row[summary], row[action]) == ("测试事项: 2 cases with 3 steps too many", "Cut steps")


def test_the_kinds_whose_activity_is_one_step():
    # the workbench lists such a finding's cases at that step; a pair (parallelizable), a chain
    # (serial_signoff) or a factor is not one step
    assert {k.name for k in registered() if k.step_activity} == {"bottleneck", "rework", "rubber_stamp",
                                                                   "duplicate_check"}
