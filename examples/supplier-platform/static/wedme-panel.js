"use strict";
// The dashboard's "Couple details (from WedMe)" panel: the demo couple's
// records as the supplier platform holds them for the dashboard's supplier
// (/api/wedme/records), with the record types that supplier's kind does
// not see marked as such. It reloads when the dashboard's realtime
// connection (dashboard.js) receives a wedme.changed broadcast or
// (re)joins. The admin token comes from app.js (sessionStorage).
(function () {
  const KEY = "wedsync-admin-token";
  const $ = (id) => document.getElementById(id);
  const statusEl = $("wm-panel-status");
  // The dashboard token's supplier (dashboard.js shows it; "" until known:
  // the server's default, the sample supplier).
  let supplier = $("rt-supplier").textContent;
  let live = 0;
  let last = {}; // type -> JSON of its fields, to highlight what changed

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else e.setAttribute(k, v);
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  }

  function show(v) {
    if (v === null || v === undefined) return "\u2014";
    if (Array.isArray(v)) return v.length ? v.join(", ") : "none";
    return String(v);
  }

  function render(data) {
    $("wm-supplier").textContent = data.supplier + " (" + data.kind + ")";
    $("wm-names").textContent = data.names;
    $("wm-couple").textContent = data.couple;
    const cards = data.types.map((t) => {
      if (!data.sees.includes(t.type)) {
        return el("div", { class: "wm-card hidden", "data-type": t.type }, el("h3", { text: t.title }),
          el("p", { class: "wm-hidden", text: "Not shared with a " + data.kind + ": the couple's " + t.title.toLowerCase() +
            " never reach this supplier." }));
      }
      const r = data.records.find((x) => x.type === t.type);
      const rows = t.fields.map((f) => el("tr", { "data-field": f }, el("th", { text: f }),
        el("td", { class: "v", text: show(r ? r.fields[f] : null) })));
      const card = el("div", { class: "wm-card", "data-type": t.type }, el("h3", { text: t.title }),
        r ? el("table", {}, el("tbody", {}, ...rows)) : el("p", { class: "empty", text: "Nothing shared yet." }));
      const now = JSON.stringify(r ? r.fields : null);
      if (last[t.type] !== undefined && last[t.type] !== now) {
        card.classList.add("changed");
        setTimeout(() => card.classList.remove("changed"), 50);
      }
      last[t.type] = now;
      return card;
    });
    $("wm-records").replaceChildren(...cards);
  }

  let running = false, again = false;
  async function refresh() {
    if (running) { again = true; return; }
    running = true;
    try {
      const t = sessionStorage.getItem(KEY) || "";
      if (!t) throw new Error("no admin token: paste it in the Webhook deliveries form below (or open the link printed at start-up)");
      const res = await fetch("/api/wedme/records" + (supplier ? "?supplier_id=" + encodeURIComponent(supplier) : ""),
        { headers: { Authorization: "Bearer " + t } });
      const data = await res.json();
      if (!res.ok) throw new Error(data.error || "HTTP " + res.status);
      render(data);
      statusEl.textContent = "Updated " + new Date().toLocaleTimeString() + (live
        ? "; " + live + " live update" + (live === 1 ? "" : "s") + " received through the realtime hub."
        : ".");
    } catch (e) {
      statusEl.textContent = e.message;
    } finally {
      running = false;
      if (again) { again = false; refresh(); }
    }
  }

  document.addEventListener("wedsync:broadcast", (e) => {
    if (e.detail && e.detail.event === "wedme.changed") {
      live++;
      refresh();
    }
  });
  document.addEventListener("wedsync:live", (e) => {
    const s = e.detail && e.detail.supplier;
    if (s && s !== supplier) { supplier = s; last = {}; }
    refresh();
  });
  document.getElementById("auth").addEventListener("submit", refresh);
  refresh();
})();
