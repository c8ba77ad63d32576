"""Property: any workbook either imports with the accounting adding up, or
fails with one of procmine's own errors (a message, exit 1/2) — never a crash."""

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import procmine
from procmine.cli import main
from conftest import build_workbook

HEADERS = ["办件编号", "业务流水号", "办理环节", "节点名称", "承办部门", "经办人", "开始时间", "结束时间", "提交材料",
           "是否到场", "承诺时限", "事项名称", "受理时间", "审批时间", "备注", "", "办件编号 ", "ＩＤ", "时间"]
cell = st.one_of(
    st.none(), st.text(max_size=30), st.integers(-10**18, 10**18), st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(), st.datetimes(min_value=dt.datetime(1900, 3, 1), max_value=dt.datetime(2100, 1, 1)),
    st.sampled_from(["2024/3/5 9:12", "2024年3月5日", "合计", "是", "10个工作日", "=1+1", "3.1E+17", "\u3000", "x" * 300]),
)


@st.composite
def sheets(draw):
    ncols = draw(st.integers(1, 8))
    header = draw(st.lists(st.sampled_from(HEADERS), min_size=ncols, max_size=ncols))
    rows = draw(st.lists(st.lists(cell, min_size=ncols, max_size=ncols), max_size=12))
    title = draw(st.lists(st.lists(cell, max_size=3), max_size=2))
    merges = []
    if rows and draw(st.booleans()):
        top = len(title) + 2
        merges.append(f"A{top}:A{top + draw(st.integers(0, len(rows) - 1))}")
    return title + [header] + rows, merges


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.lists(sheets(), min_size=1, max_size=3))
def test_fuzzed_workbooks(tmp_path_factory, data):
    tmp = tmp_path_factory.mktemp("fuzz")
    book = {f"s{i}": rows for i, (rows, _) in enumerate(data)}
    merges = {f"s{i}": m for i, (_, m) in enumerate(data)}
    try:
        path = build_workbook(tmp / "f.xlsx", book, merges)
    except Exception:
        return  # openpyxl refused to write this one (illegal characters): not our input
    try:
        r = procmine.read_export(path)
    except procmine.ProcmineError as exc:
        assert str(exc)
    else:
        assert r.rows_read == sum(s.rows_used for s in r.sheets) + r.duplicates + len(r.rejects)
        assert r.events >= sum(s.rows_used for s in r.sheets if s.layout == "long") - r.duplicates
    code = main(["import", str(path), "-o", str(tmp / "o.parquet"), "--json"])
    assert code in (0, 1, 2)
