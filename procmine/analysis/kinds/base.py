"""What every finding kind shares: :class:`Kind` (what a kind module declares),
:class:`Finding`, the audit's :class:`Context`, the formatting helpers, and the
registry of kinds.

The registry holds the kinds of the modules in this folder (found on first use;
each module's ``KIND``) and any kind given to :func:`register`, run and listed in
the order of their ``order``.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from ...engine.findings import Step
from ...messages import default_catalogue

EVIDENCE = 5
DIMENSIONS = ("trips", "documents", "steps", "time")  # 四减: 减跑动, 减材料, 减环节, 减时间
# what a kind may require of the log (:attr:`Kind.requires`): the audit's facts about it
REQUIREMENTS = ("trips", "materials", "departments", "service_time", "sla")


@dataclass(frozen=True)
class Kind:
    """A finding kind, declared once in its own module as ``KIND``.

    - ``name``: the finding's ``kind`` (its sentence is the message ``finding.<name>``,
      its action ``action.<name>``);
    - ``dimension``: which of 四减 it reduces (``trips``, ``documents``, ``steps``, ``time``);
      ``dimension_of(finding)``, when given, decides per finding instead;
    - ``label``: its name for a reader, ``{"zh": …, "en": …}``;
    - ``thresholds``: the keys of the rules' ``thresholds:`` it reads, with their defaults;
    - ``aggregate``: the engine step it needs (:class:`procmine.engine.findings.Step`:
      SQL run through the engine handle, so DuckDB and Spark both run it), or None;
    - ``build(ctx, agg)``: turns the aggregates into findings (``ctx.add``) or skips
      (``ctx.skip``);
    - ``requires``: a fact of the log it needs (one of ``REQUIREMENTS``), and ``skip``:
      the message said when the log lacks it;
    - ``legal_breach``: its findings are a breach of a legal limit (always high severity);
    - ``step_activity``: a finding's ``activity``, when set, is one step's name (the
      workbench lists the finding's cases at that step);
    - ``messages``: catalogue entries it brings (``key: {"zh": …, "en": …}``), besides
      those in ``templates/messages/``;
    - ``order``: where it runs and is listed among the kinds (the built-in ones are 10, 20 …)."""

    name: str
    dimension: str
    label: dict
    build: Callable
    aggregate: Step | None = None
    thresholds: dict = field(default_factory=dict)
    requires: str | None = None
    skip: str | None = None
    legal_breach: bool = False
    step_activity: bool = False
    dimension_of: Callable | None = None
    messages: dict = field(default_factory=dict)
    order: float = 1000

    def __post_init__(self) -> None:
        if self.dimension not in DIMENSIONS:
            raise ValueError(f"kind {self.name}: dimension {self.dimension!r} is not one of {', '.join(DIMENSIONS)}")
        if self.requires is not None and self.requires not in REQUIREMENTS:
            raise ValueError(f"kind {self.name}: requires {self.requires!r} is not one of {', '.join(REQUIREMENTS)}")
        if set(self.label) != {"zh", "en"}:
            raise ValueError(f"kind {self.name}: label needs a zh and an en text")

    def threshold(self, rules_thresholds: dict, key: str):
        """The rules' value of ``key``, or this kind's default for it."""
        return rules_thresholds.get(key, self.thresholds[key])


# ----------------------------------------------------------------------------- the registry

_REGISTRY: dict[str, Kind] = {}
_FOUND: list[bool] = []  # whether this folder's modules were read
_CATALOGUE: list = []   # the catalogue with the kinds' messages, built on first use


def _discover() -> None:
    if _FOUND:
        return
    _FOUND.append(True)
    here = Path(__file__).resolve().parent
    for info in sorted(pkgutil.iter_modules([str(here)]), key=lambda i: i.name):
        if info.name == "base" or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__package__}.{info.name}")
        _add(module.KIND)


def _add(kind: Kind) -> None:
    if kind.name in _REGISTRY and _REGISTRY[kind.name] is not kind:
        raise ValueError(f"finding kind {kind.name!r} is registered twice")
    _REGISTRY[kind.name] = kind
    _CATALOGUE.clear()


def register(kind: Kind) -> Kind:
    """Add a kind defined outside this folder (a plug-in, a test); returns it."""
    _discover()
    _add(kind)
    return kind


def unregister(name: str) -> None:
    """Take a kind given to :func:`register` away again."""
    _discover()
    _REGISTRY.pop(name, None)
    _CATALOGUE.clear()


def registered() -> tuple[Kind, ...]:
    """Every kind, in their order (ties: by name)."""
    _discover()
    return tuple(sorted(_REGISTRY.values(), key=lambda k: (k.order, k.name)))


def kind_of(name: str) -> Kind:
    _discover()
    return _REGISTRY[name]


def catalogue():
    """The message catalogue with every kind's label (``kind.<name>``) and messages."""
    if not _CATALOGUE:
        base = default_catalogue()
        extra: dict[str, dict[str, str]] = {}
        for k in registered():
            for key, texts in {f"kind.{k.name}": k.label, **k.messages}.items():
                if key in base.entries or key in extra:
                    raise ValueError(f"message {key!r} of finding kind {k.name} is defined twice")
                extra[key] = dict(texts)
        _CATALOGUE.append(type(base)({**base.entries, **extra}))
    return _CATALOGUE[0]


def say(key: str, lang: str = "zh", **params) -> str:
    """:func:`procmine.messages.say` with the kinds' messages too."""
    return catalogue().say(key, lang, **params)


# ----------------------------------------------------------------------------- findings


@dataclass
class Finding:
    kind: str
    service: str
    cases: int
    impact: float
    unit: str  # trips | documents | steps | work_hours | working_days | cases
    evidence: list[str]
    params: dict  # what the summary states; summary = say("finding." + kind, lang, **params)
    severity: str = "low"
    activity: str | None = None
    department: str | None = None
    material: str | None = None
    details: dict = field(default_factory=dict)
    score: float = 0.0
    action: str = ""
    action_key: str = ""

    @property
    def dimension(self) -> str:
        k = kind_of(self.kind)
        return k.dimension_of(self) if k.dimension_of is not None else k.dimension

    @property
    def message(self) -> str:
        return "finding." + self.kind

    @property
    def summary(self) -> str:
        return self.text("zh")

    def text(self, lang: str = "zh") -> str:
        return say(self.message, lang, **self.params)

    def to_dict(self) -> dict:
        out = {"kind": self.kind, "service": self.service}
        for key in ("activity", "department", "material"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        out.update({"dimension": self.dimension, "cases": self.cases,
                    "impact": {"value": rnd(self.impact), "unit": self.unit},
                    "evidence": self.evidence, "severity": self.severity, "summary": self.summary,
                    "action": self.action})
        if self.details:
            out["details"] = self.details
        return out


class Context:
    """What a kind's ``build`` reads (the measured log ``m``, its ``cases``, ``calendar``,
    the ``rules`` and their thresholds ``t``, the side ``log`` of ratings and applicants)
    and where it writes (:meth:`add`, :meth:`skip`)."""

    def __init__(self, m, rules, log: pd.DataFrame | None = None) -> None:
        self.rules = rules
        self.t = rules.thresholds
        self.min_cases = int(self.t.get("min_cases", 5))
        self.m = m
        self.log = log
        self.calendar = self.m.calendar
        self.cases = self.m.cases
        self.service_cases = self.cases.groupby("service").size().to_dict()
        self.findings: list[Finding] = []
        self.skipped: list[dict] = []

    def add(self, f: Finding) -> None:
        if f.cases < self.min_cases or f.impact <= 0:
            return
        # a finding across services (a 一件事 candidate, a rating driver) is measured against all cases
        share = f.cases / max(self.service_cases.get(f.service, len(self.cases)), 1)
        f.severity = ("high" if kind_of(f.kind).legal_breach or share >= self.t.get("severity_high_share", 0.5) else
                      "medium" if share >= self.t.get("severity_medium_share", 0.2) else "low")
        f.details = {"share_of_cases": round(share, 4), **f.details}
        f.score = f.impact * self.rules.ranking_hours.get(f.unit, 1.0)
        f.action_key = f.action_key or f"action.{f.kind}"
        f.action = say(f.action_key, "zh")
        self.findings.append(f)

    def skip(self, kind: str, key: str, service: str | None = None, **params) -> None:
        entry = {"kind": kind, "reason": say(key, "en", service=service or "", **params), "message": key,
                 "params": {"service": service or "", **params}}
        if service is not None:
            entry["service"] = service
        self.skipped.append(entry)


# ----------------------------------------------------------------------------- helpers


def rnd(x: float | None, nd: int = 2):
    """A number for JSON: an integer when whole, else rounded; None for nothing or not finite."""
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return None
    x = float(x)
    return int(x) if x.is_integer() else round(x, nd)


def evidence_ids(ids: pd.Series, weight: pd.Series | None = None) -> list[str]:
    """Up to EVIDENCE case ids, heaviest first (ties: by id); an id counts once, with
    the weight of its first occurrence."""
    names = np.asarray(pd.Series(ids).astype(str).to_numpy(), dtype=object)
    if not len(names):
        return []
    uniq, first = np.unique(names, return_index=True)  # sorted ids, where each first occurs
    if weight is None:
        return uniq[:EVIDENCE].tolist()
    w = pd.Series(weight).to_numpy(dtype=float, na_value=np.nan)[first]
    order = np.argsort(-w, kind="stable")  # by weight, descending; ids ascending within; NaN last
    return uniq[order[:EVIDENCE]].tolist()


def top_names(counts, k: int = 3) -> str:
    """The ``k`` largest counts (ties: by name) of a name → count mapping, as 名(n)、名(n)."""
    items = sorted(((str(name), int(n)) for name, n in counts.items()), key=lambda x: (-x[1], x[0]))[:k]
    return "、".join(f"{name}({n})" for name, n in items)


def fmt(x: float, nd: int = 1) -> str:
    x = float(x)
    return f"{x:,.0f}" if abs(x) >= 100 or x.is_integer() else f"{x:,.{nd}f}"


def pct(x: float) -> str:
    return f"{x:.0%}"


def work_hours(us) -> float:
    """Integer microseconds (an engine sum) → hours."""
    return float(us) / 3_600_000_000 if us is not None and us == us else 0.0


def counts(frame: pd.DataFrame, keys: list[str], name: str) -> dict[tuple, dict[str, int]]:
    """An aggregate's rows (keys…, name, n) → {key: {name: count, names ascending}}."""
    out: dict[tuple, dict[str, int]] = {}
    if frame.empty:
        return out
    frame = frame[frame[name].notna()].sort_values(keys + [name], kind="stable")
    cols = [frame[k].astype(object).to_numpy() for k in keys]
    names = frame[name].astype(object).to_numpy()
    ns = frame["n"].to_numpy(dtype="int64")
    for i in range(len(frame)):
        d = out.setdefault(tuple(c[i] for c in cols), {})
        d[str(names[i])] = d.get(str(names[i]), 0) + int(ns[i])
    return out


def statutory(g: pd.DataFrame) -> int | None:
    """How many of these cases are past the statutory limit too (the case model's flag)."""
    if "over_statute" not in g:
        return None
    return int(g["over_statute"].astype("boolean").fillna(False).astype(bool).sum())
