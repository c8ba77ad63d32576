// procmine workbench: the little the pages need beyond htmx (no inline scripts: the CSP forbids them)
document.addEventListener("htmx:configRequest", function (evt) {
  // every htmx request carries this session's CSRF token (the forms carry it as a field too)
  var field = document.querySelector("input[name=csrf_token]");
  if (field) { evt.detail.headers["X-CSRF-Token"] = field.value; }
});
document.addEventListener("htmx:xhr:progress", function (evt) {
  var bar = document.getElementById("upload-progress");
  if (bar && evt.detail.lengthComputable) {
    bar.value = Math.round(100 * evt.detail.loaded / evt.detail.total);
  }
});
// the monthly trend (indicators page): data from a JSON block, drawn by the vendored ECharts
window.addEventListener("load", function () {
  var el = document.getElementById("trend"), src = document.getElementById("trend-data");
  if (!el || !src || !window.echarts) { return; }
  var d = JSON.parse(src.textContent);
  var series = d.series.map(function (k) {
    return { name: d.labels[k], type: "line", yAxisIndex: 1,
             data: d.values.map(function (m) { return m[k] === null ? null : Math.round(m[k] * 1000) / 10; }) };
  });
  series.unshift({ name: "办件", type: "bar", data: d.cases, itemStyle: { color: "#bcccdc" } });
  var chart = echarts.init(el, null, { renderer: "svg" });
  chart.setOption({
    animation: false, tooltip: { trigger: "axis" }, legend: { top: 0 },
    grid: { left: 50, right: 50, top: 40, bottom: 30 },
    xAxis: { type: "category", data: d.months },
    yAxis: [{ type: "value", name: "办件" }, { type: "value", name: "%", min: 0, max: 100 }],
    series: series
  });
  window.addEventListener("resize", function () { chart.resize(); });
});
