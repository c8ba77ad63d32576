"""Every per-event and per-case definition of :mod:`procmine.engine.metrics`, once, as SQL.

The SQL is written in DuckDB's dialect and is portable by construction: times are
integers (microseconds of Shanghai wall-clock time since 1970-01-01, ``*_us``),
days are integer day numbers, the working calendar is a joined table, and the
step-name vocabulary of the rules is classified once per distinct name. The
embedded engine runs it as written; the Spark engine runs it after sqlglot's
transpilation (``procmine.engine.runner``).

Input: the view ``ev`` made by an engine's loader, one row per event:
``case_id, service, activity, department, channel, in_person, materials,
sla_days, s_us, e_us, apply_us, accept_us, finish_us, deliver_us, due_us,
status, sla_calendar_days, statutory_days, limit_text, _o`` (``_o``: the
event's place in the input, file then row: the tie-break that keeps the
export's order).

Small tables registered by :func:`procmine.engine.metrics.measure`:
``calendar(d, is_workday, cum_workdays, cum_office_minutes)`` (d = day number),
``catalogue(name, material)`` (the e-licence catalogue's normalisation of every
document name in the log) and ``svc_sla(service, days)`` (the rules' limits).

Each step is ``(table name, SELECT …)``; engines materialise them in order (the
names in ``VIEWS`` as views) and drop what ``DONE_AFTER`` names once a step has
run. Cases, services, steps and departments are numbered once, in name order
(``d_case``, ``d_svc``, ``acts``, ``d_dept``): ``facts`` and the per-case steps
carry the codes, and names are joined back where a result leaves the engine
(``FACTS_NAMED``, the ``handovers`` view, ``cases``).
The definitions themselves are documented in :mod:`procmine.engine.metrics`.
"""

from __future__ import annotations

from ..rules import Rules
from ..calendar.workdays import WorkCalendar

DAY_US = 86_400_000_000
HOUR_US = 3_600_000_000


def lit(value) -> str:
    """A SQL literal (DuckDB dialect; sqlglot re-escapes it for Spark)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(float(value)) if isinstance(value, float) else str(value)
    return "'" + str(value).replace("'", "''") + "'"


def day(us: str) -> str:
    """Day number (days since 1970-01-01) of a local-time microsecond value."""
    return f"CAST(floor(CAST({us} AS DOUBLE) / {DAY_US}) AS BIGINT)"


def nonneg(expr: str) -> str:
    """``expr`` clipped at 0, NULL kept (``greatest`` would turn NULL into 0)."""
    return f"(CASE WHEN ({expr}) < 0 THEN 0 ELSE ({expr}) END)"


def hours(us: str) -> str:
    """Integer microseconds → hours as a double, the same double in every engine (a
    literal such as ``3600000000.0`` is a DECIMAL in Spark, and decimal division
    rounds differently)."""
    return f"(CAST({us} AS DOUBLE) / {HOUR_US})"


def hours3(us: str) -> str:
    """Integer microseconds → hours rounded to 3 decimals, half up, exactly alike in
    every engine (each engine's ``round`` of a double differs at the halves)."""
    return f"(floor((({us}) + 1800000) / 3600000.0) / 1000.0)"


def has(col: str, pattern: str) -> str:
    """The rules' step-name match: the pattern anywhere in the value (NULL → false)."""
    return f"coalesce(regexp_matches({col}, {lit(pattern)}), false)"


def office_us(us: str, c: str, cal: WorkCalendar) -> str:
    """Office time (microseconds, an integer so that sums are exact in every engine)
    since the calendar's first day at ``us``; ``c`` is the calendar row joined on that day."""
    tod = f"({us} - {c}.d * {DAY_US})"
    spans = [(int(a) * 60_000_000, int(b) * 60_000_000) for a, b in cal._office_minutes()]
    within = " + ".join(f"least(greatest({tod} - {a}, 0), {b - a})" for a, b in spans) or "0"
    return f"({c}.cum_office_minutes * 60000000 + CASE WHEN {c}.is_workday THEN {within} ELSE 0 END)"


def working_days(cs: str, ce: str, cal: WorkCalendar, first_day: bool = True) -> str:
    """Working days from calendar row ``cs`` to ``ce``: the clock (first day per the
    calendar's rule) or, with ``first_day=False``, days between (start day excluded)."""
    n = f"({ce}.cum_workdays - {cs}.cum_workdays)"
    if first_day and cal.first_day == "include":
        n = f"({n} + CASE WHEN {cs}.is_workday THEN 1 ELSE 0 END)"
    return f"CAST({n} AS DOUBLE)"


def _cal_join(alias: str, us: str) -> str:
    return f"LEFT JOIN calendar {alias} ON {alias}.d = {day(us)}"


def trips_sql(gap_hours: float, source: str = "facts", names: str = "case_id, service, activity",
              key: str = "case_id") -> str:
    """The trips of each case numbered into visits (1, 2, …): trips on the same
    calendar day, one's end at most ``gap_hours`` before the next one's start, are
    one visit; a pick-up is placed at its collection (``trip_at_us``). ``names``: the
    columns of ``source`` naming the case, service and step (or their codes); ``key``:
    the one that identifies the case."""
    return f"""
SELECT {names}, trip_kind, trip_at_us, trip_until_us, pos,
       CAST(sum(new_visit) OVER (PARTITION BY {key} ORDER BY trip_at_us, pos
                                 ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS BIGINT) AS visit
FROM (
  SELECT *, CASE WHEN prev_until IS NOT NULL
                  AND {day('trip_at_us')} = {day('prev_until')}
                  AND trip_at_us - prev_until <= {float(gap_hours)} * {HOUR_US}
                 THEN 0 ELSE 1 END AS new_visit
  FROM (SELECT *, lag(trip_until_us) OVER (PARTITION BY {key} ORDER BY trip_at_us, pos) AS prev_until
        FROM {source} WHERE trip) t) n"""


# 延期's length as the step states it: in working days (延期15日, 延长十五个工作日, 延期五个工作日:
# §42 counts 日 as working days, §82), in calendar days (延期30个自然日) or in calendar months
# (延长1个月, counted as the calendar counts them, 民法典 §201–§203).
NUM = "([0-9]+|[一二两三四五六七八九十]+)"
EXT_WORK = NUM + " *个? *(?:工作日|日(?:$|[^历])|天)"
EXT_CAL = NUM + " *个? *(?:自然日|日历日|日历天)"
EXT_MONTH = NUM + " *个? *月"


def numeral(expr: str) -> str:
    """An Arabic or Chinese numeral below 100 (五, 十, 十五, 二十, 三十, 两) as a DOUBLE; the
    same SQL in both engines (character functions only)."""
    s = f"replace({expr}, '两', '二')"
    digit = lambda c: f"CAST(instr('一二三四五六七八九', {c}) AS DOUBLE)"
    first, last = f"substr({s}, 1, 1)", f"substr({s}, length({s}), 1)"
    return (f"CASE WHEN {has(s, '^[0-9]+$')} THEN CAST({s} AS DOUBLE) "
            f"WHEN {has(s, '十')} THEN "
            f"(CASE WHEN {first} = '十' THEN 1.0 ELSE {digit(first)} END) * 10 + "
            f"(CASE WHEN {last} = '十' THEN 0.0 ELSE {digit(last)} END) "
            f"WHEN length({s}) = 1 THEN {digit(s)} END")


def full(col: str, pattern: str) -> str:
    """The whole value matches ``pattern`` (NULL → false): for vocabularies where a
    mention is not enough (a special procedure is a step whose action is the procedure)."""
    return has(col, f"^(?:{pattern})$")


def special_action(rules: Rules) -> str:
    """A step whose action IS a special procedure (§45): the whole name is the
    procedure, with an optional verb before it (组织听证) and 环节/程序/阶段 after it;
    a step that mentions one (检测报告审查, 专家意见汇总) is not."""
    lc = rules.lifecycle
    return (f"(?:{lc['special_verbs']})?(?:{lc['special']})+"
            r"(?:环节|程序|阶段|期间|期|会|会议|工作|中|开始|结束|完成)?"
            r"(?:[（(][^）)]*[）)])?")  # a note in brackets: 特别程序（专家评审）


def vocabulary(rules: Rules) -> list[tuple[str, str]]:
    """Each distinct step name, channel and status text classified once (``acts``,
    ``acts2``, ``chans``), and the codes (integers numbered in name order: comparing
    codes compares names; NULL stays NULL) of services, departments and cases."""
    v, lc = rules, rules.lifecycle
    return [("acts", f"""
SELECT activity,
       CASE WHEN activity IS NOT NULL
            THEN CAST(row_number() OVER (ORDER BY activity NULLS LAST) AS BIGINT) END AS a,
       {has('activity', rules.signoff)} AS sign, {has('activity', rules.reject)} AS reject,
       {has('activity', v.staff_travel)} AS staff,
       {has('activity', v.remote_delivery)} AS remote,
       {has('activity', v.pickup)} AS pickup_raw,
       {has('activity', v.correction)} AS correction_raw,
       {has('activity', v.intake)} AS intake_raw,
       {has('activity', v.office_act)} AS office_act,
       {has('activity', v.window_step)} AS window_step,
       {has('activity', v.online_step)} AS online_step_raw,
       {has('activity', lc['accept'])} AND NOT {has('activity', lc['not_accept'])} AS accept_step,
       {has('activity', lc['receive'])} AND NOT {has('activity', lc['not_accept'])} AS receive_step,
       {has('activity', lc['apply'])} AS apply_raw,
       {has('activity', lc['finish'])} AS finish_step,
       {has('activity', lc['decide'])} AS decide_step,
       ({has('activity', lc['deliver'])} OR {has('activity', v.pickup)} OR {has('activity', v.remote_delivery)})
         AND NOT {has('activity', '告知|通知')} AS deliver_step,
       {has('activity', rules.status['not_accepted'])} AS rejected,
       {has('activity', rules.status['withdrawn'])} AS withdrawn,
       {has('activity', lc['extension'])} AS extension_step,
       CASE WHEN {has('activity', lc['extension'])} AND {has('activity', EXT_WORK)}
            THEN {numeral(f"regexp_extract(activity, {lit(EXT_WORK)}, 1)")} END AS extension_named,
       CASE WHEN {has('activity', lc['extension'])} AND {has('activity', EXT_CAL)}
            THEN {numeral(f"regexp_extract(activity, {lit(EXT_CAL)}, 1)")} END AS extension_named_cal,
       CASE WHEN {has('activity', lc['extension'])} AND {has('activity', EXT_MONTH)}
            THEN {numeral(f"regexp_extract(activity, {lit(EXT_MONTH)}, 1)")} END AS extension_named_months,
       {full('activity', special_action(rules))}
         AND NOT {has('activity', lc['special_start'] + '|' + lc['special_end'])} AS special_single,
       {has('activity', lc['special_start'])} AND NOT {has('activity', lc['special_end'])} AS special_open,
       {has('activity', lc['special_end'])} AS special_close,
       {has('activity', lc['correction_notice'])} AS notice_open,
       -- a correction recorded as one step spanning the applicant's wait (补正, 补正期间): paused for it
       {full('activity', lc['correction_span'])} AS correction_single,
       {has('activity', lc['correction_received'])} AS received_raw,
       {has('activity', '[一-鿿]')} AS cjk
FROM (SELECT DISTINCT activity FROM ev) a"""),
            # the office's acts (notices, refusals, back-office steps) are never the applicant's
            # trip, whatever other words they contain; a correction closes when the applicant
            # hands the materials in, whatever the platform calls that step
            ("acts2", """
SELECT *,
       pickup_raw AND NOT remote AND NOT office_act AS pickup,
       correction_raw AND NOT pickup_raw AND NOT office_act AND NOT notice_open AS correction,
       intake_raw AND NOT correction_raw AND NOT pickup_raw AND NOT remote AND NOT staff AND NOT office_act
         AND NOT notice_open AND NOT rejected AS intake,
       online_step_raw AND NOT window_step AS online_step,
       apply_raw AND NOT accept_step AS apply_step,
       (received_raw OR (correction_raw AND NOT pickup_raw AND NOT office_act)) AND NOT notice_open AS notice_close,
       accept_step OR receive_step OR apply_raw OR finish_step OR deliver_step OR rejected OR withdrawn
         OR notice_open OR received_raw OR correction_raw OR intake_raw OR special_open OR extension_step
         OR correction_single
         AS lifecycle_word
FROM acts"""),
            ("chans", f"""
SELECT channel, {has('channel', v.online_channel)} AS online_channel,
       {has('channel', v.remote_delivery)} AS remote_channel, {has('channel', v.window_step)} AS window_channel
FROM (SELECT DISTINCT channel FROM ev) c"""),
            ("d_svc", """
SELECT service, CAST(row_number() OVER (ORDER BY service) AS BIGINT) AS s
FROM (SELECT DISTINCT service FROM ev WHERE service IS NOT NULL) x"""),
            ("d_dept", """
SELECT department, CAST(row_number() OVER (ORDER BY department) AS BIGINT) AS d
FROM (SELECT DISTINCT department FROM ev WHERE department IS NOT NULL) x"""),
            ("d_case", """
SELECT case_id, CAST(row_number() OVER (ORDER BY case_id NULLS LAST) AS BIGINT) AS c, n
FROM (SELECT case_id, count(*) AS n FROM ev GROUP BY case_id) x""")]  # n: the case's events


def events(rules: Rules, cal: WorkCalendar) -> list[tuple[str, str]]:
    """Per event, in case/time order (ties keep the export's order): the step's
    classification, its place in the case, the wait before it and its time in working
    hours, and whether it was a trip of the applicant (``facts``)."""
    om = lambda us, c: office_us(us, c, cal)  # noqa: E731
    return [("ev1", """
SELECT e.*, coalesce(e.s_us, e.e_us) AS ts_us, coalesce(e.e_us, e.s_us) AS en_us,
       a.a, coalesce(a.sign, false) AS sign, coalesce(a.reject, false) AS reject, a.staff, a.remote, a.pickup,
       a.correction, a.intake, a.online_step, a.window_step, a.office_act,
       coalesce(c.remote_channel, false) AS remote_channel,
       coalesce(c.online_channel AND NOT a.window_step AND NOT c.window_channel, false) AS channel_online,
       coalesce(a.window_step OR c.window_channel, false) AS window_named,
       -- an application or intake made online (网上申请/网上预审, or through an online channel)
       coalesce((a.apply_step OR a.intake) AND (a.online_step OR
                 (c.online_channel AND NOT a.window_step AND NOT c.window_channel)), false) AS online_app,
       coalesce(a.intake AND NOT a.online_step AND NOT (c.online_channel AND NOT a.window_step
                                                        AND NOT c.window_channel), false) AS walk_cand
FROM ev e
LEFT JOIN acts2 a ON a.activity IS NOT DISTINCT FROM e.activity
LEFT JOIN chans c ON c.channel IS NOT DISTINCT FROM e.channel"""),
            # positions, whether an online application came earlier, the walk-in rank (after an
            # online application an acceptance is a visit only when done at the window), the
            # previous end and department, and the occurrence of the step in the case (``k``):
            # windows over a narrow projection in codes, joined back on the order key
            ("ev2w", """
SELECT _o, c, a, d, pos, prev_us, pd, online_before,
       sum(CASE WHEN walk_cand AND (NOT online_before OR window_named) THEN 1 ELSE 0 END)
         OVER (PARTITION BY c ORDER BY pos ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS walk_rank,
       walk_cand AND (NOT online_before OR window_named) AS walk_in,
       CAST(row_number() OVER (PARTITION BY c, a ORDER BY pos) AS BIGINT) AS k  -- pos: the same order, one key
FROM (
SELECT _o, c, a, d, walk_cand, window_named,
       CAST(row_number() OVER w - 1 AS BIGINT) AS pos,
       coalesce(max(CASE WHEN online_app THEN 1 ELSE 0 END)
                  OVER (PARTITION BY c ORDER BY ts_us, en_us, _o ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
                0) = 1 AS online_before,
       lag(en_us) OVER w AS prev_us, lag(d) OVER w AS pd
FROM (SELECT k.c, e.a, dp.d, e.ts_us, e.en_us, e._o, e.walk_cand, e.window_named, e.online_app FROM ev1 e
      JOIN d_case k ON k.case_id IS NOT DISTINCT FROM e.case_id
      LEFT JOIN d_dept dp ON dp.department = e.department) n
WINDOW w AS (PARTITION BY c ORDER BY ts_us, en_us, _o)) p"""),
            ("ev2", """
SELECT e.*, w.c, w.d, w.pos, w.walk_rank, w.walk_in, w.prev_us, w.pd, w.k, sv.s
FROM ev1 e JOIN ev2w w ON w._o = e._o LEFT JOIN d_svc sv ON sv.service = e.service"""),
            ("facts", f"""
SELECT x.c, x.s, x.a, x.d, x.s_us, x.e_us, x.ts_us, x.en_us, x.pos,
       x.trip, x.trip_kind,
       CASE WHEN x.pickup THEN x.en_us ELSE x.ts_us END AS trip_at_us,
       {nonneg('x.ts_us - x.prev_us')} AS wait_us,
       {nonneg('coalesce(x.om_s, x.om_e) - x.om_prev')} AS wait_work_us,  -- ts is the start, else the end
       NOT coalesce(x.pickup OR x.correction, false) AS office,  -- who the wait is on (else the applicant)
       x.e_us - x.s_us AS service_us,
       {nonneg('x.om_e - x.om_s')} AS service_work_us,
       x.materials, x.sla_days, x.step_sla_days, x.channel_online, x.in_person IS NOT NULL AS in_person_known, x.online_app,
       x.apply_us, x.accept_us, x.finish_us, x.deliver_us, x.due_us, x.status,
       x.sla_calendar_days, x.statutory_days, x.sla_months, x.statutory_calendar_days, x.statutory_months,
       x.extension_days, x.extension_calendar_days, x.extension_months,
       x.limit_text, x.rating, x.rating_us, x.rectify_status, x.rectify_us,
       x.pd, x.k, x.sign, x.reject
FROM (
  SELECT e.*,
         CASE WHEN e.in_person IS NOT NULL THEN e.in_person AND NOT coalesce(e.staff, false)
              WHEN coalesce(e.staff, false) THEN false
              -- a pick-up is a trip unless the step itself (its name or its own channel) says remote delivery
              WHEN e.pickup THEN NOT e.remote_channel
              WHEN e.correction THEN NOT (e.online_step OR e.channel_online OR e.remote OR e.remote_channel)
              ELSE coalesce(e.walk_in AND e.walk_rank = 1, false) END AS trip,
         CASE WHEN e.staff THEN 'staff_travel' WHEN e.pickup AND e.remote_channel THEN 'remote_delivery'
              WHEN e.pickup THEN 'pickup' WHEN e.correction THEN 'correction'
              WHEN e.walk_in AND e.walk_rank = 1 THEN 'intake' WHEN e.remote THEN 'remote_delivery'
              WHEN e.intake AND e.online_app THEN 'online_intake' ELSE 'other' END AS trip_kind,
         -- office time (µs since the calendar's first day) at the start, the end and the previous end
         {om('e.s_us', 'cs')} AS om_s, {om('e.e_us', 'ce')} AS om_e, {om('e.prev_us', 'cp')} AS om_prev
  FROM ev2 e
  {_cal_join('cs', 'e.s_us')}
  {_cal_join('ce', 'e.e_us')}
  {_cal_join('cp', 'e.prev_us')}) x""")]


def trips_and_documents(rules: Rules) -> list[tuple[str, str]]:
    """Visits (trips merged, ``trips``) and the documents handed over after the
    catalogue's normalisation (``docs`` in codes; ``handovers`` names them)."""
    return [("trips", trips_sql(rules.same_visit_gap_hours, names="c, s, a", key="c",
                                source="(SELECT *, en_us AS trip_until_us FROM facts) f")),
            ("docs", """
SELECT h.c, h.s, h.a, h.d, h.pos, coalesce(k.material, '') AS material
FROM (SELECT c, s, a, d, pos, unnest(materials) AS name FROM facts) h
LEFT JOIN catalogue k ON k.name = h.name"""),
            ("handovers", """
SELECT i.case_id, sv.service, ac.activity, dp.department, h.pos, h.material, h.c, h.s
FROM docs h JOIN d_case i ON i.c = h.c LEFT JOIN d_svc sv ON sv.s = h.s
LEFT JOIN acts ac ON ac.a = h.a LEFT JOIN d_dept dp ON dp.d = h.d""")]


# 好差评 (国办发〔2019〕51号): the five levels, spelt exactly (and the usual exact variants);
# a rating text is read whole, never by a word inside it (不太满意 is not 满意).
RATING_LEVELS = {"非常满意": 5, "很满意": 5, "满意": 4, "比较满意": 4, "基本满意": 3, "一般": 3, "不满意": 2,
                 "不太满意": 2, "比较不满意": 2, "非常不满意": 1, "很不满意": 1,
                 # plain words: 好评 is the good side (the top three levels), 差评 the bad side (the
                 # bottom two), 中评 the middle level; a plain word gives no finer level, so each takes
                 # the level nearest its side's middle: 好评 4 (满意), 中评 3 (基本满意), 差评 2 (不满意)
                 "好评": 4, "中评": 3, "差评": 2}


def rating_level(col: str) -> str:
    """A rating text as its level 1–5 (NULL when not understood): the level names read
    whole, the numbers 1–5 (with 分/星/级), 一星 … 五星."""
    t = f"replace(replace(trim({col}), ' ', ''), '　', '')"
    words = " ".join(f"WHEN {lit(k)} THEN {v}.0" for k, v in RATING_LEVELS.items())
    stars = " ".join(f"WHEN {has(t, f'^{k}星(级)?$')} THEN {v}.0"
                     for k, v in (("一", 1), ("二", 2), ("两", 2), ("三", 3), ("四", 4), ("五", 5)))
    digits = has(t, "^[1-5]([.]0)?(星|分|级|星级)?$")
    return (f"(CASE {t} {words} ELSE CASE WHEN {digits} "
            f"THEN CAST(substr({t}, 1, 1) AS DOUBLE) {stars} END END)")


def lifecycle(rules: Rules) -> list[tuple[str, str]]:
    """Per case (by its code ``c``), from its own events alone: milestones from the
    steps (``c1``) and the case's columns as exported (``c2``), the status text read
    (``c3``), the status and the decision (``c4``), acceptance and application (``c5``).

    The status: the export's status text when it has one (a text no class matches is
    ``不明``, listed, never guessed); otherwise a withdrawal or refusal step, a decision
    (办结 column or step) or a delivery; otherwise 在办. A case with no lifecycle step or
    column at all (a process log of another kind) runs from its first to its last event.
    The clock starts at 受理 (column or step); receipt of papers (收件) does not start it."""
    st = rules.status
    bad = f"{rating_level('rating')} < {float(rules.ratings['good_min_level'])}"
    return [("c1", """
SELECT f.c,
       min_by(f.s, f.pos) FILTER (WHERE f.s IS NOT NULL) AS s,
       count(*) AS events,
       min(f.ts_us) AS first_ts,
       greatest(max(f.s_us), max(f.e_us)) AS last_end,
       least(min(f.s_us), min(f.e_us)) AS case_start,
       min(f.en_us) FILTER (WHERE v.accept_step) AS step_accept,
       min(f.en_us) FILTER (WHERE v.receive_step) AS step_receive,
       min(f.ts_us) FILTER (WHERE v.apply_step) AS step_apply,
       -- a decision step counts once it has ended; in a case whose steps have no end times at
       -- all (a log of single timestamps), once it is there
       CASE WHEN bool_or(f.e_us IS NOT NULL) THEN max(f.e_us) FILTER (WHERE v.finish_step)
            ELSE max(f.en_us) FILTER (WHERE v.finish_step) END AS step_finish,
       CASE WHEN bool_or(f.e_us IS NOT NULL) THEN max(f.e_us) FILTER (WHERE v.deliver_step)
            ELSE max(f.en_us) FILTER (WHERE v.deliver_step) END AS step_deliver,
       max(f.en_us) FILTER (WHERE NOT coalesce(v.deliver_step, false)) AS last_work,
       coalesce(bool_or(v.deliver_step AND (f.e_us IS NOT NULL OR f.s_us IS NULL)), false) AS has_delivery,
       coalesce(bool_or(f.trip_kind IN ('pickup', 'remote_delivery')), false) AS delivery_mode_known,
       -- a Chinese step name with no lifecycle word is still a Chinese platform's case (not a
       -- process log of another kind): it is not decided for lack of vocabulary
       coalesce(bool_or(v.lifecycle_word OR v.cjk), false) AS has_lifecycle,
       coalesce(bool_or(v.withdrawn), false) AS step_withdrawn,
       coalesce(bool_or(v.rejected), false) AS step_rejected,
       coalesce(bool_or(v.extension_step), false) AS step_extension,
       max(v.extension_named) AS extension_named,
       max(v.extension_named_cal) AS extension_named_cal,
       max(v.extension_named_months) AS extension_named_months,
       coalesce(bool_or(f.in_person_known), false) AS in_person_known,
       coalesce(bool_or(f.trip_kind IN ('intake', 'online_intake') OR f.online_app), false) AS intake_known,
       coalesce(bool_or(f.online_app), false) AS online_app,
       coalesce(bool_or(f.trip_kind = 'intake'), false) AS intake_trip,
       min(f.trip_at_us) FILTER (WHERE f.trip_kind = 'intake') AS intake_at,
       coalesce(bool_or(v.notice_open OR f.trip_kind = 'correction' OR v.correction OR v.correction_single), false)
         AS correction_requested,
       count(*) FILTER (WHERE v.notice_open) AS correction_notices,
       -- who decided: the decision itself (审批决定), else the step closing the record (办结)
       coalesce(max_by(f.d, f.pos) FILTER (WHERE v.decide_step AND f.d IS NOT NULL),
                max_by(f.d, f.pos) FILTER (WHERE v.finish_step AND f.d IS NOT NULL)) AS dec_d_step,
       max_by(f.d, f.pos) FILTER (WHERE f.office AND NOT coalesce(v.deliver_step, false) AND f.d IS NOT NULL)
         AS dec_d_last,
       -- who holds an open case: the step still in progress (started, not ended), else the latest
       coalesce(max_by(f.d, f.pos) FILTER (WHERE f.d IS NOT NULL AND f.s_us IS NOT NULL AND f.e_us IS NULL),
                max_by(f.d, f.pos) FILTER (WHERE f.d IS NOT NULL)) AS hold_d,
       sum(f.wait_us) AS waiting_us, sum(f.wait_work_us) AS waiting_work_us,
       sum(f.service_us) AS service_us, sum(f.service_work_us) AS service_work_us
FROM facts f LEFT JOIN acts2 v ON v.a = f.a GROUP BY f.c"""),
            # the case's columns as exported, and its departments (distinct, counted in two levels)
            # a 差评 ever given (each rated case's distinct ratings read once, not every event)
            ("rated", f"""
SELECT c, bool_or({bad}) AS rated_bad_ever
FROM (SELECT c, rating FROM facts WHERE rating IS NOT NULL GROUP BY c, rating) r GROUP BY c"""),
            ("c2", """
SELECT x.*, dd.departments, dd.took_part, coalesce(rb.rated_bad_ever, false) AS rated_bad_ever FROM (
  SELECT c,
         min(apply_us) AS col_apply, min(accept_us) AS col_accept, min(due_us) AS col_due,
         max(finish_us) AS col_finish, max(deliver_us) AS col_deliver,
         max_by(status, pos) FILTER (WHERE status IS NOT NULL) AS status_raw,
         max(sla_days) AS sla, max(sla_calendar_days) AS cal, max(sla_months) AS months,
         max(statutory_days) AS stat, max(statutory_calendar_days) AS stat_cal, max(statutory_months) AS stat_months,
         max(extension_days) AS col_extension, max(extension_calendar_days) AS col_extension_cal,
         max(extension_months) AS col_extension_months,
         min_by(limit_text, pos) FILTER (WHERE limit_text IS NOT NULL) AS limit_text,
         max_by(rating, pos) FILTER (WHERE rating IS NOT NULL) AS rating_raw,
         min(rating_us) FILTER (WHERE rating IS NOT NULL) AS rating_first_us, max(rating_us) AS rating_us,
         max_by(rectify_status, pos) FILTER (WHERE rectify_status IS NOT NULL) AS rectify_raw,
         max(rectify_us) AS rectify_us,
         count(DISTINCT rating) AS ratings_seen
  FROM facts GROUP BY c) x
LEFT JOIN (SELECT y.c, count(*) AS departments, list_sort(list(dp.department)) AS took_part
           FROM (SELECT c, d FROM facts WHERE d IS NOT NULL GROUP BY c, d) y JOIN d_dept dp ON dp.d = y.d
           GROUP BY y.c) dd ON dd.c = x.c
LEFT JOIN rated rb ON rb.c = x.c"""),
            ("c3", f"""
SELECT a.*, b.departments, b.took_part, sv.service, b.col_apply, b.col_accept, b.col_due, b.col_finish,
       b.col_deliver, b.status_raw, b.sla, b.cal, b.months, b.stat, b.stat_cal, b.stat_months, b.col_extension,
       b.col_extension_cal, b.col_extension_months,
       b.limit_text, b.rating_raw, b.rating_first_us, b.rating_us, b.rectify_raw, b.rectify_us, b.ratings_seen,
       b.rated_bad_ever,
       CASE WHEN b.status_raw IS NULL THEN NULL
            WHEN {has('trim(b.status_raw)', st['withdrawn'])} THEN '撤回'
            WHEN {has('trim(b.status_raw)', st['void'])} THEN '作废'
            WHEN {has('trim(b.status_raw)', st['not_accepted'])} THEN '不予受理'
            WHEN {has('trim(b.status_raw)', st['pending'])} THEN '在办'
            WHEN {has('trim(b.status_raw)', st['returned'])} THEN '退回'
            WHEN {has('trim(b.status_raw)', st['transferred'])} THEN '转报'
            WHEN {has('trim(b.status_raw)', st['awaiting_delivery'])} THEN '待送达'
            WHEN {has('trim(b.status_raw)', st['closed'])} THEN '办结'
            WHEN {has('trim(b.status_raw)', st['open'])} THEN '在办' END AS status_read,
       r.days AS rules_sla
FROM c1 a JOIN c2 b ON a.c = b.c
LEFT JOIN d_svc sv ON sv.s = a.s
LEFT JOIN svc_sla r ON r.service = sv.service"""),
            # what the notes need (services whose cases name no acceptance or decision, status texts
            # not understood): aggregates for the notes only, never read back into a case
            ("svc_vocab", SERVICE_VOCAB_SQL),
            ("status_unknown", UNKNOWN_STATUS_SQL),
            ("c4", """
SELECT *, CASE WHEN status = '办结' THEN coalesce(col_finish, step_finish, last_work, last_end) END AS finish_us
FROM (SELECT *,
             NOT has_lifecycle AND status_raw IS NULL AND col_accept IS NULL AND col_finish IS NULL
               AND col_apply IS NULL AND col_deliver IS NULL AS generic,
             status_read = '待送达' AS awaiting_delivery,
             CASE WHEN status_raw IS NOT NULL THEN CASE WHEN status_read = '待送达' THEN '办结'
                                                        ELSE coalesce(status_read, '不明') END
                  WHEN step_withdrawn THEN '撤回'
                  WHEN step_rejected THEN '不予受理'
                  WHEN coalesce(col_finish, step_finish) IS NOT NULL OR has_delivery OR col_deliver IS NOT NULL
                    OR NOT has_lifecycle THEN '办结'
                  ELSE '在办' END AS status
      FROM c3) t"""),
            ("c5", """
SELECT *,
       CASE WHEN status IN ('办结', '在办') AND accept_us IS NOT NULL THEN true ELSE false END AS accepted
FROM (SELECT *,
             CASE WHEN status = '不予受理' THEN NULL
                  ELSE coalesce(col_accept, step_accept, CASE WHEN generic THEN first_ts END,
                                CASE WHEN status = '办结' THEN coalesce(step_receive, first_ts) END) END AS accept_us,
             col_accept IS NULL AND step_accept IS NULL AND NOT generic AND status = '办结' AS fallback_accept,
             coalesce(col_apply, step_apply, first_ts) AS apply_us,
             coalesce(col_deliver, step_deliver) AS deliver_us,
             step_receive AS receive_us
      FROM c4) t""")]


def limits() -> list[tuple[str, str]]:
    """The promise (承诺时限) and the statutory limit (法定时限) of each case, each in
    one unit: working days (§82), calendar days or calendar months (民法典 §201–§203);
    a promise may also be an explicit due date. 延期 (§42) extends the statutory limit
    only, by the length its step names, else the 延期 column states, else §42's 10 working
    days; in the unit stated (``extension_kind``): working days (``extension_days``),
    calendar days (``extension_calendar_days``) or calendar months (``extension_months``).
    The rules' per-service limit stands in for a promise when the case has none."""
    return [("c6", """
SELECT *,
       CASE WHEN extension_kind = 'work'
            THEN CASE WHEN named_kind = 'work' THEN extension_named
                      WHEN named_kind IS NULL AND column_kind = 'work' THEN col_extension ELSE 10.0 END
       END AS extension_days,
       CASE WHEN extension_kind = 'calendar'
            THEN CASE WHEN named_kind = 'calendar' THEN extension_named_cal ELSE col_extension_cal END
       END AS extension_calendar_days,
       CASE WHEN extension_kind = 'month'
            THEN CASE WHEN named_kind = 'month' THEN extension_named_months ELSE col_extension_months END
       END AS extension_months
FROM (SELECT *,
       CASE WHEN step_extension OR column_kind IS NOT NULL THEN coalesce(named_kind, column_kind, 'work') END
         AS extension_kind
FROM (SELECT *,
       CASE WHEN sla_days IS NOT NULL THEN 'work' WHEN cal IS NOT NULL THEN 'calendar'
            WHEN months IS NOT NULL THEN 'month' WHEN col_due IS NOT NULL THEN 'due' END AS promise_kind,
       CASE WHEN stat IS NOT NULL THEN 'work' WHEN stat_cal IS NOT NULL THEN 'calendar'
            WHEN stat_months IS NOT NULL THEN 'month' END AS statutory_kind,
       -- the unit of the length the extension's step names, else of the 延期 column's value
       CASE WHEN extension_named IS NOT NULL THEN 'work' WHEN extension_named_cal IS NOT NULL THEN 'calendar'
            WHEN extension_named_months IS NOT NULL THEN 'month' END AS named_kind,
       CASE WHEN col_extension IS NOT NULL THEN 'work' WHEN col_extension_cal IS NOT NULL THEN 'calendar'
            WHEN col_extension_months IS NOT NULL THEN 'month' END AS column_kind
FROM (SELECT *,
             CASE WHEN sla IS NULL AND cal IS NULL AND months IS NULL AND col_due IS NULL AND limit_text IS NULL
                  THEN rules_sla ELSE sla END AS sla_days
      FROM c5) t) k) e""")]


def pauses() -> list[tuple[str, str]]:
    """Clock pauses (§45, and §32's correction): a special-procedure step, a correction
    recorded as one step spanning the applicant's wait (补正, 补正期间), or from a request (特别程序申请,
    中止, 补正告知) to its close (the result, 恢复, the applicant handing the materials
    in); clipped to the clock [受理, its end] and merged where they overlap. An opening
    at or after 受理 with no close (``unclosed``) makes a decided case's clock unknown; an open case with one
    is ``in_pause`` (a special-procedure step still without its end is one)."""
    def pair(o: str, c: str) -> str:
        # each opening step is matched to the first closing step at or after it (none: not resumed)
        return f"""
SELECT o.c, o.t AS p_from, min(x.t) AS p_to
FROM (SELECT f.c, f.en_us AS t, f.pos FROM facts f JOIN acts2 v ON v.a = f.a WHERE v.{o} AND f.en_us IS NOT NULL) o
LEFT JOIN (SELECT f.c, f.en_us AS t FROM facts f JOIN acts2 v ON v.a = f.a WHERE v.{c} AND f.en_us IS NOT NULL) x
       ON x.c = o.c AND x.t >= o.t
GROUP BY o.c, o.t, o.pos"""
    return [("pauses", f"""
SELECT f.c, f.ts_us AS p_from, f.e_us AS p_to FROM facts f JOIN acts2 v ON v.a = f.a
WHERE v.special_single OR v.correction_single
UNION ALL {pair('special_open', 'special_close')}
UNION ALL {pair('notice_open', 'notice_close')}"""),
            ("pause_blocks", """
SELECT c, min(a) AS a, max(b) AS b
FROM (SELECT *, sum(CASE WHEN prev_b IS NULL OR a > prev_b THEN 1 ELSE 0 END)
                  OVER (PARTITION BY c ORDER BY a, b ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS block
      FROM (SELECT *, max(b) OVER (PARTITION BY c ORDER BY a, b
                                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_b
            FROM (SELECT p.c, greatest(p.p_from, k.accept_us) AS a,
                         least(coalesce(p.p_to, k.clock_end), k.clock_end) AS b
                  FROM pauses p JOIN c6c k ON k.c = p.c
                  WHERE k.accepted AND k.clock_end IS NOT NULL) x
            WHERE b > a) y) z
GROUP BY c, block"""),
            ("unclosed", """
SELECT p.c, count(*) AS n FROM pauses p JOIN c6c k ON k.c = p.c
WHERE p.p_to IS NULL AND k.accepted AND p.p_from >= k.accept_us AND (k.finish_us IS NULL OR p.p_from <= k.finish_us)
GROUP BY p.c"""),
            ("paused", """
SELECT p.c, sum(cb.cum_workdays - ca.cum_workdays) AS paused_days,
       sum(""" + day('p.b') + " - " + day('p.a') + """) AS paused_cal
FROM pause_blocks p LEFT JOIN calendar ca ON ca.d = """ + day('p.a') + """
LEFT JOIN calendar cb ON cb.d = """ + day('p.b') + """
GROUP BY p.c""")]


def clock(cal: WorkCalendar, as_of_us: int) -> list[tuple[str, str]]:
    """The clock: working days from 受理 to 办结 (or to the as-of time for an open case),
    from the working day after 受理 (``first_day``), minus the working days paused; and
    the last day of each limit counted as the law counts it (``promise_due_d``,
    ``statutory_due_d``, day numbers):

    - working days: the day the clock reaches the limit (pauses and 延期 added);
    - calendar days: 受理's day + n (the day of 受理 not counted, §201), plus the
      calendar days paused, moved to the next working day when it is a rest day (§203);
    - months: the corresponding day of the expiry month, its last day when it has none
      (§202), moved to the next working day (§203), then the working days paused added;
    - a due date column: its day."""
    first = "1" if cal.first_day == "include" else "0"
    def work_due(limit: str, extra: str, alias: str) -> str:
        # the working day whose cumulative count is 受理's + the limit + pauses (+ 延期)
        inc = f"(CASE WHEN ca.is_workday AND {first} = 1 THEN 1 ELSE 0 END)"
        return (f"LEFT JOIN calendar {alias} ON {alias}.is_workday AND {alias}.cum_workdays = "
                f"ca.cum_workdays - {inc} + CAST(ceil({limit}) AS BIGINT) + CAST(coalesce(p.paused_days, 0) AS BIGINT)"
                f" + CAST(ceil({extra}) AS BIGINT)")
    return [("c6c", f"""
SELECT *, CASE WHEN accepted THEN CASE WHEN status = '办结' THEN finish_us ELSE {int(as_of_us)} END END AS clock_end
FROM c6"""),
            ("c7", f"""
SELECT c.*,
       u.n IS NOT NULL AND c.status = '办结' AS pause_unclosed,
       u.n IS NOT NULL AND c.status = '在办' AS in_pause,
       CASE WHEN c.accepted THEN {nonneg(working_days('ca', 'ce', cal) + ' - coalesce(p.paused_days, 0)')} END AS clock_gross,
       CASE WHEN c.accepted THEN coalesce(p.paused_days, 0) END AS paused_days,
       CASE WHEN c.accepted AND c.clock_end IS NOT NULL
            THEN {day('c.clock_end')} - {day('c.accept_us')} - coalesce(p.paused_cal, 0) END AS cal_clock,
       CASE WHEN c.accepted AND c.clock_end IS NOT NULL THEN {day('c.clock_end')} END AS end_d,
       cq.cum_workdays AS asof_cum,
       CASE WHEN c.accepted AND c.clock_end IS NOT NULL
            THEN {day('c.clock_end')} = {day('c.accept_us')} ELSE false END AS same_day,
       CASE WHEN c.intake_at IS NOT NULL AND c.finish_us IS NOT NULL
            THEN {day('c.intake_at')} = {day('c.finish_us')} ELSE false END AS decided_at_intake,
       {working_days('cap', 'cle', cal)} AS lead_days,
       CASE WHEN c.promise_kind = 'work' THEN pw.d
            WHEN c.promise_kind = 'calendar' THEN pc.next_wd
            WHEN c.promise_kind = 'month' THEN CASE WHEN coalesce(p.paused_days, 0) = 0 THEN pm.due_d ELSE pmx.d END
            WHEN c.promise_kind = 'due' THEN {day('c.col_due')} END AS promise_due_d,
       CASE WHEN c.statutory_kind = 'work' THEN sw.d
            WHEN c.statutory_kind = 'calendar' THEN CASE WHEN coalesce(c.extension_days, 0) = 0 THEN sc.next_wd
                                                         ELSE scx.d END
            WHEN c.statutory_kind = 'month' THEN CASE WHEN coalesce(p.paused_days, 0) + coalesce(c.extension_days, 0) = 0
                                                      THEN sm.due_d ELSE smx.d END END AS statutory_due_w
FROM c6c c
LEFT JOIN paused p ON p.c = c.c
LEFT JOIN unclosed u ON u.c = c.c
{_cal_join('ca', 'c.accept_us')}
{_cal_join('ce', 'c.clock_end')}
{_cal_join('cq', str(int(as_of_us)))}
{_cal_join('cap', 'c.apply_us')}
{_cal_join('cle', 'coalesce(c.deliver_us, c.last_end)')}
{work_due('c.sla_days', '0', 'pw')}
{work_due('c.stat', 'coalesce(c.extension_days, 0)', 'sw')}
LEFT JOIN calendar pc ON pc.d = {day('c.accept_us')} + CAST(c.cal AS BIGINT) + CAST(coalesce(p.paused_cal, 0) AS BIGINT)
LEFT JOIN calendar sc ON sc.d = {day('c.accept_us')} + CAST(c.stat_cal AS BIGINT) + CAST(coalesce(p.paused_cal, 0) AS BIGINT)
LEFT JOIN calendar sc0 ON sc0.d = sc.next_wd
LEFT JOIN calendar scx ON scx.is_workday AND scx.cum_workdays = sc0.cum_workdays + CAST(ceil(coalesce(c.extension_days, 0)) AS BIGINT)
LEFT JOIN month_due pm ON pm.d = {day('c.accept_us')} AND pm.months = c.months
LEFT JOIN calendar pm0 ON pm0.d = pm.due_d
LEFT JOIN calendar pmx ON pmx.is_workday AND pmx.cum_workdays = pm0.cum_workdays + CAST(coalesce(p.paused_days, 0) AS BIGINT)
LEFT JOIN month_due sm ON sm.d = {day('c.accept_us')} AND sm.months = c.stat_months
LEFT JOIN calendar sm0 ON sm0.d = sm.due_d
LEFT JOIN calendar smx ON smx.is_workday AND smx.cum_workdays = sm0.cum_workdays + CAST(coalesce(p.paused_days, 0) AS BIGINT)
                           + CAST(ceil(coalesce(c.extension_days, 0)) AS BIGINT)"""),
            # an extension in calendar days or months runs on from the statutory limit's last
            # day: n days on, or the corresponding day n months on (§201–§202), moved to the
            # next working day when it is a rest day (§203)
            ("c7x", """
SELECT c.*,
       CASE WHEN c.extension_kind = 'calendar' THEN xc.next_wd
            WHEN c.extension_kind = 'month' THEN xm.due_d ELSE c.statutory_due_w END AS statutory_due_d
FROM c7 c
LEFT JOIN calendar xc ON xc.d = c.statutory_due_w + CAST(ceil(c.extension_calendar_days) AS BIGINT)
LEFT JOIN month_due xm ON xm.d = c.statutory_due_w AND xm.months = c.extension_months""")]


def outcome(rules: Rules) -> list[tuple[str, str]]:
    """Against each limit: over the promise and over the statutory limit (the only
    legal breach), early, and the working days left. A working-day limit compares the
    clock with the limit; a date limit compares the clock's last day with the limit's
    last day. The outcome is against the promise when there is one, else the statutory
    limit: 即办 (promise 0: decided on the day of 受理) / 提前 / 按时 / 超期 for a decided
    case, 办结 without a limit; 在办 / 超期在办 for an open one; 未受理, 撤回, 作废, 退回,
    转报 as the status says; 计时不明 when a pause was never closed or the decision is dated
    before the acceptance (a day earlier: the times contradict each other); 状态不明 when the
    status text is not understood."""
    def over(kind: str, limit: str, due: str, extra: str = "0") -> str:
        return (f"CASE WHEN {kind} = 'work' THEN clock_days > {limit} + {extra} "
                f"WHEN {kind} IS NOT NULL THEN end_d > {due} END")

    def early(kind: str, limit: str, due: str) -> str:
        return (f"CASE WHEN {kind} = 'work' THEN clock_days < {limit} "
                f"WHEN {kind} IS NOT NULL THEN end_d < {due} END")

    def left(kind: str, limit: str, due: str, extra: str = "0") -> str:
        # working days left: the limit less the clock, or the working days from the as-of day to the last day
        return (f"CASE WHEN {kind} = 'work' THEN {limit} + {extra} - clock_days "
                f"WHEN {kind} IS NOT NULL THEN CAST(lc_{due}.cum_workdays - asof_cum AS DOUBLE) END")
    return [("c8", f"""
SELECT c.*,
       CASE WHEN c.promise_kind = 'work' AND c.sla_days = 0 THEN NOT c.same_day
            ELSE {over('c.promise_kind', 'c.sla_days', 'c.promise_due_d')} END AS over_p,
       CASE WHEN c.promise_kind = 'work' AND c.sla_days = 0 THEN false
            ELSE {early('c.promise_kind', 'c.sla_days', 'c.promise_due_d')} END AS early_p,
       {left('c.promise_kind', 'c.sla_days', 'p')} AS left_p,
       {over('c.s_kind', 'c.stat', 'c.statutory_due_d', 'coalesce(c.extension_days, 0)')} AS over_s,
       {early('c.s_kind', 'c.stat', 'c.statutory_due_d')} AS early_s,
       {left('c.s_kind', 'c.stat', 's', 'coalesce(c.extension_days, 0)')} AS left_s
FROM (SELECT *, CASE WHEN pause_unclosed OR decided_before_accept THEN NULL ELSE clock_gross END AS clock_days,
             -- a working-day statutory limit extended in calendar days or months is judged by its last day
             CASE WHEN statutory_kind = 'work' AND extension_kind IN ('calendar', 'month') THEN 'date'
                  ELSE statutory_kind END AS s_kind
      FROM (SELECT *, coalesce(status = '办结' AND {day('finish_us')} < {day('accept_us')}, false) AS decided_before_accept
            FROM c7x) k) c
LEFT JOIN calendar lc_p ON lc_p.d = c.promise_due_d
LEFT JOIN calendar lc_s ON lc_s.d = c.statutory_due_d"""),
            ("c9", """
SELECT *,
       promise_kind IS NOT NULL OR statutory_kind IS NOT NULL AS has_limit,
       promise_kind = 'work' AND coalesce(sla_days = 0, false) AS instant,
       coalesce(CASE WHEN promise_kind IS NOT NULL THEN over_p ELSE over_s END, false) AS over,
       coalesce(CASE WHEN promise_kind IS NOT NULL THEN early_p ELSE early_s END, false) AS early,
       CASE WHEN promise_kind IS NOT NULL THEN left_p ELSE left_s END AS left_days,
       -- working days past the limit the outcome is judged against (the clock less the limit,
       -- or the working days from the limit's last day to the clock's)
       CASE WHEN coalesce(CASE WHEN promise_kind IS NOT NULL THEN over_p ELSE over_s END, false)
            THEN CASE WHEN coalesce(promise_kind, statutory_kind) = 'work' AND promise_kind IS NOT NULL
                      THEN clock_days - sla_days
                      WHEN promise_kind IS NULL AND s_kind = 'work'
                      THEN clock_days - stat - coalesce(extension_days, 0)
                      ELSE -CASE WHEN promise_kind IS NOT NULL THEN left_p ELSE left_s END END END AS over_days,
       -- trips can be counted: 是否到场 given, or the intake is known and, once decided, how the
       -- result reached the applicant (a pick-up or remote delivery, or decided at the intake visit)
       in_person_known OR (intake_known AND (status <> '办结' OR delivery_mode_known OR decided_at_intake))
         AS visits_known
FROM c8""")]


def cases_table(rules: Rules, as_of_us: int, cal: WorkCalendar | None = None) -> list[tuple[str, str]]:
    """The case table: every per-case fact, named."""
    DAY_OFFICE = float((cal or WorkCalendar()).office_hours_per_day * HOUR_US)  # noqa: N806 µs in an office day
    return [("cases", f"""
SELECT i.case_id, c.service, c.events, c.departments,
       CAST(CASE WHEN c.visits_known THEN coalesce(v.visits, 0) END AS BIGINT) AS visits,
       CAST(CASE WHEN c.visits_known THEN coalesce(v.intake_visits, 0) END AS BIGINT) AS intake_visits,
       CAST(CASE WHEN c.visits_known THEN coalesce(v.correction_visits, 0) END AS BIGINT) AS correction_visits,
       CAST(CASE WHEN c.visits_known THEN coalesce(v.pickup_visits, 0) END AS BIGINT) AS pickup_visits,
       coalesce(h.submitted, 0) AS materials_submitted,
       coalesce(h.distinct_materials, 0) AS distinct_materials,
       coalesce(h.submitted, 0) - coalesce(h.distinct_materials, 0) AS repeated_material_submissions,
       c.apply_us, c.receive_us, c.accept_us, c.finish_us, c.deliver_us, c.status, c.status_raw AS status_text,
       coalesce(c.awaiting_delivery, false) AS awaiting_delivery,
       c.clock_days, c.paused_days, c.sla_days, c.cal AS sla_calendar_days, c.months AS sla_months,
       c.stat AS statutory_days, c.stat_cal AS statutory_calendar_days, c.stat_months AS statutory_months,
       c.extension_days, c.extension_kind, c.extension_calendar_days, c.extension_months,
       c.promise_kind, c.statutory_kind,
       CAST(c.promise_due_d AS BIGINT) AS promise_due_d, CAST(c.statutory_due_d AS BIGINT) AS statutory_due_d,
       c.limit_text,
       CASE WHEN c.status = '撤回' THEN '撤回'
            WHEN c.status = '作废' THEN '作废'
            WHEN c.status = '不予受理' THEN '未受理'
            WHEN c.status = '退回' THEN '退回'
            WHEN c.status = '转报' THEN '转报'
            WHEN c.status = '不明' THEN '状态不明'
            WHEN c.status = '在办' AND NOT c.accepted THEN '在办'
            WHEN c.accepted AND c.clock_days IS NULL THEN '计时不明'
            WHEN c.status = '在办' AND c.over AND c.has_limit THEN '超期在办'
            WHEN c.status = '在办' THEN '在办'
            WHEN c.status = '办结' AND NOT c.has_limit THEN '办结'
            WHEN c.status = '办结' AND c.instant AND NOT c.over THEN '即办'
            WHEN c.status = '办结' AND c.over THEN '超期'
            WHEN c.status = '办结' AND c.early THEN '提前'
            WHEN c.status = '办结' THEN '按时'
            ELSE '在办' END AS outcome,
       CASE WHEN c.accepted AND c.clock_days IS NOT NULL AND c.promise_kind IS NOT NULL AND c.status IN ('办结', '在办')
            THEN coalesce(c.over_p, false) END AS over_promise,
       CASE WHEN c.accepted AND c.clock_days IS NOT NULL AND c.statutory_kind IS NOT NULL AND c.status IN ('办结', '在办')
            THEN coalesce(c.over_s, false) END AS over_statute,
       coalesce(c.status = '在办' AND c.accepted AND c.has_limit AND NOT c.over AND c.clock_days IS NOT NULL
                AND c.left_days <= {float(rules.warn_days)}, false) AS due_soon,
       CASE WHEN c.status = '在办' AND c.accepted AND c.has_limit THEN c.left_days END AS days_left,
       CASE WHEN c.status IN ('办结', '在办') AND c.accepted THEN c.over_days END AS days_over,
       CASE WHEN c.status = '在办' AND c.accepted AND c.statutory_kind IS NOT NULL THEN c.left_s END
         AS statutory_days_left,
       {hours3('coalesce(c.deliver_us, c.last_end) - c.apply_us')} AS lead_hours,
       c.lead_days,
       {hours3('c.waiting_us')} AS waiting_hours, {hours3('c.waiting_work_us')} AS waiting_work_hours,
       {hours3('c.service_us')} AS service_hours, {hours3('c.service_work_us')} AS service_work_hours,
       c.case_start AS case_start_us, c.last_end AS case_end_us,
       c.fallback_accept, c.pause_unclosed, c.in_pause, c.correction_requested, c.correction_notices,
       c.online_app AND NOT c.intake_trip AS online,
       dd.department AS deciding_department,
       CASE WHEN c.status = '在办' THEN hd.department END AS holding_department,
       c.took_part AS departments_took_part,
       -- 好差评: the latest rating's level; a 差评 ever given stays one (a re-rating does not erase it)
       c.rating_raw AS rating_text, {rating_level('c.rating_raw')} AS rating_level,
       c.ratings_seen AS ratings_given, c.rated_bad_ever AS rated_bad,
       {rating_level('c.rating_raw')} >= {float(rules.ratings['good_min_level'])} AND NOT c.rated_bad_ever AS rated_good,
       c.rated_bad_ever AND (c.rectify_us IS NOT NULL OR {has('c.rectify_raw', rules.ratings['rectified_status'])})
         AS rectified,
       CASE WHEN c.rated_bad_ever AND c.rectify_us IS NOT NULL AND c.rating_first_us IS NOT NULL
            THEN CAST(cx.cum_workdays - cr.cum_workdays AS DOUBLE) END AS rectify_days,
       CASE WHEN c.rated_bad_ever AND c.rating_first_us IS NOT NULL
            THEN CAST(cq.cum_workdays - cr.cum_workdays AS DOUBLE) END AS days_since_rating,
       c.c
FROM c9 c JOIN d_case i ON i.c = c.c
{_cal_join('cr', 'c.rating_first_us')}
{_cal_join('cx', 'c.rectify_us')}
{_cal_join('cq', str(int(as_of_us)))}
LEFT JOIN (SELECT c, max(visit) AS visits,
                  count(DISTINCT CASE WHEN trip_kind = 'intake' THEN visit END) AS intake_visits,
                  count(DISTINCT CASE WHEN trip_kind = 'correction' THEN visit END) AS correction_visits,
                  count(DISTINCT CASE WHEN trip_kind = 'pickup' THEN visit END) AS pickup_visits
           FROM trips GROUP BY c) v ON v.c = c.c
LEFT JOIN (SELECT c, CAST(sum(n) AS BIGINT) AS submitted, count(*) AS distinct_materials
           FROM (SELECT c, material, count(*) AS n FROM docs GROUP BY c, material) m GROUP BY c) h ON h.c = c.c
LEFT JOIN d_dept dd ON dd.d = CASE WHEN c.status = '办结' THEN coalesce(c.dec_d_step, c.dec_d_last) END
LEFT JOIN d_dept hd ON hd.d = c.hold_d"""),
            # where the clock went: the office working time of each department's steps inside the
            # clock (受理 → 办结, or the as-of time), pause steps excluded, in working days, by
            # service and department, for late cases and the others
            ("dept_time", f"""
SELECT sv.service, dp.department, t.late, count(DISTINCT t.c) AS cases, sum(t.us) / {DAY_OFFICE} AS working_days
FROM (SELECT f.c, f.s, f.d, k.outcome IN ('超期', '超期在办') AS late,
             CASE WHEN f.office THEN coalesce(f.wait_work_us, 0) ELSE 0 END + coalesce(f.service_work_us, 0) AS us
      FROM facts f JOIN cases k ON k.c = f.c LEFT JOIN acts2 v ON v.a = f.a
      WHERE k.accept_us IS NOT NULL AND f.en_us > k.accept_us
        AND f.ts_us <= coalesce(k.finish_us, {int(as_of_us)}) AND NOT coalesce(v.special_single OR v.correction_single, false)) t
LEFT JOIN d_svc sv ON sv.s = t.s LEFT JOIN d_dept dp ON dp.d = t.d
GROUP BY sv.service, dp.department, t.late"""),
            # a service's trips can be counted when some case's can (for the notes)
            ("svc_trips", """
SELECT coalesce(service, '') AS service, bool_or(visits IS NOT NULL) AS known FROM cases GROUP BY 1"""),
            # a step over its own limit (环节时限, working days): from its start (else its end) to its
            # end, or to the as-of time while it runs in an open case
            ("step_over", f"""
SELECT i.case_id, sv.service, ac.activity, dp.department, t.pos, t.s_us, t.e_us, t.step_days, t.step_sla_days,
       t.step_days - t.step_sla_days AS days_over
FROM (SELECT f.c, f.s, f.a, f.d, f.pos, f.s_us, f.e_us, f.step_sla_days,
             {working_days('cs', 'ce', cal or WorkCalendar())} AS step_days
      FROM (SELECT f.*, coalesce(f.s_us, f.e_us) AS from_us,
                   CASE WHEN f.e_us IS NOT NULL THEN f.e_us WHEN k.status = '在办' THEN {int(as_of_us)} END AS to_us
            FROM facts f JOIN cases k ON k.c = f.c WHERE f.step_sla_days IS NOT NULL) f
      {_cal_join('cs', 'f.from_us')} {_cal_join('ce', 'f.to_us')}) t
JOIN d_case i ON i.c = t.c LEFT JOIN d_svc sv ON sv.s = t.s LEFT JOIN acts ac ON ac.a = t.a
LEFT JOIN d_dept dp ON dp.d = t.d
WHERE t.step_days > t.step_sla_days""")]


def steps(rules: Rules, cal: WorkCalendar, as_of_us: int) -> list[tuple[str, str]]:
    """The definitions as an ordered list of (table, SELECT), unit by unit."""
    return (vocabulary(rules) + events(rules, cal) + trips_and_documents(rules) + lifecycle(rules) + limits()
            + clock(cal, as_of_us)[:1] + pauses() + clock(cal, as_of_us)[1:] + outcome(rules) + cases_table(rules, as_of_us, cal))


def intervals_sql(cal: WorkCalendar, source: str = "pairs") -> str:
    """Working days (the clock's rule), working days between (start day excluded) and
    working hours for pairs ``i, s_us, e_us`` of local-time microseconds: the same
    lookups as the definitions above, for callers with timestamps of their own."""
    worked = nonneg(office_us("p.e_us", "ce", cal) + " - " + office_us("p.s_us", "cs", cal))
    return f"""
SELECT p.i, {working_days('cs', 'ce', cal)} AS working_days,
       {working_days('cs', 'ce', cal, first_day=False)} AS days_between,
       {hours(worked)} AS working_hours
FROM {source} p {_cal_join('cs', 'p.s_us')} {_cal_join('ce', 'p.e_us')}
WHERE p.s_us IS NOT NULL AND p.e_us IS NOT NULL"""


# The per-event columns the findings read (hours as doubles, see ``hours``).
FACT_COLUMNS = ("case_id, service, activity, department, s_us, e_us, ts_us, pos, trip, trip_kind, trip_at_us, "
                f"trip_until_us, {hours('wait_us')} AS wait_hours, {hours('wait_work_us')} AS wait_work_hours, "
                f"wait_owner, {hours('service_us')} AS service_hours, "
                f"{hours('service_work_us')} AS service_work_hours, "
                "sla_days, channel_online, in_person_known")  # documents: the handovers table


# The steps that read the events of one case at a time (and the per-case steps over them
# alone). On a log far beyond memory the embedded engine runs them block by block of case
# codes, each block's rows appended to the tables (``procmine.engine.metrics._run``): every other
# step runs once, over the whole, the steps before the first of these before the blocks and
# the rest after them, in their order.
BY_CASE = ("ev1", "ev2w", "ev2", "facts", "trips", "docs", "c1", "rated", "c2", "pauses")

# Tables no later step reads, dropped once the step named has run (the engine's memory
# goes to what is still to come).
DONE_AFTER = {"facts": ("ev2w",), "c3": ("c1", "c2", "rated"), "paused": ("pauses", "pause_blocks"),
              "cases": ("c3", "paused", "unclosed")}

# Steps that are views (cheap to recompute, not worth their memory): the per-event
# classification joined into the event order, and the per-case steps between tables.
VIEWS = frozenset({"acts2", "chans", "ev1", "ev2", "c4", "c5", "c6", "c6c", "c7", "c7x", "c8", "c9", "handovers"})

# ``facts`` with its names (case id, service, step, department) joined back from the codes.
FACTS_NAMED = """(SELECT f.*, i.case_id, sv.service, ac.activity, dp.department, f.en_us AS trip_until_us,
        CASE WHEN f.office THEN 'office' ELSE 'applicant' END AS wait_owner
 FROM facts f JOIN d_case i ON i.c = f.c LEFT JOIN d_svc sv ON sv.s = f.s LEFT JOIN acts ac ON ac.a = f.a
 LEFT JOIN d_dept dp ON dp.d = f.d) facts"""

# Tables a caller may still read once the definitions have run, kept until the engine closes
# (the per-event table and the dictionaries that name it).
KEEP = frozenset({"facts", "acts", "d_case", "d_svc", "d_dept"})


# Aggregates the Python side needs besides the tables (notes, limits not understood): the
# steps svc_vocab and status_unknown.
SERVICE_VOCAB_SQL = """
SELECT coalesce(service, '') AS service,
       bool_or(step_accept IS NOT NULL OR col_accept IS NOT NULL OR NOT has_lifecycle) AS accepts,
       bool_or(step_finish IS NOT NULL OR col_finish IS NOT NULL OR NOT has_lifecycle) AS finishes
FROM c3 GROUP BY 1"""

UNKNOWN_STATUS_SQL = """
SELECT trim(status_raw) AS text, count(*) AS cases FROM c3
WHERE status_raw IS NOT NULL AND status_read IS NULL GROUP BY 1"""

SPAN_SQL = """
SELECT least(min(s_us), min(e_us), min(apply_us), min(accept_us), min(finish_us), min(deliver_us), min(due_us)) AS lo,
       greatest(max(s_us), max(e_us), max(apply_us), max(accept_us), max(finish_us), max(deliver_us)) AS hi,
       max(due_us) AS due_hi, min(rating_us) AS rate_lo, greatest(max(rating_us), max(rectify_us)) AS rate_hi,
       count(*) AS n
FROM ev"""


def extension_reach_sql(rules: Rules) -> str:
    """The longest extension in calendar months and in calendar days a case of the log
    states (its step's name or the 延期 column), NULL when none: how far the calendar and
    the month table must reach past the limits' last days."""
    ext = rules.lifecycle["extension"]
    return f"""
SELECT max(m) AS months, max(d) AS days FROM (
  SELECT CASE WHEN {has('activity', EXT_MONTH)} THEN {numeral(f"regexp_extract(activity, {lit(EXT_MONTH)}, 1)")} END AS m,
         CASE WHEN {has('activity', EXT_CAL)} THEN {numeral(f"regexp_extract(activity, {lit(EXT_CAL)}, 1)")} END AS d
  FROM (SELECT DISTINCT activity FROM ev) a WHERE {has('activity', ext)}
  UNION ALL
  SELECT extension_months, extension_calendar_days FROM ev
  WHERE extension_months IS NOT NULL OR extension_calendar_days IS NOT NULL) t"""


def matter_days_sql(cal: WorkCalendar) -> str:
    """The working days of each matter (``units``: ``case_id, unit``, a 一件事 instance of
    several cases), as the applicant lives it: from its first 受理 to its last 办结 (or the
    as-of time), by the clock's rule, less the working days on which a member's clock is
    paused (§45, a correction) and no other member's runs. The days between two members'
    cases (the applicant not yet applying for the next) count: they are the matter's. For a
    matter of one case it is that case's clock."""
    after = ">=" if cal.first_day == "include" else ">"
    return f"""
WITH m AS (
  SELECT u.unit, k.c, {day('k.accept_us')} AS a_d, {day('k.clock_end')} AS e_d
  FROM units u JOIN d_case i ON i.case_id = u.case_id JOIN c6c k ON k.c = i.c
  WHERE k.accepted AND k.clock_end IS NOT NULL),
span AS (SELECT unit, min(a_d) AS lo, max(e_d) AS hi FROM m GROUP BY unit),
idle AS (  -- a day every member whose clock covers it is paused on
  SELECT unit, count(*) AS n FROM (
    SELECT m.unit, w.d
    FROM m JOIN calendar w ON w.is_workday AND w.d {after} m.a_d AND w.d <= m.e_d
    LEFT JOIN pause_blocks p ON p.c = m.c AND w.d > {day('p.a')} AND w.d <= {day('p.b')}
    GROUP BY m.unit, w.d
    HAVING NOT bool_or(p.c IS NULL)) t
  GROUP BY unit)
SELECT s.unit, {working_days('cs', 'ce', cal)} - CAST(coalesce(x.n, 0) AS DOUBLE) AS working_days
FROM span s JOIN calendar cs ON cs.d = s.lo JOIN calendar ce ON ce.d = s.hi
LEFT JOIN idle x ON x.unit = s.unit"""
