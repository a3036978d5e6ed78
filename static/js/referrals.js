// The referrals page: the Copy button for the partner's link, and the daily
// earnings histograms (lightweight-charts, data from the page's json_script).
(function () {
  function say(id, text) {
    const status = document.querySelector(`[data-copy-status="${id}"]`);
    if (status) status.textContent = text;
  }

  function copy(button) {
    const id = button.dataset.copyTarget;
    const input = document.getElementById(id);
    if (!input) return;
    const fallback = () => {
      // No clipboard access (an insecure origin, a refused permission): select the link for the trader to copy.
      input.focus();
      input.select();
      say(id, "Selected: press Ctrl+C (or ⌘C) to copy.");
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(() => say(id, "Copied!"), fallback);
    } else {
      fallback();
    }
  }

  function drawCharts() {
    const data = document.getElementById("earnings-chart-data");
    if (!data || !window.LightweightCharts || !window.NexusCharts) return;
    const series = JSON.parse(data.textContent);
    document.querySelectorAll("[data-earnings-chart]").forEach((el) => {
      if (el.dataset.drawn) return;
      const book = series[Number(el.dataset.earningsChart)];
      if (!book) return;
      el.dataset.drawn = "1";
      const chart = window.NexusCharts.create(el);
      chart.applyOptions({ timeScale: { timeVisible: false, secondsVisible: false } });
      const histogram = chart.addSeries(window.LightweightCharts.HistogramSeries, {
        color: window.NexusCharts.colors.up,
        priceFormat: { type: "price", precision: 2, minMove: 0.01 },
      });
      histogram.setData(book.points);
      chart.timeScale().fitContent();
    });
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-copy-target]");
    if (button) copy(button);
  });
  document.addEventListener("DOMContentLoaded", drawCharts);
  if (document.readyState !== "loading") drawCharts();
})();
