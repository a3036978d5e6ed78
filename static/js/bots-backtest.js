// A backtest's equity curve: the points come from the page (json_script),
// drawn with lightweight-charts once the report is on the page (at load, or
// when the progress poll swaps the finished report in).
(function () {
  function draw() {
    const el = document.getElementById("equity-chart");
    const data = document.getElementById("equity-data");
    if (!el || !data || el.dataset.drawn || !window.LightweightCharts) return;
    el.dataset.drawn = "1";
    const LC = window.LightweightCharts;
    const chart = LC.createChart(el, {
      autoSize: true,
      // The logo injects an inline <style> our CSP refuses; the page credits TradingView in text instead.
      layout: { background: { color: "#161d26" }, textColor: "#8b98a8", attributionLogo: false },
      grid: { vertLines: { color: "#1e2733" }, horzLines: { color: "#1e2733" } },
      timeScale: { timeVisible: true, secondsVisible: true },
    });
    const series = chart.addSeries(LC.LineSeries, { color: "#3b82f6", lineWidth: 2 });
    series.setData(JSON.parse(data.textContent));
    chart.timeScale().fitContent();
  }
  document.addEventListener("DOMContentLoaded", draw);
  document.addEventListener("htmx:afterSettle", draw);
  if (document.readyState !== "loading") draw();
})();
