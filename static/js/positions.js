// The trade page's open positions, live between pushes. The server renders
// each row (positions are pushed whenever they change); on every tick of the
// page's market this moves the price now, winning or losing and the P&L if
// it settled now (the rule of apps.trading.selectors.position_now), and the
// progress bars to expiry. Rows on other markets keep the price of the push.
(function () {
  const cents = (text) => Math.round(Number(text) * 100);
  const money = (c) => `${c > 0 ? "+" : c < 0 ? "-" : "+"}${(Math.abs(c) / 100).toFixed(2)}`;

  function standing(row, price) {
    const entry = Number(row.dataset.entry);
    const stake = cents(row.dataset.stake);
    if (price === entry) return ["tie", row.dataset.tie === "REFUND" ? 0 : -stake];
    const wins = (price > entry) === (row.dataset.direction === "RISE");
    return wins ? ["winning", cents(row.dataset.payout) - stake] : ["losing", -stake];
  }

  // The page market's latest prices by tick number: a position whose entry
  // tick arrived after its row was rendered takes its entry spot from here.
  const seen = new Map();

  function refresh() {
    const quote = document.getElementById("quote");
    const symbol = quote && quote.dataset.fresh === "1" ? quote.dataset.symbol : null;
    const seq = symbol ? Number(quote.dataset.seq) : null;
    if (symbol && quote.dataset.price && !seen.has(seq)) {
      seen.set(seq, quote.dataset.price);
      if (seen.size > 100) seen.delete(seen.keys().next().value);
    }
    const now = Date.now() / 1000;
    for (const row of document.querySelectorAll("#positions tr.position")) {
      const bar = row.querySelector("progress.to-expiry");
      if (bar && bar.dataset.secondsUntil) {
        bar.value = Math.min(Math.max(bar.max - (Number(bar.dataset.secondsUntil) - now), 0), bar.max);
      }
      if (row.dataset.symbol !== symbol || !quote.dataset.price) continue;
      if (bar && bar.dataset.ticksFrom) bar.value = Math.min(Math.max(seq - Number(bar.dataset.ticksFrom), 0), bar.max);
      if (!row.dataset.entry && seen.has(Number(row.dataset.entrySeq))) {
        row.dataset.entry = seen.get(Number(row.dataset.entrySeq));
        const cell = row.querySelector("[data-entry-cell]");
        if (cell) cell.textContent = Number(row.dataset.entry).toFixed(Number(row.dataset.decimals));
      }
      if (!row.dataset.entry) continue;
      const price = Number(quote.dataset.price);
      const [state, pnl] = standing(row, price);
      row.querySelector("[data-now]").textContent = price.toFixed(Number(row.dataset.decimals));
      row.querySelector("[data-pnl]").textContent = money(pnl);
      row.classList.remove("position--winning", "position--losing", "position--tie");
      row.classList.add(`position--${state}`);
    }
  }

  document.addEventListener("htmx:wsAfterMessage", refresh);
  setInterval(refresh, 1000);
})();
