// The staff revenue page's charts, one per realm and currency: per day,
// commission and partner markup as stacked histogram bars and the house's
// result as a line (the figures come from the page, json_script).
(function () {
  const colors = { commission: "#3b82f6", markup: "#f59e0b", house: "#a855f7" };

  function stacked(commission, markup) {
    // Stacking: the sum is drawn first, the lower part over it.
    return markup.map((point, i) => ({ time: point.time, value: point.value + commission[i].value }));
  }

  function draw() {
    const data = document.getElementById("revenue-data");
    if (!data || !window.LightweightCharts || !window.NexusCharts) return;
    const all = JSON.parse(data.textContent);
    document.querySelectorAll(".revenue-chart[data-series]").forEach((el) => {
      const s = all[el.dataset.series];
      if (!s || el.dataset.drawn) return;
      el.dataset.drawn = "1";
      const chart = window.NexusCharts.create(el);
      chart.applyOptions({ timeScale: { timeVisible: false, secondsVisible: false } });
      const bars = window.LightweightCharts.HistogramSeries;
      chart.addSeries(bars, { color: colors.markup, title: "markup" }).setData(stacked(s.commission, s.markup));
      chart.addSeries(bars, { color: colors.commission, title: "commission" }).setData(s.commission);
      chart
        .addSeries(window.LightweightCharts.LineSeries, { color: colors.house, lineWidth: 2, title: "house" })
        .setData(s.house);
      chart.timeScale().fitContent();
    });
  }
  document.addEventListener("DOMContentLoaded", draw);
  if (document.readyState !== "loading") draw();
})();
