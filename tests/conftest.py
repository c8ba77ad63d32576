from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from openpyxl import Workbook

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"


def build_workbook(path: Path, sheets: dict[str, list[list]], merges: dict[str, list[str]] | None = None) -> Path:
    """Write a workbook: {sheet name: rows}, optional {sheet: ["A3:A5", …]} merges."""
    wb = Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
        for ref in (merges or {}).get(name, []):
            ws.merge_cells(ref)
    wb.save(path)
    return path


@pytest.fixture
def workbook(tmp_path):
    def make(sheets, merges=None, name="export.xlsx"):
        return build_workbook(tmp_path / name, sheets, merges)
    return make


HEADER = ["办件编号", "事项名称", "办理环节", "承办部门", "经办人", "开始时间", "结束时间", "提交材料", "是否到场", "承诺时限"]


def T(day: int, hour: int = 9, minute: int = 0) -> dt.datetime:
    return dt.datetime(2024, 3, day, hour, minute)


_REAL_CACHE: dict = {}


@pytest.fixture(scope="session")
def real_log():
    """Import a shared real log once per test session (they are large)."""
    import procmine

    def get(name):
        path = SHARED / name
        if not path.exists():
            pytest.skip(f"{path} not present")
        if name not in _REAL_CACHE:
            _REAL_CACHE[name] = procmine.read_export(path)
        return _REAL_CACHE[name]
    return get
