"use strict";
// The supplier's live dashboard: a small Supabase Realtime client (Phoenix
// channels, serializer vsn 1.0.0: every frame is a JSON object
// {topic, event, payload, ref, join_ref}) in plain browser JavaScript.
//
// The dashboard token (a JWT) comes from the "?token=..." link printed at
// start-up or from the Tokens form, and is kept for this tab only. The
// supplier is the token's app_metadata.supplier_id; the page joins its
// topic "realtime:supplier:<id>", loads the supplier's KPIs (GET
// /api/kpis, as of a position in the topic's stream) and applies each
// kpi.updated broadcast after that position to the tiles. Every broadcast
// goes to the activity list, in words, and to the other parts of the page
// (a wedsync:broadcast event).
(function () {
  const KEY = "wedsync-dashboard-token";
  const HEARTBEAT_MS = 25000; // Supabase drops a socket silent for about 60 s
  const BACKOFF_MS = [1000, 2000, 5000, 10000]; // as realtime-js, then 10 s
  const MAX_EVENTS = 12;
  const LABELS = { bookings: "Bookings", enquiries: "Enquiries", revenue: "Revenue" };

  const $ = (id) => document.getElementById(id);
  const { el, call, time } = WedSync;
  const connEl = $("rt-conn"), viewersEl = $("rt-viewers"), noticeEl = $("rt-notice");
  const tilesEl = $("kpis"), eventsEl = $("rt-events"), supplierEl = $("rt-supplier");
  const emptyEvents = eventsEl.innerHTML;

  // Read ?token= once, then drop it from the address bar (and so from the
  // history and bookmarks); keep the #fragment (the view).
  const params = new URLSearchParams(location.search);
  if (params.has("token")) {
    sessionStorage.setItem(KEY, params.get("token").trim());
    params.delete("token");
    const q = params.toString();
    history.replaceState(null, "", location.pathname + (q ? "?" + q : "") + location.hash);
  }
  $("rt-auth").addEventListener("submit", function (e) {
    e.preventDefault();
    const input = $("rt-token");
    sessionStorage.setItem(KEY, input.value.trim());
    input.value = "";
    start();
  });

  // Connection state. A session lives from start() to the next start().
  let session = 0;
  let ws = null, topic = "", token = "", claims = null;
  let ref = 0, joinRef = null, joined = false, joinedOnce = false, firstJoinAt = 0;
  let heartbeat = null, pendingHeartbeat = null, retryTimer = null, attempt = 0;
  // What was seen, to resume without a gap and drop duplicates: the
  // history epoch and newest offset, and the newest meta.ts (ms) for
  // replay.since.
  let epoch = "", offset = 0, lastTs = 0, joinCursor = null;
  // The hub tracks each socket under its token's user (the key is the
  // token's subject, not something the page picks), with one meta per open
  // page: the page counts metas, that is open dashboards.
  let presence = {}; // key -> {phx_ref: meta}
  // The KPIs shown, and for each the epoch and offset of the broadcast (or
  // snapshot) that set it: a snapshot never overwrites a newer live value.
  const kpis = {}, kpiAt = {};
  // Until when the server keeps this supplier's dashboards out on purpose
  // (the Connection card's button), in ms.
  let offlineUntil = 0;

  function setConn(text, cls) {
    connEl.textContent = text;
    connEl.className = "conn" + (cls ? " " + cls : "");
  }
  function notice(text) { noticeEl.textContent = text || ""; }

  // decodeJWT returns a token's claims, or null. The hub checks the
  // signature; the page only reads the supplier id and expiry.
  function decodeJWT(t) {
    const parts = t.split(".");
    if (parts.length !== 3) return null;
    try {
      const b64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
      const json = decodeURIComponent(Array.prototype.map.call(atob(b64 + "===".slice((b64.length + 3) % 4)),
        (c) => "%" + ("0" + c.charCodeAt(0).toString(16)).slice(-2)).join(""));
      return JSON.parse(json);
    } catch (e) {
      return null;
    }
  }

  function send(msg) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
  }
  function nextRef() { return String(++ref); }

  function stop() {
    session++;
    clearTimeout(retryTimer);
    clearInterval(heartbeat);
    heartbeat = pendingHeartbeat = null;
    if (ws) {
      ws.onclose = ws.onmessage = ws.onopen = null;
      ws.close(1000, "bye");
      ws = null;
    }
  }

  function start() {
    stop();
    token = sessionStorage.getItem(KEY) || "";
    if (!token) {
      setConn("not connected");
      notice("Not live: paste the dashboard token printed at start-up under Tokens (or open the dashboard link it printed).");
      $("tokens").hidden = false;
      $("tokens-toggle").setAttribute("aria-expanded", "true");
      if (WedSync.adminToken()) loadKPIs(true); // the sample supplier's, with the admin token
      else tilesEl.replaceChildren(el("p", { class: "empty", text: "Your figures show here once the page has a token (Tokens, above)." }));
      return;
    }
    claims = decodeJWT(token);
    const supplier = claims && claims.app_metadata && claims.app_metadata.supplier_id;
    if (!supplier) {
      setConn("no supplier", "trouble");
      notice("This is not a dashboard token: it is not a JWT with app_metadata.supplier_id.");
      return;
    }
    if (String(supplier) !== supplierEl.dataset.id) {
      // Another supplier: start from a clean slate.
      epoch = ""; offset = 0; lastTs = 0; joinedOnce = false;
      resetView();
    }
    supplierEl.dataset.id = String(supplier);
    supplierEl.textContent = String(supplier);
    topic = "realtime:supplier:" + supplier;
    attempt = 0;
    connect();
  }

  function expired() {
    return claims && typeof claims.exp === "number" && claims.exp * 1000 <= Date.now();
  }

  function connect() {
    if (expired()) {
      setConn("token expired", "trouble");
      notice("The dashboard token has expired: paste a new one.");
      return;
    }
    const my = session;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const url = scheme + "//" + location.host + "/realtime/v1/websocket?apikey=" +
      encodeURIComponent(token) + "&vsn=1.0.0";
    setConn(attempt ? "reconnecting" : "connecting");
    let opened = false;
    ws = new WebSocket(url);
    ws.onopen = function () {
      if (my !== session) return;
      opened = true;
      join();
      heartbeat = setInterval(beat, HEARTBEAT_MS);
    };
    ws.onmessage = function (e) {
      if (my !== session) return;
      let m;
      try { m = JSON.parse(e.data); } catch (err) { return; }
      handle(m);
    };
    ws.onclose = function (e) {
      if (my !== session) return;
      clearInterval(heartbeat);
      heartbeat = pendingHeartbeat = null;
      ws = null;
      joined = false;
      presence = {};
      viewersEl.textContent = "";
      const base = BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)];
      const wait = Math.round(base / 2 + Math.random() * base / 2); // jitter
      attempt++;
      // A refused handshake (bad token, 401) shows as 1006 too: the
      // browser hides why; the server's console says.
      setConn("disconnected; retrying in " + Math.ceil(wait / 1000) + " s", "trouble");
      retryTimer = setTimeout(connect, wait);
      if (e.code === 1008) {
        notice("The server closed the socket: " + (e.reason || "policy violation"));
      } else if (Date.now() < offlineUntil) {
        notice("Offline on purpose until " + new Date(offlineUntil).toLocaleTimeString() +
          " (the Connection card's button): the page keeps trying, and catches up when it is back.");
      } else if (!opened && attempt >= 3) {
        notice("Cannot connect: the server is down, or it refused the token (a restarted server has a new JWT " +
          "secret unless WEDSYNC_JWT_SECRET is set; then paste the dashboard token it printed). Still retrying.");
      }
    };
  }

  function join() {
    joinRef = nextRef();
    const config = {
      broadcast: { self: false },
      presence: { key: "", enabled: true },
      private: true,
    };
    // On a rejoin, ask for what was missed since the newest event seen (or,
    // with none seen, since a little before the first join). The hub
    // replays everything since then, or says replay_incomplete. The first
    // join asks for nothing: replay fills gaps, it is not a state API (a
    // real dashboard loads its state from the API when it opens).
    // With the epoch and offset of the last event (or of the hub's cursor
    // in the join reply) the hub resumes exactly, whatever this browser's
    // clock says; since is the fallback.
    if (joinedOnce) {
      config.broadcast.replay = { since: lastTs || firstJoinAt - 5000 };
      if (epoch) { config.broadcast.replay.epoch = epoch; config.broadcast.replay.after = offset; }
    }
    send({ topic: topic, event: "phx_join", payload: { config: config, access_token: token }, ref: joinRef, join_ref: joinRef });
  }

  function beat() {
    if (pendingHeartbeat) {
      // The previous heartbeat got no answer: the socket is dead.
      if (ws) ws.close(4000, "heartbeat timeout");
      return;
    }
    pendingHeartbeat = nextRef();
    send({ topic: "phoenix", event: "heartbeat", payload: {}, ref: pendingHeartbeat });
  }

  function handle(m) {
    const p = m.payload || {};
    if (m.topic === "phoenix") {
      if (m.event === "phx_reply" && m.ref === pendingHeartbeat) pendingHeartbeat = null;
      return;
    }
    if (m.topic !== topic) return;
    switch (m.event) {
      case "phx_reply":
        if (m.ref !== joinRef) return;
        if (p.status === "ok") {
          joined = true;
          if (!joinedOnce) firstJoinAt = Date.now();
          // The hub's cursor: where this dashboard's stream starts.
          joinCursor = (p.response && p.response.broadcast) || null;
          if (!epoch && joinCursor && joinCursor.epoch) { epoch = joinCursor.epoch; offset = joinCursor.offset || 0; }
          joinedOnce = true;
          attempt = 0;
          setConn("live", "live");
          // The KPIs as of now; then the live updates after them.
          loadKPIs();
          // Whatever was missed while disconnected: parts of the page
          // that load their state from the API reload it now.
          document.dispatchEvent(new CustomEvent("wedsync:live", { detail: { supplier: supplierEl.dataset.id } }));
          if (!noticeEl.textContent.startsWith("Reloading")) notice("");
          send({ topic: topic, event: "presence", ref: nextRef(), join_ref: joinRef,
            payload: { type: "presence", event: "track", payload: { online_at: new Date().toISOString() } } });
        } else {
          const reason = (p.response && p.response.reason) || "refused";
          refuse("join refused: " + reason);
        }
        return;
      case "broadcast":
        onBroadcast(p);
        return;
      case "presence_state":
        presence = {};
        addPresence(p);
        showViewers();
        return;
      case "presence_diff":
        addPresence(p.joins || {});
        removePresence(p.leaves || {});
        showViewers();
        return;
      case "system":
        if (p.code === "replay_incomplete") {
          // Some events were missed and the history no longer holds them:
          // the state comes from the API again (the KPIs here; the other
          // parts reloaded on wedsync:live), the activity list restarts.
          eventsEl.innerHTML = emptyEvents;
          loadKPIs(true);
          notice("Reloading: some events were missed while disconnected and can no longer be replayed; " +
            "the figures were reloaded, and the activity list shows what arrives from now on.");
          lastTs = Date.now() - 5000; // the browser's clock may lag the server's; offsets drop repeats
          // The stream continues from this join's cursor: resume from there.
          if (joinCursor && joinCursor.epoch) { epoch = joinCursor.epoch; offset = joinCursor.offset || 0; }
        } else if (p.code === "token_expired" || p.code === "token_invalid") {
          refuse(p.message || "token refused");
        }
        return;
      case "phx_close":
      case "phx_error":
        if (joined) {
          joined = false;
          setConn("channel closed", "trouble");
          if (ws) ws.close(4000, "rejoin"); // reconnect and rejoin, with replay
        }
        return;
    }
  }

  // refuse stops for good: retrying would be refused again.
  function refuse(text) {
    stop();
    setConn("stopped", "trouble");
    notice(text + ". Paste a valid dashboard token to try again.");
  }

  function onBroadcast(p) {
    const meta = p.meta || {};
    // Dedupe: offsets grow by one per topic within an epoch; a replay
    // overlaps what was seen (since is inclusive).
    if (meta.epoch && meta.epoch === epoch && meta.offset <= offset) return;
    if (meta.epoch) { epoch = meta.epoch; offset = meta.offset || 0; }
    if (meta.ts && meta.ts > lastTs) lastTs = meta.ts;
    // Live again after a reset: the "Reloading" notice has done its job.
    if (!meta.replayed && noticeEl.textContent.startsWith("Reloading")) notice("");
    if (p.event === "kpi.updated" && p.payload && typeof p.payload === "object") {
      for (const [k, v] of Object.entries(p.payload)) setKPI(k, v, meta.epoch || "", meta.offset || 0, true);
      kpiUpdated(meta.ts ? new Date(meta.ts) : new Date(), meta.replayed);
    }
    showEvent(p, meta);
    // Other parts of the page listen for their own events.
    document.dispatchEvent(new CustomEvent("wedsync:broadcast", { detail: { event: p.event, payload: p.payload, meta: meta } }));
  }

  function resetView() {
    for (const k of Object.keys(kpis)) { delete kpis[k]; delete kpiAt[k]; }
    tilesEl.replaceChildren(el("p", { class: "empty", text: "Loading your figures..." }));
    $("kpi-updated").textContent = "";
    eventsEl.innerHTML = emptyEvents;
  }

  // ---- KPIs

  // loadKPIs reads the supplier's KPIs as of a position in its stream, and
  // shows each unless a live broadcast after that position already set it.
  // With replace, KPIs the snapshot does not hold go (a reset).
  let loading = 0;
  async function loadKPIs(replace) {
    const my = ++loading;
    try {
      const q = supplierEl.dataset.id ? "?supplier_id=" + encodeURIComponent(supplierEl.dataset.id) : "";
      const snap = await call("GET", "/api/kpis" + q, undefined, token || undefined);
      if (my !== loading) return;
      if (replace) {
        for (const k of Object.keys(kpis)) if (!(k in snap.kpis)) { delete kpis[k]; delete kpiAt[k]; }
        tilesEl.replaceChildren();
      }
      for (const [k, v] of Object.entries(snap.kpis)) setKPI(k, v, snap.as_of.epoch, snap.as_of.offset, false);
      if (snap.updated_at) kpiUpdated(new Date(snap.updated_at), false);
      showEmpty();
    } catch (e) {
      if (my !== loading) return;
      const empty = tilesEl.querySelector(".empty");
      if (empty) empty.textContent = "Cannot load your figures: " + e.message;
      else notice("Cannot reload your figures (" + e.message + "); the tiles show the last ones received.");
    }
  }

  // setKPI shows value for key unless what is shown is newer: set by a
  // later broadcast of the same stream epoch.
  function setKPI(key, value, ep, off, live) {
    const at = kpiAt[key];
    if (at && at.epoch === ep && at.offset > off) return;
    if (!live && at && at.epoch === ep && at.offset === off && JSON.stringify(kpis[key]) === JSON.stringify(value)) return;
    kpis[key] = value;
    kpiAt[key] = { epoch: ep, offset: off };
    showTile(key, value, live);
  }

  function kpiUpdated(d, replayed) {
    $("kpi-updated").textContent = "Last change " + d.toLocaleString() + (replayed ? " (replayed after a reconnect)" : "") + ".";
  }

  function showEmpty() {
    if (Object.keys(kpis).length) return;
    tilesEl.replaceChildren(el("p", { class: "empty", text: "No figures yet: they appear with the first kpi.updated event " +
      "(the form below, or the curl line printed at start-up, sends one)." }));
  }

  function format(v) {
    if (typeof v === "number") return v.toLocaleString();
    if (v && typeof v === "object" && "value" in v && "currency" in v) {
      const n = Number(v.value);
      if (isNaN(n)) return v.currency + " " + String(v.value);
      try {
        return n.toLocaleString(undefined, { style: "currency", currency: String(v.currency) });
      } catch (e) { // not an ISO 4217 code
        return v.currency + " " + n.toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
      }
    }
    if (typeof v === "string") return v;
    return JSON.stringify(v);
  }

  function showTile(key, value, flash) {
    const empty = tilesEl.querySelector(".empty");
    if (empty) empty.remove();
    let tile = tilesEl.querySelector('[data-kpi="' + CSS.escape(key) + '"]');
    if (!tile) {
      tile = el("div", { class: "tile", "data-kpi": key },
        el("div", { class: "label", text: LABELS[key] || key.replace(/_/g, " ") }), el("div", { class: "value" }));
      tilesEl.appendChild(tile);
    }
    tile.querySelector(".value").textContent = format(value);
    if (flash) {
      tile.classList.add("changed");
      setTimeout(() => tile.classList.remove("changed"), 50);
    }
  }

  // describe says what a broadcast means, in words, and which earlier row
  // it updates (the same notification or delivery), if any.
  function describe(event, p) {
    p = p || {};
    const list = (o) => Object.entries(o || {}).map(([k, v]) => (LABELS[k] || k) + " " + format(v)).join(", ");
    switch (event) {
      case "kpi.updated":
        return { text: "Figures changed: " + list(p) };
      case "webhook.attempt": {
        let t = "Webhook " + p.event_type + " to " + (p.endpoint || p.endpoint_id) + ": ";
        if (p.status === "succeeded") t += "delivered (try " + p.attempt + ", HTTP " + p.response_status + ")";
        else {
          t += "try " + p.attempt + " failed (" + (p.response_status ? "HTTP " + p.response_status : p.error || "error") + ")";
          t += p.next_attempt_at ? "; next try at " + time(p.next_attempt_at) : "; no tries left";
        }
        return { text: t, key: "wh:" + p.message_id + ":" + p.endpoint_id };
      }
      case "notify.status":
        return { text: "Notification " + p.event + " (" + p.priority + "): " +
          Object.entries(p.channels || {}).map(([c, st]) => c + " " + st).join(", ") + (p.acknowledged ? "; acknowledged" : ""),
        key: "nt:" + p.id };
      case "notify.inapp":
        return { text: "In-app message: " + p.title };
      case "calendar.changed":
        return { text: "Calendar: " + (p.kind === "conflict" ? "conflict with \u201c" + p.summary + "\u201d" : String(p.kind).replace(/_/g, " ")) +
          (p.booking_id ? " (" + p.booking_id + ")" : "") };
      case "wedme.changed":
        return { text: "The couple changed their " + String(p.type).replace(/_/g, " ") + " on WedMe: " + (p.changes || (p.fields || []).join(", ")) };
    }
    return { text: JSON.stringify(p) };
  }

  function showEvent(p, meta) {
    const d = describe(p.event, p.payload);
    const empty = eventsEl.querySelector("tr.empty");
    if (empty) empty.remove();
    const tr = el("tr", { class: meta.replayed ? "replayed" : "", "data-event": p.event, "data-offset": String(meta.offset || ""),
      title: JSON.stringify(p.payload) },
      el("td", { class: "time", text: new Date(meta.ts || Date.now()).toLocaleTimeString() }),
      el("td", {}, el("code", { text: p.event })),
      el("td", { class: "what", text: d.text }));
    if (d.key) tr.dataset.key = d.key;
    // A newer status of the same notification or delivery replaces its row.
    const old = d.key && eventsEl.querySelector('tr[data-key="' + CSS.escape(d.key) + '"]');
    if (old) old.remove();
    eventsEl.prepend(tr);
    while (eventsEl.children.length > MAX_EVENTS) eventsEl.lastChild.remove();
  }

  function addPresence(state) {
    for (const [key, entry] of Object.entries(state)) {
      const metas = presence[key] || (presence[key] = {});
      for (const meta of entry.metas || []) metas[meta.phx_ref] = meta;
    }
  }
  function removePresence(state) {
    for (const [key, entry] of Object.entries(state)) {
      const metas = presence[key];
      if (!metas) continue;
      for (const meta of entry.metas || []) delete metas[meta.phx_ref];
      if (Object.keys(metas).length === 0) delete presence[key];
    }
  }
  function showViewers() {
    let n = 0;
    for (const metas of Object.values(presence)) n += Object.keys(metas).length;
    viewersEl.textContent = n ? n + " viewing" : "";
  }

  // ---- The dashboard's forms

  $("kpi-form").addEventListener("submit", async function (e) {
    e.preventDefault();
    const result = $("kpi-result");
    const key = $("kpi-key").value, raw = $("kpi-value").value;
    const n = Number(raw);
    if (raw === "" || !isFinite(n) || n < 0) {
      result.textContent = "Not sent: the value must be a number of 0 or more.";
      return;
    }
    const payload = {};
    payload[key] = key === "revenue" ? { currency: "GBP", value: n.toFixed(2) } : n;
    result.textContent = "Broadcasting...";
    try {
      const r = await call("POST", "/api/events", { supplier_id: supplierEl.dataset.id || "sup_demo_florist", type: "kpi.updated", payload: payload });
      result.textContent = "Broadcast as offset " + r.offset + " of " + r.topic + ": every open dashboard of the supplier shows it now" +
        (ws && joined ? "." : "; this one will when it reconnects.");
    } catch (err) {
      result.textContent = "Not sent: " + err.message;
    }
  });

  $("rt-drop").addEventListener("click", async function () {
    const result = $("rt-drop-result"), b = $("rt-drop");
    b.disabled = true;
    try {
      const r = await call("POST", "/api/realtime/drop", { supplier_id: supplierEl.dataset.id || "sup_demo_florist", offline_seconds: 5 });
      offlineUntil = new Date(r.offline_until).getTime();
      result.textContent = "The server cut " + r.dropped + " socket" + (r.dropped === 1 ? "" : "s") + " and refuses this supplier's dashboards until " +
        new Date(r.offline_until).toLocaleTimeString() + ". Change a figure meanwhile: it shows, marked replayed, once the page is back.";
      // Try again as soon as the server lets the page back in.
      setTimeout(() => {
        if (!joined && token && !ws) { clearTimeout(retryTimer); attempt = 0; connect(); }
      }, Math.max(0, offlineUntil - Date.now()) + 100);
    } catch (err) {
      result.textContent = "Not dropped: " + err.message;
    } finally {
      b.disabled = false;
    }
  });

  start();
})();
