// The trading page's chart. History comes from the server (stored candles or
// ticks); live updates come from the quote fragment the WebSocket pushes, so
// the page keeps one socket. A gap in tick sequence numbers is filled from
// the server before the chart moves on.
//
// Prices show with the market's own decimals (data-decimals). The trader's
// contracts on this market are drawn over it: a dashed line at each open
// contract's entry spot (titled with what is left of it), a mark at its
// expiry once the chart reaches it, and entries (arrows) and exits (dots:
// green won, red lost, grey mixed or tied) as markers, combined when they
// fall on the same bar (entries with a count) and capped in number.
(function () {
  const el = document.getElementById("chart");
  if (!el || !window.LightweightCharts || !window.NexusCharts) return;
  const LC = window.LightweightCharts;
  const look = window.NexusCharts;
  const symbol = el.dataset.symbol;
  const urls = { candles: el.dataset.candlesUrl, ticks: el.dataset.ticksUrl, markers: el.dataset.markersUrl };
  const decimals = Number(el.dataset.decimals || 2);
  const priceFormat = { type: "price", precision: decimals, minMove: 10 ** -decimals };
  // More than this and markers hide the prices they mark: the latest ones are shown.
  const MAX_MARKERS = 40;

  const chart = look.create(el);

  let timeframe = el.dataset.timeframe || "ticks";
  let series = null;
  let markerLayer = null;
  let lastSeq = null;
  let firstTime = null; // the oldest bar drawn: older markers would pile up on it
  let live = null; // the last bar: {time, value} or {time, open, high, low, close}
  let loading = Promise.resolve();
  let settledMarkers = []; // entries and exits, as the server sent them
  let open = []; // open contracts on this market, as the server sent them
  let lines = new Map(); // contract id -> its entry line
  const tickExpiries = new Map(); // tick contract id -> the time of its exit tick, once seen
  let reloadAsked = false;

  const secondOf = (ms) => Math.floor(ms / 1000);
  const bucketOf = (ms) => secondOf(ms) - (secondOf(ms) % Number(timeframe));
  const toTime = (t) => (timeframe === "ticks" ? t : t - (t % Number(timeframe)));
  const arrow = (direction) => (direction === "RISE" ? "▲" : "▼");
  const directionColor = (direction) => (direction === "RISE" ? look.colors.up : look.colors.down);

  function expiryTime(c) {
    if (c.expires !== null) return live && live.time >= toTime(c.expires) ? toTime(c.expires) : null;
    return tickExpiries.has(c.id) ? toTime(tickExpiries.get(c.id)) : null;
  }

  function timeLeft(c) {
    if (c.expires !== null) {
      const left = Math.max(Math.round(c.expires - Date.now() / 1000), 0);
      return `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
    }
    if (lastSeq === null || c.exit_seq === null) return "";
    const left = Math.max(c.exit_seq - lastSeq, 0);
    return left === 1 ? "1 tick" : `${left} ticks`;
  }

  // One marker per bar and kind: several entries (or exits) on the same bar become one, with a count.
  function markerShapes() {
    const groups = new Map();
    const add = (time, key, item) => {
      if (firstTime !== null && time < firstTime) return;
      const id = `${time}|${key}`;
      if (!groups.has(id)) groups.set(id, { time, key, items: [] });
      groups.get(id).items.push(item);
    };
    for (const m of settledMarkers) add(toTime(m.time), m.kind === "entry" ? `entry-${m.direction}` : "exit", m);
    for (const c of open) {
      const at = expiryTime(c);
      if (at !== null) add(at, "expiry", c);
    }
    const shapes = [...groups.values()].map(({ time, key, items }) => {
      const n = items.length;
      if (key.startsWith("entry")) {
        const direction = items[0].direction;
        return {
          time,
          position: direction === "RISE" ? "belowBar" : "aboveBar",
          shape: direction === "RISE" ? "arrowUp" : "arrowDown",
          color: directionColor(direction),
          text: n > 1 ? `${n}×` : "",
        };
      }
      if (key === "expiry") {
        return { time, position: "aboveBar", shape: "square", color: look.colors.muted, text: n > 1 ? `${n} expire` : "expiry" };
      }
      const statuses = new Set(items.map((m) => m.status));
      const status = statuses.size === 1 ? items[0].status : null;
      return {
        time,
        position: "inBar",
        shape: "circle",
        color: status === "WON" ? look.colors.up : status === "LOST" ? look.colors.down : look.colors.muted,
        text: "",
      };
    });
    shapes.sort((a, b) => a.time - b.time);
    return shapes.slice(-MAX_MARKERS);
  }

  function drawMarkers() {
    const shapes = markerShapes();
    if (markerLayer) markerLayer.setMarkers(shapes);
    else markerLayer = LC.createSeriesMarkers(series, shapes);
  }

  function drawLines() {
    for (const line of lines.values()) series.removePriceLine(line);
    lines = new Map();
    for (const c of open) {
      if (c.entry === null) continue;
      lines.set(
        c.id,
        series.createPriceLine({
          price: Number(c.entry),
          color: directionColor(c.direction),
          lineWidth: 1,
          lineStyle: LC.LineStyle.Dashed,
          axisLabelVisible: true,
          title: `${arrow(c.direction)} #${c.id} ${timeLeft(c)}`,
        }),
      );
    }
  }

  function refreshOpen(tick) {
    let crossed = false;
    for (const c of open) {
      if (c.exit_seq !== null && tick && tick.seq >= c.exit_seq && !tickExpiries.has(c.id)) {
        tickExpiries.set(c.id, secondOf(tick.ms));
        crossed = true;
      }
      if (c.expires !== null && live && live.time >= toTime(c.expires) && !c.drawnExpiry) {
        c.drawnExpiry = true;
        crossed = true;
      }
      const line = lines.get(c.id);
      if (line) line.applyOptions({ title: `${arrow(c.direction)} #${c.id} ${timeLeft(c)}` });
      // The entry tick arrived: ask for the entry spot once.
      if (c.entry === null && lastSeq !== null && lastSeq >= c.entry_seq && !reloadAsked) {
        reloadAsked = true;
        loading = loading.then(loadMarkers).catch(console.warn);
      }
    }
    if (crossed) drawMarkers();
  }

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
    if (firstTime === null) firstTime = live.time;
    series.update(live);
    refreshOpen(tick);
  }

  async function fetchJson(url) {
    const response = await fetch(url, { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`${url}: ${response.status}`);
    return response.json();
  }

  async function loadMarkers() {
    const answer = await fetchJson(`${urls.markers}?market=${encodeURIComponent(symbol)}`);
    reloadAsked = false;
    settledMarkers = answer.markers;
    const known = new Set(answer.open.map((c) => c.id));
    for (const id of tickExpiries.keys()) if (!known.has(id)) tickExpiries.delete(id);
    open = answer.open;
    drawLines();
    drawMarkers();
  }

  async function load() {
    if (series) chart.removeSeries(series);
    markerLayer = null;
    lines = new Map();
    live = null;
    firstTime = null;
    if (timeframe === "ticks") {
      series = chart.addSeries(LC.LineSeries, { ...look.line, priceFormat });
      const { ticks } = await fetchJson(`${urls.ticks}?limit=600`);
      lastSeq = null;
      const points = new Map();
      for (const t of ticks) points.set(secondOf(t.ms), Number(t.price));
      const data = [...points].map(([time, value]) => ({ time, value }));
      series.setData(data);
      if (ticks.length) {
        const t = ticks[ticks.length - 1];
        lastSeq = t.seq;
        live = { time: secondOf(t.ms), value: Number(t.price) };
        firstTime = data[0].time;
      }
    } else {
      series = chart.addSeries(LC.CandlestickSeries, { ...look.candles, priceFormat });
      const [{ candles }, { ticks }] = await Promise.all([
        fetchJson(`${urls.candles}?tf=${timeframe}&limit=300`),
        fetchJson(`${urls.ticks}?limit=1`),
      ]);
      const bars = candles.map((c) => ({ time: c.time, open: +c.open, high: +c.high, low: +c.low, close: +c.close }));
      series.setData(bars);
      live = bars.length ? bars[bars.length - 1] : null;
      firstTime = bars.length ? bars[0].time : null;
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
  // Minute contracts count down between ticks too.
  setInterval(() => series && refreshOpen(null), 1000);

  // For tests and curious traders: what the chart draws now.
  window.nexusChart = {
    lastBar: () => live,
    timeframe: () => timeframe,
    ready: () => loading,
    priceFormat: () => series.options().priceFormat,
    formatPrice: (price) => series.priceFormatter().format(price),
    priceLines: () => [...lines.values()].map((line) => line.options()),
    markers: () => (markerLayer ? markerLayer.markers() : []),
  };
  switchTo(timeframe);
})();
