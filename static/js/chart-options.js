// How every chart looks: the trading page's prices (chart.js) and a
// backtest's equity curve (bots-backtest.js) build their lightweight-charts
// charts and series from here. Load it after lightweight-charts and before them.
window.NexusCharts = (function () {
  const colors = { up: "#22c55e", down: "#ef4444", muted: "#8b98a8", line: "#3b82f6" };
  const chartOptions = {
    autoSize: true,
    // The logo injects an inline <style> our CSP refuses; the page credits TradingView in text instead.
    layout: { background: { color: "#161d26" }, textColor: colors.muted, attributionLogo: false },
    grid: { vertLines: { color: "#1e2733" }, horzLines: { color: "#1e2733" } },
    timeScale: { timeVisible: true, secondsVisible: true },
  };
  return {
    colors,
    create: (el) => window.LightweightCharts.createChart(el, chartOptions),
    line: { color: colors.line, lineWidth: 2 },
    candles: {
      upColor: colors.up, downColor: colors.down, wickUpColor: colors.up, wickDownColor: colors.down, borderVisible: false,
    },
  };
})();
