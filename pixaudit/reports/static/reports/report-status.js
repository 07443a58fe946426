/* Report detail: poll the report's JSON status and update the page until the job ends. */
(function () {
  "use strict";
  var box = document.getElementById("report-status");
  if (!box || box.dataset.active !== "true") { return; }
  var url = box.dataset.statusUrl;
  var delay = 1000;

  function field(name) { return box.querySelector('[data-field="' + name + '"]'); }
  function setText(name, text) { var el = field(name); if (el) { el.textContent = text; } }

  function link(href, text) {
    var a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    return a;
  }

  function render(data) {
    var badge = field("status");
    if (badge) {
      badge.className = "badge " + data.status;
      badge.textContent = data.status_label;
    }
    var bar = field("progress");
    if (bar) { bar.value = data.progress; bar.textContent = data.progress + "%"; }
    setText("progress_message", data.progress_message || "");
    setText("page_count", data.page_count ? String(data.page_count) : "–");
    setText("sha256", data.sha256 || "–");
    setText("error_message", data.error_message || "—");
    var downloads = field("downloads");
    if (downloads && data.download_url) {
      downloads.textContent = "";
      downloads.appendChild(link(data.download_url, "PDF"));
    }
    var packForm = field("pack_form");
    if (packForm && data.pack_url) { packForm.hidden = false; }
    box.dataset.active = data.active ? "true" : "false";
  }

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
      .then(function (data) {
        render(data);
        if (data.active) { window.setTimeout(poll, delay); }
      })
      .catch(function () {
        delay = Math.min(delay * 2, 15000);
        window.setTimeout(poll, delay);
      });
  }
  window.setTimeout(poll, 500);
}());
