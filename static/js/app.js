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

// --- Layout and order entry: progressive enhancement of plain markup ----------

// The header's menu folds away on a phone: the button shows once this script runs,
// and without it the menu simply stays open.
const PHONE = window.matchMedia("(max-width: 760px)");

function setupMenu() {
  const topbar = document.getElementById("topbar");
  const button = topbar && topbar.querySelector(".menu-button");
  if (!button) return;
  button.hidden = false;
  const fold = (folded) => {
    topbar.classList.toggle("folded", folded);
    button.setAttribute("aria-expanded", String(!folded));
  };
  fold(PHONE.matches);
  button.addEventListener("click", () => fold(!topbar.classList.contains("folded")));
  PHONE.addEventListener("change", (e) => fold(e.matches));
}

function fillField(form, name, value) {
  const field = form && form.elements.namedItem(name);
  if (!field) return;
  field.value = value;
  // The stake's payout preview listens for input.
  field.dispatchEvent(new Event("input", { bubbles: true }));
  field.dispatchEvent(new Event("change", { bubbles: true }));
}

document.addEventListener("click", (event) => {
  const pick = event.target.closest("[data-fill-stake], [data-fill-duration]");
  if (pick) {
    const form = pick.closest("form");
    if (pick.dataset.fillStake) fillField(form, "stake", pick.dataset.fillStake);
    if (pick.dataset.fillDuration) {
      fillField(form, "duration_unit", pick.dataset.fillUnit);
      fillField(form, "duration", pick.dataset.fillDuration);
    }
    return;
  }
  // A link that asks first: its dialog when there is one (the link's page otherwise).
  const opener = event.target.closest("[data-dialog]");
  const dialog = opener && document.getElementById(opener.dataset.dialog);
  if (dialog && dialog.showModal) {
    event.preventDefault();
    dialog.showModal();
    return;
  }
  const closer = event.target.closest("dialog [data-dialog-close]");
  if (closer) {
    event.preventDefault();
    closer.closest("dialog").close();
  }
});

// A picker form (the markets on a phone) opens its choice at once.
document.addEventListener("change", (event) => {
  const form = event.target.closest("form[data-autosubmit]");
  if (form && event.target.tagName === "SELECT") form.requestSubmit();
});

function hideAutosubmitButtons() {
  for (const button of document.querySelectorAll("form[data-autosubmit] [data-autosubmit-button]")) button.hidden = true;
}

setupMenu();
hideAutosubmitButtons();
document.addEventListener("htmx:afterSwap", hideAutosubmitButtons);

// An opened "Why" of a table row (`tr[data-row]`) stays open when the row is swapped in again (a push, a reload).
(function () {
  const open = new Set();
  document.addEventListener(
    "toggle",
    (event) => {
      const row = event.target.closest && event.target.closest("tr[data-row]");
      if (!row) return;
      if (event.target.open) open.add(row.dataset.row);
      else open.delete(row.dataset.row);
    },
    true,
  );
  function reopen() {
    for (const id of open) {
      const why = document.querySelector(`tr[data-row="${CSS.escape(id)}"] details`);
      if (why && !why.open) why.open = true;
    }
  }
  document.addEventListener("htmx:afterSettle", reopen);
  document.addEventListener("htmx:wsAfterMessage", reopen);
})();
