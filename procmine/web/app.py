"""The workbench's web application (Starlette + Jinja2 + htmx).

Every page builds one context object — plain JSON-able data — and renders it
either as HTML (``/cases``) or as its JSON twin (``/cases.json``). Every page asks
:mod:`procmine.web.scope` what the signed-in user may see; a case outside it is
404, the same answer as a case that does not exist, and the body names nothing.
"""

from __future__ import annotations

import contextlib
import io
import math
import re
import secrets
import tempfile
import threading
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from jinja2 import Environment, FileSystemLoader
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from ..analysis.kinds import registered
from ..errors import ProcmineError
from ..messages import localized
from ..privacy import is_applicant_column
from .auth import CSRF_FIELD, CSRF_HEADER, Throttle, csrf_ok, csrf_token
from .project import Analysis, Project
from .scope import ROLES, TOOK_PART, Actor, may_view, scope_cases, took_part_mask

HERE = Path(__file__).parent
PAGE_ROWS = 50
CARD_ROWS = 200
FINDING_ROWS = 100
UPLOAD_SUFFIXES = (".xlsx", ".xls", ".xlsm", ".csv")
MAX_UPLOAD_BYTES = 512 * 2**20
SESSION_MAX_AGE = 8 * 3600
DIMENSIONS = {"trips": "减跑动", "documents": "减材料", "steps": "减环节", "time": "减时间"}
UNITS = {"trips": "次跑动", "documents": "份材料", "steps": "个环节", "work_hours": "工作小时", "working_days": "个工作日",
         "cases": "件"}
SEVERITY = {"high": "高", "medium": "中", "low": "低"}
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


@dataclass
class WebConfig:
    """How the workbench runs (no hidden globals: one object, passed in)."""

    secure_cookies: bool = False               # behind TLS: the session cookie is sent over HTTPS only
    user_header: str | None = None             # trust this header for the user name (统一身份认证) …
    trusted_proxies: tuple[str, ...] = ()      # … only from these client addresses
    login_limit: int = 5                       # failed logins per account or address …
    login_window_s: float = 900.0              # … within this window, then 429
    throttle: Throttle | None = field(default=None, repr=False)


# ----------------------------------------------------------------------------- plain data


def plain(v):
    """A value as JSON-able data: timestamps as ISO text, NA/NaN as None, arrays as lists."""
    if isinstance(v, dict):
        return {str(k): plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, np.ndarray):
        return [plain(x) for x in v.tolist()]
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return None if not math.isfinite(f) else (int(f) if f.is_integer() else round(f, 4))
    if isinstance(v, (int, str)):
        return v
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return str(v)


def records(frame: pd.DataFrame, columns: list[str] | None = None) -> list[dict]:
    cols = [c for c in (columns or list(frame.columns)) if c in frame.columns]
    return [plain(dict(zip(cols, row))) for row in frame[cols].itertuples(index=False, name=None)]


CASE_COLUMNS = ["case_id", "service", "status", "outcome", "visits", "events", "materials_submitted",
                "repeated_material_submissions", "accept_time", "finish_time", "clock_days", "paused_days",
                "sla_days", "statutory_days", "days_left", "lead_days", "waiting_work_hours", TOOK_PART,
                "deciding_department", "holding_department"]


# ----------------------------------------------------------------------------- the app


class Workbench:
    def __init__(self, project: Project, config: WebConfig) -> None:
        self.project = project
        self.config = config
        self.throttle = config.throttle or Throttle(config.login_limit, config.login_window_s)
        env = Environment(loader=FileSystemLoader(str(HERE / "templates")), autoescape=True,
                          trim_blocks=True, lstrip_blocks=True)
        env.filters.update(pct=_pct, num=_num, day=_day, q=lambda s: urllib.parse.quote(str(s), safe=""))
        env.globals.update(ROLES=ROLES, DIMENSIONS=DIMENSIONS, UNITS=UNITS, SEVERITY=SEVERITY)
        self.templates = Jinja2Templates(env=env)

    # -- who is asking ----------------------------------------------------------------
    def actor(self, request: Request) -> Actor | None:
        if self.config.user_header and request.client and request.client.host in self.config.trusted_proxies:
            name = request.headers.get(self.config.user_header)
            if name:
                user = self.project.users.get(name.strip())
                return user.actor() if user else None
        name = request.session.get("user")
        if not name:
            return None
        user = self.project.users.get(name)
        if user is None or request.session.get("gen") != user.generation:
            return None
        return user.actor()

    def client_address(self, request: Request) -> str:
        """The client's address: the peer's, or — from a configured proxy — the last address its
        X-Forwarded-For names that is not a proxy of ours (so that one client's failed logins do not
        lock out everyone behind the proxy)."""
        peer = request.client.host if request.client else "?"
        if peer not in self.config.trusted_proxies:
            return peer
        hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
        for hop in reversed(hops):
            if hop not in self.config.trusted_proxies:
                return hop
        return peer

    # -- rendering ---------------------------------------------------------------------
    def page(self, request: Request, template: str, ctx: dict, actor: Actor | None, status: int = 200,
             version: str | None = None) -> Response:
        data = plain(ctx)
        if actor is not None and actor.masked and version is not None:
            data = self.project.masker(version).data(data)
        if request.url.path.endswith(".json"):
            return JSONResponse(data, status_code=status)
        return self.templates.TemplateResponse(request, template, {
            "d": data, "user": actor, "csrf": csrf_token(request.session), "path": request.url.path,
            "query": request.url.query}, status_code=status)

    def error(self, request: Request, status: int, message: str) -> Response:
        if request.url.path.endswith(".json"):
            return JSONResponse({"error": message}, status_code=status)
        return self.templates.TemplateResponse(request, "error.html", {
            "d": {"status": status, "message": message}, "user": None, "csrf": csrf_token(request.session),
            "path": request.url.path}, status_code=status)


def _pct(v) -> str:
    return "—" if v is None else f"{float(v):.1%}"


def _num(v, nd: int = 1) -> str:
    if v is None:
        return "—"
    f = float(v)
    return f"{f:,.0f}" if f.is_integer() else f"{f:,.{nd}f}"


def _day(v) -> str:
    return "—" if not v else str(v)[:16].replace("T", " ")


def create_app(project_dir: str | Path, config: WebConfig | None = None) -> Starlette:
    """The workbench over one project folder."""
    project = Project.open(project_dir)
    config = config or WebConfig()
    wb = Workbench(project, config)

    def signed_in(handler):
        async def endpoint(request: Request) -> Response:
            actor = wb.actor(request)
            if actor is None:
                if request.url.path.endswith((".json", ".csv")):
                    return wb.error(request, 401, "请先登录")
                return RedirectResponse("/login", status_code=303)
            request.state.actor = actor
            return await handler(request, actor)
        return endpoint

    async def analysis(actor: Actor) -> Analysis | None:
        return await run_in_threadpool(project.analysis, actor)

    async def checked_form(request: Request):
        form = await request.form(max_files=50, max_part_size=2**20)
        sent = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
        if not csrf_ok(request.session, sent if isinstance(sent, str) else None):
            raise HTTPException(403, "表单已过期或来源不明，请刷新页面后重试")
        return form

    # -- login ---------------------------------------------------------------------
    async def login_page(request: Request) -> Response:
        return wb.page(request, "login.html", {"error": None}, None)

    async def login(request: Request) -> Response:
        form = await checked_form(request)
        name = str(form.get("username", "")).strip()[:64]
        password = str(form.get("password", ""))
        keys = (f"user:{name}", f"addr:{wb.client_address(request)}")
        if wb.throttle.blocked(*keys):
            request.state.who, request.state.what = name or None, "throttled"
            return wb.page(request, "login.html", {"error": "登录失败次数过多，请 15 分钟后再试"}, None, status=429)
        user = await run_in_threadpool(project.users.verify, name, password)
        if user is None:
            wb.throttle.fail(*keys)
            request.state.who, request.state.what = name or None, "wrong password"
            return wb.page(request, "login.html", {"error": "用户名或密码错误"}, None, status=401)
        wb.throttle.clear(f"user:{name}")
        request.session.clear()  # a new session: no fixation
        request.session.update({"user": user.name, "gen": user.generation, "csrf": secrets.token_urlsafe(32)})
        request.state.what = "signed in"
        return RedirectResponse("/overview", status_code=303)

    async def logout(request: Request) -> Response:
        await checked_form(request)
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    async def home(request: Request) -> Response:
        return RedirectResponse("/overview", status_code=303)

    # -- overview ------------------------------------------------------------------
    async def overview(request: Request, actor: Actor) -> Response:
        a = await analysis(actor)
        if a is None:
            return wb.page(request, "overview.html", {"empty": True}, actor)
        c = a.cases
        rows = []
        for service, m in sorted(a.metrics.items()):
            rows.append({"service": service, **{k: m.get(k) for k in (
                "cases", "steps_per_case", "documents_per_case", "repeated_submissions", "median_clock_days",
                "median_sla_days", "at_most_once_rate", "zero_trip_rate", "average_visits", "on_time_rate",
                "open_overdue")}})
        outcomes = c["outcome"].value_counts().to_dict() if len(c) else {}
        ctx = {"empty": False, "version": a.version, "as_of": a.as_of, "scope": _scope_label(actor),
               "totals": {"cases": int(len(c)), "services": int(c["service"].nunique()) if len(c) else 0,
                          "events": int(c["events"].sum()) if len(c) else 0,
                          "visits": int(c["visits"].dropna().sum()) if len(c) else 0,
                          "overdue": int(outcomes.get("超期", 0)), "open_overdue": int(outcomes.get("超期在办", 0)),
                          "red": int((a.alerts["level"] == "红牌").sum()),
                          "yellow": int((a.alerts["level"] == "黄牌").sum())},
               "outcomes": outcomes, "services": rows,
               "top_findings": [_finding_brief(f) for f in a.findings[:5]],
               "actions": _actions(a.findings), "notes": a.notes}
        return wb.page(request, "overview.html", ctx, actor, version=a.version)

    # -- findings --------------------------------------------------------------------
    async def findings(request: Request, actor: Actor) -> Response:
        a = await analysis(actor)
        if a is None:
            return wb.page(request, "findings.html", {"empty": True, "findings": []}, actor)
        dim = request.query_params.get("dimension", "")
        service = request.query_params.get("service", "")
        rows = [f for f in a.findings if (not dim or f["dimension"] == dim) and (not service or f["service"] == service)]
        page_no, pages = _page(request, len(rows), FINDING_ROWS)
        ctx = {"empty": False, "dimension": dim, "service": service, "total": len(rows), "page": page_no,
               "pages": pages, "query": urllib.parse.urlencode({k: v for k, v in (("dimension", dim),
                                                                                   ("service", service)) if v}),
               "findings": [_finding_brief(f) for f in rows[(page_no - 1) * FINDING_ROWS: page_no * FINDING_ROWS]],
               "services": sorted(a.metrics)}
        return wb.page(request, "findings.html", ctx, actor, version=a.version)

    async def finding(request: Request, actor: Actor) -> Response:
        a = await analysis(actor)
        fid = request.path_params["fid"]
        f = next((x for x in (a.findings if a else []) if x["id"] == fid), None)
        if f is None:
            raise HTTPException(404)
        by_id = project.whole(a.version).cases.set_index("case_id", drop=False)
        evidence = [cid for cid in f.get("evidence", []) if cid in by_id.index and may_view(actor, by_id.loc[cid])]
        cases = records(by_id.loc[evidence], CASE_COLUMNS) if evidence else []
        # the cases behind it, as far as the case table can tell, through the cases page (in scope)
        q = {"service": f["service"]}
        if f["kind"] == "sla_overrun":
            q["outcome"] = "超期"
        elif f["kind"] == "open_overdue":
            q["outcome"] = "超期在办"
        elif f.get("activity") and f["kind"] in {k.name for k in registered() if k.step_activity}:
            q["step"] = f["activity"]
        ctx = {"finding": {k: v for k, v in f.items() if k != "evidence"}, "evidence": cases,
               "related": "/cases?" + urllib.parse.urlencode(q)}
        return wb.page(request, "finding.html", ctx, actor, version=a.version)

    # -- cases -------------------------------------------------------------------------
    def filtered(a: Analysis, actor: Actor, qp) -> tuple[pd.DataFrame, dict]:
        c = a.memo.get("scoped")
        if c is None:  # the scope's table already; asked again, as everywhere (once per analysis)
            c = a.memo["scoped"] = scope_cases(actor, a.cases)
        f = {k: str(qp.get(k, ""))[:200] for k in ("service", "outcome", "department", "q", "step", "next",
                                                    "variant")}
        if f["service"]:
            c = c[c["service"].astype(str) == f["service"]]
        if f["outcome"]:
            c = c[c["outcome"].astype(str) == f["outcome"]]
        if f["department"] and TOOK_PART in c:
            c = c[took_part_mask(c, f["department"])]
        if f["q"]:
            c = c[c["case_id"].astype(str).str.contains(f["q"], regex=False, na=False)]
        if f["step"]:  # the cases through a step of the map, or through one of its edges (step → next)
            steps = project.steps_index(a.version)
            hit = steps["activity"] == f["step"]
            if f["next"]:
                hit &= steps["next"] == f["next"]
            c = c[_among(c["case_id"], set(steps.loc[hit, "case_id"].tolist()))]
        if f["variant"]:  # the cases of one variant (numbered as on the variants page of the same service)
            chosen = [v for v in project.variants(actor, f["service"] or None) if str(v["n"]) == f["variant"]]
            c = c[_among(c["case_id"], set(chosen[0]["case_ids"]) if chosen else set())]
        return c, f

    async def variants_view(request: Request, actor: Actor) -> Response:
        a = await analysis(actor)
        if a is None:
            return wb.page(request, "variants.html", {"empty": True}, actor)
        service = str(request.query_params.get("service", ""))[:200]
        rows = await run_in_threadpool(project.variants, actor, service or None)
        shown = [{k: v for k, v in r.items() if k != "case_ids"} for r in rows[:200]]
        ctx = {"empty": False, "service": service, "total": len(rows), "variants": shown,
               "services": sorted(a.cases["service"].dropna().astype(str).unique().tolist())}
        return wb.page(request, "variants.html", ctx, actor, version=a.version)

    async def cases(request: Request, actor: Actor) -> Response:
        a = await analysis(actor)
        if a is None:
            return wb.page(request, "cases.html", {"empty": True}, actor)
        c, f = filtered(a, actor, request.query_params)
        page_no, pages = _page(request, len(c), PAGE_ROWS)
        shown = c.iloc[(page_no - 1) * PAGE_ROWS: page_no * PAGE_ROWS]
        choices = a.memo.get("choices")
        if choices is None:
            deps = (a.cases[TOOK_PART].explode().dropna().astype(str).unique().tolist() if TOOK_PART in a.cases
                    else [])
            choices = a.memo["choices"] = {
                "service": sorted(a.cases["service"].dropna().astype(str).unique().tolist()),
                "outcome": sorted(a.cases["outcome"].dropna().astype(str).unique().tolist()),
                "department": sorted(deps)}
        ctx = {"empty": False, "filters": f, "total": int(len(c)), "page": page_no, "pages": pages,
               "query": urllib.parse.urlencode({k: v for k, v in f.items() if v}),
               "cases": records(shown, CASE_COLUMNS), "choices": choices}
        return wb.page(request, "cases.html", ctx, actor, version=a.version)

    def visible_case(a: Analysis | None, actor: Actor, case_id: str) -> pd.Series:
        """The case table's row of ``case_id`` if ``actor`` may see it; 404 otherwise (the same as no such case)."""
        if a is None:
            raise HTTPException(404)
        whole = project.whole(a.version)  # looked up among all cases; may_view decides
        c = whole.cases
        at = whole.memo.get("at")
        if at is None:
            at = whole.memo["at"] = {cid: i for i, cid in enumerate(c["case_id"].astype(str).tolist())}
        hit = c.iloc[[at[case_id]]] if case_id in at else c.iloc[[]]
        if hit.empty and actor.masked:  # an auditor's links carry the masked id
            masker = project.masker(a.version)
            hit = c[[masker.text(str(x)) == case_id for x in c["case_id"]]]
        if hit.empty or not may_view(actor, hit.iloc[0]):
            raise HTTPException(404)
        return hit.iloc[0]

    async def case(request: Request, actor: Actor) -> Response:
        a = await analysis(actor)
        row = visible_case(a, actor, request.path_params["case_id"])
        cid = str(row["case_id"])
        events, facts = await run_in_threadpool(lambda: (project.events({cid}), project.facts(a.version, cid)))
        steps = []
        ev = events.reset_index(drop=True)
        fx = facts.reset_index(drop=True)
        same = len(ev) == len(fx) and list(ev["activity"].astype(str)) == list(fx["activity"].astype(str))
        for i in range(len(ev)):
            e = ev.iloc[i]
            step = {"activity": e.get("activity"), "department": e.get("department"), "resource": e.get("resource"),
                    "start": e.get("start_time"), "end": e.get("end_time"), "channel": e.get("channel"),
                    "documents": list(e["materials"]) if "materials" in ev and e["materials"] is not None else []}
            if same:
                x = fx.iloc[i]
                step.update({"wait_work_hours": x.get("wait_work_hours"), "wait_hours": x.get("wait_hours"),
                             "wait_owner": x.get("wait_owner"), "service_work_hours": x.get("service_work_hours"),
                             "trip": bool(x.get("trip")), "trip_kind": x.get("trip_kind")})
            steps.append(step)
        rating = {}
        for col in ("rating", "rating_time", "rating_channel", "rating_text", "rectify_status", "rectify_time"):
            if col in ev:
                vals = ev[col].dropna()
                if len(vals):
                    rating[col] = vals.iloc[0]
        applicant = {c: ev[c].dropna().iloc[0] for c in ev.columns
                     if is_applicant_column(c) and ev[c].notna().any()}
        docs = [d for s in steps for d in s["documents"]]
        ctx = {"case": plain({k: row.get(k) for k in list(a.cases.columns)}), "steps": steps, "rating": rating,
               "applicant": applicant, "documents": sorted(set(docs)), "documents_handed": len(docs),
               "alerts": records(a.alerts[a.alerts["case_id"].astype(str) == cid])}
        request.state.what = f"case {cid}"
        return wb.page(request, "case.html", ctx, actor, version=a.version)

    async def case_csv(request: Request, actor: Actor) -> Response:
        a = await analysis(actor)
        row = visible_case(a, actor, request.path_params["case_id"])
        cid = str(row["case_id"])
        events = await run_in_threadpool(project.events, {cid})
        events = events.assign(materials=events["materials"].map(lambda v: "；".join(v) if v is not None else ""))
        request.state.what = f"export case {cid}"
        return csv_response(events, f"case-{secrets.token_hex(2)}.csv", actor, a.version)

    def csv_response(frame: pd.DataFrame, name: str, actor: Actor, version: str) -> Response:
        if actor.masked:
            frame = project.masker(version).frame(frame)
        frame = frame.copy()
        for col in frame.columns:  # a cell starting with = + - @ would be a formula in Excel
            if frame[col].dtype == object or isinstance(frame[col].dtype, pd.StringDtype):
                frame[col] = frame[col].map(lambda v: "'" + v if isinstance(v, str) and v[:1] in "=+-@\t\r" else v)
        buf = io.StringIO()
        frame.to_csv(buf, index=False)
        return Response(("\ufeff" + buf.getvalue()).encode("utf-8"), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    async def download_cases(request: Request, actor: Actor) -> Response:
        a = await analysis(actor)
        if a is None:
            raise HTTPException(404)
        c, _ = filtered(a, actor, request.query_params)
        out = c.copy()
        for col in (TOOK_PART,):
            if col in out:
                out[col] = out[col].map(lambda v: "、".join(str(x) for x in v) if v is not None else "")
        request.state.what = f"export {len(out)} cases"
        return csv_response(out, "cases.csv", actor, a.version)

    # -- 好差评 -------------------------------------------------------------------------
    async def ratings(request: Request, actor: Actor) -> Response:
        a = await analysis(actor)
        if a is None or not a.ratings:
            return wb.page(request, "ratings.html", {"empty": a is None, "ratings": None}, actor)
        visible = a.ids()  # the scope's cases; any other row is dropped
        r = dict(a.ratings)
        for key in ("not_rectified", "rectified_late"):
            r[key] = [row for row in r.get(key, []) if str(row.get("case_id")) in visible]
        return wb.page(request, "ratings.html", {"empty": False, "ratings": r}, actor, version=a.version)

    # -- 一件事 -------------------------------------------------------------------------
    async def bundles(request: Request, actor: Actor) -> Response:
        a = await analysis(actor)
        if a is None or not a.bundles:
            return wb.page(request, "bundles.html", {"empty": a is None, "bundles": None}, actor)
        visible = a.ids()  # an instance shows only the cases in scope
        inst = []
        for row in a.bundles["instances"]:
            members = [c for c in row.get("members", []) if c in visible]
            if members:
                inst.append(dict(row, members=members))
        cand = [dict(row, evidence=[c for c in (row.get("evidence") or []) if c in visible])
                for row in a.bundles["candidates"]]
        return wb.page(request, "bundles.html", {"empty": False, "bundles": {"instances": inst, "candidates": cand}},
                       actor, version=a.version)

    # -- maps --------------------------------------------------------------------------
    async def process_map(request: Request, actor: Actor) -> Response:
        a = await analysis(actor)
        if a is None:
            return wb.page(request, "map.html", {"empty": True}, actor)
        qp = request.query_params
        view = qp.get("view", "activity")
        view = view if view in ("activity", "department") else "activity"
        f = {"view": view, **{k: str(qp.get(k, ""))[:200] for k in ("service", "outcome", "department")}}
        for k in ("from", "to"):
            v = str(qp.get(k, ""))
            f[k] = v if re.fullmatch(r"\d{4}-\d{2}-\d{2}", v) else ""
        v = str(qp.get("variants", ""))
        f["variants"] = v if re.fullmatch(r"[1-9]\d{0,3}", v) else ""
        error = None
        try:
            data = await run_in_threadpool(project.process_map, actor, view, f["service"], f["from"], f["to"],
                                           int(f["variants"]) if f["variants"] else None, f["outcome"] or None,
                                           f["department"] or None)
        except ProcmineError as exc:
            data, error = {}, exc.message
        base = {k: v for k, v in f.items() if k in ("service", "outcome") and v}
        for node in data.get("nodes", []):
            q = {"department": node["name"]} if view == "department" else {"step": node["name"]}
            node["link"] = "/cases?" + urllib.parse.urlencode({**base, **q})
        for edge in data.get("edges", []):
            if view == "activity":
                edge["link"] = "/cases?" + urllib.parse.urlencode({**base, "step": edge["source"], "next": edge["target"]})
        ctx = {"empty": False, "filters": f, "error": error, "map": data,
               "services": sorted(a.cases["service"].dropna().astype(str).unique().tolist()),
               "outcomes": sorted(a.cases["outcome"].dropna().astype(str).unique().tolist()),
               "departments": sorted(a.cases[TOOK_PART].explode().dropna().astype(str).unique().tolist())
               if TOOK_PART in a.cases else []}
        return wb.page(request, "map.html", ctx, actor, status=400 if error else 200, version=a.version)

    async def download_report(request: Request, actor: Actor) -> Response:
        fmt = request.path_params["fmt"]
        if fmt not in ("xlsx", "html"):
            raise HTTPException(404)
        service = str(request.query_params.get("service", ""))[:200] or None
        path = await run_in_threadpool(project.report, actor, fmt, service)
        if path is None:
            raise HTTPException(404)
        request.state.what = f"export report.{fmt}" + (f" of {service}" if service else "")
        media = ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" if fmt == "xlsx"
                 else "text/html; charset=utf-8")
        return Response(path.read_bytes(), media_type=media,
                        headers={"Content-Disposition": f'attachment; filename="report.{fmt}"'})

    # -- 督办清单 ----------------------------------------------------------------------
    async def cards(request: Request, actor: Actor) -> Response:
        a = await analysis(actor)
        if a is None:
            return wb.page(request, "cards.html", {"empty": True}, actor)
        al = a.alerts
        al = al[_among(al["case_id"], a.ids())]  # the scope's cases: a card of any other is dropped
        dep = str(request.query_params.get("department", ""))[:200]
        if dep:
            al = al[al["department"].astype(str) == dep]
        page_no, pages = _page(request, len(al), CARD_ROWS)
        ctx = {"empty": False, "as_of": a.as_of, "department": dep,
               "red": int((al["level"] == "红牌").sum()), "yellow": int((al["level"] == "黄牌").sum()),
               "steps_over": int((al["level"] == "环节超时").sum()), "total": int(len(al)),
               "page": page_no, "pages": pages,
               "alerts": records(al.iloc[(page_no - 1) * CARD_ROWS: page_no * CARD_ROWS]),
               "by_department": a.by_department}
        return wb.page(request, "cards.html", ctx, actor, version=a.version)

    async def download_cards(request: Request, actor: Actor) -> Response:
        a = await analysis(actor)
        if a is None:
            raise HTTPException(404)
        al = a.alerts[_among(a.alerts["case_id"], a.ids())]
        request.state.what = f"export {len(al)} cards"
        return csv_response(al, "cards.csv", actor, a.version)

    # -- indicators ----------------------------------------------------------------------
    async def indicators_view(request: Request, actor: Actor) -> Response:
        a = await analysis(actor)
        if a is None:
            return wb.page(request, "indicators.html", {"empty": True}, actor)
        ind = a.indicators
        keys = list(ind.get("labels", {}))
        ctx = {"empty": False, "as_of": a.as_of, "columns": keys, "labels": ind.get("labels", {}),
               "formulas": ind.get("formulas", {}), "service": ind.get("service", []),
               "department": ind.get("department", []), "reasons": ind.get("reasons", []),
               "monthly": ind.get("monthly", []), "month_basis": ind.get("month_basis", {})}
        return wb.page(request, "indicators.html", ctx, actor, version=a.version)

    # -- upload ------------------------------------------------------------------------
    def upload_state() -> dict:
        """What the upload page says about the project's dataset."""
        return {"has_log": project.has_log(), "legacy": project.legacy_log(),
                "dataset_version": project.dataset_version(), "source": _source_label(project)}

    async def upload_page(request: Request, actor: Actor) -> Response:
        if not actor.may_import:
            raise HTTPException(404)
        return wb.page(request, "upload.html", {"result": None, "error": None, **upload_state()}, actor)

    async def upload(request: Request, actor: Actor) -> Response:
        if not actor.may_import:
            raise HTTPException(404)
        form = await checked_form(request)
        files = [f for f in form.getlist("files") if hasattr(f, "filename") and f.filename]
        if not files:
            return wb.page(request, "upload.html", {"result": None, "error": "请选择要导入的 Excel 或 CSV 文件",
                                                    **upload_state()}, actor, status=400)
        with tempfile.TemporaryDirectory(prefix="procmine-upload-") as tmp:
            paths, total = [], 0
            for i, f in enumerate(files):
                name = Path(str(f.filename).replace("\\", "/")).name
                if not name.lower().endswith(UPLOAD_SUFFIXES) or name.startswith("."):
                    return wb.page(request, "upload.html", {
                        "result": None, "error": f"不支持的文件类型：{name}（请上传 .xlsx、.xls 或 .csv）",
                        **upload_state()}, actor, status=400)
                dest = Path(tmp) / f"{i:02d}" / name
                dest.parent.mkdir()
                with open(dest, "wb") as out:
                    while chunk := await f.read(2**20):
                        total += len(chunk)
                        if total > MAX_UPLOAD_BYTES:
                            return wb.page(request, "upload.html", {
                                "result": None, "error": f"上传文件过大（上限 {MAX_UPLOAD_BYTES // 2**20} MB）",
                                **upload_state()}, actor, status=400)
                        out.write(chunk)
                paths.append(dest)
            try:
                result = await run_in_threadpool(project.import_files, paths, form.get("replace") == "1")
            except ProcmineError as exc:
                # the message names the file as uploaded, not where this server kept it
                message = re.sub(re.escape(tmp) + r"/\d\d/", "", str(exc))
                request.state.what = f"import refused: {message.splitlines()[0]}"
                return wb.page(request, "upload.html", {"result": None, "error": message,
                                                        **upload_state()}, actor, status=400)
        return await imported(request, actor, result, f"imported {len(files)} files")

    async def import_source(request: Request, actor: Actor) -> Response:
        if not actor.may_import:
            raise HTTPException(404)
        form = await checked_form(request)
        try:
            result = await run_in_threadpool(project.import_source, form.get("replace") == "1")
        except ProcmineError as exc:
            request.state.what = f"database import refused: {exc.message.splitlines()[0]}"
            return wb.page(request, "upload.html", {"result": None, "error": str(exc), **upload_state()}, actor, status=400)
        return await imported(request, actor, result, "imported the database source")

    async def imported(request: Request, actor: Actor, result, what: str) -> Response:
        await analysis(actor)  # the new version's case table and findings, computed once now
        threading.Thread(target=project.warm, name="procmine-warm", daemon=True).start()  # the departments' too
        d = result.to_dict()
        # every row read is new, updated, already present (also an exact duplicate) or rejected
        summary = {k: d[k] for k in ("version", "rows_read", "new", "updated", "present", "rejected", "events",
                                     "cases", "cases_new", "cases_updated")}
        summary["notes"] = localized(result.notes, "zh")  # the page is Chinese: a note said in the catalogue's zh
        used = sum(s.rows_used for s in result.sheets)
        summary.update(balanced=result.balanced, created=result.created, rows_used=used,
                       duplicates=result.duplicates,
                       rows_balanced=result.rows_read == used + result.duplicates + result.rejected,
                       sheets=[{"file": s.file, "sheet": s.sheet, "rows_read": s.rows_read, "rows_used": s.rows_used,
                                "duplicates": s.duplicates, "rejected": s.rejected,
                                "service_from": localized([s.service_from], "zh")[0]}
                               for s in result.sheets],
                       skipped=[{"file": s.file, "sheet": s.sheet, "reason": s.reason} for s in result.skipped])
        request.state.what = f"{what}, {d['events']} events"
        return wb.page(request, "upload.html", {"result": summary, "error": None, **upload_state()}, actor)

    async def download_rejects(request: Request, actor: Actor) -> Response:
        path = project.root / "log.rejects.csv"
        if not actor.may_import or not path.is_file():
            raise HTTPException(404)
        request.state.what = "export rejects"
        return Response(path.read_bytes(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="rejects.csv"'})

    # -- accounts ------------------------------------------------------------------------
    async def users_page(request: Request, actor: Actor, error: str | None = None, status: int = 200) -> Response:
        if not actor.may_manage_users:
            raise HTTPException(404)
        rows = [{"name": u.name, "role": u.role, "role_label": ROLES[u.role], "department": u.department}
                for u in project.users.all()]
        return wb.page(request, "users.html", {"users": rows, "error": error}, actor, status=status)

    async def users_add(request: Request, actor: Actor) -> Response:
        if not actor.may_manage_users:
            raise HTTPException(404)
        form = await checked_form(request)
        try:
            await run_in_threadpool(project.users.add, str(form.get("username", "")), str(form.get("password", "")),
                                    str(form.get("role", "")), str(form.get("department", "")))
        except ProcmineError as exc:
            return await users_page(request, actor, error=exc.message, status=400)
        request.state.what = f"added account {form.get('username')}"
        return RedirectResponse("/users", status_code=303)

    async def users_remove(request: Request, actor: Actor) -> Response:
        if not actor.may_manage_users:
            raise HTTPException(404)
        form = await checked_form(request)
        name = str(form.get("username", ""))
        if name == actor.name:
            return await users_page(request, actor, error="不能删除当前登录的账号", status=400)
        project.users.remove(name)
        request.state.what = f"removed account {name}"
        return RedirectResponse("/users", status_code=303)

    async def password_page(request: Request, actor: Actor, error: str | None = None, done: bool = False,
                            status: int = 200) -> Response:
        return wb.page(request, "password.html", {"error": error, "done": done}, actor, status=status)

    async def password_change(request: Request, actor: Actor) -> Response:
        form = await checked_form(request)
        old, new = str(form.get("old", "")), str(form.get("new", ""))
        if new != str(form.get("again", "")):
            return await password_page(request, actor, error="两次输入的新密码不一致", status=400)
        if await run_in_threadpool(project.users.verify, actor.name, old) is None:
            return await password_page(request, actor, error="当前密码不正确", status=400)
        try:
            await run_in_threadpool(project.users.set_password, actor.name, new)
        except ProcmineError as exc:
            return await password_page(request, actor, error=exc.message, status=400)
        user = project.users.get(actor.name)
        request.session.update({"gen": user.generation})  # this session stays; every other one is signed out
        request.state.what = "changed own password"
        return await password_page(request, actor, done=True)

    async def api_page(request: Request, actor: Actor) -> Response:
        return wb.page(request, "api.html", {}, actor)

    # -- errors ---------------------------------------------------------------------------
    async def http_error(request: Request, exc: HTTPException) -> Response:
        messages = {404: "未找到：页面不存在，或不在您的权限范围内", 403: exc.detail if exc.detail else "禁止访问",
                    405: "不支持的请求方法", 401: "请先登录"}
        return wb.error(request, exc.status_code, messages.get(exc.status_code, "请求有误"))

    async def procmine_error(request: Request, exc: ProcmineError) -> Response:
        return wb.error(request, 500, str(exc))

    J = signed_in
    routes = [
        Route("/", home),
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/overview", J(overview)), Route("/overview.json", J(overview)),
        Route("/findings", J(findings)), Route("/findings.json", J(findings)),
        Route("/findings/{fid:int}.json", J(finding)), Route("/findings/{fid:int}", J(finding)),
        Route("/cases", J(cases)), Route("/cases.json", J(cases)),
        # a case id may hold "/" (sent as %2F, which the server decodes before routing) and any other
        # character: the id is the rest of the path; its .json / .csv twin is the id with that suffix
        Route("/cases/{case_id:path}.json", J(case)), Route("/cases/{case_id:path}.csv", J(case_csv)),
        Route("/cases/{case_id:path}", J(case)),
        Route("/cards", J(cards)), Route("/cards.json", J(cards)),
        Route("/map", J(process_map)), Route("/map.json", J(process_map)),
        Route("/variants", J(variants_view)), Route("/variants.json", J(variants_view)),
        Route("/ratings", J(ratings)), Route("/ratings.json", J(ratings)),
        Route("/bundles", J(bundles)), Route("/bundles.json", J(bundles)),
        Route("/indicators", J(indicators_view)), Route("/indicators.json", J(indicators_view)),
        Route("/download/cases.csv", J(download_cases)), Route("/download/cards.csv", J(download_cards)),
        Route("/download/rejects.csv", J(download_rejects)),
        Route("/download/report.{fmt:str}", J(download_report)),
        Route("/upload", J(upload_page), methods=["GET"]), Route("/upload", J(upload), methods=["POST"]),
        Route("/import-source", J(import_source), methods=["POST"]),
        Route("/users", J(users_page), methods=["GET"]), Route("/users", J(users_add), methods=["POST"]),
        Route("/users/remove", J(users_remove), methods=["POST"]),
        Route("/api", J(api_page)),
        Route("/password", J(password_page), methods=["GET"]), Route("/password", J(password_change), methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    middleware = [
        Middleware(SecurityHeaders),
        Middleware(SessionMiddleware, secret_key=project.secret_key(), session_cookie="procmine_session",
                   max_age=SESSION_MAX_AGE, same_site="strict", https_only=config.secure_cookies),
        Middleware(AccessLog, project=project),
    ]
    @contextlib.asynccontextmanager
    async def lifespan(app):
        # every scope with an account computed in the background, before its first page asks
        threading.Thread(target=project.warm, name="procmine-warm", daemon=True).start()
        yield

    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan,
                    exception_handlers={HTTPException: http_error, ProcmineError: procmine_error})
    app.state.workbench = wb
    return app


def _among(values: pd.Series, ids) -> np.ndarray:
    """Which of ``values`` (case ids) are in the set ``ids`` (a Python set: fast for any size)."""
    return np.fromiter((str(v) in ids for v in values.tolist()), dtype=bool, count=len(values))


def _page(request: Request, rows: int, per_page: int) -> tuple[int, int]:
    """The page asked for (1 if it is not a number; the last if past it) and the number of pages."""
    try:
        page_no = max(1, int(request.query_params.get("page", "1")))
    except ValueError:
        page_no = 1
    pages = max(1, math.ceil(rows / per_page))
    return min(page_no, pages), pages


def _source_label(project: Project) -> str | None:
    """The configured database source as shown (the URL without any password in it)."""
    src = project.source()
    if src is None:
        return None
    url = urllib.parse.urlsplit(str(src["url"]))
    host = url.hostname or ""
    user = f"{url.username}@" if url.username else ""
    what = "、".join(src.get("tables") or []) or "查询"
    return f"{url.scheme}://{user}{host}{':' + str(url.port) if url.port else ''}{url.path}（{what}）"


def _scope_label(actor: Actor) -> str:
    return f"{actor.department}参与办理的办件" if actor.role == "dept" else "全部办件"


def _finding_brief(f: dict) -> dict:
    return {k: f.get(k) for k in ("id", "kind", "service", "dimension", "cases", "impact", "severity", "summary",
                                  "action", "activity", "department")}


def _actions(findings: list[dict], k: int = 3) -> list[dict]:
    """The three actions: the action of the first finding of each of the top kinds."""
    seen, out = set(), []
    for f in findings:
        if f.get("action") and f["action"] not in seen:
            seen.add(f["action"])
            out.append({"action": f["action"], "finding": f["id"], "summary": f["summary"]})
        if len(out) == k:
            break
    return out


# ----------------------------------------------------------------------------- ASGI middleware


class SecurityHeaders:
    """Headers on every response: a strict CSP (scripts and styles from this server only), no framing,
    no sniffing, no referrer; pages are not cached."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        static = scope.get("path", "").startswith("/static/")

        async def wrapped(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
                            (b"x-frame-options", b"DENY"), (b"referrer-policy", b"no-referrer"),
                            (b"cross-origin-opener-policy", b"same-origin")]
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message = dict(message, headers=headers)
            await send(message)

        return await self.app(scope, receive, wrapped)


class AccessLog:
    """Who asked for what: every request for data (not static files) goes into the project's access log."""

    def __init__(self, app, project: Project) -> None:
        self.app, self.project = app, project

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("path", "").startswith("/static/"):
            return await self.app(scope, receive, send)
        status = {}

        async def wrapped(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, wrapped)
        finally:
            session = scope.get("session") or {}
            state = scope.get("state") or {}
            self.project.record(session.get("user") or state.get("who"), scope.get("method", "?"),
                                scope.get("path", ""), status.get("code", 500), state.get("what"))
