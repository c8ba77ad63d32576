"""The shipped sample and the real public logs in ../shared/data."""

import json

import pytest

import procmine
from conftest import ROOT, SHARED as SHARED_DATA, require_shared


@pytest.fixture(scope="module")
def sample():
    return procmine.read_export(ROOT / "logs")


def test_sample_accounting_adds_up_per_sheet(sample):
    for s in sample.sheets:
        assert s.balanced, s
    assert sample.rows_read == sum(s.rows_used for s in sample.sheets) + sample.duplicates + len(sample.rejects)


def test_sample_has_the_planted_services_and_rejects(sample):
    truth = json.loads((ROOT / "logs" / "ground_truth.json").read_text(encoding="utf-8"))
    counts = sample.log.groupby("service")["case_id"].nunique().to_dict()
    assert counts == {name: t["cases"] for name, t in truth.items() if "cases" in t}
    food = sample.rejects[sample.rejects.file.str.startswith("食品经营许可")]
    planted = {(sheet, row) for sheet, row, _ in truth["食品经营许可"]["planted_rejects"]}
    assert set(zip(food.sheet, food.row)) == planted
    assert {s.layout for s in sample.sheets} == {"long", "wide"}
    # the planted second trips survive import: window pick-ups are in-person steps
    kb = sample.log[sample.log.service == "企业开办一件事"]
    assert (kb.activity == "窗口领取营业执照").sum() == truth["企业开办一件事"]["pickup_trips"]
    assert kb.loc[kb.activity == "窗口领取营业执照", "in_person"].all()


def test_sample_generator_is_deterministic(tmp_path):
    from procmine.samplegen import generate_sample
    generate_sample(tmp_path, scale=0.02)
    first = (tmp_path / "ground_truth.json").read_text(encoding="utf-8")
    r1 = procmine.read_export(tmp_path)
    generate_sample(tmp_path, scale=0.02)
    assert (tmp_path / "ground_truth.json").read_text(encoding="utf-8") == first
    r2 = procmine.read_export(tmp_path)
    assert r1.log.drop(columns=["materials"]).equals(r2.log.drop(columns=["materials"]))


REAL = [  # file, cases, events — as published in ../shared/data/README.md
    ("receipt.xes.gz", 1434, 8577),
    ("bpic15_municipality1.csv.gz", 1199, 52217),
    ("bpic2020/DomesticDeclarations.xes.gz", 10357, 55628),
    ("bpic2020/InternationalDeclarations.xes.gz", 6323, 70727),
    ("bpic2020/PermitLog.xes.gz", 6426, 81092),
    ("bpic2020/PrepaidTravelCost.xes.gz", 2007, 17507),
    ("bpic2020/RequestForPayment.xes.gz", 6760, 36072),
    ("road_traffic_fines.csv.gz", 150370, 561470),
    ("dreyers_fond_grants.csv.gz", 587, 12151),
    ("bpic2012_loans.xes.gz", 13087, 262200),
]


@pytest.mark.parametrize("name, cases, events", REAL, ids=[r[0] for r in REAL])
def test_real_logs_import_with_published_counts(real_log, name, cases, events):
    r = real_log(name)
    assert (r.cases, r.events, r.rows_read, len(r.rejects)) == (cases, events, events, 0)


def test_real_log_excel_round_trip_keeps_counts(real_log, tmp_path):
    r = real_log("receipt.xes.gz")
    out = procmine.write_log(r.log, tmp_path / "receipt.xlsx")
    back = procmine.read_export(out)
    assert (back.cases, back.events, len(back.rejects)) == (1434, 8577, 0)
    assert back.log["department"].nunique() == r.log["department"].nunique() == 10
    a = r.log.sort_values(["case_id", "end_time", "activity"]).reset_index(drop=True)
    b = back.log.sort_values(["case_id", "end_time", "activity"]).reset_index(drop=True)
    assert (a["end_time"].dt.floor("s") == b["end_time"].dt.floor("s")).all()


def test_real_log_reexported_to_excel_with_xes_names(tmp_path):
    """A public log re-exported to Excel the way users do (pandas, XES column names)."""
    import pandas as pd
    import pm4py
    path = require_shared(SHARED_DATA / "bpic2020" / "PrepaidTravelCost.xes.gz")
    df = pm4py.read_xes(str(path), show_progress_bar=False)
    for c in df.columns:
        if isinstance(df[c].dtype, pd.DatetimeTZDtype):
            df[c] = df[c].dt.tz_localize(None)
    df = pd.concat([df, df.iloc[:3]])  # an exact duplicate row stays an event in an event log
    df.to_excel(tmp_path / "prepaid.xlsx", index=False)
    r = procmine.read_export(tmp_path / "prepaid.xlsx")
    assert (r.cases, r.events, len(r.rejects)) == (2007, 17507 + 3, 0)
    assert r.sheets[0].mapping.startswith("long: case_id←case:concept:name; activity←concept:name")
