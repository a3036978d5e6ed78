// The dashboard's charts: the account's balance at the end of each day (a
// line) and its net P&L per day (bars, green up, red down), over the range
// the page shows. The data comes with the page (a JSON block the server
// renders); days are the trader's own, as YYYY-MM-DD.
(function () {
  const source = document.getElementById("dashboard-chart-data");
  const equityEl = document.getElementById("equity-chart");
  const dailyEl = document.getElementById("daily-chart");
  if (!source || !equityEl || !dailyEl || !window.LightweightCharts || !window.NexusCharts) return;
  const LC = window.LightweightCharts;
  const look = window.NexusCharts;
  const data = JSON.parse(source.textContent);
  const money = { type: "price", precision: 2, minMove: 0.01 };
  const days = { timeScale: { timeVisible: false, secondsVisible: false } };

  const equity = look.create(equityEl);
  equity.applyOptions(days);
  const line = equity.addSeries(LC.AreaSeries, {
    lineColor: look.colors.line, topColor: "rgba(59, 130, 246, 0.35)", bottomColor: "rgba(59, 130, 246, 0.02)",
    lineWidth: 2, priceFormat: money,
  });
  // Days before the account opened come without a value: blank on the curve.
  line.setData(data.equity.map((p) => (p.value === undefined ? { time: p.time } : { time: p.time, value: Number(p.value) })));
  equity.timeScale().fitContent();

  const daily = look.create(dailyEl);
  daily.applyOptions(days);
  const bars = daily.addSeries(LC.HistogramSeries, { priceFormat: money });
  bars.setData(data.daily.map((d) => {
    const value = Number(d.value);
    return { time: d.time, value, color: value < 0 ? look.colors.down : look.colors.up };
  }));
  daily.timeScale().fitContent();

  // For tests: what the charts draw.
  window.nexusDashboardCharts = {
    equityPoints: () => line.data().filter((p) => p.value !== undefined).length,
    dailyBars: () => bars.data().length,
  };
})();
