"use strict";
// The couple's WedMe page: loads what the couple's side holds from
// /api/wedme/couple into the forms and the "What the WedMe side holds"
// list, and saves a form with POST /api/wedme/edit. The couple's token
// comes from the "?token=..." link printed at start-up and is kept for
// this tab only.
(function () {
  const KEY = "wedme-couple-token";
  const $ = (id) => document.getElementById(id);
  const statusEl = $("wm-status");

  const params = new URLSearchParams(location.search);
  if (params.has("token")) {
    sessionStorage.setItem(KEY, params.get("token"));
    history.replaceState(null, "", location.pathname);
  }

  async function call(method, path, body) {
    const t = sessionStorage.getItem(KEY) || "";
    if (!t) throw new Error("no couple token: open the WedMe link printed at start-up (/wedme?token=...)");
    const opts = { method: method, headers: { Authorization: "Bearer " + t } };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    const res = await fetch(path, opts);
    let data = null;
    try { data = await res.json(); } catch (e) { /* not JSON */ }
    if (!res.ok) {
      const err = new Error((data && data.error) || "HTTP " + res.status);
      err.field = data && data.field;
      throw err;
    }
    return data;
  }

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

  let dirty = {}; // forms being edited are not overwritten by a reload

  function fill(records) {
    for (const r of records) {
      const form = document.querySelector('form.wm-form[data-type="' + r.type + '"]');
      if (!form || dirty[r.type]) continue;
      for (const input of form.querySelectorAll("[data-field]")) {
        const v = r.fields[input.dataset.field];
        if (input.dataset.list) input.value = Array.isArray(v) ? v.join(", ") : "";
        else input.value = v === null || v === undefined ? "" : String(v);
      }
    }
  }

  function render(data) {
    $("wm-names").textContent = data.names;
    $("wm-couple").textContent = data.couple;
    const titles = {};
    for (const t of data.types) titles[t.type] = t.title;
    $("wm-suppliers").replaceChildren(...data.suppliers.map((s) => el("li", { "data-supplier": s.supplier },
      el("strong", { text: s.supplier }), " (" + s.kind + ") sees: ",
      s.sees.length ? s.sees.map((t) => titles[t] || t).join(", ") : "nothing of these")));
    const held = data.types.map((t) => {
      const r = data.records.find((x) => x.type === t.type);
      const rows = t.fields.map((f) => el("tr", { "data-field": f },
        el("th", { text: f }), el("td", { class: "v", text: show(r ? r.fields[f] : null) }),
        el("td", { class: "hint", text: r && r.written_ms[f] ? new Date(r.written_ms[f]).toLocaleTimeString() : "" })));
      return el("div", { class: "wm-card", "data-type": t.type }, el("h3", { text: t.title }), el("table", {}, el("tbody", {}, ...rows)));
    });
    $("wm-held").replaceChildren(...held);
    fill(data.records);
  }

  async function refresh() {
    try {
      render(await call("GET", "/api/wedme/couple"));
      statusEl.textContent = "Loaded " + new Date().toLocaleTimeString() + ".";
    } catch (e) {
      statusEl.textContent = e.message;
    }
  }

  for (const form of document.querySelectorAll("form.wm-form")) {
    const type = form.dataset.type;
    const result = $("wm-result-" + type);
    form.addEventListener("input", () => { dirty[type] = true; });
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const fields = {};
      for (const input of form.querySelectorAll("[data-field]")) {
        input.classList.remove("wm-bad");
        const v = input.value.trim();
        if (input.dataset.list) fields[input.dataset.field] = v ? v.split(",").map((s) => s.trim()).filter((s) => s) : [];
        else if (input.type === "number") fields[input.dataset.field] = v === "" ? null : Number(v);
        else fields[input.dataset.field] = v;
      }
      result.textContent = "Saving...";
      try {
        const data = await call("POST", "/api/wedme/edit", { type: type, fields: fields });
        dirty[type] = false;
        result.textContent = "Saved " + new Date().toLocaleTimeString() + " (change " + data.change + "); the suppliers who see it have it now.";
        await refresh();
      } catch (err) {
        result.textContent = "Not saved: " + err.message;
        const m = err.field && /^fields\.([a-z_]+)/.exec(err.field);
        const bad = m && form.querySelector('[data-field="' + m[1] + '"]');
        if (bad) bad.classList.add("wm-bad");
      }
    });
  }
  refresh();
})();
