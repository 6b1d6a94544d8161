"use strict";
// The dashboard's "Couple details (from WedMe)" panel: the demo couple's
// records as the supplier platform holds them for the dashboard's supplier
// (/api/wedme/records), with the record types that supplier's kind does
// not see marked as such. It reloads when the dashboard's realtime
// connection (dashboard.js) receives a wedme.changed broadcast or
// (re)joins. It uses the admin token (common.js).
(function () {
  const $ = (id) => document.getElementById(id);
  const { call, el } = WedSync;
  const statusEl = $("wm-panel-status");
  // The dashboard token's supplier ("" until known: the server's default,
  // the sample supplier).
  let supplier = WedSync.supplier();
  let last = {}; // type -> JSON of its fields, to highlight what changed

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

  const loader = WedSync.loader(async () => {
    render(await call("GET", "/api/wedme/records" + (supplier ? "?supplier_id=" + encodeURIComponent(supplier) : "")));
  }, statusEl);

  WedSync.onBroadcast("wedme.changed", loader.live);
  WedSync.onLive((d) => {
    if (d.supplier && d.supplier !== supplier) { supplier = d.supplier; last = {}; }
    loader.run();
  });
  WedSync.onAdminToken(loader.run);
  loader.run();
})();
