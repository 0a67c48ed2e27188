// Follows the ad on its checklist page while the worker or Meta has it (queued, sending, in
// review, starting, pausing): asks the page's JSON every few seconds, less often while nothing
// changes, and not at all while the tab is hidden. A new state is written into the live
// region (announced politely); once the ad has left those states, a link offers the page as
// it is now (no reload under the reader's hands).
"use strict";
(function () {
  const watch = document.getElementById("state-watch");
  if (!watch || watch.dataset.inFlight !== "true") {
    return;
  }
  const badge = document.getElementById("state");
  const FIRST = 2000;
  const LONGEST = 30000;
  let delay = FIRST;
  let timer = null;
  let done = false;

  function schedule() {
    window.clearTimeout(timer);
    if (!done && document.visibilityState === "visible") {
      timer = window.setTimeout(poll, delay);
    }
  }

  function show(found) {
    badge.textContent = found.label;
    badge.className = "badge fs-6 state-" + found.state;
    badge.dataset.state = found.state;
    let note = document.getElementById("state-changed");
    if (!note) {
      note = document.createElement("p");
      note.id = "state-changed";
      note.className = "small mb-0 mt-1";
      watch.appendChild(note);
    }
    note.textContent = watch.dataset.changed.replace("{state}", found.label);
    if (!found.in_flight) {
      done = true;
      const link = document.createElement("a");
      link.id = "state-reload";
      link.href = window.location.pathname;
      link.textContent = watch.dataset.reload;
      note.appendChild(document.createTextNode(" "));
      note.appendChild(link);
    }
  }

  function poll() {
    fetch(watch.dataset.url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (found) {
        if (found.state !== badge.dataset.state) {
          show(found);
          delay = FIRST;
        } else {
          delay = Math.min(delay * 1.5, LONGEST);
        }
        schedule();
      })
      .catch(function () {
        delay = Math.min(delay * 2, LONGEST);
        schedule();
      });
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") {
      delay = FIRST;
      poll();
    } else {
      window.clearTimeout(timer);
    }
  });
  schedule();
})();
