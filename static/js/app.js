// Counts down open time-based positions between server refreshes.
setInterval(() => {
  for (const el of document.querySelectorAll("[data-seconds]")) {
    const left = Math.max(Number(el.dataset.seconds) - 1, 0);
    el.dataset.seconds = left;
    el.textContent = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
  }
}, 1000);
