"use strict";
// What every part of the supplier page shares: the admin token, calls to
// the JSON API, building elements, and the views (the tabs at the top).
//
// The admin token comes from the "#token=..." link printed at start-up
// (the fragment never reaches the server's logs) or from the Tokens form,
// and is kept for this tab only (sessionStorage).
(function () {
  const ADMIN_KEY = "wedsync-admin-token";
  const VIEWS = ["dashboard", "integrations", "notifications", "calendar", "couple"];
  const $ = (id) => document.getElementById(id);

  function viewFromHash() {
    const v = location.hash.replace(/^#/, "").split("&")[0];
    return VIEWS.includes(v) ? v : "dashboard";
  }

  // Read #token= once, then keep only the view in the address bar.
  const m = location.hash.match(/(?:^#|&)token=([^&]+)/);
  if (m) {
    sessionStorage.setItem(ADMIN_KEY, decodeURIComponent(m[1]));
    const v = viewFromHash();
    history.replaceState(null, "", location.pathname + location.search + (v === "dashboard" ? "" : "#" + v));
  }

  function adminToken() { return sessionStorage.getItem(ADMIN_KEY) || ""; }

  const NO_ADMIN = "This needs the admin token: open the dashboard link printed at start-up, or paste the token under Tokens (top right).";

  // call sends a JSON API request with the admin token; a refusal throws an
  // Error with the server's message, and its status, field and body.
  async function call(method, path, body, token) {
    const t = token || adminToken();
    if (!t) {
      const err = new Error(NO_ADMIN);
      err.status = 401;
      throw err;
    }
    const opts = { method: method, headers: { Authorization: "Bearer " + t } };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, opts);
    } catch (e) {
      throw new Error("Cannot reach the demo server (is it still running?)");
    }
    let data = null;
    try { data = await res.json(); } catch (e) { /* not JSON */ }
    if (!res.ok) {
      let msg = (data && data.error) || "HTTP " + res.status;
      if (res.status === 401 && !token) msg = "The server refused the admin token (a restarted server prints a new one unless WEDSYNC_ADMIN_TOKEN is set). " + NO_ADMIN;
      const err = new Error(msg);
      err.status = res.status;
      err.field = data && data.field;
      err.data = data;
      throw err;
    }
    return data;
  }

  // el builds an element: attrs "class", "text", data-* and aria-* as
  // attributes, anything else as a property; children are nodes or text.
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k.startsWith("data-") || k.startsWith("aria-")) e.setAttribute(k, v);
      else e[k] = v;
    }
    for (const c of children) if (c !== null && c !== undefined && c !== false) e.append(c);
    return e;
  }

  function time(s) { return s ? new Date(s).toLocaleTimeString() : ""; }

  // until says how far off a time is, in words: "in 3 s", "2 min ago".
  function until(s) {
    const d = Math.round((new Date(s).getTime() - Date.now()) / 1000);
    const abs = Math.abs(d);
    const txt = abs < 60 ? abs + " s" : abs < 3600 ? Math.round(abs / 60) + " min" : Math.round(abs / 3600) + " h";
    return d >= 0 ? "in " + txt : txt + " ago";
  }

  // supplier is the dashboard token's supplier (dashboard.js shows it), or
  // "" before it is known: the server's default, the sample supplier.
  function supplier() { return $("rt-supplier").dataset.id || ""; }

  // onBroadcast calls fn for each realtime broadcast whose event starts
  // with prefix (dashboard.js dispatches them).
  function onBroadcast(prefix, fn) {
    document.addEventListener("wedsync:broadcast", (e) => {
      if (e.detail && typeof e.detail.event === "string" && e.detail.event.startsWith(prefix)) fn(e.detail);
    });
  }
  // onLive calls fn when the dashboard (re)joins its topic: a part that
  // loads its state from the API reloads it then.
  function onLive(fn) { document.addEventListener("wedsync:live", (e) => fn(e.detail || {})); }
  // onAdminToken calls fn when a new admin token is pasted.
  function onAdminToken(fn) { document.addEventListener("wedsync:admin-token", fn); }

  // loader runs load at most once at a time, coalesces a burst of
  // requests into one run (after 100 ms), and reports progress and errors
  // in statusEl.
  function loader(load, statusEl) {
    let running = false, again = false, timer = null, live = 0;
    async function run() {
      if (running) { again = true; return; }
      running = true;
      try {
        await load();
        if (statusEl) {
          statusEl.classList.remove("error");
          statusEl.textContent = "Updated " + new Date().toLocaleTimeString() + (live
            ? "; " + live + " live update" + (live === 1 ? "" : "s") + " received through the realtime hub."
            : ".");
        }
      } catch (e) {
        if (statusEl) {
          statusEl.classList.add("error");
          statusEl.textContent = e.message;
        }
      } finally {
        running = false;
        if (again) { again = false; schedule(); }
      }
    }
    function schedule() {
      clearTimeout(timer);
      timer = setTimeout(run, 100);
    }
    return { run: run, schedule: schedule, live: () => { live++; schedule(); } };
  }

  function badge(id, text) {
    const b = $(id);
    if (b) b.textContent = text || "";
  }

  // ---- Views

  function show(view) {
    for (const s of document.querySelectorAll("main > section.view")) s.hidden = s.dataset.view !== view;
    for (const a of document.querySelectorAll("nav.tabs a[data-view]")) {
      if (a.dataset.view === view) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    const title = document.querySelector('main > section.view[data-view="' + view + '"] h1');
    document.title = (title ? title.textContent.trim() + " · " : "") + "WedSync supplier platform (demo)";
    document.dispatchEvent(new CustomEvent("wedsync:view", { detail: { view: view } }));
  }
  window.addEventListener("hashchange", () => show(viewFromHash()));

  // ---- Tokens

  const panel = $("tokens");
  $("tokens-toggle").addEventListener("click", () => {
    panel.hidden = !panel.hidden;
    $("tokens-toggle").setAttribute("aria-expanded", String(!panel.hidden));
  });
  $("auth").addEventListener("submit", function (e) {
    e.preventDefault();
    const input = $("token");
    sessionStorage.setItem(ADMIN_KEY, input.value.trim());
    input.value = "";
    $("auth-state").textContent = "Admin token saved for this tab.";
    document.dispatchEvent(new CustomEvent("wedsync:admin-token"));
  });
  function showTokenState() {
    $("auth-state").textContent = adminToken() ? "An admin token is set for this tab." : "No admin token yet: the views other than the KPIs need it.";
  }

  window.WedSync = {
    call: call, el: el, time: time, until: until, supplier: supplier, adminToken: adminToken,
    onBroadcast: onBroadcast, onLive: onLive, onAdminToken: onAdminToken, loader: loader, badge: badge,
  };
  showTokenState();
  show(viewFromHash());
})();
