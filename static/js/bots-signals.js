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
