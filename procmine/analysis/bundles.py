"""一件事 across services: bundle instances per applicant, and candidates nobody declared.

- **Applicant key**: ``applicant_id`` (统一社会信用代码/身份证号) when the export has it,
  else ``applicant`` (申请人 name). Outputs show it only masked.
- **Instance**: an applicant's cases of a bundle's member services, starting with
  the earliest and taking every member case that starts within ``window_days``
  calendar days of it; an instance needs two or more member services. Per
  instance: separate intakes (member cases), trips (visits counted across its
  cases by the same rule as a case's), documents handed over more than once
  across its services, working days from the first 受理 to the last 办结, and which
  of the five promises hold as far as the log shows (一次告知: no correction; 一表申请:
  one intake; 一套材料: no document handed over twice; 一窗受理: every intake at one
  department; 一网办理: every case online and no trip) — None where the log cannot
  tell.
- **Candidates** (finding ``bundle_candidate``): pairs of services the same
  applicants apply for within the rules' ``bundles.window_days`` for at least
  ``bundles.min_applicants`` applicants, not covered by a declared bundle.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from ..errors import ConfigError, InputError
from ..config import load_yaml, read_config_text, templates_dir
from ..engine.metrics import Measured, matter_days, measure, sorted_log, trip_visits
from ..rules import Rules, load_rules


@dataclass(frozen=True)
class Bundle:
    name: str
    services: tuple[str, ...]
    window_days: float = 30.0


def load_bundles(path: str | Path) -> list[Bundle]:
    """Bundle definitions from YAML: ``{name, services: [...], window_days}`` or ``bundles: [...]``;
    a bare name looks in ``templates/bundles/``."""
    p = Path(path)
    if not p.exists():
        p = templates_dir() / "bundles" / f"{path}.yaml"
    if not p.exists():
        raise ConfigError(f"no bundle file or preset called {str(path)!r}",
                         hint="see templates/bundles/ for the format")
    try:
        data = load_yaml(read_config_text(p, "bundle file")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(f"{p}: not valid YAML" + (f" (line {mark.line + 1})" if mark else "")) from None
    items = data.get("bundles", [data]) if isinstance(data, dict) else data
    out = []
    for item in items or []:
        if not isinstance(item, dict) or not item.get("name") or not isinstance(item.get("services"), list) \
                or len(item["services"]) < 2:
            raise ConfigError(f"{p}: a bundle needs a name and two or more services",
                             hint="name: 企业开办\nservices: [设立登记, 印章刻制, 社保登记]\nwindow_days: 30")
        try:
            window = float(item.get("window_days", 30))
        except (TypeError, ValueError):
            raise ConfigError(f"{p}: window_days of {item['name']!r} must be a number") from None
        out.append(Bundle(str(item["name"]), tuple(str(s) for s in item["services"]), window))
    return out


def applicant_key(log: pd.DataFrame) -> pd.Series | None:
    """case_id → applicant key (applicant_id, else applicant name); None when the log has neither."""
    lg = sorted_log(log)
    for col in ("applicant_id", "applicant"):
        if col in lg and lg[col].notna().any():
            return lg.groupby("case_id")[col].first().dropna()
    return None


def group_instances(cases: pd.DataFrame, services: tuple[str, ...] | list[str], key: pd.Series,
                    window_days: float | None) -> pd.Series:
    """case_id → instance number (cases of one applicant's matter), for member cases only;
    ``window_days=None``: all of an applicant's member cases are one instance."""
    c = cases[cases["service"].isin(services)].copy()
    c["key"] = c["case_id"].map(key)
    c = c[c["key"].notna()]
    if c.empty:
        return pd.Series(dtype="int64")
    c["start"] = c["accept_time"].fillna(c["case_start"])
    c = c.sort_values(["key", "start", "case_id"], kind="stable")
    inst = np.zeros(len(c), dtype=np.int64)
    n = 0
    first_start = None
    prev_key = object()
    for i, (k, s) in enumerate(zip(c["key"].to_numpy(), c["start"])):
        if k != prev_key or (window_days is not None and (s - first_start) > pd.Timedelta(days=window_days)):
            n += 1
            first_start = s
            prev_key = k
        inst[i] = n
    out = pd.Series(inst, index=c["case_id"].to_numpy())
    services_in = c.assign(inst=inst).groupby("inst")["service"].nunique()
    keep = services_in[services_in >= 2].index
    return out[out.isin(keep)]


@dataclass
class BundleResult:
    instances: pd.DataFrame   # one row per instance
    members: pd.DataFrame     # case_id, bundle, instance
    candidates: pd.DataFrame  # services, applicants, trips, extra_trips, repeated_documents


def bundle_instances(log: pd.DataFrame, bundles: list[Bundle], rules: Rules | str | None = None, *,
                     measured: Measured | None = None) -> BundleResult:
    """Instances of each declared bundle, and undeclared candidates.

    >>> r = bundle_instances(log, load_bundles("企业开办"))     # doctest: +SKIP
    """
    rules = load_rules(rules)
    m = measured or measure(log, rules)
    key = applicant_key(log)
    if key is None:
        raise InputError("the log has no applicant column (申请人, 统一社会信用代码 or 身份证号), so cases of one "
                         "applicant cannot be linked across services",
                         hint="import an export with an applicant column, or name it in a mapping file "
                              "(fields: {applicant_id: 你的列名})")
    cases = m.cases
    rows, members = [], []
    for b in bundles:
        inst = group_instances(cases, b.services, key, b.window_days)
        for n, ids in inst.groupby(inst).groups.items():
            members += [{"case_id": cid, "bundle": b.name, "instance": f"{b.name}#{n}"} for cid in ids]
    mem = pd.DataFrame(members, columns=["case_id", "bundle", "instance"])
    if len(mem):
        rows = _instance_rows(mem, m, key, rules, log)
    inst_df = pd.DataFrame(rows)
    return BundleResult(inst_df, mem, candidate_bundles(cases, key, bundles, m, rules))


def _instance_rows(mem: pd.DataFrame, m: Measured, key: pd.Series, rules: Rules, log: pd.DataFrame) -> list[dict]:
    cases = m.cases.set_index("case_id")
    unit = mem.set_index("case_id")["instance"]
    facts = m.facts[m.facts["case_id"].isin(unit.index)].copy()
    facts["case_id"] = facts["case_id"].map(unit)
    visits = trip_visits(facts, rules.same_visit_gap_hours).groupby("case_id")["visit"].max()
    hand = m.handovers[m.handovers["case_id"].isin(unit.index)].copy()
    hand["instance"] = hand["case_id"].map(unit)
    per_doc = hand.groupby(["instance", "material"])["case_id"].nunique()
    f_all = m.facts[m.facts["case_id"].isin(unit.index)]
    # correction notices of the matter: the case model's count per case, added up
    notices = cases["correction_notices"].groupby(cases.index.map(unit)).sum()
    intake = f_all[f_all["trip_kind"].isin(["intake", "online_intake"])]
    intake_depts = intake.groupby(intake["case_id"].map(unit))["department"].agg(lambda s: s.dropna().nunique())
    # one row per instance, every column by one grouping (instances in their first member's order)
    c = cases.loc[mem["case_id"].to_numpy()].reset_index().assign(instance=mem["instance"].to_numpy(),
                                                                 bundle=mem["bundle"].to_numpy())
    c["service"] = c["service"].astype(str)
    c["apply_min"] = c["apply_time"].dt.floor("min")
    g = c.groupby("instance", sort=False)
    order = g.size().index
    first = g.nth(0).set_index("instance")
    n_cases = g.size()
    services = g["service"].agg(lambda s: "、".join(sorted(s.unique())))
    known = g["visits"].agg(lambda s: bool(s.notna().all()))
    all_decided = g["status"].agg(lambda s: bool(s.eq("办结").all()))
    forms = g["apply_min"].nunique(dropna=False)
    online_all = g["online"].agg(lambda s: bool(s.all()))
    docs_sum = g["materials_submitted"].sum()
    accept_min, finish_max = g["accept_time"].min(), g["finish_time"].max()
    rep = per_doc[per_doc > 1]
    rep_n = (rep - 1).groupby(level=0).sum()
    rep_names = rep.reset_index().groupby("instance")["material"].agg(lambda s: "、".join(sorted(s.astype(str))))
    no_window = bool(intake["department"].isna().all())
    rows = []
    for name in order:
        intakes = int(n_cases[name])
        trips_known = bool(known[name])
        trips = int(visits.get(name, 0)) if trips_known else None
        depts = intake_depts.get(name)
        n_rep = int(rep_n.get(name, 0))
        rows.append({
            "bundle": first.at[name, "bundle"], "instance": name, "applicant": str(key.get(first.at[name, "case_id"])),
            "cases": intakes, "services": services[name],
            "intakes": intakes, "trips": trips,
            "documents": int(docs_sum[name]),
            "repeated_documents": n_rep, "repeated_names": rep_names.get(name, ""),
            "first_accept": accept_min[name], "last_finish": finish_max[name] if all_decided[name] else pd.NaT,
            "working_days": None,  # below, for all instances in one engine run
            # 一次告知: at most one correction notice for the whole matter
            "一次告知": bool(notices.get(name, 0) <= 1),
            # 一表申请: one application form: one case, or every case applied for at the same minute
            "一表申请": bool(intakes == 1 or forms[name] == 1),
            "一套材料": bool(n_rep == 0 and name not in rep_names.index) if len(hand) else None,
            "一窗受理": (None if depts is None or no_window else bool(depts <= 1)),
            "一网办理": (None if not trips_known else bool(online_all[name] and trips == 0)),
        })
    if rows:  # the matter's working days, first 受理 → last 办结, by the case model's clock (pauses out)
        days = matter_days(log, mem.set_index("case_id")["instance"], rules, as_of=m.as_of, calendar=m.calendar)
        clocked = g["clock_days"].agg(lambda s: bool(s.notna().all()))
        for r in rows:
            d = days.get(str(r["instance"]))
            decided = pd.notna(r["last_finish"]) and bool(clocked[r["instance"]])
            r["working_days"] = float(d) if decided and d is not None else None
    return rows


def candidate_bundles(cases: pd.DataFrame, key: pd.Series, bundles: list[Bundle], m: Measured,
                rules: Rules) -> pd.DataFrame:
    window = float(rules.bundles.get("window_days", 30))
    min_app = int(rules.bundles.get("min_applicants", 5))
    c = cases.assign(key=cases["case_id"].map(key), start=cases["accept_time"].fillna(cases["case_start"]))
    c = c[c["key"].notna()].sort_values(["key", "start", "case_id"], kind="stable")
    declared = [set(b.services) for b in bundles]
    # every two cases of one applicant, of two services, started within the window: by one self-join
    c = c.assign(service=c["service"].astype(str))
    multi = c.groupby("key")["service"].transform("nunique") >= 2
    c = c.loc[multi, ["key", "service", "start", "case_id"]]
    pairs = c.merge(c, on="key", suffixes=("_a", "_b"))
    pairs = pairs[(pairs["service_a"] < pairs["service_b"])
                  & ((pairs["start_b"] - pairs["start_a"]).abs() / np.timedelta64(1, "D") <= window)]
    pair_apps: dict[tuple[str, str], set] = {}
    pair_cases: dict[tuple[str, str], set] = {}
    for (sa, sb), g in pairs.groupby(["service_a", "service_b"], sort=True):
        pair_apps[(sa, sb)] = set(g["key"])
        pair_cases[(sa, sb)] = set(g["case_id_a"]) | set(g["case_id_b"])
    rows = []
    hand = m.handovers
    for pair, apps in sorted(pair_apps.items()):
        if len(apps) < min_app or any(set(pair) <= d for d in declared):
            continue
        ids = pair_cases[pair]
        sub = cases[cases["case_id"].isin(ids)]
        v = sub["visits"].astype("Float64")
        h = hand[hand["case_id"].isin(ids)].assign(key=lambda d: d["case_id"].map(key))
        per = h.groupby(["key", "material"])["case_id"].nunique()
        rows.append({"services": " + ".join(pair), "applicants": len(apps), "cases": len(ids),
                     "trips": None if v.isna().any() else int(v.sum()),
                     "extra_trips": None if v.isna().any() else int(v.sum()) - len(apps),
                     "repeated_documents": int((per[per > 1] - 1).sum()),
                     "evidence": sorted(map(str, ids))[:5]})
    out = pd.DataFrame(rows, columns=["services", "applicants", "cases", "trips", "extra_trips", "repeated_documents",
                                      "evidence"])
    return out.sort_values(["applicants", "services"], ascending=[False, True], kind="stable").reset_index(drop=True)
