"""`procmine suggest` writes YAML that `redesign` reads back, whatever the names contain."""

import pandas as pd
import pytest
import yaml

import procmine
from procmine.analysis.redesign import _yaml_name, load_plan, redesign, suggest
from conftest import ROOT

ODD_SUFFIXES = ['：「加急」', ': 第1步 #1', ' "引号"', "'单引号'", "，全角。；", " & *星号", "\t制表"]
ODD_PREFIXES = ["- ", "* ", "&锚 ", "#", "! ", "? ", "| ", "> ", "@", "`", "% ", "[", "{"]


@pytest.mark.parametrize("name", ["审核: 签发", "a'b", '"x"', "#tag", "- lead", "* star", "&anchor", "*alias",
                                  "全角：，。「」", "yes", "null", "123", "~", "  sp ", "a\nb", "a, b", "[x]", "{x}",
                                  "!tag", "%x", "@x", "`x", "|x", ">x", "?x", "x #y", "\x07"])
def test_one_name_reads_back_exactly(name):
    text = _yaml_name(name)
    assert "\n" not in text
    assert yaml.safe_load(f"k: {text}")["k"] == name
    assert yaml.safe_load(f"k: [{text}, {text}]")["k"] == [name, name]


@pytest.fixture(scope="module")
def sample():
    return procmine.read_export(ROOT / "logs").log


def _rename(log: pd.DataFrame) -> tuple[pd.DataFrame, dict, dict, dict]:
    """Every step, department and service gets odd characters. Steps keep their
    start (the rules classify steps by how they begin), departments and services
    also get odd leading characters."""
    acts = {a: a + ODD_SUFFIXES[i % len(ODD_SUFFIXES)]
            for i, a in enumerate(sorted(log["activity"].dropna().unique()))}
    depts = {d: ODD_PREFIXES[i % len(ODD_PREFIXES)] + d + ": 科"
             for i, d in enumerate(sorted(log["department"].dropna().unique()))}
    services = {s: "- &* " + s + "：'一件事' #2" for s in log["service"].dropna().unique()}  # order kept
    out = log.assign(activity=log["activity"].map(acts).astype(log["activity"].dtype),
                     department=log["department"].map(depts).astype(log["department"].dtype),
                     service=log["service"].map(services).astype(log["service"].dtype))
    return out, acts, depts, services


def test_suggest_round_trip_with_odd_names(sample, tmp_path):
    plain_text = suggest(sample)
    odd, acts, depts, services = _rename(sample)
    text = suggest(odd)
    path = tmp_path / "plan.yaml"
    path.write_text(text, encoding="utf-8")
    plan = load_plan(path)

    plain_path = tmp_path / "plain.yaml"
    plain_path.write_text(plain_text, encoding="utf-8")
    plain = load_plan(plain_path)
    # the same changes, each name the renamed one exactly
    assert len(plain.changes) >= 3
    assert plan.service == services[plain.service] and plan.name == services[plain.service] + " 优化方案（草稿）"

    def key(ch, a=lambda n: n, d=lambda n: n):
        names = ch.names if ch.kind in ("share", "bundle") else [a(n) for n in ch.names]
        return (ch.kind, tuple(names), d(ch.department) if ch.department else None, a(ch.into) if ch.into else None)

    assert sorted(map(key, plan.changes)) == sorted(key(ch, acts.get, depts.get) for ch in plain.changes)
    # and redesign accepts the plan on the renamed log, with the same result
    r_odd, r_plain = redesign(odd, path), redesign(sample, plain_path)
    # (a measure the log cannot support, e.g. trips whose delivery is not known, is NaN in both)
    pd.testing.assert_series_equal(r_odd.table["after"].round(6), r_plain.table["after"].round(6))
    assert set(r_odd.table["service"]) - {"全部"} <= set(services.values())


def test_suggest_comments_stay_comments(sample):
    odd, *_ = _rename(sample)
    odd = odd.assign(activity=odd["activity"].str.replace("审核签发", "审核签发\n- remove: 受理", regex=False))
    text = suggest(odd)
    data = yaml.safe_load(text)
    assert all(set(c) & {"remove", "merge", "parallel", "share", "deliver", "online", "cap_wait"} for c in data["changes"])
    assert all(not (isinstance(c.get("remove"), str) and c["remove"].startswith("受理")) for c in data["changes"])
