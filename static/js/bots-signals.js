// The signals monitor follows every market on the page over the one socket:
// the page URL subscribes to the first, this asks for the rest on each
// (re)connect, as the consumer allows ({"subscribe": SYMBOL}, up to 8).
document.addEventListener("htmx:wsOpen", (event) => {
  const board = document.getElementById("signals-board");
  if (!board || !board.dataset.symbols) return;
  for (const symbol of board.dataset.symbols.split(",").slice(1)) {
    event.detail.socketWrapper.send(JSON.stringify({ subscribe: symbol }));
  }
});

// A market's "Why" stays open while its row is replaced by each pushed decision.
(function () {
  const open = new Set();
  document.addEventListener(
    "toggle",
    (event) => {
      const row = event.target.closest && event.target.closest(".signals-row");
      if (!row || !event.target.classList.contains("signals-why")) return;
      if (event.target.open) open.add(row.dataset.symbol);
      else open.delete(row.dataset.symbol);
    },
    true,
  );
  function reopen() {
    for (const symbol of open) {
      const why = document.querySelector(`#signals-${CSS.escape(symbol)} .signals-why`);
      if (why && !why.open) why.open = true;
    }
  }
  document.addEventListener("htmx:wsAfterMessage", reopen);
  document.addEventListener("htmx:afterSettle", reopen);
})();
