"""Each unit of the case model, made wrong on purpose in a way a careless edit would
(an off-by-one first day, a pattern matched anywhere, a limit checked against the
wrong number …): some hand-worked test of ``test_case_model`` must then fail. A
mutant that no test catches means the tests do not pin that rule."""

import pytest

import test_case_model as t
from procmine.engine import definitions


class MutantDoesNotApply(RuntimeError):
    pass


def mutate(monkeypatch, step: str, old: str, new: str) -> None:
    """Replace ``old`` by ``new`` in the SQL of ``step``; ``step`` may list several
    steps and ``old``/``new`` several texts (``|``-separated, pairwise)."""
    original = definitions.steps
    edits = list(zip(step.split("|"), old.split("|"), new.split("|")))

    def patched(*args, **kwargs):
        out, hits = [], set()
        for name, sql in original(*args, **kwargs):
            for i, (st, o, n) in enumerate(edits):
                if name == st:
                    if o not in sql:
                        raise MutantDoesNotApply(f"{st}: {o!r} not in its SQL")
                    sql = sql.replace(o, n)
                    hits.add(i)
            out.append((name, sql))
        if len(hits) != len(edits):
            raise MutantDoesNotApply(f"not every step of {step} exists")
        return out

    monkeypatch.setattr(definitions, "steps", patched)


MUTANTS = [
    # lifecycle: the clock started at receipt of papers (收件) instead of 受理
    ("c5", "coalesce(col_accept, step_accept,", "coalesce(col_accept, step_receive, step_accept,",
     t.test_the_clock_starts_at_acceptance_not_receipt_a_correction_before_it_is_outside),
    # vocabulary: a special procedure matched anywhere in the name (a mention pauses the clock)
    ("acts|acts", "'^(?:|)$'", "'(?:|)'", t.test_a_step_that_mentions_a_procedure_is_not_one),
    # vocabulary: a correction notice counted as the applicant handing materials in
    ("acts2", "correction_raw AND NOT pickup_raw AND NOT office_act AND NOT notice_open AS correction",
     "correction_raw AND NOT pickup_raw AS correction", t.test_office_acts_are_never_trips_whatever_words_they_contain),
    # vocabulary: a refusal whose name holds 受理 counted as an intake
    ("acts2|acts2", "AND NOT notice_open AND NOT rejected AS intake|AND NOT remote AND NOT staff AND NOT office_act",
     "AS intake|AND NOT remote AND NOT staff",
     t.test_office_acts_are_never_trips_whatever_words_they_contain),
    # events: the application's channel deciding a pick-up (an online case's 领证 as no trip)
    ("facts", "WHEN e.pickup THEN NOT e.remote_channel", "WHEN e.pickup THEN NOT (e.remote_channel OR e.channel_online)",
     t.test_after_an_online_application_the_back_office_acceptance_is_no_visit),
    # events: after an online application, the back-office 受理 as a visit
    ("walk", "(fo IS NULL OR fc <= fo)", "true",
     t.test_after_an_online_application_the_back_office_acceptance_is_no_visit),
    # clock: a calendar-day period ending on a holiday not moved to the next working day (§203)
    ("c7", "WHEN c.promise_kind = 'calendar' THEN pc.next_wd", "WHEN c.promise_kind = 'calendar' THEN pc.d",
     t.test_a_calendar_day_limit_ending_on_a_holiday_moves_to_the_next_working_day),
    # clock: a month limit not extended by its pauses
    ("c7", "CASE WHEN coalesce(p.paused_days, 0) = 0 THEN pm.due_d ELSE pmx.d END", "pm.due_d",
     t.test_a_month_limit_is_extended_by_the_working_days_paused),
    # limits: 延期 of nothing when the step names no length (not §42's 10)
    ("c6", "THEN col_extension ELSE 10.0 END", "THEN col_extension ELSE 0.0 END",
     t.test_an_extension_extends_the_statutory_limit_only),
    # limits: an extension of a month ignored (the limit's last day not moved on)
    ("c7x", "WHEN c.extension_kind = 'month' THEN xm.due_d", "WHEN c.extension_kind = 'month' THEN c.statutory_due_w",
     t.test_an_extension_of_a_month_is_a_calendar_month_from_the_statutory_last_day),
    # outcome: a working-day limit extended in calendar days judged by the clock alone (the extension lost)
    ("c8", "THEN 'date'", "THEN 'work'", t.test_an_extension_in_calendar_days_runs_on_from_the_statutory_last_day),
    # outcome: over the promise called a legal breach
    ("cases", "THEN coalesce(c.over_s, false) END AS over_statute", "THEN coalesce(c.over_p, false) END AS over_statute",
     t.test_over_the_promise_is_not_a_legal_breach),
    # outcome: an off-by-one working-day limit (late only from the limit + 1)
    ("c8", "THEN clock_days > {limit} + {extra}".format(limit="c.stat", extra="coalesce(c.extension_days, 0)"),
     "THEN clock_days > c.stat + coalesce(c.extension_days, 0) + 1",
     t.test_only_a_statutory_limit_the_outcome_is_against_it),
    # pauses: a pause never closed run to the decision, silently
    ("c7", "u.n IS NOT NULL AND c.status = '办结' AS pause_unclosed", "false AS pause_unclosed",
     t.test_a_pause_never_closed_leaves_the_clock_unknown_not_run_to_the_decision),
    # pauses: a correction closed only by the listed names (not by the applicant's 补交 step)
    ("acts2", "(received_raw OR (correction_raw AND NOT pickup_raw AND NOT office_act)) AND NOT notice_open",
     "received_raw AND NOT notice_open",
     t.test_a_correction_closes_when_the_applicant_hands_the_materials_in_whatever_it_is_called),
    # pauses: a correction recorded as one step (补正) not paused
    ("pauses", "WHERE v.special_single OR v.correction_single", "WHERE v.special_single",
     t.test_a_correction_recorded_as_one_step_pauses_the_clock_for_that_step),
    # status: decided-awaiting-delivery read as open (its 待 matching the open class)
    ("c3", "THEN '待送达'", "THEN '在办'", lambda: t.test_decided_cases_waiting_for_delivery_are_decided("待送达")),
    # status: a text not understood guessed into 在办
    ("c4", "ELSE coalesce(status_read, '不明') END", "ELSE coalesce(status_read, '在办') END",
     t.test_a_status_not_understood_is_listed_never_guessed_open),
    # trips: unknown visits counted as 0
    ("cases", "CAST(CASE WHEN c.visits_known THEN coalesce(v.visits, 0) END AS BIGINT) AS visits,",
     "CAST(coalesce(v.visits, 0) AS BIGINT) AS visits,", t.test_unknown_trips_stay_unknown_in_every_rate),
    # departments: the deciding department taken from the latest step (the window that hands over)
    ("cases", "coalesce(c.dec_d_step, c.dec_d_last)", "c.hold_d", t.test_deciding_holding_and_participating_departments),
]


@pytest.mark.parametrize("step, old, new, check", MUTANTS, ids=[f"{m[0]}:{i}" for i, m in enumerate(MUTANTS)])
def test_each_faulty_variant_is_caught(monkeypatch, step, old, new, check):
    check()  # right as written
    mutate(monkeypatch, step, old, new)
    with pytest.raises(AssertionError):
        check()
