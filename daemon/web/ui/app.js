// The edgerelay status page: builds itself from /api/status/stream (Server-Sent
// Events), falling back to polling /api/status. Every text from the daemon is set
// with textContent, never parsed as HTML.
"use strict";
(function () {
  var $ = function (id) { return document.getElementById(id); };
  var last = null;        // the last status document
  var offset = 0;         // the daemon's clock minus ours, in ms
  var es = null, pollTimer = null;
  var TOKEN = "edgerelay-admin-token";

  function now() { return Date.now() + offset; }
  function fmtAge(t) {
    if (!t) return "–";
    var s = Math.max(0, Math.round((now() - Date.parse(t)) / 1000));
    if (s < 60) return s + "s";
    if (s < 3600) return Math.floor(s / 60) + "m " + (s % 60) + "s";
    if (s < 86400) return Math.floor(s / 3600) + "h " + Math.floor(s % 3600 / 60) + "m";
    return Math.floor(s / 86400) + "d " + Math.floor(s % 86400 / 3600) + "h";
  }
  function fmtBytes(n) {
    var u = ["B", "KiB", "MiB", "GiB", "TiB"], i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1) : n) + " " + u[i];
  }
  function fmtRate(r) { return r >= 10 ? r.toFixed(0) : r.toFixed(1); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function badge(state) { return el("span", "badge s-" + state, state); }

  // syncRows keeps one row per key in tbody, in the order of items: rows are updated
  // in place (a button being clicked stays the same element), created or removed.
  function syncRows(tbody, items, key, cols, fill) {
    var have = {};
    Array.prototype.forEach.call(tbody.rows, function (r) { have[r.dataset.key] = r; });
    items.forEach(function (it, i) {
      var k = key(it), r = have[k];
      if (!r) {
        r = document.createElement("tr");
        r.dataset.key = k;
        cols.forEach(function (c) { var td = el("td", c[1]); td.dataset.label = c[0]; r.appendChild(td); });
      }
      delete have[k];
      fill(r.cells, it);
      if (tbody.rows[i] !== r) tbody.insertBefore(r, tbody.rows[i] || null);
    });
    Object.keys(have).forEach(function (k) { tbody.removeChild(have[k]); });
  }
  function setCell(td, v) { if (td.textContent !== String(v)) td.textContent = v; }
  function setNode(td, node) {
    if (td.firstChild && td.firstChild.textContent === node.textContent && td.firstChild.className === node.className) return;
    td.textContent = "";
    td.appendChild(node);
  }

  // The LED: the pattern's steps played in a loop, with the LED's own timing.
  var led = { key: "", timer: null };
  function showLED(l) {
    var k = l.pattern + "/" + l.colour;
    $("ledtext").textContent = "LED: " + l.pattern + " — " + l.meaning + (l.fitted ? "" : " (no LED fitted: shown here only)");
    $("led").title = "status LED: " + l.pattern;
    if (k === led.key) return;
    led.key = k;
    clearTimeout(led.timer);
    var box = $("led"), steps = l.steps || [], i = 0;
    box.className = "led c-" + l.colour;
    function step() {
      var s = steps[i % steps.length];
      box.classList.toggle("on", !!s.on);
      i++;
      if (s.ms > 0 && steps.length > 1) led.timer = setTimeout(step, s.ms);
    }
    if (steps.length) step();
  }

  function token() { try { return sessionStorage.getItem(TOKEN) || ""; } catch (e) { return ""; } }
  function setToken(t) { try { if (t) sessionStorage.setItem(TOKEN, t); else sessionStorage.removeItem(TOKEN); } catch (e) {} }
  function canAct() { return last && last.admin && token() !== ""; }

  function message(text, bad) {
    var m = $("msg");
    m.textContent = text;
    m.className = "msg" + (bad ? " bad" : "");
    m.hidden = false;
  }

  function act(what, body) {
    fetch("/api/dead-letters/" + what, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Authorization": "Bearer " + token() },
      body: JSON.stringify(body),
      credentials: "omit"
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) {
        if (r.status === 401) setToken("");
        if (!r.ok) { message((j.error || ("HTTP " + r.status)), true); return; }
        message(j.message + (j.left ? " — " + j.left : ""), false);
      });
    }).catch(function (e) { message("request failed: " + e, true); })
      .then(function () { refreshControls(); poll(); });
  }

  // A drop asks twice: the first click arms the button for 3 s.
  function dropButton(label, body) {
    var b = el("button", "danger drop", label);
    b.type = "button";
    b.addEventListener("click", function () {
      if (!b.classList.contains("armed")) {
        b.classList.add("armed");
        b.textContent = "sure?";
        setTimeout(function () { b.classList.remove("armed"); b.textContent = label; }, 3000);
        return;
      }
      act("drop", body);
    });
    return b;
  }
  function retryButton(label, body, enabled) {
    var b = el("button", "retry", label);
    b.type = "button";
    b.disabled = !enabled;
    b.addEventListener("click", function () { act("retry", body); });
    return b;
  }

  function refreshControls() {
    var admin = last && last.admin, t = token() !== "";
    $("unlock").hidden = !admin || t;
    $("locked").hidden = !admin || !t;
    $("readonly").hidden = !last || admin;
    document.querySelectorAll("td.act").forEach(function (td) { td.hidden = !canAct(); });
    $("deadsinks").hidden = !canAct();
  }

  function render(st) {
    last = st;
    offset = Date.parse(st.now) - Date.now();
    document.title = st.node + " · edgerelay";
    $("node").textContent = st.node;
    $("version").textContent = "edgerelay " + st.version;
    var state = st.stopping ? "stopping" : st.state;
    var s = $("state");
    s.textContent = state;
    s.className = "badge s-" + (st.stopping ? "down" : st.state);
    showLED(st.led);

    syncRows($("sinks").tBodies[0], st.sinks, function (x) { return x.name; },
      [["name", "name"], ["state", ""], ["delivered", "delivered"], ["rate/s", "rate"], ["queued", "depth"], ["oldest", "age"], ["dead", "deadn"], ["last error", "err"]],
      function (c, x) {
        setCell(c[0], x.name);
        c[0].title = x.type;
        setNode(c[1], badge(x.state));
        setCell(c[2], x.delivered);
        setCell(c[3], fmtRate(x.rate_per_s));
        setCell(c[4], x.depth + (x.in_flight ? " (" + x.in_flight + " sending)" : ""));
        c[5].dataset.t = x.oldest || "";
        setCell(c[5], fmtAge(x.oldest));
        setCell(c[6], x.dead);
        setCell(c[7], x.last_error || "");
      });
    syncRows($("sources").tBodies[0], st.sources, function (x) { return x.name; },
      [["name", "name"], ["state", ""], ["received", "received"], ["rate/s", "rate"], ["error", "err"]],
      function (c, x) {
        setCell(c[0], x.name);
        c[0].title = x.type;
        setNode(c[1], badge(x.state));
        setCell(c[2], x.received);
        setCell(c[3], fmtRate(x.rate_per_s));
        setCell(c[4], x.error || "");
      });

    var dead = st.dead_letters || [];
    syncRows($("dead").tBodies[0], dead, function (x) { return x.sink + "/" + x.seq; },
      [["sink", ""], ["seq", "seq"], ["event", ""], ["age", "age"], ["bytes", ""], ["reason", "err"], ["", "act"]],
      function (c, x) {
        setCell(c[0], x.sink);
        setCell(c[1], x.seq);
        setCell(c[2], x.event_id || "");
        c[3].dataset.t = x.at || "";
        setCell(c[3], fmtAge(x.at));
        setCell(c[4], x.bytes);
        setCell(c[5], x.reason + (x.why ? " (" + x.why + ")" : ""));
        if (!c[6].firstChild) {
          c[6].appendChild(retryButton("retry", { sink: x.sink, seqs: [x.seq] }, x.retryable));
          c[6].appendChild(dropButton("drop", { sink: x.sink, seqs: [x.seq] }));
        }
      });
    $("deadnone").hidden = dead.length > 0;
    $("dead").hidden = dead.length === 0;
    $("deadmore").hidden = !st.dead_letters_more;

    // "All of a sink" buttons, for each sink with dead letters.
    var box = $("deadsinks"), want = st.sinks.filter(function (x) { return x.dead > 0; }).map(function (x) { return x.name; }).join("\n");
    if (box.dataset.sinks !== want) {
      box.dataset.sinks = want;
      box.textContent = "";
      st.sinks.forEach(function (x) {
        if (x.dead === 0) return;
        var g = el("span", "");
        g.appendChild(retryButton("retry all of " + x.name, { sink: x.name, all: true }, true));
        g.appendChild(document.createTextNode(" "));
        g.appendChild(dropButton("drop all of " + x.name, { sink: x.name, all: true }));
        box.appendChild(g);
      });
    }

    var ul = $("errors"), errs = st.errors || [];
    ul.textContent = "";
    errs.slice().reverse().forEach(function (e) {
      var li = el("li", "");
      var t = el("time", "age", fmtAge(e.time) + " ago");
      t.dataset.t = e.time;
      t.dataset.suffix = " ago";
      li.appendChild(t);
      li.appendChild(document.createTextNode(e.component + ": " + e.reason + (e.count > 1 ? " (×" + e.count + ")" : "")));
      ul.appendChild(li);
    });
    $("errnone").hidden = errs.length > 0;

    var so = st.store;
    $("st-file").textContent = fmtBytes(so.file_bytes) + (so.quarantined ? " (a corrupt store was moved aside at start)" : "");
    $("st-live").textContent = fmtBytes(so.live_bytes) + (so.max_bytes ? " of " + fmtBytes(so.max_bytes) + " (" + Math.round(so.live_bytes * 100 / so.max_bytes) + "%)" : "") + (so.full ? " — FULL" : "");
    $("st-written").textContent = fmtBytes(so.bytes_written);
    $("st-commits").textContent = so.commits;
    refreshControls();
    tick();
  }

  // tick moves the ages on between documents.
  function tick() {
    if (!last) return;
    $("uptime").textContent = fmtAge(last.started);
    document.querySelectorAll(".age").forEach(function (e) {
      if (e.dataset.t !== undefined) e.textContent = fmtAge(e.dataset.t) + (e.dataset.suffix || "");
    });
  }

  function conn(text) { $("conn").textContent = text; }

  function poll() {
    return fetch("/api/status", { cache: "no-store", credentials: "omit" }).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    }).then(function (st) { render(st); if (!es || es.readyState !== 1) conn("polling"); })
      .catch(function () { conn("offline"); });
  }
  function startPolling() {
    if (pollTimer) return;
    conn("polling");
    pollTimer = setInterval(poll, 5000);
    poll();
  }
  function stopPolling() { clearInterval(pollTimer); pollTimer = null; }

  function stream() {
    if (!window.EventSource) { startPolling(); return; }
    es = new EventSource("/api/status/stream");
    es.addEventListener("status", function (ev) {
      // "live" only for a document that parses: a broken one keeps the page polling.
      var st;
      try { st = JSON.parse(ev.data); } catch (e) { startPolling(); return; }
      stopPolling();
      conn("live");
      render(st);
    });
    es.onerror = function () {
      // The browser reconnects by itself (retry: 5000); poll meanwhile, and for
      // good once the stream is refused (too many open, or none offered).
      startPolling();
      if (es.readyState === 2) { es = null; setTimeout(stream, 30000); }
    };
  }

  $("unlock").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var t = $("token").value.trim();
    $("token").value = "";
    if (!t) return;
    setToken(t);
    message("Actions unlocked: the token is kept in this tab's session storage, not sent anywhere else.", false);
    refreshControls();
  });
  $("lockbtn").addEventListener("click", function () { setToken(""); refreshControls(); });
  setInterval(tick, 1000);
  stream();
  poll();
})();
