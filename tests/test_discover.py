import json
import warnings

import pm4py
import pytest
from click.testing import CliRunner

import procmine
from procmine.cli import cli, main
from procmine.analysis.conform import conform
from procmine.analysis.discover import activity_map, department_map, discover_map, variants
from procmine.analysis.maps import render_map
from conftest import ROOT
from test_audit import mklog
from test_sample_and_real import REAL

warnings.simplefilter("ignore")


@pytest.mark.parametrize("name", [r[0] for r in REAL])
def test_activity_edges_equal_pm4py_dfg_on_real_logs(real_log, name):
    log = real_log(name).log
    dfg, starts, ends = pm4py.discover_dfg(procmine.to_pm4py(log))
    pm = activity_map(log)
    assert {(a, b): c for a, b, c in pm.edges[["source", "target", "count"]].itertuples(index=False)} == dict(dfg)
    assert pm.starts == {str(k): v for k, v in starts.items()} and pm.ends == {str(k): v for k, v in ends.items()}


def test_department_map_equals_pm4py_handover_of_work(real_log):
    log = real_log("receipt.xes.gz").log
    df = procmine.to_pm4py(log)
    sna = pm4py.discover_handover_of_work_network(df, resource_key="org:group")
    pairs = int((df.groupby("case:concept:name").size() - 1).sum())  # pm4py normalises by all consecutive pairs
    theirs = {k: round(v * pairs) for k, v in sna.connections.items() if k[0] != k[1]}
    pm = department_map(log)
    ours = {(a, b): c for a, b, c in pm.edges[["source", "target", "count"]].itertuples(index=False)}
    assert ours == {k: v for k, v in theirs.items() if v}


def test_overlays_use_both_timestamps():
    log = mklog([("A", "受理", "2024-03-04 09:00", "2024-03-04 10:00"), ("A", "审批", "2024-03-04 13:00", "2024-03-04 13:30"),
                 ("B", "受理", "2024-03-05 09:00", "2024-03-05 11:00"), ("B", "审批", "2024-03-05 12:00", "2024-03-05 12:30")])
    pm = activity_map(log, "waiting")
    edge = pm.edges.iloc[0]
    assert (edge["source"], edge["target"], edge["count"]) == ("受理", "审批", 2)
    assert edge["wait_p50"] == pytest.approx(2.0)  # waits 3 h and 1 h
    node = pm.nodes.set_index("name").loc["受理"]
    assert node["time_p50"] == pytest.approx(1.5)


def test_chinese_and_hostile_labels_render(tmp_path):
    names = ["受理", '审批 "加急"', "<script>alert(1)</script>", "A & B", "多行\n环节", "反斜杠\\n"]
    rows = [(f"C{i}", names[k], f"2024-03-0{4 + k % 5} 09:00", f"2024-03-0{4 + k % 5} 10:00")
            for i in range(3) for k in range(len(names))]
    pm = discover_map(mklog(rows))
    svg = render_map(pm, tmp_path / "m.svg").read_text(encoding="utf-8")
    assert "受理" in svg and "&lt;script&gt;alert(1)&lt;/script&gt;" in svg and "A &amp; B" in svg
    assert "<script>" not in svg and "多行 环节" in svg and "反斜杠\\n" in svg
    png = render_map(pm, tmp_path / "m.png")
    import matplotlib.image as mpimg
    pixels = mpimg.imread(png)
    assert pixels.std() > 0.01  # not blank
    assert render_map(pm, tmp_path / "m.pdf").read_bytes()[:4] == b"%PDF"


def test_thresholds_hide_and_say_so():
    rows = [(f"C{i}", f"步骤{k}", f"2024-03-04 {9 + k}:00", f"2024-03-04 {9 + k}:30") for i in range(5) for k in range(8)]
    rows += [("X", "罕见步骤", "2024-03-04 09:00", "2024-03-04 09:30")]
    pm = discover_map(mklog(rows), max_nodes=5)
    assert len(pm.nodes) == 5 and pm.hidden["nodes"] == 4 and pm.hidden["edge_share"] > 0


def test_lanes_cluster_by_department(tmp_path):
    log = mklog([("A", "受理", "2024-03-04 09:00", "2024-03-04 10:00", {"dept": "窗口"}),
                 ("A", "审批", "2024-03-04 13:00", "2024-03-04 13:30", {"dept": "审批科"})])
    from procmine.analysis.maps import to_graphviz
    src = to_graphviz(discover_map(log), lanes=True).source
    assert src.count("subgraph cluster_") == 2 and "审批科" in src


def test_bad_input_messages():
    no_dept = mklog([("A", "受理", "2024-03-04 09:00", None), ("A", "办结", "2024-03-05 09:00", None)])
    with pytest.raises(procmine.UsageError, match="no department values"):
        discover_map(no_dept, view="department")
    with pytest.raises(procmine.UsageError, match="services present: 测试事项"):
        discover_map(no_dept, service="别的事项")


def test_conformance_deviations(tmp_path):
    ref = tmp_path / "ref.yaml"
    ref.write_text("name: 指南\nsteps:\n  - 受理\n  - parallel: [[刻章], [社保]]\n  - optional: 补正\n  - 办结\n",
                   encoding="utf-8")
    rows = []
    for case, seq in {"ok1": ["受理", "刻章", "社保", "办结"], "ok2": ["受理", "社保", "刻章", "补正", "办结"],
                      "skip": ["受理", "刻章", "办结"], "extra": ["受理", "刻章", "社保", "加签", "办结"],
                      "order": ["刻章", "受理", "社保", "办结"], "rep": ["受理", "刻章", "社保", "社保", "办结"]}.items():
        rows += [(case, a, f"2024-03-04 {9 + k}:00", None) for k, a in enumerate(seq)]
    r = conform(mklog(rows), ref)
    assert (r.cases, r.fitting) == (6, 2)
    devs = dict(zip(r.deviations["deviation"], r.deviations["examples"]))
    assert devs["skipped step: 社保"] == ["skip"] and devs["extra step: 加签"] == ["extra"]
    assert devs["repeated step: 社保"] == ["rep"] and any(d.startswith("wrong order") and v == ["order"] for d, v in devs.items())
    fits = r.per_case.set_index("case_id")["fits"]
    assert fits["ok1"] and fits["ok2"] and not fits["skip"]


def test_unreadable_reference_names_the_line(tmp_path, capsys):
    ref = tmp_path / "bad.yaml"
    ref.write_text("name: x\nsteps:\n  - 受理\n  - sometimes: 补正\n", encoding="utf-8")
    with pytest.raises(procmine.ConfigError, match="line 4: unknown key 'sometimes'"):
        conform(mklog([("A", "受理", "2024-03-04 09:00", None)]), ref)


def test_sample_references_and_cli(tmp_path):
    runner = CliRunner()
    log = tmp_path / "log.parquet"
    assert runner.invoke(cli, ["import", str(ROOT / "logs"), "-o", str(log)]).exit_code == 0
    res = runner.invoke(cli, ["conform", str(log), "--reference",
                              str(ROOT / "templates/references/建筑工程施工许可.yaml"), "--json"])
    data = json.loads(res.output)
    assert data["fitting"] == 0 and data["deviations"][0]["deviation"] == "extra step: 复审"
    res = runner.invoke(cli, ["conform", str(log), "--reference", str(ROOT / "templates/references/食品经营许可.yaml"), "--json"])
    # every decided case follows the guide; the cases still open (stopped at 现场核查) lack its last steps
    truth = json.loads((ROOT / "logs" / "ground_truth.json").read_text(encoding="utf-8"))["食品经营许可"]
    data = json.loads(res.output)
    assert data["fitting"] == truth["cases"] - len(truth["open_cases"])
    res = runner.invoke(cli, ["discover", str(log), "-o", str(tmp_path / "m.svg"), "--view", "department", "--json"])
    assert res.exit_code == 0, res.output
    graph = json.loads((tmp_path / "m.json").read_text(encoding="utf-8"))
    edge = {(e["source"], e["target"]): e for e in graph["edges"]}[("税务局", "公积金中心")]
    assert edge["count"] == 1500 and edge["wait_p50"] > 100
    res = runner.invoke(cli, ["discover", str(log), "-o", str(tmp_path / "model.svg"), "--algorithm", "inductive",
                              "--service", "企业开办一件事"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "model.bpmn").stat().st_size > 0 and (tmp_path / "model.pnml").stat().st_size > 0
    res = runner.invoke(cli, ["variants", str(log), "--top", "2", "--json"])
    v = json.loads(res.output)
    assert v["variants"] == len(variants(procmine.read_log(log))) and v["top"][0]["cases"] == 800
    assert main(["discover", str(log), "-o", str(tmp_path / "x.svg"), "--service", "无此事项"]) == 2


def test_variants_equal_pm4py_on_a_real_log(real_log):
    log = real_log("bpic2020/PermitLog.xes.gz").log
    theirs = pm4py.get_variants(procmine.to_pm4py(log))
    ours = variants(log)
    assert len(ours) == len(theirs) == 1402
    assert {tuple(v): int(c) for v, c in zip(ours["variant"], ours["cases"])} == \
        {tuple(k): (len(v) if isinstance(v, list) else int(v)) for k, v in theirs.items()}
