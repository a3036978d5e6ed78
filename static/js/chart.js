// The trading page's chart. History comes from the server (stored candles or
// ticks); live updates come from the quote fragment the WebSocket pushes, so
// the page keeps one socket. A gap in tick sequence numbers is filled from
// the server before the chart moves on.
(function () {
  const el = document.getElementById("chart");
  if (!el || !window.LightweightCharts || !window.NexusCharts) return;
  const LC = window.LightweightCharts;
  const look = window.NexusCharts;
  const symbol = el.dataset.symbol;
  const urls = { candles: el.dataset.candlesUrl, ticks: el.dataset.ticksUrl, markers: el.dataset.markersUrl };

  const chart = look.create(el);

  let timeframe = el.dataset.timeframe || "ticks";
  let series = null;
  let markerLayer = null;
  let lastSeq = null;
  let live = null; // the last bar: {time, value} or {time, open, high, low, close}
  let loading = Promise.resolve();

  const secondOf = (ms) => Math.floor(ms / 1000);
  const bucketOf = (ms) => secondOf(ms) - (secondOf(ms) % Number(timeframe));

  function applyTick(tick) {
    if (lastSeq !== null && tick.seq <= lastSeq) return;
    lastSeq = tick.seq;
    const price = Number(tick.price);
    if (timeframe === "ticks") {
      // One point per second: lightweight-charts needs increasing times.
      live = { time: secondOf(tick.ms), value: price };
    } else {
      const start = bucketOf(tick.ms);
      if (live && live.time === start) {
        live = { ...live, high: Math.max(live.high, price), low: Math.min(live.low, price), close: price };
      } else {
        live = { time: start, open: price, high: price, low: price, close: price };
      }
    }
    series.update(live);
  }

  async function fetchJson(url) {
    const response = await fetch(url, { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`${url}: ${response.status}`);
    return response.json();
  }

  async function loadMarkers() {
    const { markers } = await fetchJson(`${urls.markers}?market=${encodeURIComponent(symbol)}`);
    const toTime = (t) => (timeframe === "ticks" ? t : t - (t % Number(timeframe)));
    const shapes = markers.map((m) =>
      m.kind === "entry"
        ? {
            time: toTime(m.time),
            position: m.direction === "RISE" ? "belowBar" : "aboveBar",
            shape: m.direction === "RISE" ? "arrowUp" : "arrowDown",
            color: m.direction === "RISE" ? look.colors.up : look.colors.down,
            text: `#${m.id}`,
          }
        : {
            time: toTime(m.time),
            position: "inBar",
            shape: "circle",
            color: m.status === "WON" ? look.colors.up : m.status === "LOST" ? look.colors.down : look.colors.muted,
            text: m.status,
          },
    );
    if (markerLayer) markerLayer.setMarkers(shapes);
    else markerLayer = LC.createSeriesMarkers(series, shapes);
  }

  async function load() {
    if (series) chart.removeSeries(series);
    markerLayer = null;
    live = null;
    if (timeframe === "ticks") {
      series = chart.addSeries(LC.LineSeries, look.line);
      const { ticks } = await fetchJson(`${urls.ticks}?limit=600`);
      lastSeq = null;
      const points = new Map();
      for (const t of ticks) points.set(secondOf(t.ms), Number(t.price));
      series.setData([...points].map(([time, value]) => ({ time, value })));
      if (ticks.length) {
        const t = ticks[ticks.length - 1];
        lastSeq = t.seq;
        live = { time: secondOf(t.ms), value: Number(t.price) };
      }
    } else {
      series = chart.addSeries(LC.CandlestickSeries, look.candles);
      const [{ candles }, { ticks }] = await Promise.all([
        fetchJson(`${urls.candles}?tf=${timeframe}&limit=300`),
        fetchJson(`${urls.ticks}?limit=1`),
      ]);
      const bars = candles.map((c) => ({ time: c.time, open: +c.open, high: +c.high, low: +c.low, close: +c.close }));
      series.setData(bars);
      live = bars.length ? bars[bars.length - 1] : null;
      lastSeq = ticks.length ? ticks[0].seq : null;
    }
    chart.timeScale().scrollToRealTime();
    await loadMarkers();
  }

  async function onQuote(quote) {
    if (quote.dataset.symbol !== symbol || !quote.dataset.seq || !quote.dataset.ms) return;
    // Runs chained after any (re)load: `loading` serializes history fetches and live ticks.
    const tick = { seq: Number(quote.dataset.seq), ms: Number(quote.dataset.ms), price: quote.dataset.price };
    if (lastSeq !== null && tick.seq > lastSeq + 1) {
      // Missed ticks (slow network, reconnect): fetch them in order first.
      const { ticks } = await fetchJson(`${urls.ticks}?after=${lastSeq}&limit=2000`);
      ticks.forEach(applyTick);
    }
    applyTick(tick);
  }

  function switchTo(next) {
    for (const b of document.querySelectorAll("[data-tf]")) b.setAttribute("aria-pressed", b.dataset.tf === next);
    // In the chain, so ticks queued before the switch land on the series they were meant for.
    loading = loading
      .then(() => {
        timeframe = next;
        return load();
      })
      .catch(console.warn);
  }

  let positionsVersion = null;
  document.addEventListener("htmx:wsAfterMessage", () => {
    const quote = document.getElementById("quote");
    if (quote) loading = loading.then(() => onQuote(quote)).catch(console.warn);
    const positions = document.getElementById("positions");
    if (positions && positions.dataset.version !== positionsVersion) {
      positionsVersion = positions.dataset.version;
      loading = loading.then(loadMarkers).catch(console.warn);
    }
  });
  for (const b of document.querySelectorAll("[data-tf]")) b.addEventListener("click", () => switchTo(b.dataset.tf));

  // For tests and curious traders: the bar the chart is drawing now.
  window.nexusChart = { lastBar: () => live, timeframe: () => timeframe, ready: () => loading };
  switchTo(timeframe);
})();
