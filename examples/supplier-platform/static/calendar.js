"use strict";
// The calendar panel: the sample supplier's week from /api/calendar/week
// (bookings, holds, busy time from the supplier's CalDAV calendar, and the
// conflicts between them) as a 7-day grid from 06:00 to 24:00, with forms
// to take a hold and to add an event to the supplier's own calendar, with
// the admin token (common.js). The panel reloads when
// the dashboard's realtime connection (dashboard.js) receives a calendar.*
// broadcast or (re)joins; a slow timer keeps the sync status fresh.
(function () {
  const SLOW_REFRESH_MS = 15000;
  const FIRST_MIN = 6 * 60, LAST_MIN = 24 * 60; // the grid's hours

  const $ = (id) => document.getElementById(id);
  const statusEl = $("cal-status"), actionEl = $("cal-action");
  let start = ""; // the week's first day (YYYY-MM-DD); "" is today
  let week = null; // the last answer
  let tz = "UTC";

  const { call, el } = WedSync;

  // Times are shown in the supplier's zone, whatever the browser's is.
  function fmt(s, withDay) {
    if (!s) return "";
    const o = { timeZone: tz, hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
    if (withDay) { o.weekday = "short"; o.day = "numeric"; o.month = "short"; }
    return new Intl.DateTimeFormat("en-GB", o).format(new Date(s));
  }
  function span(s, e) {
    const a = fmt(s, true), b = fmt(e, true);
    return a.slice(0, -5) === b.slice(0, -5) ? a + "-" + b.slice(-5) : a + " - " + b;
  }
  function hhmm(min) { return String(Math.floor(min / 60)).padStart(2, "0") + ":" + String(min % 60).padStart(2, "0"); }
  function pct(min) { return (Math.min(Math.max(min, FIRST_MIN), LAST_MIN) - FIRST_MIN) / (LAST_MIN - FIRST_MIN) * 100; }

  // ---- The grid

  // lanes places overlapping items side by side: each item gets a lane,
  // and each day as many lanes as it needs at most.
  function lanes(items) {
    const ends = [];
    for (const it of items) {
      let lane = ends.findIndex((end) => end <= it.blocked_start_min);
      if (lane < 0) { lane = ends.length; ends.push(0); }
      ends[lane] = it.blocked_end_min;
      it.lane = lane;
    }
    return Math.max(1, ends.length);
  }

  function renderGrid(data) {
    const grid = $("cal-grid");
    const cells = [el("div", { class: "cal-head" })];
    const todayStr = new Intl.DateTimeFormat("en-CA", { timeZone: tz }).format(new Date());
    for (const d of data.days) {
      cells.push(el("div", { class: "cal-head" + (d.date === todayStr ? " today" : ""), text: d.label, "data-date": d.date }));
    }
    const hours = el("div", { class: "cal-hours" });
    for (let h = FIRST_MIN / 60 + 1; h < LAST_MIN / 60; h++) {
      const label = el("span", { text: hhmm(h * 60) });
      label.style.top = pct(h * 60) + "%"; // CSSOM: the page's CSP allows no style attributes
      hours.append(label);
    }
    cells.push(hours);
    for (const d of data.days) {
      const col = el("div", { class: "cal-day", "data-date": d.date });
      const n = lanes(d.items);
      for (const it of d.items) {
        if (it.blocked_end_min <= FIRST_MIN) continue; // before 06:00
        const top = pct(it.blocked_start_min), bottom = pct(it.blocked_end_min);
        const height = Math.max(bottom - top, 2);
        const box = el("div", {
          class: "cal-item " + it.type + (it.conflict ? " conflict" : ""), "data-id": it.id,
          title: (it.type === "busy" ? "Busy (the supplier's calendar): " : it.type === "hold" ? "Hold: " : "Booking: ") + it.title +
            ", " + hhmm(it.start_min) + "-" + hhmm(it.end_min) +
            (it.blocked_start_min !== it.start_min || it.blocked_end_min !== it.end_min
              ? " (blocked " + hhmm(it.blocked_start_min) + "-" + hhmm(it.blocked_end_min) + " with buffers)" : "") +
            (it.conflict ? ": CONFLICT" : ""),
        });
        box.style.top = top + "%";
        box.style.height = height + "%";
        box.style.left = (it.lane * 100 / n) + "%";
        box.style.width = (100 / n) + "%";
        // The booked time inside the blocked time (buffers around it).
        const ct = (pct(it.start_min) - top) / height * 100, cb = (pct(it.end_min) - top) / height * 100;
        const core = el("div", { class: "core" },
          it.type === "hold" ? el("span", { class: "cal-tag", text: "HOLD " }) : null,
          el("span", { class: "cal-title", text: it.title }), " ",
          el("span", { class: "cal-time", text: hhmm(it.start_min) + "-" + hhmm(it.end_min) }));
        core.style.top = ct + "%";
        core.style.height = Math.max(cb - ct, 4) + "%";
        box.append(core);
        col.append(box);
      }
      cells.push(col);
    }
    grid.replaceChildren(...cells);
  }

  // ---- Lists

  function renderLists(data) {
    $("cal-conflict-count").textContent = data.conflicts.length ? String(data.conflicts.length) : "";
    WedSync.badge("nav-calendar", data.conflicts.length ? data.conflicts.length + (data.conflicts.length === 1 ? " conflict" : " conflicts") : "");
    const cl = $("cal-conflicts");
    if (!data.conflicts.length) cl.replaceChildren(el("li", { class: "empty", text: "No conflicts this week." }));
    else cl.replaceChildren(...data.conflicts.map((c) => el("li", { class: "cal-list-item conflict", "data-booking": c.booking_id },
      el("strong", { text: c.with }), " (" + (c.kind === "busy" ? "in the supplier's calendar" : c.kind + " " + c.with) + ") overlaps ",
      el("strong", { text: c.booking_title }), " ", el("span", { class: "id", text: c.booking_id }),
      el("div", { class: "meta", text: span(c.overlap.start, c.overlap.end) }))));

    const bl = $("cal-bookings");
    if (!data.bookings.length) bl.replaceChildren(el("li", { class: "empty", text: "No bookings or holds this week." }));
    else bl.replaceChildren(...data.bookings.map((b) => {
      const li = el("li", { class: "cal-list-item" + (b.conflict ? " conflict" : ""), "data-id": b.id },
        el("span", { class: "cal-status " + b.status, text: b.status === "hold" ? "HOLD" : b.status }), " ",
        el("strong", { text: b.title }), " ", el("span", { class: "id", text: b.id }));
      if (b.status === "hold") {
        const ok = el("button", { type: "button", class: "cal-confirm", text: "Confirm" });
        ok.addEventListener("click", () => act("confirm", b.id, ok));
        li.append(ok);
      }
      const cancel = el("button", { type: "button", class: "cal-cancel", text: b.status === "hold" ? "Release" : "Cancel" });
      cancel.addEventListener("click", () => act("cancel", b.id, cancel));
      li.append(cancel);
      let meta = span(b.start, b.end);
      if (b.setup_minutes || b.teardown_minutes) meta += "; blocked " + span(b.blocked.start, b.blocked.end) + " with buffers";
      if (b.hold_until) meta += "; held until " + fmt(b.hold_until, true);
      li.append(el("div", { class: "meta", text: meta }));
      return li;
    }));

    const busy = $("cal-busy");
    if (!data.busy.length) busy.replaceChildren(el("li", { class: "empty", text: "Nothing in the supplier's calendar this week." }));
    else busy.replaceChildren(...data.busy.map((b) => el("li", { class: "cal-list-item" + (b.conflict ? " conflict" : "") },
      el("strong", { text: b.summary }), el("div", { class: "meta", text: span(b.start, b.end) }))));
  }

  function renderConnection(data) {
    const c = data.connections[0];
    const conn = $("cal-conn"), detail = $("cal-conn-detail");
    if (!c) {
      conn.textContent = "not connected"; conn.className = "conn trouble"; detail.textContent = "";
      return;
    }
    if (c.last_error) {
      conn.textContent = "sync failing"; conn.className = "conn trouble";
    } else if (c.last_success) {
      conn.textContent = "synced"; conn.className = "conn live";
    } else {
      conn.textContent = "not synced yet"; conn.className = "conn";
    }
    const parts = ["CalDAV calendar " + c.calendar + " on " + data.caldav_server, c.events + " events"];
    if (c.last_success) parts.push("last sync " + new Date(c.last_success).toLocaleTimeString());
    if (c.next_run) parts.push("next " + new Date(c.next_run).toLocaleTimeString());
    parts.push(c.cursor_present ? "incremental (has a cursor)" : "no cursor yet");
    if (c.last_error) parts.push("error: " + c.last_error + " (" + c.failures + " failures)");
    detail.textContent = parts.join(" · ");
  }

  function render(data) {
    week = data;
    tz = data.time_zone;
    $("cal-supplier").textContent = data.supplier;
    $("cal-tz").textContent = "(times in " + data.time_zone + ")";
    $("cal-range").textContent = data.days[0].label + " - " + data.days[6].label;
    renderGrid(data);
    renderLists(data);
    renderConnection(data);
    prefill();
  }

  // The forms start on the week shown: a hold on its 4th day, an event
  // on its 2nd.
  let prefilled = "";
  function prefill() {
    if (prefilled === week.start) return;
    prefilled = week.start;
    $("cal-hold-start").value = week.days[3].date + "T09:00";
    $("cal-hold-end").value = week.days[3].date + "T11:00";
    $("cal-ext-start").value = week.days[1].date + "T16:00";
    $("cal-ext-end").value = week.days[1].date + "T17:00";
  }

  // ---- Actions

  async function act(what, id, button) {
    button.disabled = true;
    try {
      const r = await call("POST", "/api/calendar/" + what, { id: id });
      actionEl.textContent = (what === "confirm" ? "Confirmed " : "Cancelled ") + r.booking.title + ".";
      schedule();
    } catch (e) {
      actionEl.textContent = (what === "confirm" ? "Confirm" : "Cancel") + " failed: " + e.message;
      button.disabled = false;
    }
  }

  $("cal-hold-form").addEventListener("submit", async function (e) {
    e.preventDefault();
    const result = $("cal-hold-result");
    result.textContent = "Taking the hold...";
    try {
      const r = await call("POST", "/api/calendar/hold", {
        title: $("cal-hold-title").value, start: $("cal-hold-start").value, end: $("cal-hold-end").value,
        setup_minutes: Number($("cal-hold-setup").value || 0), teardown_minutes: Number($("cal-hold-teardown").value || 0),
      });
      result.textContent = "Held: " + r.booking.title + " (" + r.booking.id + ")" +
        (r.overlaps_busy.length ? "; it overlaps the supplier's own " + r.overlaps_busy.join(", ") : "") + ".";
      schedule();
    } catch (err) {
      if (err.status === 409 && err.data && err.data.conflicts) {
        result.textContent = "Not held: the time is taken by " + err.data.conflicts.map((c) =>
          c.kind + " " + (c.booking_id || c.summary) + " (" + span(c.start, c.end) + ")").join(", ") + ".";
      } else {
        result.textContent = "Not held: " + err.message;
      }
    }
  });

  $("cal-ext-form").addEventListener("submit", async function (e) {
    e.preventDefault();
    const result = $("cal-ext-result");
    result.textContent = "Writing to the CalDAV calendar and syncing...";
    try {
      const r = await call("POST", "/api/calendar/external", {
        summary: $("cal-ext-summary").value, start: $("cal-ext-start").value, end: $("cal-ext-end").value,
      });
      result.textContent = "Added \u201c" + r.summary + "\u201d to the supplier's calendar" + (r.synced ? " and synced." : "; the sync is on its way.");
      schedule();
    } catch (err) {
      result.textContent = "Not added: " + err.message;
    }
  });

  $("cal-sync").addEventListener("click", async function () {
    const b = $("cal-sync");
    b.disabled = true;
    actionEl.textContent = "Syncing...";
    try {
      const r = await call("POST", "/api/calendar/sync");
      actionEl.textContent = r.synced ? "Synced: " + r.connection.events + " events in the calendar." : "Sync queued.";
      schedule();
    } catch (err) {
      actionEl.textContent = "Sync failed: " + err.message;
    } finally {
      b.disabled = false;
    }
  });

  function shift(days) {
    const d = new Date((week ? week.start : new Intl.DateTimeFormat("en-CA").format(new Date())) + "T12:00:00Z");
    d.setUTCDate(d.getUTCDate() + days);
    start = d.toISOString().slice(0, 10);
    refresh();
  }
  $("cal-prev").addEventListener("click", () => shift(-7));
  $("cal-next").addEventListener("click", () => shift(7));
  $("cal-today").addEventListener("click", () => { start = ""; refresh(); });

  // ---- Loading

  const loader = WedSync.loader(async () => {
    render(await call("GET", "/api/calendar/week" + (start ? "?start=" + encodeURIComponent(start) : "")));
  }, statusEl);
  // refresh reloads now; schedule coalesces a burst of requests into one.
  const refresh = loader.run, schedule = loader.schedule;

  WedSync.onBroadcast("calendar.", loader.live);
  WedSync.onLive(schedule);
  WedSync.onAdminToken(schedule);
  setInterval(refresh, SLOW_REFRESH_MS);
  refresh();
})();
