/* Run detail: poll the run's JSON status and update the page in place until it finishes. */
(function () {
  "use strict";
  var box = document.getElementById("run-status");
  if (!box || box.dataset.active !== "true") { return; }
  var url = box.dataset.statusUrl;
  var delay = 1000;

  function field(name) { return box.querySelector('[data-field="' + name + '"]'); }
  function setText(name, text) { var el = field(name); if (el) { el.textContent = text; } }

  function render(data) {
    var badge = field("status");
    if (badge) {
      badge.className = "badge " + data.status;
      badge.textContent = data.status_label;
    }
    // The server formats times (one format on every page), so the browser's locale does not.
    setText("started_at", data.started_at_display || "—");
    setText("finished_at", data.finished_at_display || "—");
    setText("duration", data.duration || "—");
    setText("rows_count", String(data.rows_count));
    var f = data.findings;
    setText("findings", f.pass + " pass · " + f.fail + " fail · " + f.warn + " warn · " + f.error + " error");
    setText("error_advice", data.error_advice || "");
    setText("error_message", data.error_message || "—");
    renderAttempts(data.attempts || [], data.id);
    var ev = field("evidence");
    if (ev && data.evidence_url) {
      ev.textContent = "";
      var a = document.createElement("a");
      a.href = data.evidence_url;
      a.textContent = "View evidence item";
      ev.appendChild(a);
    }
    var spinner = field("spinner");
    if (spinner) { spinner.classList.toggle("hidden", !data.active); }
    box.dataset.active = data.any_active ? "true" : "false";
  }

  function cell(row, text) {
    var td = document.createElement("td");
    td.textContent = text;
    row.appendChild(td);
    return td;
  }

  // Every attempt of the collection, rebuilt from the status (text only: no HTML is parsed).
  function renderAttempts(attempts, currentId) {
    var body = document.querySelector("#run-attempts tbody");
    if (!body) { return; }
    body.textContent = "";
    attempts.forEach(function (a) {
      var row = document.createElement("tr");
      if (a.id === currentId) { row.setAttribute("aria-current", "true"); }
      var first = cell(row, "");
      var link = document.createElement("a");
      link.href = a.url;
      link.textContent = "#" + a.id;
      first.appendChild(link);
      first.appendChild(document.createTextNode(" (attempt " + a.attempt + ")"));
      var status = cell(row, "");
      var badge = document.createElement("span");
      badge.className = "badge " + a.status;
      badge.textContent = a.status_label;
      status.appendChild(badge);
      cell(row, a.retry_at_display || a.queued_at_display);
      cell(row, a.waited);
      cell(row, a.started_at_display);
      cell(row, a.duration);
      var what = cell(row, "");
      if (a.error_advice) {
        var strong = document.createElement("strong");
        strong.textContent = a.error_advice + " ";
        what.appendChild(strong);
      }
      var detail = document.createElement("span");
      detail.className = "muted";
      detail.textContent = a.error_message;
      what.appendChild(detail);
      body.appendChild(row);
    });
  }

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
      .then(function (data) {
        render(data);
        if (data.any_active) { window.setTimeout(poll, delay); }
      })
      .catch(function () {
        delay = Math.min(delay * 2, 15000);
        window.setTimeout(poll, delay);
      });
  }
  window.setTimeout(poll, 500);
})();
