// "Ask before buying" (Settings > Trading): a Rise or Fall opens a dialog with the order; "Buy" sends it.
// Listens in the capture phase, so htmx's own submit handler on the form never sees an unconfirmed order.
(() => {
  const text = (dialog, name, value) => {
    const slot = dialog.querySelector(`[data-confirm="${name}"]`);
    if (slot) slot.textContent = value;
  };

  document.addEventListener(
    "submit",
    (event) => {
      const form = event.target;
      if (!(form instanceof HTMLFormElement) || !form.dataset.confirmDialog) return;
      if (form.querySelector("input[name=confirmed]")) return;
      const dialog = document.getElementById(form.dataset.confirmDialog);
      if (!dialog || !dialog.showModal) return;
      event.preventDefault();
      event.stopPropagation();
      const button = event.submitter;
      const direction = button && button.name === "direction" ? button.value : "";
      const unit = form.elements.duration_unit.value === "m" ? "min" : "ticks";
      const payout = button && button.querySelector(".button-payout");
      text(dialog, "direction", direction === "FALL" ? "Fall" : "Rise");
      text(dialog, "market", form.dataset.marketName || form.elements.market.value);
      text(dialog, "stake", `${form.elements.stake.value} ${form.dataset.currency || ""}`.trim());
      text(dialog, "duration", `${form.elements.duration.value} ${unit}`);
      text(dialog, "payout", payout && payout.textContent.trim() ? `${payout.textContent.trim()} if it wins.` : "");
      dialog.dataset.direction = direction;
      dialog.returnForm = form;
      dialog.showModal();
    },
    true,
  );

  document.addEventListener("click", (event) => {
    const confirm = event.target.closest("[data-confirm-buy]");
    if (!confirm) return;
    const dialog = confirm.closest("dialog");
    const form = dialog && dialog.returnForm;
    if (!form || !form.isConnected) return;
    for (const [name, value] of [
      ["confirmed", "1"],
      ["direction", dialog.dataset.direction],
    ]) {
      const input = document.createElement("input");
      input.type = "hidden";
      input.name = name;
      input.value = value;
      form.append(input);
    }
    dialog.close();
    form.requestSubmit();
  });
})();
