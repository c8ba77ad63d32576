// procmine workbench: the little the pages need beyond htmx (no inline scripts: the CSP forbids them)
document.addEventListener("htmx:configRequest", function (evt) {
  // every htmx request carries this session's CSRF token (the forms carry it as a field too)
  var field = document.querySelector("input[name=csrf_token]");
  if (field) { evt.detail.headers["X-CSRF-Token"] = field.value; }
});
// the upload page: one progress bar per chosen file. The files go in one request (one append, one
// version of the dataset), in the order chosen, so the bytes sent so far tell how far each file is
function uploadList() { return document.getElementById("upload-files"); }
document.addEventListener("change", function (evt) {
  var list = uploadList();
  if (!list || evt.target.id !== "files") { return; }
  list.textContent = "";
  Array.prototype.forEach.call(evt.target.files, function (f) {
    var li = document.createElement("li"), name = document.createElement("span"), bar = document.createElement("progress");
    name.className = "upload-name"; name.textContent = f.name + "（" + Math.max(1, Math.round(f.size / 1024)) + " KB）";
    bar.max = 100; bar.value = 0; bar.className = "upload-file-progress"; bar.dataset.size = String(f.size);
    bar.setAttribute("aria-label", f.name);
    li.appendChild(name); li.appendChild(bar); list.appendChild(li);
  });
});
document.addEventListener("htmx:xhr:progress", function (evt) {
  var bar = document.getElementById("upload-progress");
  if (!evt.detail.lengthComputable) { return; }
  if (bar) { bar.value = Math.round(100 * evt.detail.loaded / evt.detail.total); }
  var list = uploadList();
  if (!list) { return; }
  var bars = list.querySelectorAll("progress"), sizes = [], sum = 0;
  bars.forEach(function (b) { var n = Number(b.dataset.size) || 0; sizes.push(n); sum += n; });
  // the body's bytes beyond the files (field names, boundaries) are spread in proportion
  var sent = evt.detail.loaded * (sum / Math.max(evt.detail.total, 1));
  bars.forEach(function (b, i) {
    var done = Math.min(Math.max(sent, 0), sizes[i]);
    b.value = sizes[i] ? Math.round(100 * done / sizes[i]) : (sent >= 0 ? 100 : 0);
    sent -= sizes[i];
  });
});
// the monthly trend (indicators page): data from a JSON block, drawn by the vendored ECharts.
// A provisional month (cases accepted in it still open) is drawn hollow, the line into or out of it
// dashed: each rate is two series of one name (its legend entry toggles both), solid and dashed.
window.addEventListener("load", function () {
  var el = document.getElementById("trend"), src = document.getElementById("trend-data");
  if (!el || !src || !window.echarts) { return; }
  var d = JSON.parse(src.textContent), prov = d.provisional, n = d.months.length;
  var near = prov.map(function (p, i) { return p || (i > 0 && prov[i - 1]) || (i + 1 < n && prov[i + 1]); });
  var colours = ["#305496", "#c2410c", "#047857", "#7c3aed"], series = [];
  d.series.forEach(function (k, j) {
    var c = colours[j % colours.length];
    var v = d.values.map(function (m) { return m[k] === null || m[k] === undefined ? null : Math.round(m[k] * 1000) / 10; });
    // the dashed stretch: hollow points on provisional months (its final neighbours: the solid series' points)
    series.push({ name: d.labels[k], type: "line", color: c, symbol: "circle", symbolSize: 9,
                  lineStyle: { type: "dashed", width: 2 }, tooltip: { show: false },
                  data: v.map(function (x, i) {
                    if (!near[i] || x === null) { return null; }
                    return prov[i] ? { value: x, itemStyle: { color: "#fff", borderColor: c, borderWidth: 2 } }
                                   : { value: x, symbol: "none" }; }) });
    series.push({ name: d.labels[k], type: "line", color: c, symbol: "circle", symbolSize: 8, z: 3,
                  lineStyle: { width: 2.5 }, itemStyle: { color: c },
                  data: v.map(function (x, i) { return prov[i] ? null : x; }) });
  });
  var chart = echarts.init(el, null, { renderer: "svg" });
  chart.setOption({
    animation: false, legend: { top: 0 },
    tooltip: { trigger: "axis", formatter: function (ps) {
      if (!ps.length) { return ""; }
      var i = ps[0].dataIndex, m = d.values[i];
      return d.months[i] + (prov[i] ? "（未结）" : "") + "<br>" + d.series.map(function (k) {
        return d.labels[k] + "：" + (m[k] === null ? "—" : (Math.round(m[k] * 1000) / 10) + "%"); }).join("<br>"); } },
    grid: { left: 50, right: 30, top: 40, bottom: 40 },
    xAxis: { type: "category", data: d.months,
             axisLabel: { formatter: function (v, i) { return prov[i] ? v + "\n未结" : v; } } },
    yAxis: { type: "value", name: "%", min: 0, max: 100 },
    series: series
  });
  window.addEventListener("resize", function () { chart.resize(); });
});
// the process map (map page): Graphviz's layout, drawn by ECharts; a click lists the cases through it
window.addEventListener("load", function () {
  var el = document.getElementById("map"), src = document.getElementById("map-data");
  if (!el || !src || !window.echarts) { return; }
  var d = JSON.parse(src.textContent);
  el.style.height = Math.max(360, Math.min(1400, d.height + 80)) + "px";
  var top = Math.max.apply(null, d.nodes.map(function (n) { return n.events; }).concat([1]));
  var nodes = d.nodes.map(function (n) {
    var shade = Math.round(240 - 80 * n.events / top);
    return { name: n.name, x: n.x, y: n.y, symbol: "roundRect", symbolSize: [n.w, n.h], link: n.link,
             value: n.events, itemStyle: { color: "rgb(" + shade + "," + (shade + 10) + ",255)", borderColor: "#5b6b84" },
             label: { show: true, formatter: n.name + "\n" + n.events, color: "#102a43", fontSize: 11 } };
  });
  var known = {};
  d.nodes.forEach(function (n) { known[n.name] = true; });
  var edges = d.edges.filter(function (e) { return known[e.source] && known[e.target]; }).map(function (e) {
    return { source: e.source, target: e.target, value: e.count, link: e.link,
             label: { show: true, formatter: String(e.count), fontSize: 9 },
             lineStyle: { width: 1 + 4 * e.count / top, color: "#5b6b84", curveness: 0.1 } };
  });
  var chart = echarts.init(el, null, { renderer: "svg" });
  chart.setOption({
    animation: false, tooltip: {},
    series: [{ type: "graph", layout: "none", roam: true, edgeSymbol: ["none", "arrow"], edgeSymbolSize: 8,
               data: nodes, links: edges, emphasis: { focus: "adjacency" } }]
  });
  chart.on("click", function (p) {
    var link = p.data && p.data.link;
    if (typeof link === "string" && link.indexOf("/cases?") === 0) { window.location.href = link; }
  });
  window.addEventListener("resize", function () { chart.resize(); });
});
