/* Evidence pack build: poll the build's JSON status until the job ends, then offer the
   download (or say why it failed and offer to build it again). */
(function () {
  "use strict";
  var box = document.getElementById("pack-status");
  if (!box || box.dataset.active !== "true") { return; }
  var url = box.dataset.statusUrl;
  var delay = 1000;

  function field(name) { return box.querySelector('[data-field="' + name + '"]'); }
  function setText(name, text) { var el = field(name); if (el) { el.textContent = text; } }

  function size(bytes) {
    if (!bytes) { return "–"; }
    if (bytes < 1024 * 1024) { return (bytes / 1024).toFixed(1) + " KB"; }
    return (bytes / 1024 / 1024).toFixed(1) + " MB";
  }

  function render(data) {
    var badge = field("status");
    if (badge) { badge.className = "badge " + data.status; badge.textContent = data.status_label; }
    var bar = field("progress");
    if (bar) { bar.value = data.progress; bar.textContent = data.progress + "%"; }
    setText("progress_message", data.progress_message || "");
    setText("size", size(data.size));
    setText("sha256", data.sha256 || "–");
    setText("error_message", data.error_message || "—");
    var download = field("download");
    if (download && data.download_url) {
      download.textContent = "";
      var a = document.createElement("a");
      a.href = data.download_url;
      a.textContent = "Evidence pack (ZIP)";
      a.setAttribute("data-testid", "pack-download");
      download.appendChild(a);
    }
    var retry = field("retry");
    if (retry) { retry.hidden = !data.retry_url; }
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
  window.setTimeout(poll, 300);
}());
