"""Every per-event and per-case definition of :mod:`procmine.metrics`, once, as SQL.

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

Small tables registered by :func:`procmine.metrics.measure`:
``calendar(d, is_workday, cum_workdays, cum_office_minutes)`` (d = day number),
``catalogue(name, material)`` (the e-licence catalogue's normalisation of every
document name in the log) and ``svc_sla(service, days)`` (the rules' limits).

Each step is ``(table name, SELECT …)``; engines materialise them in order (the
names in ``VIEWS`` as views) and drop what ``DONE_AFTER`` names once a step has
run. Cases, services, steps and departments are numbered once, in name order
(``d_case``, ``d_svc``, ``acts``, ``d_dept``): ``facts`` and the per-case steps
carry the codes, and names are joined back where a result leaves the engine
(``FACTS_NAMED``, the ``handovers`` view, ``cases``).
The definitions themselves are documented in :mod:`procmine.metrics`.
"""

from __future__ import annotations

from ..rules import Rules
from ..workdays import WorkCalendar

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


def steps(rules: Rules, cal: WorkCalendar, as_of_us: int) -> list[tuple[str, str]]:
    """The definitions as an ordered list of (table, SELECT)."""
    v, lc, st = rules, rules.lifecycle, rules.status
    out: list[tuple[str, str]] = []

    # -- vocabulary: each distinct step name, channel and status text classified once
    # codes: integers numbered in name order (comparing codes compares names); NULL stays NULL
    out.append(("acts", f"""
SELECT activity,
       CASE WHEN activity IS NOT NULL
            THEN CAST(row_number() OVER (ORDER BY activity NULLS LAST) AS BIGINT) END AS a,
       {has('activity', rules.signoff)} AS sign, {has('activity', rules.reject)} AS reject,
       {has('activity', v.staff_travel)} AS staff,
       {has('activity', v.remote_delivery)} AS remote,
       {has('activity', v.pickup)} AND NOT {has('activity', v.remote_delivery)} AS pickup,
       {has('activity', v.correction)} AS correction_raw,
       {has('activity', v.intake)} AS intake_raw,
       {has('activity', v.window_step)} AS window_step,
       {has('activity', v.online_step)} AS online_step_raw,
       {has('activity', lc['accept'])} AND NOT {has('activity', lc['not_accept'])} AS accept_step,
       {has('activity', lc['apply'])} AS apply_raw,
       {has('activity', lc['finish'])} AS finish_step,
       {has('activity', st['not_accepted'])} AS rejected,
       {has('activity', st['withdrawn'])} AS withdrawn,
       {has('activity', lc['special'])}
         AND NOT {has('activity', lc['special_start'] + '|' + lc['special_end'])} AS special_single,
       {has('activity', lc['special_start'])} AS special_open,
       {has('activity', lc['special_end'])} AND NOT {has('activity', lc['special_start'])} AS special_close,
       {has('activity', lc['correction_notice'])} AS notice_open,
       {has('activity', lc['correction_received'])}
         AND NOT {has('activity', lc['correction_notice'])} AS notice_close
FROM (SELECT DISTINCT activity FROM ev) a"""))
    out.append(("acts2", """
SELECT *,
       correction_raw AND NOT pickup AS correction,
       intake_raw AND NOT (correction_raw AND NOT pickup) AND NOT pickup AND NOT remote AND NOT staff AS intake,
       online_step_raw AND NOT window_step AS online_step,
       apply_raw AND NOT accept_step AS apply_step
FROM acts"""))
    out.append(("chans", f"""
SELECT channel, {has('channel', v.online_channel)} AS online_channel
FROM (SELECT DISTINCT channel FROM ev) c"""))
    out.append(("d_svc", """
SELECT service, CAST(row_number() OVER (ORDER BY service) AS BIGINT) AS s
FROM (SELECT DISTINCT service FROM ev WHERE service IS NOT NULL) x"""))
    out.append(("d_dept", """
SELECT department, CAST(row_number() OVER (ORDER BY department) AS BIGINT) AS d
FROM (SELECT DISTINCT department FROM ev WHERE department IS NOT NULL) x"""))
    out.append(("d_case", """
SELECT case_id, CAST(row_number() OVER (ORDER BY case_id NULLS LAST) AS BIGINT) AS c, n
FROM (SELECT case_id, count(*) AS n FROM ev GROUP BY case_id) x"""))  # n: the case's events

    # -- per event, in case/time order (ties keep the export's order)
    out.append(("ev1", f"""
SELECT e.*, coalesce(e.s_us, e.e_us) AS ts_us, coalesce(e.e_us, e.s_us) AS en_us,
       a.a, coalesce(a.sign, false) AS sign, coalesce(a.reject, false) AS reject, a.staff, a.remote, a.pickup, a.correction, a.intake, a.online_step, a.window_step,
       a.accept_step, a.apply_step, a.finish_step, a.rejected, a.withdrawn,
       a.special_single, a.special_open, a.special_close, a.notice_open, a.notice_close,
       coalesce(c.online_channel AND NOT a.window_step, false) AS channel_online,
       a.intake AND NOT a.online_step AS walk_in
FROM ev e
LEFT JOIN acts2 a ON a.activity IS NOT DISTINCT FROM e.activity
LEFT JOIN chans c ON c.channel IS NOT DISTINCT FROM e.channel"""))
    # positions, walk-in rank, previous end and department, and the occurrence of the step
    # in the case (``k``): windows over a narrow projection in codes (the sort carries a few
    # integers, not the whole event), joined back on the order key
    out.append(("ev2w", """
SELECT _o, c, a, d, pos, walk_rank, prev_us, pd,
       CAST(row_number() OVER (PARTITION BY c, a ORDER BY pos) AS BIGINT) AS k  -- pos: the same order, one key
FROM (
SELECT _o, c, a, d,
       CAST(row_number() OVER w - 1 AS BIGINT) AS pos,
       sum(CASE WHEN walk_in THEN 1 ELSE 0 END) OVER (PARTITION BY c ORDER BY ts_us, en_us, _o
                                                      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS walk_rank,
       lag(en_us) OVER w AS prev_us, lag(d) OVER w AS pd
FROM (SELECT k.c, e.a, dp.d, e.ts_us, e.en_us, e._o, e.walk_in FROM ev1 e
      JOIN d_case k ON k.case_id IS NOT DISTINCT FROM e.case_id
      LEFT JOIN d_dept dp ON dp.department = e.department) n
WINDOW w AS (PARTITION BY c ORDER BY ts_us, en_us, _o)) p"""))
    out.append(("ev2", """
SELECT e.*, w.c, w.d, w.pos, w.walk_rank, w.prev_us, w.pd, w.k, sv.s
FROM ev1 e JOIN ev2w w ON w._o = e._o LEFT JOIN d_svc sv ON sv.service = e.service"""))
    om = lambda us, c: office_us(us, c, cal)  # noqa: E731
    out.append(("facts", f"""
SELECT x.c, x.s, x.a, x.d, x.s_us, x.e_us, x.ts_us, x.en_us, x.pos,
       x.trip, x.trip_kind,
       CASE WHEN x.pickup THEN x.en_us ELSE x.ts_us END AS trip_at_us,
       {nonneg('x.ts_us - x.prev_us')} AS wait_us,
       {nonneg('coalesce(x.om_s, x.om_e) - x.om_prev')} AS wait_work_us,  -- ts is the start, else the end
       NOT coalesce(x.pickup OR x.correction, false) AS office,  -- who the wait is on (else the applicant)
       x.e_us - x.s_us AS service_us,
       {nonneg('x.om_e - x.om_s')} AS service_work_us,
       x.materials, x.sla_days, x.channel_online, x.in_person IS NOT NULL AS in_person_known,
       x.apply_us, x.accept_us, x.finish_us, x.deliver_us, x.due_us, x.status,
       x.sla_calendar_days, x.statutory_days, x.limit_text,
       x.pd, x.k, x.sign, x.reject
FROM (
  SELECT e.*,
         CASE WHEN e.in_person IS NOT NULL THEN e.in_person AND NOT e.staff
              ELSE (e.pickup OR e.correction OR (e.walk_in AND e.walk_rank = 1))
                   AND NOT e.channel_online AND NOT e.staff AND NOT e.remote END AS trip,
         CASE WHEN e.staff THEN 'staff_travel' WHEN e.pickup THEN 'pickup' WHEN e.correction THEN 'correction'
              WHEN e.walk_in AND e.walk_rank = 1 THEN 'intake' WHEN e.remote THEN 'remote_delivery'
              WHEN e.intake AND e.online_step THEN 'online_intake' ELSE 'other' END AS trip_kind,
         -- office time (µs since the calendar's first day) at the start, the end and the previous end
         {om('e.s_us', 'cs')} AS om_s, {om('e.e_us', 'ce')} AS om_e, {om('e.prev_us', 'cp')} AS om_prev
  FROM ev2 e
  {_cal_join('cs', 'e.s_us')}
  {_cal_join('ce', 'e.e_us')}
  {_cal_join('cp', 'e.prev_us')}) x"""))

    # -- visits: trips of a case on the same day, one's end at most the gap before the next one's start
    # in codes (case c, service s, step a)
    out.append(("trips", trips_sql(rules.same_visit_gap_hours, names="c, s, a", key="c",
                                   source="(SELECT *, en_us AS trip_until_us FROM facts) f")))
    # a service's trips can be counted when some step is classifiable or 是否到场 has values
    out.append(("svc_trips", """
SELECT coalesce(sv.service, '') AS service, bool_or(f.known) AS known
FROM (SELECT s, bool_or(in_person_known OR channel_online
                        OR trip_kind IN ('intake', 'pickup', 'correction', 'remote_delivery')) AS known
      FROM facts GROUP BY s) f
LEFT JOIN d_svc sv ON sv.s = f.s GROUP BY 1"""))

    # -- documents handed over, after the catalogue's normalisation (``docs`` in codes;
    # ``handovers`` names them)
    out.append(("docs", """
SELECT h.c, h.s, h.a, h.d, h.pos, coalesce(k.material, '') AS material
FROM (SELECT c, s, a, d, pos, unnest(materials) AS name FROM facts) h
LEFT JOIN catalogue k ON k.name = h.name"""))
    out.append(("handovers", """
SELECT i.case_id, sv.service, ac.activity, dp.department, h.pos, h.material, h.c, h.s
FROM docs h JOIN d_case i ON i.c = h.c LEFT JOIN d_svc sv ON sv.s = h.s
LEFT JOIN acts ac ON ac.a = h.a LEFT JOIN d_dept dp ON dp.d = h.d"""))

    # -- per case (by its code ``c``; the id joins back at the end): milestones, status, limits, sums
    out.append(("c1", f"""
SELECT f.c,
       min_by(f.s, f.pos) FILTER (WHERE f.s IS NOT NULL) AS s,
       count(*) AS events,
       min(f.ts_us) AS first_ts,
       greatest(max(f.s_us), max(f.e_us)) AS last_end,
       least(min(f.s_us), min(f.e_us)) AS case_start,
       min(f.en_us) FILTER (WHERE v.accept_step) AS step_accept,
       min(f.ts_us) FILTER (WHERE v.apply_step) AS step_apply,
       max(f.en_us) FILTER (WHERE v.finish_step) AS step_finish,
       max(f.en_us) FILTER (WHERE f.trip_kind IN ('pickup', 'remote_delivery')) AS step_deliver,
       max(f.en_us) FILTER (WHERE f.trip_kind NOT IN ('pickup', 'remote_delivery')) AS last_work,
       bool_or(f.trip_kind IN ('pickup', 'remote_delivery')) AS has_delivery,
       coalesce(bool_or(v.withdrawn), false) AS step_withdrawn,
       coalesce(bool_or(v.rejected), false) AS step_rejected,
       sum(f.wait_us) AS waiting_us, sum(f.wait_work_us) AS waiting_work_us,
       sum(f.service_us) AS service_us, sum(f.service_work_us) AS service_work_us
FROM facts f LEFT JOIN acts2 v ON v.a = f.a GROUP BY f.c"""))
    # the case's columns as exported, and its departments (distinct, counted in two levels: cheaper)
    out.append(("c2", """
SELECT x.*, dd.departments FROM (
  SELECT c,
         min(apply_us) AS col_apply, min(accept_us) AS col_accept, min(due_us) AS col_due,
         max(finish_us) AS col_finish, max(deliver_us) AS col_deliver,
         max_by(status, pos) FILTER (WHERE status IS NOT NULL) AS status_raw,
         max(sla_days) AS sla, max(sla_calendar_days) AS cal, max(statutory_days) AS stat,
         min_by(limit_text, pos) FILTER (WHERE limit_text IS NOT NULL) AS limit_text
  FROM facts GROUP BY c) x
LEFT JOIN (SELECT c, count(*) AS departments FROM (SELECT c, d FROM facts WHERE d IS NOT NULL GROUP BY c, d) y
           GROUP BY c) dd ON dd.c = x.c"""))
    out.append(("c3", f"""
SELECT a.*, b.departments, sv.service, b.col_apply, b.col_accept, b.col_due, b.col_finish, b.col_deliver, b.status_raw,
       b.sla, b.cal, b.stat, b.limit_text,
       CASE WHEN b.status_raw IS NULL THEN NULL
            WHEN {has('trim(b.status_raw)', st['withdrawn'])} THEN '撤回'
            WHEN {has('trim(b.status_raw)', st['not_accepted'])} THEN '不予受理'
            WHEN {has('trim(b.status_raw)', st['open'])} THEN '在办'
            WHEN {has('trim(b.status_raw)', st['closed'])} THEN '办结' END AS status_read,
       bool_or(a.step_accept IS NOT NULL OR b.col_accept IS NOT NULL)
         OVER (PARTITION BY a.s) AS svc_accepts,
       bool_or(a.step_finish IS NOT NULL OR b.col_finish IS NOT NULL)
         OVER (PARTITION BY a.s) AS svc_finishes,
       r.days AS rules_sla
FROM c1 a JOIN c2 b ON a.c = b.c
LEFT JOIN d_svc sv ON sv.s = a.s
LEFT JOIN svc_sla r ON r.service = sv.service"""))
    # what the notes need of c3 (services without an accept or decision step, status texts not
    # understood), kept small so that c3 can go once the clock is computed
    out.append(("svc_vocab", SERVICE_VOCAB_SQL))
    out.append(("status_unknown", UNKNOWN_STATUS_SQL))
    out.append(("c4", """
SELECT *,
       coalesce(status_read,
                CASE WHEN step_withdrawn THEN '撤回' WHEN step_rejected THEN '不予受理' END,
                CASE WHEN finish0 IS NOT NULL THEN '办结' ELSE '在办' END) AS status
FROM (SELECT *,
             CASE WHEN svc_finishes THEN coalesce(col_finish, step_finish)
                  WHEN has_delivery OR NOT svc_accepts THEN coalesce(last_work, last_end) END AS finish0
      FROM c3) t"""))
    out.append(("c5", f"""
SELECT *,
       CASE WHEN status IN ('办结', '在办') AND accept_us IS NOT NULL THEN true ELSE false END AS accepted
FROM (SELECT *,
             CASE WHEN status = '办结' THEN finish0 END AS finish_us,
             CASE WHEN status = '不予受理' THEN NULL
                  WHEN NOT svc_accepts THEN first_ts
                  ELSE coalesce(col_accept, step_accept,
                                CASE WHEN status = '办结' THEN first_ts END) END AS accept_us,
             svc_accepts AND col_accept IS NULL AND step_accept IS NULL AND status = '办结' AS fallback_accept,
             coalesce(col_apply, step_apply, first_ts) AS apply_us,
             coalesce(col_deliver, step_deliver) AS deliver_us,
             CASE WHEN sla IS NULL AND cal IS NULL AND col_due IS NULL AND limit_text IS NULL
                  THEN rules_sla ELSE sla END AS sla_days
      FROM c4) t"""))
    out.append(("c6", f"""
SELECT *, CASE WHEN accepted THEN CASE WHEN status = '办结' THEN finish_us ELSE {int(as_of_us)} END END AS clock_end
FROM c5"""))

    # -- clock pauses: a special-procedure step, or from a request/notice to its result/correction
    def pair(o: str, c: str) -> str:
        # each opening step is matched to the first closing step at or after it (none: not resumed)
        return f"""
SELECT o.c, o.t AS p_from, min(x.t) AS p_to
FROM (SELECT f.c, f.en_us AS t, f.pos FROM facts f JOIN acts2 v ON v.a = f.a WHERE v.{o} AND f.en_us IS NOT NULL) o
LEFT JOIN (SELECT f.c, f.en_us AS t FROM facts f JOIN acts2 v ON v.a = f.a WHERE v.{c} AND f.en_us IS NOT NULL) x
       ON x.c = o.c AND x.t >= o.t
GROUP BY o.c, o.t, o.pos"""
    out.append(("pauses", f"""
SELECT f.c, f.ts_us AS p_from, f.en_us AS p_to FROM facts f JOIN acts2 v ON v.a = f.a WHERE v.special_single
UNION ALL {pair('special_open', 'special_close')}
UNION ALL {pair('notice_open', 'notice_close')}"""))
    # clipped to the clock [accept, clock_end]; overlapping pauses merged
    out.append(("pause_blocks", """
SELECT c, min(a) AS a, max(b) AS b
FROM (SELECT *, sum(CASE WHEN prev_b IS NULL OR a > prev_b THEN 1 ELSE 0 END)
                  OVER (PARTITION BY c ORDER BY a, b ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS block
      FROM (SELECT *, max(b) OVER (PARTITION BY c ORDER BY a, b
                                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_b
            FROM (SELECT p.c, greatest(p.p_from, k.accept_us) AS a,
                         least(coalesce(p.p_to, k.clock_end), k.clock_end) AS b
                  FROM pauses p JOIN c6 k ON k.c = p.c
                  WHERE k.accepted AND k.clock_end IS NOT NULL) x
            WHERE b > a) y) z
GROUP BY c, block"""))
    out.append(("paused", f"""
SELECT p.c, sum({working_days('ca', 'cb', cal, first_day=False)}) AS paused_days,
       sum({day('p.b')} - {day('p.a')}) AS paused_cal
FROM pause_blocks p {_cal_join('ca', 'p.a')} {_cal_join('cb', 'p.b')}
GROUP BY p.c"""))

    # -- the clock and the outcome
    out.append(("c7", f"""
SELECT c.*,
       CASE WHEN c.accepted THEN {nonneg(working_days('ca', 'ce', cal) + ' - coalesce(p.paused_days, 0)')} END AS clock_days,
       CASE WHEN c.accepted THEN coalesce(p.paused_days, 0) END AS paused_days,
       CASE WHEN c.accepted AND c.clock_end IS NOT NULL
            THEN {day('c.clock_end')} - {day('c.accept_us')} - coalesce(p.paused_cal, 0) END AS cal_clock,
       {working_days('cq', 'cd', cal, first_day=False)} AS due_left,
       CASE WHEN c.accepted AND c.clock_end IS NOT NULL
            THEN {day('c.clock_end')} = {day('c.accept_us')} ELSE false END AS same_day,
       CASE WHEN c.col_due IS NOT NULL AND c.clock_end IS NOT NULL
            THEN {day('c.clock_end')} - {day('c.col_due')} END AS due_diff,
       {working_days('cap', 'cle', cal)} AS lead_days
FROM c6 c
LEFT JOIN paused p ON p.c = c.c
{_cal_join('ca', 'c.accept_us')}
{_cal_join('ce', 'c.clock_end')}
{_cal_join('cq', str(int(as_of_us)))}
{_cal_join('cd', 'c.col_due')}
{_cal_join('cap', 'c.apply_us')}
{_cal_join('cle', 'coalesce(c.deliver_us, c.last_end)')}"""))
    out.append(("c8", """
SELECT *,
       sla_days IS NOT NULL OR cal IS NOT NULL OR (col_due IS NOT NULL AND clock_end IS NOT NULL) AS has_limit,
       coalesce(sla_days = 0, false) AS instant,
       CASE WHEN coalesce(sla_days = 0, false) THEN NOT same_day
            ELSE coalesce(CASE WHEN sla_days IS NOT NULL THEN clock_days > sla_days
                               WHEN cal IS NOT NULL THEN cal_clock > cal
                               ELSE due_diff > 0 END, false) END AS over,
       NOT coalesce(sla_days = 0, false)
         AND coalesce(CASE WHEN sla_days IS NOT NULL THEN clock_days < sla_days
                           WHEN cal IS NOT NULL THEN cal_clock < cal
                           ELSE due_diff < 0 END, false) AS early,
       coalesce(CASE WHEN sla_days IS NOT NULL THEN sla_days - clock_days
                     WHEN cal IS NOT NULL THEN cal - cal_clock END,
                CASE WHEN col_due IS NOT NULL THEN due_left END) AS left_days
FROM c7"""))
    out.append(("cases", f"""
SELECT i.case_id, c.service, c.events, c.departments,
       CAST(CASE WHEN coalesce(k.known, false) THEN coalesce(v.visits, 0) END AS BIGINT) AS visits,
       coalesce(h.submitted, 0) AS materials_submitted,
       coalesce(h.distinct_materials, 0) AS distinct_materials,
       coalesce(h.submitted, 0) - coalesce(h.distinct_materials, 0) AS repeated_material_submissions,
       c.apply_us, c.accept_us, c.finish_us, c.deliver_us, c.status,
       c.clock_days, c.paused_days, c.sla_days, c.cal AS sla_calendar_days, c.stat AS statutory_days,
       c.limit_text,
       CASE WHEN c.status = '撤回' THEN '撤回'
            WHEN c.status = '不予受理' THEN '未受理'
            WHEN c.status = '在办' AND NOT c.accepted THEN '在办'
            WHEN c.status = '在办' AND c.over AND c.has_limit THEN '超期在办'
            WHEN c.status = '在办' THEN '在办'
            WHEN c.status = '办结' AND NOT c.has_limit THEN '办结'
            WHEN c.status = '办结' AND c.instant AND NOT c.over THEN '即办'
            WHEN c.status = '办结' AND c.over THEN '超期'
            WHEN c.status = '办结' AND c.early THEN '提前'
            WHEN c.status = '办结' THEN '按时'
            ELSE '在办' END AS outcome,
       coalesce(c.status = '在办' AND c.accepted AND c.has_limit AND NOT c.over
                AND c.left_days <= {float(rules.warn_days)}, false) AS due_soon,
       CASE WHEN c.status = '在办' AND c.accepted AND c.has_limit THEN c.left_days END AS days_left,
       {hours3('coalesce(c.deliver_us, c.last_end) - c.apply_us')} AS lead_hours,
       c.lead_days,
       {hours3('c.waiting_us')} AS waiting_hours, {hours3('c.waiting_work_us')} AS waiting_work_hours,
       {hours3('c.service_us')} AS service_hours, {hours3('c.service_work_us')} AS service_work_hours,
       c.case_start AS case_start_us, c.last_end AS case_end_us,
       c.fallback_accept, c.c
FROM c8 c JOIN d_case i ON i.c = c.c
LEFT JOIN (SELECT c, max(visit) AS visits FROM trips GROUP BY c) v ON v.c = c.c
LEFT JOIN (SELECT c, CAST(sum(n) AS BIGINT) AS submitted, count(*) AS distinct_materials
           FROM (SELECT c, material, count(*) AS n FROM docs GROUP BY c, material) m GROUP BY c) h ON h.c = c.c
LEFT JOIN svc_trips k ON k.service = coalesce(c.service, '')"""))
    return out


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
# codes, each block's rows appended to the tables (``procmine.metrics._run``): every other
# step runs once, over the whole, the steps before the first of these before the blocks and
# the rest after them, in their order.
BY_CASE = ("ev1", "ev2w", "ev2", "facts", "trips", "docs", "c1", "c2", "pauses")

# Tables no later step reads, dropped once the step named has run (the engine's memory
# goes to what is still to come).
DONE_AFTER = {"facts": ("ev2w",), "c3": ("c1", "c2"), "paused": ("pauses", "pause_blocks"),
              "cases": ("c3", "paused")}

# Steps that are views (cheap to recompute, not worth their memory): the per-event
# classification joined into the event order, and the per-case steps between tables.
VIEWS = frozenset({"acts2", "chans", "ev1", "ev2", "c4", "c5", "c6", "c7", "c8", "handovers"})

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
SELECT coalesce(service, '') AS service, bool_or(svc_accepts) AS accepts, bool_or(svc_finishes) AS finishes
FROM c3 GROUP BY 1"""

UNKNOWN_STATUS_SQL = """
SELECT trim(status_raw) AS text, count(*) AS cases FROM c3
WHERE status_raw IS NOT NULL AND status_read IS NULL GROUP BY 1"""

SPAN_SQL = """
SELECT least(min(s_us), min(e_us), min(apply_us), min(accept_us), min(finish_us), min(deliver_us), min(due_us)) AS lo,
       greatest(max(s_us), max(e_us), max(apply_us), max(accept_us), max(finish_us), max(deliver_us)) AS hi,
       max(due_us) AS due_hi, count(*) AS n
FROM ev"""
