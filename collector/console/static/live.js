// Live fleet updates: an EventSource on the fleet stream; on each event, fetch the changed
// rows (server-rendered, escaped) and swap them into the table. No inline script (CSP).
(function () {
  "use strict";
  var table = document.getElementById("fleet");
  if (!table || !window.EventSource || !window.fetch) { return; }
  var body = document.getElementById("fleet-rows");
  var state = document.getElementById("live-state");
  var rowsUrl = table.getAttribute("data-rows");
  function mark(on) {
    if (!state) { return; }
    state.textContent = state.getAttribute(on ? "data-label-on" : "data-label-off");
    state.className = on ? "live-state live-on" : "live-state";
  }
  function rowsOf(html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var tb = doc.getElementById("fleet-rows");
    return tb ? Array.prototype.slice.call(tb.querySelectorAll("tr[data-tid]")) : [];
  }
  function find(tid) {
    var rows = body.querySelectorAll("tr[data-tid]");
    for (var i = 0; i < rows.length; i++) {
      if (rows[i].getAttribute("data-tid") === tid) { return rows[i]; }
    }
    return null;
  }
  function apply(doc) {
    var url = rowsUrl;
    if (!doc.reload) {
      if (!doc.tids || !doc.tids.length) { return; }
      url += "&tids=" + doc.tids.map(encodeURIComponent).join(",");
    }
    fetch(url, {credentials: "same-origin"}).then(function (r) {
      if (!r.ok) { throw new Error("rows " + r.status); }
      return r.text();
    }).then(function (html) {
      var rows = rowsOf(html);
      if (doc.reload) {
        while (body.firstChild) { body.removeChild(body.firstChild); }
        rows.forEach(function (tr) { body.appendChild(document.importNode(tr, true)); });
        return;
      }
      rows.forEach(function (tr) {
        var fresh = document.importNode(tr, true);
        fresh.classList.add("changed");
        var old = find(tr.getAttribute("data-tid"));
        if (old) { body.replaceChild(fresh, old); } else { body.insertBefore(fresh, body.firstChild); }
      });
    }).catch(function () { mark(false); });
  }
  var source = new EventSource(table.getAttribute("data-live"));
  source.addEventListener("ready", function () { mark(true); });
  source.addEventListener("fleet", function (e) {
    try { apply(JSON.parse(e.data)); } catch (err) { mark(false); }
  });
  source.onerror = function () { mark(false); };
})();
