// The console's base script (no inline script anywhere: the CSP forbids it).
// Forms marked data-confirm ask before they send.
"use strict";
document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form instanceof HTMLFormElement ? form.dataset.confirm : undefined;
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
