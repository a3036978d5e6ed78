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
