// Bots pages. Everything shown is rendered by the server; this only asks the
// bot's page to reload its trades when the pushed status says something
// changed. (A 422, a form with its errors, is swapped through htmx's
// responseHandling in base.html.)

// The bot's page: the pushed live part carries a version (status, trades,
// open contracts, P&L); when it moves, the trades section reloads itself.
(function () {
  const activity = document.getElementById("bot-activity");
  if (!activity) return;
  const liveId = `bot-live-${activity.dataset.bot}`;
  let version = document.getElementById(liveId)?.dataset.version;

  function check() {
    const live = document.getElementById(liveId);
    if (!live || live.dataset.version === version) return;
    version = live.dataset.version;
    const section = document.getElementById("bot-activity");
    if (section && window.htmx) htmx.trigger(section, "botChanged");
  }

  document.addEventListener("htmx:wsAfterMessage", check);
  document.addEventListener("htmx:afterSwap", check);
})();

// The bot's cumulative P&L: the points come with the trades section (json_script),
// drawn again each time that section is swapped (a new element, not yet drawn).
(function () {
  function draw() {
    const el = document.getElementById("bot-pnl-chart");
    const data = document.getElementById("bot-pnl-data");
    if (!el || !data || el.dataset.drawn || !window.LightweightCharts || !window.NexusCharts) return;
    el.dataset.drawn = "1";
    const chart = window.NexusCharts.create(el);
    const series = chart.addSeries(window.LightweightCharts.BaselineSeries, {
      baseValue: { type: "price", price: 0 },
      topLineColor: window.NexusCharts.colors.up,
      bottomLineColor: window.NexusCharts.colors.down,
      topFillColor1: "rgba(34, 197, 94, 0.25)",
      topFillColor2: "rgba(34, 197, 94, 0.02)",
      bottomFillColor1: "rgba(239, 68, 68, 0.02)",
      bottomFillColor2: "rgba(239, 68, 68, 0.25)",
      lineWidth: 2,
    });
    series.setData(JSON.parse(data.textContent));
    chart.timeScale().fitContent();
  }
  document.addEventListener("DOMContentLoaded", draw);
  document.addEventListener("htmx:afterSettle", draw);
  if (document.readyState !== "loading") draw();
})();
