// The staff analytics page's charts (the figures come from the page, json_script):
// new users per day as bars, and per realm and currency the day's stakes as bars
// with the number of contracts as a line on the left scale.
(function () {
  const colors = { volume: "#3b82f6", contracts: "#f59e0b", users: "#14b8a6" };
  const counts = { type: "price", precision: 0, minMove: 1 };

  function chartFor(el) {
    const chart = window.NexusCharts.create(el);
    chart.applyOptions({
      timeScale: { timeVisible: false, secondsVisible: false },
      leftPriceScale: { visible: true },
    });
    return chart;
  }

  function draw() {
    const data = document.getElementById("analytics-data");
    if (!data || !window.LightweightCharts || !window.NexusCharts) return;
    const all = JSON.parse(data.textContent);
    const LWC = window.LightweightCharts;
    document.querySelectorAll(".analytics-chart[data-series]").forEach((el) => {
      if (el.dataset.drawn) return;
      const key = el.dataset.series;
      if (key === "users") {
        if (!all.users || !all.users.length) return;
        el.dataset.drawn = "1";
        const chart = chartFor(el);
        chart.applyOptions({ leftPriceScale: { visible: false } });
        chart
          .addSeries(LWC.HistogramSeries, { color: colors.users, title: "new users", priceFormat: counts })
          .setData(all.users);
        chart.timeScale().fitContent();
        return;
      }
      const s = (all.realms || {})[key];
      if (!s) return;
      el.dataset.drawn = "1";
      const chart = chartFor(el);
      chart.addSeries(LWC.HistogramSeries, { color: colors.volume, title: "stakes" }).setData(s.volume);
      chart
        .addSeries(LWC.LineSeries, {
          color: colors.contracts, lineWidth: 2, title: "contracts", priceScaleId: "left", priceFormat: counts,
        })
        .setData(s.contracts);
      chart.timeScale().fitContent();
    });
  }
  document.addEventListener("DOMContentLoaded", draw);
  if (document.readyState !== "loading") draw();
})();
