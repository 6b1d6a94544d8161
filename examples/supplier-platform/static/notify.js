"use strict";
// The notification panel: the supplier's preferences, a test sender, the
// recent notifications with each channel's status, the in-app inbox, and
// what the demo's SMTP server and fake Twilio received. Everything comes
// from /api/notify/... with the admin token (common.js). The panel
// loads its state when the page opens, and reloads when the dashboard's
// realtime connection (dashboard.js) receives a notify.* broadcast or
// (re)joins; a slow timer covers a page without a dashboard token.
(function () {
  const SLOW_REFRESH_MS = 15000;
  const CHANNELS = ["push", "sms", "email", "in_app"];
  const DIGESTS = ["", "15m", "1h", "24h"];

  const $ = (id) => document.getElementById(id);
  const statusEl = $("nt-status");
  const openMail = new Set(); // message ids whose preview is open

  const { call, el, time } = WedSync;
  // The dashboard's supplier (from its token), or the server's sample
  // supplier when the page has none.
  function supplier() { return WedSync.supplier(); }
  function q() { const s = supplier(); return s ? "?supplier=" + encodeURIComponent(s) : ""; }

  // ---- Recent notifications

  function renderNotifications(list) {
    const ul = $("nt-list");
    if (!list.length) {
      ul.replaceChildren(el("li", { class: "empty", text: "None yet: send a test notification." }));
      return;
    }
    ul.replaceChildren(...list.map((n) => {
      const head = el("div", { class: "nt-head" },
        el("span", { class: "time", text: time(n.created_at) }), " ",
        el("strong", { text: n.event }), " ",
        el("span", { class: "prio " + n.priority, text: n.priority }), " ",
        el("span", { class: "id", text: n.id }));
      if (n.acknowledged_at) {
        head.append(" ", el("span", { class: "acked", text: "acknowledged " + time(n.acknowledged_at) }));
      } else if (n.can_acknowledge) {
        const b = el("button", { type: "button", class: "nt-ack", text: "Acknowledge" });
        b.addEventListener("click", () => acknowledge(n.id, b));
        head.append(" ", b);
      }
      const chans = el("ul", { class: "nt-channels" }, ...n.channels.map((c) =>
        el("li", { class: "chip st-" + c.status, "data-channel": c.channel, title: c.error || "" },
          el("b", { text: c.channel }), " ", el("span", { class: "st", text: c.status }),
          c.reason && c.reason !== c.status ? el("span", { class: "reason", text: c.reason }) : null)));
      if (!n.channels.length) chans.append(el("li", { class: "chip", text: "routing..." }));
      return el("li", { class: "nt-item", "data-id": n.id }, head, chans);
    }));
  }

  async function acknowledge(id, button) {
    button.disabled = true;
    try {
      await call("POST", "/api/notify/notifications/" + encodeURIComponent(id) + "/ack");
      schedule();
    } catch (e) {
      statusEl.textContent = "Acknowledge failed: " + e.message;
      button.disabled = false;
    }
  }

  // ---- Mail, SMS, inbox

  function renderMail(data) {
    const ul = $("nt-mail");
    if (!data.messages.length) {
      ul.replaceChildren(el("li", { class: "empty", text: "No mail yet (the demo's SMTP server listens on " + data.smtp_server + ")." }));
      return;
    }
    ul.replaceChildren(...data.messages.map((m) => {
      const key = m.message_id || m.received_at;
      const det = el("details", { class: "nt-preview" }, el("summary", { text: "Text and HTML" }));
      det.open = openMail.has(key);
      det.addEventListener("toggle", () => { if (det.open) openMail.add(key); else openMail.delete(key); });
      det.append(el("pre", { class: "nt-text", text: m.text || "(no text part)" }));
      if (m.html) {
        // The HTML as the mail client would show it, in a sandbox: no
        // scripts, no forms, an origin of its own.
        const f = el("iframe", { class: "nt-html", title: "HTML part of " + m.subject });
        f.setAttribute("sandbox", "");
        f.setAttribute("referrerpolicy", "no-referrer");
        f.srcdoc = m.html;
        det.append(f);
      }
      const meta = "to " + (m.to || m.envelope_to || []).join(", ") + " from " + (m.from || m.envelope_from) +
        ", " + time(m.received_at) + " (" + m.content_types.join(" + ") + ")";
      return el("li", { class: "nt-mail-item", "data-message-id": m.message_id || "" },
        el("div", {}, el("strong", { class: "subject", text: m.subject || "(no subject)" })),
        el("div", { class: "meta", text: m.error ? "cannot parse: " + m.error : meta }), det);
    }));
  }

  function renderSMS(data) {
    const ul = $("nt-sms");
    if (!data.messages.length) {
      ul.replaceChildren(el("li", { class: "empty", text: "No SMS yet." }));
      return;
    }
    ul.replaceChildren(...data.messages.map((m) =>
      el("li", { class: "nt-sms-item" },
        el("div", { class: "meta", text: time(m.received_at) + " to " + m.to + " from " + m.from + " (" + m.encoding + ", " + m.segments + " SMS)" }),
        el("div", { class: "body", text: m.body }))));
  }

  function renderInbox(data) {
    $("nt-unread").textContent = data.unread ? data.unread + " unread" : "";
    WedSync.badge("nav-notifications", data.unread ? data.unread + " unread" : "");
    $("nt-read-all").disabled = !data.unread;
    const ul = $("nt-inbox");
    if (!data.messages.length) {
      ul.replaceChildren(el("li", { class: "empty", text: "The inbox is empty." }));
      return;
    }
    ul.replaceChildren(...data.messages.map((m) => {
      const li = el("li", { class: "nt-inbox-item" + (m.read_at ? "" : " unread") + (m.priority === "critical" ? " critical" : "") },
        el("div", {}, el("strong", { text: m.title }), " ", el("span", { class: "time", text: time(m.created_at) })),
        el("div", { class: "body", text: m.body }));
      if (!m.read_at) {
        const b = el("button", { type: "button", text: "Mark read" });
        b.addEventListener("click", () => markRead([m.id]));
        li.append(b);
      }
      return li;
    }));
  }

  async function markRead(ids) {
    try {
      const body = { ids: ids };
      if (supplier()) body.supplier = supplier();
      await call("POST", "/api/notify/inapp/read", body);
      schedule();
    } catch (e) {
      statusEl.textContent = "Mark read failed: " + e.message;
    }
  }
  $("nt-read-all").addEventListener("click", () => markRead([]));

  // ---- Preferences

  let prefs = null; // the last preferences loaded
  let prefsSupplier = ""; // whose they are

  function renderPrefs(data) {
    prefs = data.preferences;
    prefsSupplier = data.supplier;
    $("nt-supplier").textContent = data.supplier + " (" + data.vendor_type + ")";
    $("nt-tz").textContent = data.time_zone;
    $("nt-muted").checked = prefs.muted;
    const rows = Object.keys(prefs.categories).sort().map((name) => prefRow(name, prefs.categories[name]));
    rows.push(prefRow("default", prefs.default));
    $("nt-categories").replaceChildren(...rows);
    const quiet = prefs.quiet_hours || [];
    $("nt-quiet").checked = quiet.length > 0;
    if (quiet.length) {
      $("nt-quiet-start").value = quiet[0].start;
      $("nt-quiet-end").value = quiet[0].end === "24:00" ? "00:00" : quiet[0].end;
    }
    $("nt-quiet-now").textContent = data.quiet_now
      ? "Quiet now: normal notifications wait until " + new Date(data.quiet_until).toLocaleString() + "; critical ones go at once."
      : (quiet.length ? "Not quiet now." : "Off: notifications go out at any hour.");
    const esc = prefs.escalation && prefs.escalation.length ? prefs.escalation : ["push", "sms", "email"];
    document.querySelectorAll(".nt-esc").forEach((sel, i) => {
      sel.replaceChildren(...["", "push", "sms", "email"].map((v) => el("option", { value: v, text: v || "(none)" })));
      sel.value = esc[i] || "";
    });
  }

  function prefRow(name, cat) {
    const tr = el("tr", { "data-category": name }, el("td", { text: name === "default" ? "default (other categories)" : name }));
    for (const ch of CHANNELS) {
      const box = el("input", { type: "checkbox", checked: !!(cat.channels && cat.channels[ch]) });
      box.dataset.channel = ch;
      box.setAttribute("aria-label", name + " " + ch);
      tr.append(el("td", {}, box));
    }
    const sel = el("select", { class: "digest" });
    const opts = DIGESTS.includes(cat.digest || "") ? DIGESTS : DIGESTS.concat([cat.digest]);
    for (const d of opts) sel.append(el("option", { value: d, text: d ? "every " + d : "off" }));
    sel.value = cat.digest || "";
    sel.setAttribute("aria-label", name + " digest");
    tr.append(el("td", {}, sel));
    return tr;
  }

  function collectPrefs() {
    const out = { muted: $("nt-muted").checked, categories: {}, default: null, escalation: [], quiet_hours: [] };
    document.querySelectorAll("#nt-categories tr").forEach((tr) => {
      const cat = { channels: {}, digest: tr.querySelector("select.digest").value };
      tr.querySelectorAll("input[type=checkbox]").forEach((b) => { cat.channels[b.dataset.channel] = b.checked; });
      if (tr.dataset.category === "default") out.default = cat;
      else out.categories[tr.dataset.category] = cat;
    });
    document.querySelectorAll(".nt-esc").forEach((sel) => { if (sel.value) out.escalation.push(sel.value); });
    if ($("nt-quiet").checked) {
      // Keep the days of the first window, if it had any.
      const w = { start: $("nt-quiet-start").value, end: $("nt-quiet-end").value };
      const old = prefs && prefs.quiet_hours && prefs.quiet_hours[0];
      if (old && old.days) w.days = old.days;
      out.quiet_hours.push(w);
    }
    return out;
  }

  $("nt-prefs").addEventListener("submit", async function (e) {
    e.preventDefault();
    const result = $("nt-prefs-result");
    result.textContent = "Saving...";
    try {
      renderPrefs(await call("PUT", "/api/notify/preferences" + q(), collectPrefs()));
      result.textContent = "Saved " + new Date().toLocaleTimeString() + ".";
    } catch (err) {
      result.textContent = "Not saved: " + err.message;
    }
  });
  $("nt-quiet").addEventListener("change", () => {
    $("nt-quiet-now").textContent = "Save to apply.";
  });

  // ---- Test sender

  $("nt-send-form").addEventListener("submit", async function (e) {
    e.preventDefault();
    const result = $("nt-send-result");
    const body = { event: $("nt-event").value, priority: $("nt-priority").value };
    if (supplier()) body.supplier = supplier();
    result.textContent = "Sending...";
    try {
      const r = await call("POST", "/api/notify/test", body);
      result.textContent = "Sent " + r.event + " as " + r.id + " (" + r.priority + " priority).";
      schedule();
    } catch (err) {
      result.textContent = "Not sent: " + err.message;
    }
  });

  // ---- Loading

  async function load() {
    const [list, mail, sms, inbox] = await Promise.all([
      call("GET", "/api/notify/notifications" + q()),
      call("GET", "/api/notify/mail"),
      call("GET", "/api/notify/sms"),
      call("GET", "/api/notify/inapp" + q()),
    ]);
    renderNotifications(list.notifications);
    renderMail(mail);
    renderSMS(sms);
    renderInbox(inbox);
    if (!prefs) renderPrefs(await call("GET", "/api/notify/preferences" + q()));
  }
  const loader = WedSync.loader(load, statusEl);
  // schedule coalesces a burst of broadcasts (one per status change) into
  // one reload.
  const schedule = loader.schedule;

  WedSync.onBroadcast("notify.", loader.live);
  WedSync.onLive(() => {
    // Another supplier (another dashboard token) has its own preferences.
    if (supplier() && supplier() !== prefsSupplier) prefs = null;
    schedule();
  });
  WedSync.onAdminToken(() => { prefs = null; schedule(); });
  setInterval(loader.run, SLOW_REFRESH_MS);
  loader.run();
})();
