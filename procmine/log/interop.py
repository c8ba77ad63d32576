"""The canonical log in other tools' formats, losslessly: XES and CSV that
``read_export`` reads back field by field, and OCEL 2.0 (object-centric) for
pm4py, OCPM tools and the like.

* XES: pm4py's standard keys (``case:concept:name``, ``concept:name``,
  ``time:timestamp`` = end, ``start_timestamp`` = start, ``org:resource``,
  ``org:group``, ``case:service``) plus every other canonical field under its
  own name (``start_time``, ``end_time``, ``channel``, ``in_person``,
  ``materials`` joined with 、, ``sla_days``, the lifecycle fields …).
* CSV: every column under its own name (materials joined with 、).
* Reading such a file back, :func:`restore_canonical` puts those fields back
  in place — the importer would otherwise keep them as ``*_src`` attributes.
* OCEL 2.0 (``.jsonocel``, ``.xmlocel``, ``.sqlite``): every step is an event;
  objects are the 办件 (case), the applicant (a pseudonym: never the name or
  ID number) and the documents (one per case and document name, with its
  name as an attribute), so 一件事 across services and document flows can be
  followed in object-centric tools.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import numpy as np
import pandas as pd

from .schema import CANONICAL, SOURCE, TIME_DTYPE, attribute_columns, to_pm4py

# canonical fields carried under their own names (besides the XES standard keys)
CARRIED = tuple(c for c in CANONICAL if c not in ("case_id", "activity", "resource", "department", "service")
                and c not in SOURCE)
ATTRIBUTE_TIMES = ("rating_time", "rectify_time")


def xes_frame(log: pd.DataFrame) -> pd.DataFrame:
    """The pm4py frame written to XES: standard keys plus every canonical field."""
    df = to_pm4py(log)
    for c in CARRIED:
        if c not in log:
            continue
        col = log[c]
        if c == "materials":
            col = col.map(lambda m: "、".join(m) if m is not None and len(m) else None).astype(object)
        elif isinstance(col.dtype, pd.DatetimeTZDtype):
            col = col
        elif str(col.dtype) in ("boolean", "Float64", "Int64"):
            col = col.astype(object).where(col.notna(), None)
        else:
            col = col.astype(object).where(col.notna(), None)
        df[c] = col.to_numpy() if not isinstance(col.dtype, pd.DatetimeTZDtype) else col
    for c in SOURCE:  # where each event came from; read back as source_*_src attributes
        if c in log:
            df[c] = log[c].astype(object).where(log[c].notna(), None).to_numpy()
    return df


def restore_canonical(log: pd.DataFrame) -> pd.DataFrame:
    """A log read from procmine's own CSV/XES export: canonical fields the
    importer kept as ``NAME_src`` attributes (or ``case:service``) go back to
    their places with their types. Other logs are returned unchanged."""
    from .parsing import parse_bool, parse_times, split_materials

    carried = [c for c in CARRIED if f"{c}_src" in log.columns]
    if not carried and "case:service" not in log.columns:
        return log
    out = log.copy()
    for c in carried:
        raw = out.pop(f"{c}_src")
        dtype = CANONICAL[c]
        if c == "materials":
            text = raw.astype("string")
            value = split_materials(text)
        elif dtype == TIME_DTYPE:
            value, _ = parse_times(raw)
        elif dtype == "boolean":
            value, _ = parse_bool(raw.astype("string"))
        elif dtype == "Float64":
            value = pd.to_numeric(raw.astype("string"), errors="coerce").astype("Float64")
        else:
            value = raw.astype("string")
        out[c] = pd.Series(value.astype(dtype).array if c != "materials" else value.array, index=out.index)
    if "case:service" in out.columns:
        svc = out.pop("case:service").astype("string")
        out["service"] = svc.where(svc.notna(), out["service"])
    for c in attribute_columns(out):
        if c in ATTRIBUTE_TIMES and not isinstance(out[c].dtype, pd.DatetimeTZDtype):
            text = out[c].astype("string").replace({"NaT": pd.NA, "nan": pd.NA, "None": pd.NA})
            times, failed = parse_times(text)
            if not failed.any():
                out[c] = times
        elif out[c].dtype == object or str(out[c].dtype) == "str":
            if out[c].map(lambda v: v is None or isinstance(v, str) or v != v).all():
                out[c] = out[c].astype("string")
    return out


# ---------------------------------------------------------------- OCEL 2.0


def _pseudonym(value: str) -> str:
    digest = hmac.new(b"procmine-ocel", value.encode("utf-8"), hashlib.sha256).hexdigest()[:10].upper()
    return f"申请人-{digest}"


def to_ocel(log: pd.DataFrame):
    """The log as a pm4py OCEL: events = steps; objects = 办件, 申请人, 材料."""
    import pm4py  # noqa: F401
    from pm4py.objects.ocel.obj import OCEL

    n = len(log)
    eid = pd.Series([f"e{i + 1}" for i in range(n)], dtype=object)
    time = log["end_time"].fillna(log["start_time"])
    events = pd.DataFrame({
        "ocel:eid": eid, "ocel:activity": log["activity"].astype(object).to_numpy(),
        "ocel:timestamp": time.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(),
        "department": log["department"].astype(object).where(log["department"].notna(), None).to_numpy(),
        "resource": log["resource"].astype(object).where(log["resource"].notna(), None).to_numpy(),
        "service": log["service"].astype(object).to_numpy(),
    })
    rel_e, rel_o, rel_t, rel_q = [], [], [], []

    def relate(i: int, oid: str, otype: str, qualifier: str) -> None:
        rel_e.append(i)
        rel_o.append(oid)
        rel_t.append(otype)
        rel_q.append(qualifier)

    objects: dict[str, tuple[str, dict]] = {}
    case_ids = log["case_id"].astype(str).to_numpy()
    key = log["applicant_id"].astype("string").fillna(log["applicant"].astype("string"))
    for i in range(n):
        case = f"办件:{case_ids[i]}"
        objects.setdefault(case, ("办件", {"service": str(log["service"].iloc[i]),
                                            "status": None if pd.isna(log["status"].iloc[i]) else
                                            str(log["status"].iloc[i])}))
        relate(i, case, "办件", "case")
        if pd.notna(key.iloc[i]):
            who = _pseudonym(str(key.iloc[i]))
            objects.setdefault(who, ("申请人", {}))
            relate(i, who, "申请人", "applicant")
        mats = log["materials"].iloc[i]
        for doc in (list(mats) if mats is not None else []):
            oid = f"材料:{case_ids[i]}:{doc}"
            objects.setdefault(oid, ("材料", {"document": doc}))
            relate(i, oid, "材料", "handed in")
    obj = pd.DataFrame({"ocel:oid": list(objects), "ocel:type": [t for t, _ in objects.values()],
                        "service": [a.get("service") for _, a in objects.values()],
                        "status": [a.get("status") for _, a in objects.values()],
                        "document": [a.get("document") for _, a in objects.values()]})
    relations = pd.DataFrame({"ocel:eid": eid.iloc[rel_e].to_numpy() if rel_e else [],
                              "ocel:activity": events["ocel:activity"].iloc[rel_e].to_numpy() if rel_e else [],
                              "ocel:timestamp": events["ocel:timestamp"].iloc[rel_e].to_numpy() if rel_e else [],
                              "ocel:oid": rel_o, "ocel:type": rel_t, "ocel:qualifier": rel_q})
    # 办件 ↔ 申请人 and 办件 ↔ 材料 (object-to-object)
    o2o = relations.loc[relations["ocel:type"] != "办件", ["ocel:eid", "ocel:oid"]].merge(
        relations.loc[relations["ocel:type"] == "办件", ["ocel:eid", "ocel:oid"]], on="ocel:eid",
        suffixes=("_x", "_case")).drop_duplicates(["ocel:oid_x", "ocel:oid_case"])
    o2o = pd.DataFrame({"ocel:oid": o2o["ocel:oid_case"].to_numpy(), "ocel:oid_2": o2o["ocel:oid_x"].to_numpy(),
                        "ocel:qualifier": np.where(o2o["ocel:oid_x"].str.startswith("材料:"), "document",
                                                   "applicant")})
    return OCEL(events=events, objects=obj, relations=relations, o2o=o2o)


def write_ocel(log: pd.DataFrame, path: str | Path) -> Path:
    """Write OCEL 2.0: ``.jsonocel``, ``.xmlocel`` or ``.sqlite`` (atomically)."""
    import pm4py

    from ..errors import UsageError
    from .schema import write_atomic

    path = Path(path)
    suffix = path.suffix.lower()
    writers = {".jsonocel": pm4py.write_ocel2_json, ".xmlocel": pm4py.write_ocel2_xml,
               ".sqlite": pm4py.write_ocel2_sqlite}
    if suffix not in writers:
        raise UsageError(f"cannot write OCEL to {path.name}: use .jsonocel, .xmlocel or .sqlite")
    ocel = to_ocel(log)

    def write(tmp: Path) -> None:
        tmp.unlink(missing_ok=True)  # the sqlite writer appends to an existing file
        writers[suffix](ocel, str(tmp))

    return write_atomic(path, write)
