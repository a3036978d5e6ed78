// A contract's page: its ticks, from just before the purchase to the exit
// (or now), with the entry and exit marked. The data comes with the page
// (a JSON block the server renders); one point per second, as on the
// trade page's chart.
(function () {
  const el = document.getElementById("contract-chart");
  const source = document.getElementById("contract-chart-data");
  if (!el || !source || !window.LightweightCharts || !window.NexusCharts) return;
  const LC = window.LightweightCharts;
  const look = window.NexusCharts;
  const data = JSON.parse(source.textContent);
  const priceFormat = { type: "price", precision: data.decimals, minMove: 10 ** -data.decimals };
  const secondOf = (ms) => Math.floor(ms / 1000);

  const chart = look.create(el);
  const series = chart.addSeries(LC.LineSeries, { ...look.line, priceFormat });
  const points = new Map();
  for (const [ms, price] of data.ticks) points.set(secondOf(ms), Number(price));
  series.setData([...points].map(([time, value]) => ({ time, value })));

  const rise = data.direction === "RISE";
  const markers = [];
  const lines = [];
  if (data.entry) {
    markers.push({
      time: secondOf(data.entry.ms),
      position: rise ? "belowBar" : "aboveBar",
      shape: rise ? "arrowUp" : "arrowDown",
      color: rise ? look.colors.up : look.colors.down,
      text: "Entry",
    });
    lines.push(series.createPriceLine({ price: Number(data.entry.price), color: look.colors.muted, lineStyle: LC.LineStyle.Dashed, lineWidth: 1, title: "Entry" }));
  }
  if (data.exit) {
    const won = rise ? Number(data.exit.price) > Number(data.entry?.price) : Number(data.exit.price) < Number(data.entry?.price);
    markers.push({ time: secondOf(data.exit.ms), position: "inBar", shape: "circle", color: won ? look.colors.up : look.colors.down, text: "Exit" });
    lines.push(series.createPriceLine({ price: Number(data.exit.price), color: look.colors.line, lineStyle: LC.LineStyle.Dashed, lineWidth: 1, title: "Exit" }));
  }
  markers.sort((a, b) => a.time - b.time);
  const layer = LC.createSeriesMarkers(series, markers);
  chart.timeScale().fitContent();

  // For tests: what the chart draws.
  window.nexusContractChart = {
    points: () => series.data().length,
    markers: () => layer.markers(),
    priceLines: () => lines.map((line) => line.options()),
    priceFormat: () => series.options().priceFormat,
  };
})();
