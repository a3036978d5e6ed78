// A backtest's equity curve, and the compare page's P&L curves (one series per
// backtest): the points come from the page (json_script), drawn with
// lightweight-charts once they are on the page (at load, or when the progress
// poll swaps the finished report in).
(function () {
  // Series colours, in the order of the compare legend (app.css .series-N).
  const palette = ["#3b82f6", "#f59e0b", "#a855f7", "#14b8a6"];

  function elapsed(seconds) {
    const h = Math.floor(seconds / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    const s = Math.floor(seconds % 60);
    return h ? `+${h}h${String(m).padStart(2, "0")}` : `+${m}m${String(s).padStart(2, "0")}`;
  }

  function drawEquity() {
    const el = document.getElementById("equity-chart");
    const data = document.getElementById("equity-data");
    if (!el || !data || el.dataset.drawn) return;
    el.dataset.drawn = "1";
    const chart = window.NexusCharts.create(el);
    const series = chart.addSeries(window.LightweightCharts.LineSeries, window.NexusCharts.line);
    series.setData(JSON.parse(data.textContent));
    chart.timeScale().fitContent();
  }

  function drawCompare() {
    const el = document.getElementById("compare-chart");
    const data = document.getElementById("compare-data");
    if (!el || !data || el.dataset.drawn) return;
    el.dataset.drawn = "1";
    const chart = window.NexusCharts.create(el);
    // Times are seconds since each run's first tick: show them as elapsed time.
    chart.applyOptions({
      localization: { timeFormatter: elapsed },
      timeScale: { tickMarkFormatter: elapsed },
    });
    JSON.parse(data.textContent).forEach((curve, i) => {
      const series = chart.addSeries(window.LightweightCharts.LineSeries, {
        color: palette[i % palette.length],
        lineWidth: 2,
        title: curve.name,
      });
      series.setData(curve.points);
    });
    chart.timeScale().fitContent();
  }

  function draw() {
    if (!window.LightweightCharts || !window.NexusCharts) return;
    drawEquity();
    drawCompare();
  }
  document.addEventListener("DOMContentLoaded", draw);
  document.addEventListener("htmx:afterSettle", draw);
  if (document.readyState !== "loading") draw();
})();
