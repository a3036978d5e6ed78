// A contract's page: its ticks, from just before the purchase to the exit
// (or now), with the entry and exit marked. The data comes with the page
// (a JSON block the server renders; a long contract's ticks come thinned).
// Every tick sent is its own point, however close in time: the time axis
// counts ticks and its labels show each one's clock time (UTC).
(function () {
  const el = document.getElementById("contract-chart");
  const source = document.getElementById("contract-chart-data");
  if (!el || !source || !window.LightweightCharts || !window.NexusCharts) return;
  const LC = window.LightweightCharts;
  const look = window.NexusCharts;
  const data = JSON.parse(source.textContent);
  const priceFormat = { type: "price", precision: data.decimals, minMove: 10 ** -data.decimals };
  const clock = (ms) => new Date(ms).toISOString().slice(11, 19);
  const label = (index) => (data.ticks[index - 1] ? clock(data.ticks[index - 1][0]) : "");

  const chart = look.create(el);
  chart.applyOptions({ localization: { timeFormatter: label }, timeScale: { tickMarkFormatter: label } });
  const series = chart.addSeries(LC.LineSeries, { ...look.line, priceFormat });
  series.setData(data.ticks.map(([, price], i) => ({ time: i + 1, value: Number(price) })));
  // The point of the tick at `ms` (the last one at or before it).
  const pointAt = (ms) => {
    let found = 1;
    data.ticks.forEach(([at], i) => {
      if (at <= ms) found = i + 1;
    });
    return found;
  };

  const rise = data.direction === "RISE";
  const markers = [];
  const lines = [];
  if (data.entry) {
    markers.push({
      time: pointAt(data.entry.ms),
      position: rise ? "belowBar" : "aboveBar",
      shape: rise ? "arrowUp" : "arrowDown",
      color: rise ? look.colors.up : look.colors.down,
      text: "Entry",
    });
    lines.push(series.createPriceLine({ price: Number(data.entry.price), color: look.colors.muted, lineStyle: LC.LineStyle.Dashed, lineWidth: 1, title: "Entry" }));
  }
  if (data.exit) {
    const entry = data.entry ? Number(data.entry.price) : null;
    const exit = Number(data.exit.price);
    const won = entry !== null && (rise ? exit > entry : exit < entry);
    const tie = entry !== null && exit === entry;
    markers.push({
      time: pointAt(data.exit.ms),
      position: "inBar",
      shape: "circle",
      color: tie ? look.colors.muted : won ? look.colors.up : look.colors.down,
      text: "Exit",
    });
    lines.push(series.createPriceLine({ price: exit, color: look.colors.line, lineStyle: LC.LineStyle.Dashed, lineWidth: 1, title: "Exit" }));
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
