"""Draw a :class:`~procmine.analysis.discover.ProcessMap` with Graphviz (renders only; computes nothing).

Chinese labels need a CJK font: the set-up installs Noto Sans CJK and every
graph names it explicitly. Labels are escaped (backslashes, quotes, newlines,
and ``<…>`` that DOT would read as HTML), so any step name is safe.
"""

from __future__ import annotations

from pathlib import Path

import graphviz

from .discover import ProcessMap
from ..errors import InputError, UsageError
from ..log.eventlog import write_atomic
from ..messages import say

FONT = "Noto Sans CJK SC"
FORMATS = ("svg", "png", "pdf", "dot")


def _text(value: object) -> str:
    """One line of label text, safe for DOT."""
    s = " ".join(str(value).replace("\r", " ").split("\n")).strip()
    return s.replace("\\", "\\\\").replace('"', '\\"')


def _label(*lines: object) -> graphviz.nohtml:
    return graphviz.nohtml("\\n".join(_text(x) for x in lines if x not in (None, "")))


def _h(x: float, unit: str, lang: str = "zh") -> str:
    if x != x:  # NaN
        return "—"
    if unit == "working_days":
        return say("report.map.days", lang, n=f"{x:.1f}")
    if unit == "office_days":
        return say("report.map.office_days", lang, n=f"{x:.1f}")
    return say("report.map.minutes", lang, n=f"{x * 60:.0f}") if x < 1 else say("report.map.hours", lang, n=f"{x:.1f}")


def _shade(value: float, top: float) -> str:
    level = 0 if top <= 0 else min(value / top, 1)
    r, g, b = (int(235 - 170 * level), int(243 - 120 * level), int(255 - 40 * level))
    return f"#{r:02x}{g:02x}{b:02x}"


def to_graphviz(pm: ProcessMap, *, title: str | None = None, lanes: bool = False, lang: str = "zh") -> graphviz.Digraph:
    def t(key: str, **params) -> str:
        return say("report.map." + key, lang, **params)

    g = graphviz.Digraph("procmine", graph_attr={"rankdir": "TB", "fontname": FONT, "labelloc": "b", "fontsize": "11",
                                                  "nodesep": "0.35", "ranksep": "0.45"},
                         node_attr={"fontname": FONT, "shape": "box", "style": "rounded,filled", "fontsize": "11"},
                         edge_attr={"fontname": FONT, "fontsize": "9", "color": "#5b6b84"})
    ids = {name: f"n{i}" for i, name in enumerate(pm.nodes["name"])}
    timed = pm.metric in ("waiting", "service")
    top_events = float(pm.nodes["events"].max() or 1)
    top_time = float(pm.nodes["time_p50"].max()) if timed and pm.nodes["time_p50"].notna().any() else 0
    node_lines = {}
    for rec in pm.nodes.itertuples(index=False):
        if pm.metric == "service" or (pm.view == "department" and pm.metric == "waiting"):
            detail = t("node_time", p50=_h(rec.time_p50, pm.unit, lang), p90=_h(rec.time_p90, pm.unit, lang))
            fill = _shade(rec.time_p50 if rec.time_p50 == rec.time_p50 else 0, top_time)
        else:
            detail = t("node_count", events=rec.events, cases=rec.cases)
            fill = _shade(rec.events, top_events)
        node_lines[rec.name] = (_label(rec.name, detail), fill)
    if lanes and pm.view == "activity" and pm.lanes:
        by_lane: dict[str, list[str]] = {}
        for name in pm.nodes["name"]:
            by_lane.setdefault(pm.lanes.get(name, t("unlaned")), []).append(name)
        for k, (lane, names) in enumerate(sorted(by_lane.items())):
            with g.subgraph(name=f"cluster_{k}") as c:
                c.attr(label=_label(lane), style="rounded,dashed", color="#9aa8bd", fontname=FONT)
                for name in names:
                    c.node(ids[name], label=node_lines[name][0], fillcolor=node_lines[name][1])
    else:
        for name, (label, fill) in node_lines.items():
            g.node(ids[name], label=label, fillcolor=fill)
    g.node("start", label=_label(t("start")), shape="circle", style="filled", fillcolor="#c8e6c9", fontsize="10")
    g.node("end", label=_label(t("end")), shape="doublecircle", style="filled", fillcolor="#ffcdd2", fontsize="10")
    top_count = float(pm.edges["count"].max()) if len(pm.edges) else 1
    for name, n in sorted(pm.starts.items()):
        if name in ids:
            g.edge("start", ids[name], label=_label(n), style="dashed")
    for name, n in sorted(pm.ends.items()):
        if name in ids:
            g.edge(ids[name], "end", label=_label(n), style="dashed")
    for rec in pm.edges.itertuples(index=False):
        if rec.source not in ids or rec.target not in ids:
            continue
        width = 0.6 + 4 * (rec.count / top_count)
        if pm.metric == "waiting":
            label = _label(f"{rec.count}", t("edge_wait", p50=_h(rec.wait_p50, pm.unit, lang),
                                              p90=_h(rec.wait_p90, pm.unit, lang)))
        else:
            label = _label(rec.count)
        g.edge(ids[rec.source], ids[rec.target], label=label, penwidth=f"{width:.2f}")
    h = pm.hidden
    foot = [title or "", t("footer", cases=pm.cases, view=t(f"view.{'activity' if pm.view == 'activity' else 'department'}"),
                           metric=t(f"metric.{pm.metric}"))]
    if timed and pm.unit == "office_days":  # the legend: what the times are in
        foot.append(t("unit.office_days"))
    if h and (h.get("nodes") or h.get("edges")):
        foot.append(t("hidden", nodes=h["nodes_total"] - h["nodes"], nodes_total=h["nodes_total"],
                      edges=h["edges_total"] - h["edges"], edges_total=h["edges_total"], share=f"{h['edge_share']:.1%}"))
    if pm.filters:
        foot.append(t("filters", filters=", ".join(f"{k}={v}" for k, v in pm.filters.items())))
    g.attr(label=_label(*foot))
    return g


def render_map(pm: ProcessMap, path: str | Path, *, title: str | None = None, lanes: bool = False,
               lang: str = "zh") -> Path:
    """Write the map as .svg, .png, .pdf or .dot (atomically).

    >>> render_map(discover_map(log), "out/map.svg")   # doctest: +SKIP
    """
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise UsageError(f"cannot draw {path.name}: use .svg, .png, .pdf or .dot")
    g = to_graphviz(pm, title=title, lanes=lanes, lang=lang)
    if fmt == "dot":
        return write_atomic(path, lambda tmp: Path(tmp).write_text(g.source, encoding="utf-8"))
    try:
        data = g.pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        raise InputError("Graphviz's `dot` program is not installed",
                         hint="run `make setup` (it installs graphviz), or apt-get install graphviz") from None
    except graphviz.CalledProcessError as exc:
        raise InputError(f"Graphviz failed to draw the map: {str(exc.stderr or exc)[:300]}") from None
    return write_atomic(path, lambda tmp: Path(tmp).write_bytes(data))


def write_model(model, path: str | Path) -> list[Path]:
    """Write a pm4py model picture at ``path`` plus ``.bpmn`` and ``.pnml`` beside it."""
    import warnings

    import pm4py

    net, im, fm, bpmn = model
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("svg", "png", "pdf"):
        raise UsageError(f"cannot draw {path.name}: use .svg, .png or .pdf")
    written = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        written.append(write_atomic(path.with_suffix(".bpmn"), lambda tmp: pm4py.write_bpmn(bpmn, str(tmp))))
        written.append(write_atomic(path.with_suffix(".pnml"), lambda tmp: pm4py.write_pnml(net, im, fm, str(tmp))))
        try:
            written.append(write_atomic(path, lambda tmp: pm4py.save_vis_bpmn(bpmn, str(tmp), font_size=11)))
        except TypeError:
            written.append(write_atomic(path, lambda tmp: pm4py.save_vis_bpmn(bpmn, str(tmp))))
    return written
