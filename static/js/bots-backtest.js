// A backtest's equity curve: the points come from the page (json_script),
// drawn with lightweight-charts once the report is on the page (at load, or
// when the progress poll swaps the finished report in).
(function () {
  function draw() {
    const el = document.getElementById("equity-chart");
    const data = document.getElementById("equity-data");
    if (!el || !data || el.dataset.drawn || !window.LightweightCharts || !window.NexusCharts) return;
    el.dataset.drawn = "1";
    const chart = window.NexusCharts.create(el);
    const series = chart.addSeries(window.LightweightCharts.LineSeries, window.NexusCharts.line);
    series.setData(JSON.parse(data.textContent));
    chart.timeScale().fitContent();
  }
  document.addEventListener("DOMContentLoaded", draw);
  document.addEventListener("htmx:afterSettle", draw);
  if (document.readyState !== "loading") draw();
})();
