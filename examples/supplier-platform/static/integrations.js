"use strict";
// The integrations view: the supplier's webhook endpoints (by name), a test
// webhook to one of them with the vendor CRM's answer scripted, the
// deliveries (one row per message and endpoint: status, tries, last
// answer, next attempt), and the vendor CRM's own log of what it received.
// It loads from /api/endpoints, /api/attempts and /api/vendor with the
// admin token, and reloads on each webhook.attempt broadcast (dashboard.js)
// and when the dashboard (re)joins.
(function () {
  const DEFAULT_SUPPLIER = "sup_demo_florist";
  const SLOW_REFRESH_MS = 15000;
  // What the vendor answers a test with: POST /api/vendor/hooks/{name}/fail.
  const MODES = {
    ok: null,
    "fail-once": { next: 1, status: 503, retry_after: 1, text: "the vendor fails its first try with 503 and Retry-After: 1" },
    "fail-twice": { next: 2, status: 500, retry_after: 0, text: "the vendor fails its first two tries with 500" },
  };
  const $ = (id) => document.getElementById(id);
  const { el, call, time, until } = WedSync;
  const statusEl = $("wh-status");

  let vendorBase = "";
  let hooks = {}; // vendor hook name -> its view
  let names = {}; // endpoint id -> name
  let attempts = []; // the last list, newest first, with the live ones since
  // Test webhooks sent from this page that have no attempt yet: message id
  // -> {endpointId, name, at}.
  const pending = new Map();

  function supplier() { return WedSync.supplier() || DEFAULT_SUPPLIER; }
  function enc(s) { return encodeURIComponent(s); }

  // ---- Endpoints

  function renderEndpoints(list) {
    names = {};
    for (const ep of list) names[ep.id] = ep.name;
    const ul = $("wh-endpoints");
    if (!list.length) {
      ul.replaceChildren(el("li", { class: "empty", text: "No endpoints yet: register one (the form beside this list)." }));
      return;
    }
    ul.replaceChildren(...list.map((ep) => {
      const hook = hooks[ep.name];
      const meta = [ep.url, "events " + (ep.event_types.length ? ep.event_types.join(", ") : "all"),
        ep.rate_limit ? "at most " + ep.rate_limit + "/s" : "no rate limit"];
      const actions = el("div", { class: "actions" });
      const test = el("button", { type: "button", class: "wh-test primary", text: "Send test webhook" });
      test.addEventListener("click", () => sendTest(ep, test));
      actions.append(test);
      const toggle = ep.status === "enabled"
        ? el("button", { type: "button", class: "wh-pause", text: "Pause" })
        : el("button", { type: "button", class: "wh-resume", text: "Resume" });
      toggle.addEventListener("click", () => act(ep, ep.status === "enabled" ? "pause" : "resume", toggle));
      actions.append(toggle);
      return el("li", { class: "endpoint", "data-id": ep.id, "data-name": ep.name },
        el("div", { class: "main" },
          el("div", {}, el("strong", { class: "name", text: ep.name }), " ",
            el("span", { class: "pill st-" + ep.status, text: ep.status }), " ",
            el("span", { class: "desc", text: ep.description })),
          el("div", { class: "meta", text: meta.join(" \u00b7 ") }),
          ep.disabled_reason ? el("div", { class: "meta bad", text: "Disabled: " + ep.disabled_reason + ". Resume it, then Recover resends what failed." }) : null,
          ep.failing_since ? el("div", { class: "meta bad", text: "Failing since " + time(ep.failing_since) }) : null,
          hook ? el("div", { class: "meta", text: "Vendor CRM hook: " + hook.behaviour +
            (hook.fail_next ? "; the next " + hook.fail_next + " fail with HTTP " + hook.fail_status + " (scripted)" : "") }) : null,
          el("div", { class: "meta id", text: ep.id })),
        actions);
    }));
  }

  async function sendTest(ep, button) {
    const result = $("wh-test-result");
    const mode = MODES[$("wh-mode").value];
    button.disabled = true;
    result.classList.remove("error");
    result.textContent = "Sending a test webhook to " + ep.name + "...";
    try {
      if (mode) {
        if (!hooks[ep.name]) throw new Error(ep.name + " is not one of the demo's vendor CRM hooks: its answers cannot be scripted; choose \u201canswers 200 OK\u201d");
        await call("POST", "/api/vendor/hooks/" + enc(ep.name) + "/fail", { next: mode.next, status: mode.status, retry_after: mode.retry_after });
      }
      const r = await call("POST", "/api/endpoints/" + enc(ep.id) + "/test");
      pending.set(r.id, { endpointId: ep.id, name: ep.name, at: new Date().toISOString() });
      result.textContent = "Sent webhook.test as " + r.id + " to " + ep.name + (mode ? "; " + mode.text + ": watch it retry below." : ".");
      loader.schedule();
    } catch (e) {
      result.classList.add("error");
      result.textContent = "Not sent: " + e.message;
    } finally {
      button.disabled = false;
    }
  }

  async function act(ep, what, button) {
    button.disabled = true;
    try {
      await call("POST", "/api/endpoints/" + enc(ep.id) + "/" + what);
      $("wh-test-result").textContent = (what === "pause" ? "Paused " + ep.name + ": its deliveries wait until you resume it." : "Resumed " + ep.name + ".");
      loader.schedule();
    } catch (e) {
      $("wh-test-result").textContent = (what === "pause" ? "Pause" : "Resume") + " failed: " + e.message;
      button.disabled = false;
    }
  }

  // ---- Register

  function showURL() { $("wh-url").textContent = (vendorBase || "{vendor}") + "/hooks/" + ($("wh-name").value.trim() || "{name}"); }
  $("wh-name").addEventListener("input", showURL);

  $("wh-reg").addEventListener("submit", async function (e) {
    e.preventDefault();
    const result = $("wh-reg-result");
    for (const i of this.querySelectorAll("input")) i.classList.remove("bad");
    result.classList.remove("error");
    const name = $("wh-name").value.trim();
    const events = $("wh-events").value.split(",").map((s) => s.trim()).filter((s) => s);
    result.textContent = "Registering...";
    try {
      if (!vendorBase) throw new Error("the vendor CRM's address is not loaded yet");
      const ep = await call("POST", "/api/endpoints", { supplier_id: supplier(), url: vendorBase + "/hooks/" + name,
        event_types: events, description: $("wh-desc").value.trim() });
      result.textContent = "Registered " + ep.name + " (" + ep.id + "). Its signing secret went to the vendor CRM, which now verifies " +
        "what it receives; send it a test webhook.";
      loader.schedule();
    } catch (err) {
      result.classList.add("error");
      result.textContent = "Not registered: " + err.message;
      const input = { url: "wh-name", event_types: "wh-events", description: "wh-desc" }[err.field];
      if (input) $(input).classList.add("bad");
    }
  });

  // ---- Deliveries

  function answer(a) {
    if (a.response_status) return "HTTP " + a.response_status + " in " + a.latency_ms.toFixed(1) + " ms";
    return a.error || "no answer";
  }

  // renderDeliveries shows attempts (newest first) as deliveries, newest
  // first: a group's first attempt is its latest.
  function renderDeliveries(list) {
    attempts = list;
    const groups = new Map();
    for (const a of list) {
      const k = a.message_id + "|" + a.endpoint_id;
      if (!groups.has(k)) groups.set(k, []);
      groups.get(k).push(a);
    }
    for (const [id, p] of pending) {
      if (groups.has(id + "|" + p.endpointId)) pending.delete(id);
    }
    const rows = [];
    let retrying = 0;
    for (const [id, p] of pending) {
      rows.push(el("tr", { class: "queued", "data-message": id, "data-endpoint": p.endpointId, "data-status": "queued" },
        el("td", { text: time(p.at) }), el("td", {}, el("code", { text: "webhook.test" })), el("td", { text: p.name }),
        el("td", {}, el("span", { class: "pill st-queued", text: "queued" })), el("td", { text: "0" }),
        el("td", { text: "\u2014" }), el("td", { text: "the first try is on its way" })));
    }
    const sorted = [...groups.values()].sort((x, y) => new Date(y[y.length - 1].at) - new Date(x[x.length - 1].at));
    for (const list of sorted) {
      const last = list[0], first = list[list.length - 1];
      let status = "delivered", next = "\u2014", nextAt = "";
      if (last.status !== "succeeded") {
        if (last.next_attempt_at) {
          status = "retrying";
          retrying++;
          nextAt = last.next_attempt_at;
        } else {
          status = "failed";
          next = "no tries left: Recover (POST /api/endpoints/{id}/recover) resends it";
        }
      }
      const tries = el("details", {}, el("summary", { text: String(list.length) }),
        el("ol", { class: "tries" }, ...list.slice().reverse().map((a) => el("li", { class: a.status },
          time(a.at) + ": " + (a.status === "succeeded" ? "delivered, " : "failed, ") + answer(a) +
          (a.next_attempt_at ? "; next try at " + time(a.next_attempt_at) : "")))));
      const nextCell = el("td", { class: "next", text: next });
      if (nextAt) nextCell.dataset.next = nextAt;
      rows.push(el("tr", { class: status, "data-message": last.message_id, "data-endpoint": last.endpoint_id, "data-status": status,
        "data-tries": String(list.length) },
        el("td", { text: time(first.at) }), el("td", {}, el("code", { text: last.event_type })),
        el("td", { class: "endpoint-name", text: last.endpoint_name }),
        el("td", {}, el("span", { class: "pill st-" + status, text: status })),
        el("td", { class: "tries" }, tries), el("td", { class: "answer", text: answer(last) }), nextCell));
    }
    const body = $("wh-deliveries");
    // Keep open the tries a person opened.
    const open = new Set([...body.querySelectorAll("details[open]")].map((d) => d.closest("tr").dataset.message + d.closest("tr").dataset.endpoint));
    if (!rows.length) rows.push(el("tr", { class: "empty" }, el("td", { colSpan: 7, text: "No deliveries yet: send a test webhook." })));
    body.replaceChildren(...rows);
    for (const d of body.querySelectorAll("details")) {
      const tr = d.closest("tr");
      if (open.has(tr.dataset.message + tr.dataset.endpoint)) d.open = true;
    }
    tick();
    WedSync.badge("nav-integrations", retrying ? retrying + " retrying" : "");
  }

  // tick keeps the "next attempt" cells' countdowns current.
  function tick() {
    for (const td of document.querySelectorAll("#wh-deliveries td[data-next]")) {
      const t = new Date(td.dataset.next).getTime();
      td.textContent = time(td.dataset.next) + (t > Date.now() ? " (" + until(td.dataset.next) + ")" : " (due now: waiting for a worker)");
    }
  }
  setInterval(tick, 1000);

  // ---- The vendor CRM's log

  function renderVendor(v) {
    vendorBase = v.base;
    hooks = {};
    for (const h of v.hooks) hooks[h.name] = h;
    showURL();
    $("vendor-base").textContent = "It listens on " + v.base + "/hooks/{name}.";
    $("vendor-count").textContent = v.total ? v.total + " request" + (v.total === 1 ? "" : "s") + " in all" : "";
    const body = $("vendor-received");
    if (!v.received.length) {
      body.replaceChildren(el("tr", { class: "empty" }, el("td", { colSpan: 7, text: "Nothing received yet." })));
      return;
    }
    body.replaceChildren(...v.received.map((r) => el("tr", {
      class: r.answered >= 200 && r.answered < 300 ? "ok" : "bad", "data-webhook-id": r.webhook_id, "data-hook": r.hook,
      "data-answered": String(r.answered), "data-try": String(r.try || 0), title: r.body || "",
    },
    el("td", { text: time(r.at) }), el("td", { class: "hook", text: r.hook }), el("td", {}, r.event_type ? el("code", { text: r.event_type }) : "\u2014"),
    el("td", { text: r.try ? String(r.try) : "\u2014" }),
    el("td", { class: r.signature_ok ? "sig ok" : "sig bad", text: r.signature_ok ? "\u2713 valid" : "\u2717 refused" }),
    el("td", { class: "answered", text: r.answered + (r.retry_after ? " (Retry-After: " + r.retry_after + ")" : "") }),
    el("td", { text: r.outcome }))));
  }

  // live shows a webhook.attempt broadcast at once, before the reload
  // that follows it: each state (a failure and its next attempt, then the
  // retry) shows as it happens.
  function live(d) {
    const p = d.payload || {};
    if (d.event === "webhook.attempt" && p.message_id) {
      const a = { message_id: p.message_id, endpoint_id: p.endpoint_id, endpoint_name: names[p.endpoint_id] || p.endpoint, event_type: p.event_type,
        number: p.attempt, status: p.status, response_status: p.response_status, latency_ms: p.latency_ms || 0, at: p.at,
        next_attempt_at: p.next_attempt_at, error: p.error };
      if (!attempts.some((x) => x.message_id === a.message_id && x.endpoint_id === a.endpoint_id && x.number === a.number)) {
        renderDeliveries([a].concat(attempts));
      }
    }
    loader.live();
  }

  // ---- Loading

  async function load() {
    const s = supplier();
    const [vend, eps, atts] = await Promise.all([
      call("GET", "/api/vendor?limit=50"),
      call("GET", "/api/endpoints?supplier_id=" + enc(s)),
      call("GET", "/api/attempts?supplier_id=" + enc(s) + "&limit=300"),
    ]);
    renderVendor(vend);
    renderEndpoints(eps.endpoints);
    // Attempts that arrived live while this load ran stay.
    const got = atts.attempts, newest = got.length ? new Date(got[0].at).getTime() : 0;
    const key = (a) => a.message_id + "|" + a.endpoint_id + "|" + a.number;
    const have = new Set(got.map(key));
    renderDeliveries(attempts.filter((a) => !have.has(key(a)) && new Date(a.at).getTime() > newest).concat(got));
  }
  const loader = WedSync.loader(load, statusEl);

  WedSync.onBroadcast("webhook.", live);
  WedSync.onLive(loader.schedule);
  WedSync.onAdminToken(loader.schedule);
  setInterval(loader.run, SLOW_REFRESH_MS);
  showURL();
  loader.run();
})();
