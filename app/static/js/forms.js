// After a refused submit, the form's error summary takes the focus, so that keyboard and
// screen-reader users start at the list of what to correct (WCAG 2.1: 2.4.3, 3.3.1); each
// of its links moves the focus to its field, not only the view.
document.addEventListener("DOMContentLoaded", () => {
  const summary = document.querySelector("[data-error-summary]");
  if (!summary) {
    return;
  }
  summary.focus();
  summary.addEventListener("click", (event) => {
    const link = event.target.closest("a[href^='#']");
    const target = link && document.getElementById(link.getAttribute("href").slice(1));
    if (!target) {
      return;
    }
    event.preventDefault();
    target.focus();
    const label = document.querySelector(`label[for="${target.id}"]`);
    (target.closest("fieldset") || label || target).scrollIntoView();
  });
});
