// Live page helpers. Everything shown comes from the server; this only
// counts down between pushes and tidies toasts away.

function currentSeq(symbol) {
  const quote = document.getElementById("quote");
  return quote && quote.dataset.symbol === symbol ? Number(quote.dataset.seq) : null;
}

function refreshCountdowns() {
  const now = Date.now() / 1000;
  for (const el of document.querySelectorAll("[data-expires]")) {
    const left = Math.max(Math.round(Number(el.dataset.expires) - now), 0);
    el.textContent = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
  }
  for (const el of document.querySelectorAll("[data-exit-seq]")) {
    const seq = currentSeq(el.dataset.symbol);
    if (seq === null) continue;
    const left = Math.max(Number(el.dataset.exitSeq) - seq, 0);
    el.textContent = left === 1 ? "1 tick" : `${left} ticks`;
  }
}

function tidyToasts() {
  for (const toast of document.querySelectorAll("#toasts .toast:not([data-shown])")) {
    toast.dataset.shown = "1";
    setTimeout(() => toast.remove(), 8000);
  }
}

setInterval(refreshCountdowns, 1000);
document.addEventListener("htmx:wsAfterMessage", () => {
  refreshCountdowns();
  tidyToasts();
});
// A toast swapped in by a request (a rate limit's message) goes away the same way.
document.addEventListener("htmx:afterSwap", tidyToasts);

// Reconnect soon after a drop (laptop sleep, network change, server restart):
// exponential backoff with jitter, capped at 5 s rather than the extension's 64 s.
if (window.htmx) {
  htmx.config.wsReconnectDelay = (retryCount) => Math.min(500 * 2 ** retryCount, 5000) * (0.5 + Math.random() / 2);
}
