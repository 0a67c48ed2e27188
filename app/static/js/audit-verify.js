// Follows running verifications on the integrity page: polls each run's JSON until it ends.
"use strict";
(function () {
  function follow(row) {
    const progress = row.querySelector("progress");
    const checked = row.querySelector(".checked");
    const result = row.querySelector(".result");
    function poll() {
      fetch(row.dataset.url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(function (run) {
          progress.max = Math.max(run.total, 1);
          progress.value = run.status === "ok" ? progress.max : run.checked;
          checked.textContent = String(run.checked);
          row.dataset.status = run.status;
          if (run.status === "running") {
            window.setTimeout(poll, 500);
            return;
          }
          const span = document.createElement("span");
          if (run.status === "ok") {
            span.className = "text-success";
            span.textContent = result.dataset.ok;
          } else if (run.status === "broken") {
            span.className = "text-danger";
            span.textContent = result.dataset.broken + " " + run.first_bad_event + ": " + run.reason;
          } else {
            span.textContent = result.dataset.interrupted;
          }
          result.replaceChildren(span);
        })
        .catch(function () { window.setTimeout(poll, 2000); });
    }
    poll();
  }
  document.querySelectorAll('tr.verification-run[data-status="running"]').forEach(follow);
})();
