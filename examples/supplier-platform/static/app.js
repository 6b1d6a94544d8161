"use strict";
// Lists /api/attempts every 2 seconds. The admin token comes from the
// "#token=..." link printed at start-up (the fragment never reaches the
// server's logs) or from the form, and is kept for this tab only.
(function () {
  const KEY = "wedsync-admin-token";
  const status = document.getElementById("status");
  const rows = document.getElementById("attempts");
  const input = document.getElementById("token");

  const m = location.hash.match(/(?:^#|&)token=([^&]+)/);
  if (m) {
    sessionStorage.setItem(KEY, decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  document.getElementById("auth").addEventListener("submit", function (e) {
    e.preventDefault();
    sessionStorage.setItem(KEY, input.value.trim());
    input.value = "";
    refresh();
  });

  function cell(tr, text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    tr.appendChild(td);
  }

  function render(attempts) {
    const body = document.createDocumentFragment();
    for (const a of attempts) {
      const tr = document.createElement("tr");
      tr.className = a.status;
      cell(tr, new Date(a.at).toLocaleTimeString());
      cell(tr, a.event_type);
      cell(tr, a.message_id, "id");
      cell(tr, a.endpoint_id, "id");
      cell(tr, String(a.number));
      cell(tr, a.status);
      cell(tr, a.response_status ? String(a.response_status) : "-");
      cell(tr, a.latency_ms.toFixed(1) + " ms");
      let details = a.error || "";
      if (a.next_attempt_at) {
        details += (details ? "; " : "") + "retry at " + new Date(a.next_attempt_at).toLocaleTimeString();
      }
      cell(tr, details);
      body.appendChild(tr);
    }
    rows.replaceChildren(body);
  }

  async function refresh() {
    const token = sessionStorage.getItem(KEY);
    if (!token) {
      status.textContent = "Paste the admin token printed at start-up (or open the dashboard link it printed).";
      return;
    }
    try {
      const res = await fetch("/api/attempts?limit=200", { headers: { Authorization: "Bearer " + token } });
      const data = await res.json();
      if (!res.ok) {
        status.textContent = "HTTP " + res.status + ": " + data.error;
        return;
      }
      render(data.attempts);
      status.textContent = data.attempts.length + " attempts, updated " + new Date().toLocaleTimeString();
    } catch (e) {
      status.textContent = "Cannot reach the server: " + e.message;
    }
  }

  refresh();
  setInterval(refresh, 2000);
})();
