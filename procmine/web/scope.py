"""Who may see which case: the one permission rule every page, JSON twin and download asks.

Roles (:data:`ROLES`):

- ``admin`` 管理员: accounts and imports; sees every case.
- ``reform`` 改革办: every service, every case; may import.
- ``dept`` 部门: only the cases its department took part in — a department in the
  case table's ``departments_took_part`` (every department with a step in the
  case, as the case model defines it). Its overview, findings and cards are
  computed on those cases alone.
- ``audit`` 审计: every case, read-only, personal data masked.

"Took part" is read from the case table (:func:`procmine.engine.metrics.measure`'s
``cases``) and nowhere else: this package never derives departments from events.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..errors import ConfigError

ROLES = {"admin": "管理员", "reform": "改革办", "dept": "部门", "audit": "审计"}
TOOK_PART = "departments_took_part"


@dataclass(frozen=True)
class Actor:
    """A signed-in user as the rules see them."""

    name: str
    role: str
    department: str | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}")
        if self.role == "dept" and not self.department:
            raise ValueError("a 部门 account needs its department")

    @property
    def label(self) -> str:
        return ROLES[self.role]

    @property
    def sees_all(self) -> bool:
        return self.role != "dept"

    @property
    def masked(self) -> bool:
        """Whether personal data is masked for this user (审计)."""
        return self.role == "audit"

    @property
    def may_import(self) -> bool:
        return self.role in ("admin", "reform")

    @property
    def may_manage_users(self) -> bool:
        return self.role == "admin"

    @property
    def scope_key(self) -> str:
        """The cache key of what this user sees: one for everybody who sees all, one per department."""
        return "all" if self.sees_all else f"dept:{self.department}"


def _took_part(value, department: str) -> bool:
    if value is None or (not isinstance(value, (list, tuple)) and not hasattr(value, "tolist")):
        return False
    items = value.tolist() if hasattr(value, "tolist") else value
    return department in [str(x) for x in items if x is not None]


def _require_column(cases: pd.DataFrame) -> None:
    if TOOK_PART not in cases.columns:
        raise ConfigError(f"the case table has no {TOOK_PART} column, so a 部门 account's cases cannot be told",
                          hint="update procmine (the case model lists the departments that took part in a case)")


def may_view(actor: Actor, case) -> bool:
    """Whether ``actor`` may see ``case`` (a row of the case table: a mapping or a Series)."""
    if actor.sees_all:
        return True
    try:
        value = case[TOOK_PART]
    except KeyError:
        raise ConfigError(f"the case table has no {TOOK_PART} column, so a 部门 account's cases cannot be told",
                          hint="update procmine (the case model lists the departments that took part in a case)"
                          ) from None
    return _took_part(value, actor.department)


def scope_cases(actor: Actor, cases: pd.DataFrame) -> pd.DataFrame:
    """The rows of the case table ``actor`` may see (a new frame; the caller's is untouched)."""
    if actor.sees_all:
        return cases.copy(deep=False)
    _require_column(cases)
    return cases[took_part_mask(cases, actor.department)].copy(deep=False)


def took_part_mask(cases: pd.DataFrame, department: str) -> pd.Series:
    """Which rows of the case table list ``department`` among the departments that took part
    (exact names; a case without the list is no department's)."""
    _require_column(cases)
    names = cases[TOOK_PART].reset_index(drop=True).explode()  # one row per (case, department)
    hit = (names.astype("string") == department).fillna(False).astype(bool)
    per_case = hit.groupby(level=0).any().reindex(range(len(cases)), fill_value=False)
    return pd.Series(per_case.to_numpy(dtype=bool), index=cases.index)
