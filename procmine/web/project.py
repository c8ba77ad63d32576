"""A workbench project: the folder ``procmine serve`` works on.

::

    PROJECT/
      project.json       what this folder is (written by ``procmine serve --init``)
      users.json         accounts, argon2 hashes (0600)
      secret.key         the session-signing key (0600)
      access.log         who viewed or exported what (JSON lines)
      log.parquet        the canonical log (``procmine import -o PROJECT/log.parquet``, or an upload);
                         or log/ — a partitioned dataset (``procmine import -o PROJECT/log/``)
      rules.yaml         audit rules (optional; default 最多跑一次)
      log.rejects.csv    the rows the last upload set aside (masked)
      cache/VERSION/     the case table, findings and cards of one version of the log, per scope; the
                         maps' events (map_events.parquet) and index (map_index/, procmine.analysis.mapindex):
                         a filtered map is summed from the index, not discovered again from the events

The case table, findings and cards are computed once per version of the log (a
version is the log files' names, sizes and modification times, and the rules file's) through the public
library — :func:`procmine.analysis.audit.audit` (which measures the cases with
:func:`procmine.engine.metrics.measure`) and :func:`procmine.analysis.monitor.monitor` — and kept
in ``cache/``; pages read them, they never recompute per request. A 部门 scope is
computed on the events of its visible cases alone, as of the whole log's as-of
time, so that its clocks are the same as in the whole table.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..errors import ConfigError, UsageError
from ..log.deltalog import INTERNAL_PREFIX, is_delta, plain_schema
from ..log.schema import replace_dir
from .auth import UserStore, write_private
from .scope import Actor, scope_cases

FORMAT = 1
NEW_KEY_HINT = ("restore it from a backup, or make a new one (this signs everyone out): "
                "python -c 'import secrets; print(secrets.token_hex(32))' > {path} && chmod 600 {path}")
MAP_COLUMNS = ["case_id", "service", "activity", "department", "resource", "start_time", "end_time"]
CACHE_FORMAT = 6  # bumped when what the cache holds changes (6: the trend is monitor.monthly's)
FACT_COLUMNS = ["case_id", "activity", "department", "start", "end", "pos", "trip", "trip_kind", "wait_hours",
                "wait_work_hours", "wait_owner", "service_hours", "service_work_hours"]


@dataclass
class Analysis:
    """What one scope of one log version shows: read by every page of that scope."""

    version: str
    scope: str
    as_of: pd.Timestamp | None
    cases: pd.DataFrame                 # the visible rows of the case table
    findings: list[dict]                # Finding.to_dict() + "id", ranked
    metrics: dict                       # per service (the audit's metrics)
    alerts: pd.DataFrame                # 督办清单 (monitor.ALERT_COLUMNS)
    by_department: list[dict]
    notes: list[str] = field(default_factory=list)
    indicators: dict = field(default_factory=dict)  # {"service": rows, "department": rows, "monthly": rows}
    ratings: dict | None = None                     # 好差评 (procmine.analysis.ratings.analyse_ratings), None: no ratings
    bundles: dict | None = None                     # 一件事 (procmine.analysis.bundles.bundle_instances), None: no applicants
    memo: dict = field(default_factory=dict, repr=False)  # what pages derive from the above once (ids, choices)

    def ids(self) -> frozenset:
        """The ids of the cases of this scope (made once)."""
        hit = self.memo.get("ids")
        if hit is None:
            hit = self.memo["ids"] = frozenset(self.cases["case_id"].astype(str).tolist())
        return hit


def _records(frame: pd.DataFrame) -> list[dict]:
    """A table as JSON-able rows: times as ISO text in their own zone (+08:00), NA as None."""
    out = frame.copy()
    for col in out.columns:
        if isinstance(out[col].dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].map(lambda t: None if pd.isna(t) else t.isoformat()).astype(object)
    return json.loads(out.to_json(orient="records", force_ascii=False, default_handler=str))


def _isin(values: pd.Series, keep: set) -> list[bool]:
    return [str(v) in keep for v in values.tolist()]


def _laid_out(pm) -> dict:
    """A map's data (ProcessMap.to_dict) with each node's place in its Graphviz layout."""
    from ..analysis.maps import to_graphviz

    data = pm.to_dict()
    layout = json.loads(to_graphviz(pm).pipe(format="json0"))
    height = float(layout["bb"].split(",")[3])
    pos = {o["name"]: o for o in layout.get("objects", [])}
    for i, node in enumerate(data["nodes"]):
        o = pos.get(f"n{i}", {})
        x, y = (float(v) for v in o.get("pos", "0,0").split(","))
        node.update(x=x, y=height - y, w=float(o.get("width", 1.2)) * 72, h=float(o.get("height", 0.5)) * 72)
    data["height"] = height
    return data


def _delta_head(dataset: Path) -> Path | None:
    """The latest commit file of a Delta table's transaction log (``_delta_log/NNN.json``), or None."""
    commits = [f for f in (dataset / "_delta_log").glob("*.json") if f.stem.isdigit()]
    return max(commits, key=lambda f: int(f.stem)) if commits else None


def _empty_alerts() -> pd.DataFrame:
    from ..analysis.monitor import ALERT_COLUMNS

    return pd.DataFrame({k: pd.Series(dtype=object) for k in ALERT_COLUMNS})


class Project:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.users = UserStore(self.root / "users.json")
        self._locks: dict[tuple, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._memo: dict[tuple, Analysis] = {}
        self._log_lock = threading.Lock()
        self._import_lock = threading.Lock()

    # -- set-up ------------------------------------------------------------------
    @classmethod
    def init(cls, root: str | Path, admin: str, password: str) -> "Project":
        """Create the project folder and its first administrator."""
        root = Path(root)
        if (root / "project.json").exists():
            raise UsageError(f"{root} is a workbench project already", hint="start it with: procmine serve " + str(root))
        root.mkdir(parents=True, exist_ok=True)
        proj = cls(root)
        proj.users.add(admin, password, "admin")
        write_private(root / "secret.key", secrets.token_hex(32) + "\n")
        (root / "access.log").touch(mode=0o600, exist_ok=True)
        (root / "project.json").write_text(json.dumps({"procmine_workbench": FORMAT}) + "\n", encoding="utf-8")
        return proj

    @classmethod
    def open(cls, root: str | Path) -> "Project":
        root = Path(root)
        if not (root / "project.json").is_file():
            raise ConfigError(f"{root} is not a workbench project",
                              hint=f"create it first: procmine serve --init {root}")
        return cls(root)

    def secret_key(self) -> str:
        path = self.root / "secret.key"
        try:
            text = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}", hint=NEW_KEY_HINT.format(path=path))
        if len(text) < 32:
            raise ConfigError(f"{path} is damaged (too short)", hint=NEW_KEY_HINT.format(path=path))
        return text

    # -- the log -------------------------------------------------------------------
    @property
    def log_path(self) -> Path:
        """The project's log: ``log/`` when it is a dataset built by appends (an upload's) or a partitioned
        log, else ``log.parquet``."""
        dataset = self.root / "log"
        if is_delta(dataset):
            return dataset
        return dataset if dataset.is_dir() and not (self.root / "log.parquet").exists() else self.root / "log.parquet"

    @property
    def rules(self) -> str | None:
        path = self.root / "rules.yaml"
        return str(path) if path.is_file() else None

    def has_log(self) -> bool:
        p = self.log_path
        if is_delta(p):
            return _delta_head(p) is not None
        return p.is_file() or (p.is_dir() and any(p.rglob("*.parquet")))

    def version(self) -> str | None:
        """The log's version: for a dataset built by appends, its latest commit (the files of an append
        that never committed are not part of it); else its files' names, sizes and modification times;
        and the rules file's (an edited rules.yaml is a new version too; None: no log yet)."""
        p = self.log_path
        if is_delta(p):
            head = _delta_head(p)
            files = [head] if head is not None else []
        else:
            files = [p] if p.is_file() else sorted(p.rglob("*.parquet")) if p.is_dir() else []
        if not files:
            return None
        if (self.root / "rules.yaml").is_file():
            files.append(self.root / "rules.yaml")
        h = hashlib.sha256()
        for f in files:
            st = f.stat()
            h.update(f"{f.relative_to(self.root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        return h.hexdigest()[:16]

    def dataset_version(self) -> int | None:
        """The appended dataset's version number (one per append), None when the log is not one."""
        head = _delta_head(self.log_path) if is_delta(self.log_path) else None
        return None if head is None else int(head.stem)

    # -- analyses --------------------------------------------------------------------
    def _lock(self, key: tuple) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(key, threading.Lock())

    def analysis(self, actor: Actor) -> Analysis | None:
        """The analysis ``actor`` sees of the current log (None: no log yet)."""
        version = self.version()
        if version is None:
            return None
        if actor.sees_all:
            return self._get(version, "all", self._compute_all)
        return self._get(version, actor.scope_key, lambda v: self._compute_scope(v, actor))

    def warm(self) -> None:
        """Compute the current version's analysis for every scope an account has (the whole log, each
        department with an account), so that no one's first page waits for it. Errors are left for the
        pages to report."""
        scopes = {"all": Actor("warm", "reform")}
        for u in self.users.all():
            if u.role == "dept" and u.department:
                scopes.setdefault(f"dept:{u.department}", Actor("warm", "dept", u.department))
        for actor in scopes.values():
            try:
                self.analysis(actor)
            except Exception:  # noqa: BLE001 - the page that needs it shows the error
                return
        for actor in scopes.values():  # then each scope's maps without filters and of each outcome
            try:
                a = self.analysis(actor)
                outcomes = sorted(a.cases["outcome"].dropna().astype(str).unique()) if a is not None else []
                for outcome in [None, *outcomes]:
                    for view in ("activity", "department"):
                        self.process_map(actor, view, None, None, None, outcome=outcome)
            except Exception:  # noqa: BLE001 - as above
                continue

    def whole(self, version: str) -> Analysis:
        """The analysis of every case of a version: what pages look a case up in, before asking
        :func:`~procmine.web.scope.may_view` whether the user may see it."""
        return self._get(version, "all", self._compute_all)

    def _get(self, version: str, scope: str, compute) -> Analysis:
        key = (version, scope)
        hit = self._memo.get(key)
        if hit is not None:
            return hit
        with self._lock(key):
            hit = self._memo.get(key)
            if hit is None:
                hit = self._load(version, scope)
                if hit is None:
                    hit = compute(version)
                    self._save(hit)
                if len(self._memo) > 32:
                    self._memo.clear()
                self._memo[key] = hit
            return hit

    def _dir(self, version: str, scope: str) -> Path:
        slug = "all" if scope == "all" else "scope-" + hashlib.sha256(scope.encode()).hexdigest()[:16]
        return self._vdir(version) / slug

    def _save(self, a: Analysis) -> None:
        d = self._dir(a.version, a.scope)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self._mkcache()))  # written whole, then renamed
        try:
            a.cases.to_parquet(tmp / "cases.parquet", index=False)
            a.alerts.to_parquet(tmp / "alerts.parquet", index=False)
            summary = {"scope": a.scope, "as_of": None if a.as_of is None else a.as_of.isoformat(),
                       "findings": a.findings, "metrics": a.metrics, "by_department": a.by_department,
                       "notes": [str(n) for n in a.notes], "indicators": a.indicators,
                       "ratings": a.ratings, "bundles": a.bundles}
            (tmp / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, default=str), encoding="utf-8")
            d.parent.mkdir(parents=True, exist_ok=True)
            replace_dir(tmp, d)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def _vdir(self, version: str) -> Path:
        """The cache of one log version (and of this cache layout: an older layout is simply not read)."""
        return self.root / "cache" / f"{version}.{CACHE_FORMAT}"

    def _mkcache(self) -> Path:
        cache = self.root / "cache"
        cache.mkdir(exist_ok=True)
        return cache

    def _load(self, version: str, scope: str) -> Analysis | None:
        d = self._dir(version, scope)
        if not (d / "summary.json").is_file():
            return None
        s = json.loads((d / "summary.json").read_text(encoding="utf-8"))
        return Analysis(version, scope, pd.Timestamp(s["as_of"]) if s["as_of"] else None,
                        pd.read_parquet(d / "cases.parquet"), s["findings"], s["metrics"],
                        pd.read_parquet(d / "alerts.parquet"), s["by_department"], s.get("notes", []),
                        s.get("indicators", {}), s.get("ratings"), s.get("bundles"))

    def _compute_all(self, version: str) -> Analysis:
        from ..analysis.audit import audit
        from ..log.eventlog import read_log
        from ..analysis.monitor import monitor

        path = self.log_path
        # the log in memory once: the cards and indicators read it, and the audit of a frame brings its
        # per-event table back in the same engine pass (from a path it would measure the events again)
        log = read_log(path)
        res = audit(log, self.rules)
        facts = res.measured.facts
        facts_path = self._vdir(version) / "facts.parquet"
        facts_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = facts_path.with_name(f".facts.tmp-{secrets.token_hex(4)}.parquet")
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(facts[[c for c in FACT_COLUMNS if c in facts]], preserve_index=False)
        # in case order (the engine's), in small row groups: one case's steps are read by their statistics
        pq.write_table(table, tmp, row_group_size=16_384, compression="zstd")
        os.replace(tmp, facts_path)
        self._save_map_events(version, log, res.cases)
        mon = monitor(log, self.rules, measured=res.measured)
        return self._analysis(version, "all", res, mon, res.cases, self._indicators(log, res),
                              self._ratings(log, res), self._bundles(log, res))

    def _compute_scope(self, version: str, actor: Actor) -> Analysis:
        """A 部门 scope: the whole table's visible rows; findings and cards from the events of those cases."""
        from ..analysis.audit import audit
        from ..analysis.monitor import monitor

        full = self._get(version, "all", self._compute_all)
        visible = scope_cases(actor, full.cases).reset_index(drop=True)
        if visible.empty:
            return Analysis(version, actor.scope_key, full.as_of, visible, [], {}, _empty_alerts(), [])
        sub = self.events(set(visible["case_id"].astype(str)))
        as_of = None if full.as_of is None else full.as_of.isoformat()
        res = audit(sub, self.rules, as_of=as_of)
        mon = monitor(sub, self.rules, as_of=as_of, measured=res.measured)
        return self._analysis(version, actor.scope_key, res, mon, visible, self._indicators(sub, res),
                              self._ratings(sub, res), self._bundles(sub, res))

    def _indicators(self, log: pd.DataFrame, res) -> dict:
        """The standard indicators per service and department and their monthly trend, both
        :func:`procmine.analysis.monitor.indicators`' (the trend: :func:`~procmine.analysis.monitor.monthly`,
        on-time by month of 办结 with open cases past their limit as late, trips by month of 受理;
        ``provisional`` months can still change), so the page shows the reports' numbers."""
        from ..analysis.monitor import INDICATORS, indicators

        tables = indicators(log, self.rules, measured=res.measured, by="month")
        month = tables["month"].astype(object).where(tables["month"].notna(), None)
        return {"labels": {k: label for k, label, _ in INDICATORS},
                "formulas": {k: formula for k, _, formula in INDICATORS},
                "service": tables["service"].to_dict(orient="records"),
                "department": tables["department"].to_dict(orient="records"),
                "reasons": tables["reasons"].to_dict(orient="records"),
                "monthly": month.to_dict(orient="records"),
                "month_basis": {r["indicator"]: r["month"] for r in tables["basis"].to_dict(orient="records")}}

    def _ratings(self, log: pd.DataFrame, res) -> dict | None:
        """好差评 linked to the cases and the rectification loop (:func:`procmine.analysis.ratings.analyse_ratings`)."""
        from ..analysis.ratings import analyse_ratings

        r = analyse_ratings(log, self.rules, measured=res.measured)
        if r is None:
            return None

        rows = _records
        return {"rated": r.rated, "unrated": r.unrated, "good_rate": r.good_rate, "bad_rate": r.bad_rate,
                "rectify_days": r.rectify_days, "factors": rows(r.factors), "drivers": rows(r.drivers),
                "not_rectified": rows(r.not_rectified), "rectified_late": rows(r.rectified_late),
                "by_department": rows(r.by_department)}

    def _bundles(self, log: pd.DataFrame, res) -> dict | None:
        """一件事: instances of the declared bundles and undeclared candidates
        (:func:`procmine.analysis.bundles.bundle_instances`; None when the log has no applicant column)."""
        from ..analysis.bundles import bundle_instances, load_bundles
        from ..errors import InputError as NoApplicants

        try:
            r = bundle_instances(log, load_bundles("一件事"), self.rules, measured=res.measured)
        except NoApplicants:
            return None
        members = r.members.groupby("instance")["case_id"].agg(lambda s: sorted(map(str, s))).to_dict() \
            if len(r.members) else {}
        inst = _records(r.instances) if len(r.instances) else []
        for row in inst:
            row["members"] = members.get(row["instance"], [])
        cand = _records(r.candidates) if len(r.candidates) else []
        return {"instances": inst, "candidates": cand}

    @staticmethod
    def _analysis(version, scope, res, mon, cases, indicators=None, ratings=None, bundles=None) -> Analysis:
        findings = [dict(f.to_dict(), id=i) for i, f in enumerate(res.findings, 1)]
        return Analysis(version, scope, res.as_of, cases.reset_index(drop=True), findings, res.metrics,
                        mon.alerts.reset_index(drop=True), mon.by_department.to_dict(orient="records"),
                        [str(n) for n in res.notes], indicators or {}, ratings, bundles)

    # -- one case's rows -------------------------------------------------------------
    def events(self, case_ids: set[str] | None, service: str | None = None,
               columns: list[str] | None = None) -> pd.DataFrame:
        """The log's events of these cases (all: None) and of one service, all columns or these (read
        with a filter, not the whole log into memory)."""
        import pyarrow as pa
        import pyarrow.dataset as ds
        import pyarrow.parquet as pq

        from ..log.eventlog import parquet_files
        from ..log.eventlog import conform_columns
        from ..engine.metrics import sorted_log

        files = parquet_files(self.log_path)
        # string_view (an appended dataset's) read as plain strings; procmine's bookkeeping (_pm_…) left out
        schemas = [pq.read_schema(f) for f in files]
        schema = plain_schema(schemas)
        if columns is None:
            columns = [n for n in schema.names if not n.startswith(INTERNAL_PREFIX)]
        columns = [c for c in columns if c in schema.names]
        wanted = None if case_ids is None else sorted(case_ids)

        def where(file_schema):
            out = None if wanted is None else ds.field("case_id").isin(wanted)
            if service and "service" in file_schema.names:
                one = ds.field("service") == service
                out = one if out is None else out & one
            elif service:
                out = ds.scalar(False)
            return out

        first = schemas[0].remove_metadata()
        views = any(pa.types.is_string_view(f.type) or pa.types.is_binary_view(f.type) for sc in schemas for f in sc)
        if not views and all(sc.remove_metadata().equals(first) for sc in schemas):
            # one physical schema (a log written by procmine import): filtered by the reader, row groups
            # skipped by their statistics
            table = ds.dataset(files, schema=first, format="parquet").to_table(filter=where(first), columns=columns)
        else:  # view types (an appended dataset's) have no comparison kernels: filtered once made plain
            import pyarrow.compute as pc

            target = pa.schema([schema.field(c) for c in columns])
            keep = None if wanted is None else pa.array(wanted, pa.string())
            parts = []
            for f, sc in zip(files, schemas):
                pf = pq.ParquetFile(f)
                have = [c for c in columns if c in sc.names]
                for rg in range(pf.num_row_groups):
                    mask = None
                    if keep is not None or service:
                        keys = pf.read_row_group(rg, columns=[c for c in ("case_id", "service")
                                                              if c in sc.names and (c == "case_id" or service)])
                        if keep is not None:
                            mask = pc.is_in(keys.column("case_id").cast(pa.string()), value_set=keep)
                        if service:
                            one = (pc.equal(keys.column("service").cast(pa.string()), service)
                                   if "service" in keys.column_names else pa.array([False] * len(keys)))
                            mask = one if mask is None else pc.and_(mask, one)
                        mask = pc.fill_null(mask, False)
                        if not pc.any(mask).as_py():
                            continue
                    t = pf.read_row_group(rg, columns=have).cast(pa.schema([target.field(c) for c in have]))
                    if mask is not None:
                        t = t.filter(mask)
                    for c in columns:
                        if c not in have:
                            t = t.append_column(c, pa.nulls(len(t), target.field(c).type))
                    parts.append(t.select(columns).cast(target))
            table = pa.concat_tables(parts) if parts else target.empty_table()
        return sorted_log(conform_columns(table.to_pandas()))

    def _save_map_events(self, version: str, log: pd.DataFrame, cases: pd.DataFrame) -> None:
        """The columns the maps and variants read, once per version, with each event's case outcome (the
        case table's), ordered by service, then case and time, in small row groups: a map of one service
        reads that service's row groups alone (their statistics say which), a map of one outcome filters
        on its column (no list of case ids), and the events come in the case/time order the discovery
        wants (no sort)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = self._vdir(version) / "map_events.parquet"
        frame = log[[c for c in MAP_COLUMNS if c in log]]
        outcome = cases.set_index(cases["case_id"].astype(str))["outcome"].astype("string")
        frame = frame.assign(outcome=frame["case_id"].astype(str).map(outcome).astype("string"))
        table = pa.Table.from_pandas(frame, preserve_index=False)
        del frame
        table = table.sort_by([("service", "ascending"), ("case_id", "ascending"), ("start_time", "ascending"),
                               ("end_time", "ascending")])
        tmp = path.with_name(f".map.tmp-{secrets.token_hex(4)}.parquet")
        try:
            pq.write_table(table, tmp, row_group_size=32_768, compression="zstd")
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        self._save_map_index(version, table.to_pandas())

    def _save_map_index(self, version: str, events: pd.DataFrame) -> None:
        """The maps' index (:class:`procmine.analysis.mapindex.MapIndex`) of ``events`` — map_events.parquet's
        rows, in its order, so that the index's maps are the maps of those events."""
        from ..analysis.mapindex import MapIndex
        from ..log.eventlog import conform_columns

        outcome = events.groupby(events["case_id"].astype(str), sort=False)["outcome"].first()
        MapIndex.build(conform_columns(events.drop(columns=["outcome"])), outcome).save(
            self._vdir(version) / "map_index")

    def map_index(self, version: str):
        """The version's maps' index (memory-mapped; read once). A cache made before the index existed gets
        it from its map_events.parquet; None when there is none of either."""
        key = (version, "map_index")
        hit = self._memo.get(key)
        if hit is not None:
            return hit
        from ..analysis.mapindex import MapIndex

        with self._lock(key):
            hit = MapIndex.load(self._vdir(version) / "map_index")
            events = self._vdir(version) / "map_events.parquet"
            if hit is None and events.is_file():
                import pyarrow.parquet as pq

                self._save_map_index(version, pq.read_table(events).to_pandas())
                hit = MapIndex.load(self._vdir(version) / "map_index")
            if hit is not None:
                self._memo[key] = hit
            return hit

    def _cases_mask(self, index, version: str, key: tuple, ids):
        """Which of ``index``'s cases are among ``ids`` (a callable giving them), made once per ``key``."""
        memo_key = (version, "mask", *key)
        hit = self._memo.get(memo_key)
        if hit is None:
            hit = self._memo[memo_key] = index.mask_of(ids())
        return hit

    def map_events(self, version: str, case_ids: set[str] | None, service: str | None,
                   outcome: str | None = None) -> pd.DataFrame:
        """The maps' columns of these cases (all: None), of one service and of one outcome, from the
        version's ``map_events.parquet`` (the log itself when the cache has none). Not sorted here: the
        discovery and the variants put them in case/time order (they are in it already)."""
        import pyarrow.dataset as ds

        from ..log.eventlog import conform_columns

        path = self._vdir(version) / "map_events.parquet"
        if not path.is_file():
            log = self.events(case_ids, service, MAP_COLUMNS)
            if outcome:
                c = self.whole(version).cases
                keep = set(c.loc[c["outcome"].astype(str) == outcome, "case_id"].astype(str))
                log = log[_isin(log["case_id"], keep)].reset_index(drop=True)
            return log
        conds = []
        if service:
            conds.append(ds.field("service") == service)
        if outcome:
            conds.append(ds.field("outcome") == outcome)
        if case_ids is not None:
            conds.append(ds.field("case_id").isin(sorted(case_ids)))
        where = None
        for cond in conds:
            where = cond if where is None else where & cond
        table = ds.dataset(path, format="parquet").to_table(filter=where, columns=MAP_COLUMNS)
        return conform_columns(table.to_pandas())

    def facts(self, version: str, case_id: str) -> pd.DataFrame:
        import pyarrow.dataset as ds

        path = self._vdir(version) / "facts.parquet"
        if not path.is_file():
            return pd.DataFrame(columns=FACT_COLUMNS)
        return ds.dataset(path).to_table(filter=ds.field("case_id") == case_id).to_pandas().sort_values("pos")

    def steps_index(self, version: str) -> pd.DataFrame:
        """Every step of a version as (case_id, activity, next activity), for "the cases through
        this step / this edge" (read once from the cache's per-event table)."""
        key = (version, "steps")
        hit = self._memo.get(key)
        if hit is None:
            import pyarrow.parquet as pq

            path = self._vdir(version) / "facts.parquet"
            f = pq.read_table(path, columns=["case_id", "activity", "pos"]).to_pandas() if path.is_file() else \
                pd.DataFrame({"case_id": [], "activity": [], "pos": []})
            f = f.sort_values(["case_id", "pos"], kind="stable").reset_index(drop=True)
            same = f["case_id"].shift(-1) == f["case_id"]
            hit = pd.DataFrame({"case_id": f["case_id"].astype(str), "activity": f["activity"].astype(str),
                                "next": f["activity"].shift(-1).where(same).astype(object)})
            self._memo[key] = hit
        return hit

    def process_map(self, actor: Actor, view: str, service: str | None, date_from: str | None,
                    date_to: str | None, top_variants: int | None = None, outcome: str | None = None,
                    department: str | None = None) -> dict:
        """The activity or department map of ``actor``'s cases (:func:`procmine.analysis.discover.discover_map`)
        with a Graphviz layout (:func:`procmine.analysis.maps.to_graphviz`): nodes and edges with positions.
        ``outcome`` and ``department`` keep the cases of that outcome / that a department took part in
        (the case table's), ``top_variants`` the cases of the K most frequent variants. Summed from the
        version's maps' index (:class:`procmine.analysis.mapindex.MapIndex`, the same numbers) when it has
        one, else discovered from the events."""
        from .scope import took_part_mask

        a = self.analysis(actor)
        if a is None:
            return {}
        key = (a.version, actor.scope_key, "map", view, service, date_from, date_to, top_variants, outcome,
               department)
        hit = self._memo.get(key)
        if hit is not None:
            return hit
        if not len(a.cases):
            return {}
        index = self.map_index(a.version)
        fast = index is not None and index.supports(service)
        ids = keep = None
        if fast and not actor.sees_all:
            keep = self._cases_mask(index, a.version, ("scope", actor.scope_key), a.ids)
        elif not actor.sees_all:
            ids = set(a.ids())
        if department:  # the cases it took part in, as the case table says
            if fast:
                def took_part() -> list[str]:
                    return a.cases.loc[took_part_mask(a.cases, department), "case_id"].astype(str).tolist()

                # kept for the log's departments (a name typed into the URL is not kept)
                took = self._cases_mask(index, a.version, ("took_part", actor.scope_key, department), took_part) \
                    if department in index.meta["departments"] else index.mask_of(took_part())
                base = index.select(keep, outcome=outcome or None)
                if not (base & took).any():
                    return {}
                if (base & took).sum() == base.sum():  # it took part in every one: the map without this filter
                    department = None
                else:
                    keep = took if keep is None else keep & took
            else:  # (the outcome is a column of the events)
                c = a.cases
                if outcome:
                    c = c[c["outcome"].astype(str) == outcome]
                mask = took_part_mask(c, department)
                if not mask.any():
                    return {}
                if mask.all():
                    department = None
                else:
                    ids = set(c.loc[mask, "case_id"].astype(str).tolist())
        # the map without filters (the page's first view) and the map of each outcome — the maps over most of
        # the log — are made once per version and scope (warm), kept in the cache
        plain_map = not any((service, date_from, date_to, top_variants, department))
        tag = "" if not outcome else "-" + hashlib.sha256(outcome.encode()).hexdigest()[:12]
        kept = self._dir(a.version, actor.scope_key) / f"map-{view}{tag}.json"
        if plain_map and kept.is_file():
            hit = self._memo[key] = json.loads(kept.read_text(encoding="utf-8"))
            return hit
        if fast:
            mask = index.select(keep, service=service or None, outcome=outcome or None, date_from=date_from or None,
                                date_to=date_to or None, top_variants=top_variants or None)
            if not mask.any():
                if service and not (outcome or department):
                    raise UsageError(f"no service called {service!r} among these cases")
                return {}
            pm = index.process_map(mask, view, filters={"service": service, "from": date_from, "to": date_to,
                                                        "top_variants": top_variants})
        else:
            from ..analysis.discover import discover_map

            log = self.map_events(a.version, ids, service or None, outcome or None)
            if service and log.empty and not (outcome or department):
                raise UsageError(f"no service called {service!r} among these cases")
            if log is None or log.empty:
                return {}
            pm = discover_map(log, view=view, service=service or None, date_from=date_from or None,
                              date_to=date_to or None, top_variants=top_variants or None)
        data = _laid_out(pm)
        if plain_map and kept.parent.is_dir():
            from ..log.schema import write_atomic

            text = json.dumps(data, ensure_ascii=False, default=str)
            write_atomic(kept, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
        self._memo[key] = data
        return data

    def report(self, actor: Actor, fmt: str, service: str | None = None) -> Path | None:
        """The auditor's report (xlsx or html, :func:`procmine.report.structure.build_report`, personal data
        masked) of ``actor``'s cases, of one service or all; made once per version, scope and
        service and kept in the cache. None when there is nothing to report."""
        import dataclasses

        from ..log.eventlog import read_log
        from ..privacy import Masker
        from ..report.structure import ReportOptions, build_report
        from ..rules import load_rules

        a = self.analysis(actor)
        if a is None or a.cases.empty:
            return None
        services = set(a.cases["service"].dropna().astype(str))
        if service and service not in services:
            return None
        tag = hashlib.sha256((service or "").encode()).hexdigest()[:12]
        path = self._dir(a.version, actor.scope_key) / f"report-{tag}.{fmt}"
        with self._lock((a.version, actor.scope_key, "report", tag, fmt)):
            if path.is_file():
                return path
            log = read_log(self.log_path) if actor.sees_all else self.events(set(a.cases["case_id"].astype(str)))
            if service:
                log = log[log["service"].astype(str) == service].reset_index(drop=True)
            # as of the whole log's time, so that a department's report reads its clocks as every page does
            rules = dataclasses.replace(load_rules(self.rules), as_of=None if a.as_of is None else a.as_of.isoformat())
            title = "政务服务办件流程分析" + (f"（{service}）" if service else "") + \
                ("" if actor.sees_all else f" · {actor.department}")
            tmp = path.with_name(f".{path.stem}.tmp-{secrets.token_hex(4)}{path.suffix}")
            try:
                rep = build_report(log, rules=rules, title=title, mask=True, options=ReportOptions.for_output(path))
                rep = Masker.for_log(log).data(rep)
                if fmt == "xlsx":
                    from ..report.xlsx import render_xlsx
                    render_xlsx(rep, tmp)
                else:
                    from ..report.html import render_html
                    render_html(rep, tmp)
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
            return path

    def variants(self, actor: Actor, service: str | None) -> list[dict]:
        """The variants (step sequences) of ``actor``'s cases, of one service or all
        (:func:`procmine.analysis.discover.variants`), most frequent first, each with its case ids; made once."""
        from ..analysis.discover import variants

        a = self.analysis(actor)
        if a is None or not len(a.cases):
            return []
        key = (a.version, actor.scope_key, "variants", service)
        hit = self._memo.get(key)
        if hit is None:
            log = self.map_events(a.version, None if actor.sees_all else set(a.ids()), service or None)
            table = variants(log) if len(log) else pd.DataFrame()
            hit = [{"n": i, "variant": str(r.variant_text), "cases": int(r.cases), "share": float(r.share),
                    "median_lead_hours": None if pd.isna(r.median_lead_hours) else float(r.median_lead_hours),
                    "steps": int(r.steps), "case_ids": [str(c) for c in r.case_ids]}
                   for i, r in enumerate(table.itertuples(index=False), 1)]
            self._memo[key] = hit
        return hit

    def masker(self, version: str):
        """The masker of this log version (learns the log's applicant columns once)."""
        key = (version, "masker")
        hit = self._memo.get(key)
        if hit is None:
            from ..log.eventlog import read_columns
            from ..privacy import Masker, is_applicant_column

            hit = Masker.for_log(read_columns(self.log_path, where=is_applicant_column))
            self._memo[key] = hit
        return hit

    # -- import ------------------------------------------------------------------------
    def source(self) -> dict | None:
        """The database source configured in ``project.json`` (``"source": {"url": …, "tables": […]}`` or
        ``"query": …``, and ``"password_file"`` relative to the project), or None."""
        try:
            meta = json.loads((self.root / "project.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        src = meta.get("source")
        if not isinstance(src, dict) or not src.get("url"):
            return None
        return src

    def import_source(self, replace: bool = False):
        """Append the configured database source's rows, as an upload would (nothing changes if it fails)."""
        from ..sources.append import append_export

        src = self.source()
        if src is None:
            raise UsageError("no database source is configured for this project",
                             hint='add "source": {"url": "postgresql://user@host/db", "tables": ["…"]} to '
                                  "project.json")
        pw = src.get("password_file")
        return self._append(lambda dataset: append_export(
            [str(src["url"])], dataset, tables=tuple(src.get("tables") or ()), query=src.get("query"),
            password_file=(self.root / pw) if pw else None), replace)

    def import_files(self, paths: list[Path], replace: bool = False):
        """Append exports to the project's dataset (``log/``, :func:`procmine.daily.append_export`): one new
        version when the append worked, the dataset as it was when it did not."""
        from ..sources.append import append_export

        return self._append(lambda dataset: append_export([str(p) for p in paths], dataset), replace)

    def legacy_log(self) -> bool:
        """Whether the project's log is a single file (``log.parquet``, written by ``procmine import`` or an
        older workbench) that an upload can only replace, not append to."""
        return (self.root / "log.parquet").is_file() and not is_delta(self.root / "log")

    def _append(self, append, replace: bool):
        from ..privacy import Masker

        dataset = self.root / "log"
        legacy = self.legacy_log()
        if legacy and not replace:
            raise UsageError("this project's log is a single file (log.parquet) that exports cannot be appended to",
                             hint="confirm that the upload replaces it (替换现有日志): the uploaded exports become "
                                  "the first version of an appended dataset, log/")
        if dataset.is_dir() and not is_delta(dataset) and not legacy:
            raise UsageError("this project's log is a partitioned dataset (log/) not built by appends",
                             hint="add exports to it with procmine import -o PROJECT/log/, or move it away and "
                                  "upload the exports again")
        with self._import_lock:
            if is_delta(dataset):
                result = append(dataset)  # one atomic commit: an append that fails leaves the version as it was
            else:
                # the first append builds the dataset beside and renames it into place: a failed one leaves
                # no log/ behind, not even the files of a commit that never came
                tmp = Path(tempfile.mkdtemp(prefix=".log.tmp-", dir=self.root))
                try:
                    result = append(tmp / "log")
                    if dataset.is_dir() and not any(dataset.iterdir()):
                        dataset.rmdir()
                    os.replace(tmp / "log", dataset)
                finally:
                    shutil.rmtree(tmp, ignore_errors=True)
                result.path = dataset
                if legacy:  # kept beside, never read again
                    os.replace(self.root / "log.parquet", self.root / f"log.parquet.replaced-{time.strftime('%Y%m%d-%H%M%S')}")
            version = self.version()
            self._forget_old_versions()
            rejects = self.root / "log.rejects.csv"
            if len(result.rejects):
                masked = self.masker(version).frame(result.rejects) if version else \
                    Masker.for_log(result.rejects).frame(result.rejects)
                from ..log.schema import write_atomic
                write_atomic(rejects, lambda tmp_: masked.to_csv(tmp_, index=False, encoding="utf-8-sig"))
            else:
                rejects.unlink(missing_ok=True)
            return result

    def _forget_old_versions(self) -> None:
        """Remove the cache of every log version but the current one (an import made them stale)."""
        current = self.version()
        cache = self.root / "cache"
        if not cache.is_dir():
            return
        for d in cache.iterdir():
            if d.is_dir() and not d.name.startswith(".") and d.name != f"{current}.{CACHE_FORMAT}":
                shutil.rmtree(d, ignore_errors=True)

    # -- the access log -------------------------------------------------------------
    def record(self, user: str | None, method: str, path: str, status: int, what: str | None = None) -> None:
        entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "user": user, "method": method, "path": path,
                 "status": status}
        if what:
            entry["what"] = what
        with self._log_lock:
            with open(self.root / "access.log", "a", encoding="utf-8") as fh:
                fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
