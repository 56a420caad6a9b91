// Interlock dashboard: live updates by polling the same-origin JSON API. Text only goes into the page through
// textContent, never innerHTML, so model and key names stay inert.
"use strict";

(function () {
  var POLL_MS = 2000;

  function setLive(state) {
    var live = document.getElementById("live");
    if (!live) return;
    live.dataset.state = state;
    live.textContent = state === "on" ? "live" : state === "off" ? "offline: retrying" : "live";
    if (state === "on") live.title = "updated " + new Date().toLocaleTimeString();
  }

  function poll(url, apply) {
    var timer = null;
    var busy = false;
    function tick() {
      if (busy || document.hidden) return;
      busy = true;
      fetch(url, { credentials: "same-origin", headers: { accept: "application/json" } })
        .then(function (r) {
          if (r.status === 401) {
            setLive("off");
            window.location.assign(document.body.dataset.prefix + "/login?next=" + encodeURIComponent(location.pathname));
            throw new Error("logged out");
          }
          if (!r.ok) throw new Error("HTTP " + r.status);
          return r.json();
        })
        .then(function (data) { apply(data); setLive("on"); })
        .catch(function () { setLive("off"); })
        .then(function () { busy = false; });
    }
    timer = setInterval(tick, POLL_MS);
    document.addEventListener("visibilitychange", function () { if (!document.hidden) tick(); });
    tick();
    return timer;
  }

  function setText(el, text) {
    if (el.textContent !== text) {
      el.textContent = text;
      el.classList.remove("flash");
      void el.offsetWidth; // restart the animation
      el.classList.add("flash");
    }
  }

  function updateTiles(summary) {
    Object.keys(summary).forEach(function (name) {
      var tile = document.getElementById("tile-" + name);
      if (tile) setText(tile, String(summary[name]));
    });
  }

  // -- the provider board ------------------------------------------------------------------------------------
  function board(table) {
    var rows = {};
    table.querySelectorAll("tbody tr[data-key]").forEach(function (tr) { rows[tr.dataset.key] = tr; });
    poll(table.dataset.poll, function (data) {
      updateTiles(data.summary || {});
      (data.offerings || []).forEach(function (row) {
        var tr = rows[row.key];
        if (!tr) return;
        tr.querySelectorAll("td[data-field]").forEach(function (td) {
          var field = td.dataset.field;
          if (row.display && field in row.display) setText(td, row.display[field]);
          if (field === "breaker") td.dataset.state = row.breaker;
        });
      });
    });
  }

  // -- the requests list -------------------------------------------------------------------------------------
  function requests(table) {
    var fields = Array.prototype.map.call(table.querySelectorAll("thead th[data-field]"), function (th) {
      return { name: th.dataset.field, cls: th.className };
    });
    var tbody = table.querySelector("tbody");
    var empty = document.getElementById("requests-empty");
    var prefix = document.body.dataset.prefix;
    var version = table.dataset.version;
    poll(table.dataset.poll, function (data) {
      if (String(data.version) === version) return;
      version = String(data.version);
      var known = {};
      tbody.querySelectorAll("tr[data-id]").forEach(function (tr) { known[tr.dataset.id] = true; });
      var fragment = document.createDocumentFragment();
      (data.data || []).forEach(function (entry) {
        var tr = document.createElement("tr");
        tr.dataset.id = entry.request_id;
        if (!known[entry.request_id]) tr.className = "fresh";
        fields.forEach(function (f) {
          var td = document.createElement("td");
          td.className = f.cls;
          td.dataset.field = f.name;
          var text = entry.display[f.name];
          if (f.name === "request_id") {
            var a = document.createElement("a");
            a.href = prefix + "/requests/" + encodeURIComponent(entry.request_id);
            a.title = entry.request_id;
            var code = document.createElement("code");
            code.textContent = text;
            a.appendChild(code);
            td.appendChild(a);
          } else {
            td.textContent = text;
          }
          if (f.name === "status") td.dataset.state = entry.status;
          tr.appendChild(td);
        });
        fragment.appendChild(tr);
      });
      tbody.replaceChildren(fragment);
      if (empty) empty.hidden = (data.data || []).length > 0;
    });
  }

  // -- forms: confirmation and copy buttons --------------------------------------------------------------------
  function forms() {
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.dataset.confirm)) event.preventDefault();
      });
    });
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      button.addEventListener("click", function () {
        var source = document.getElementById(button.dataset.copy);
        if (!source || !navigator.clipboard) return;
        navigator.clipboard.writeText(source.textContent).then(function () { button.textContent = "Copied"; });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var b = document.getElementById("board");
    if (b) board(b);
    var r = document.getElementById("requests");
    if (r) requests(r);
    forms();
  });
})();
