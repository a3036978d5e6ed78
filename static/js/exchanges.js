// Exchange pages. Everything shown is rendered by the server; this only asks a
// section to reload when the live part it follows says something changed,
// draws the equity curve, and keeps opened explanations open across reloads.

// A section with data-follows="<live part id>" reloads itself (htmx "liveChanged")
// when that part's data-version moves (pushed, or swapped by Start/Stop).
(function () {
  const seen = new Map();
  for (const section of document.querySelectorAll("[data-follows]")) {
    seen.set(section.dataset.follows, document.getElementById(section.dataset.follows)?.dataset.version);
  }

  function check() {
    for (const section of document.querySelectorAll("[data-follows]")) {
      const id = section.dataset.follows;
      const version = document.getElementById(id)?.dataset.version;
      if (version === undefined || version === seen.get(id)) continue;
      seen.set(id, version);
      if (window.htmx) htmx.trigger(section, "liveChanged");
    }
  }

  document.addEventListener("htmx:wsAfterMessage", check);
  document.addEventListener("htmx:afterSwap", check);
})();

// The connection's equity after each closed trade, then now (json_script), drawn
// again each time its section is swapped (a new element, not yet drawn).
(function () {
  function draw() {
    const el = document.getElementById("equity-chart");
    const data = document.getElementById("equity-data");
    if (!el || !data || el.dataset.drawn || !window.LightweightCharts || !window.NexusCharts) return;
    el.dataset.drawn = "1";
    const chart = window.NexusCharts.create(el);
    const series = chart.addSeries(window.LightweightCharts.AreaSeries, {
      lineColor: window.NexusCharts.colors.line,
      topColor: "rgba(59, 130, 246, 0.35)",
      bottomColor: "rgba(59, 130, 246, 0.02)",
      lineWidth: 2,
      priceFormat: { type: "price", precision: 2, minMove: 0.01 },
    });
    series.setData(JSON.parse(data.textContent).map((p) => ({ time: p.time, value: Number(p.value) })));
    chart.timeScale().fitContent();
  }
  document.addEventListener("DOMContentLoaded", draw);
  document.addEventListener("htmx:afterSettle", draw);
  if (document.readyState !== "loading") draw();
})();
