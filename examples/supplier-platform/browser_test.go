package main

// The demo's flows in a real Chromium (Debian's), one test per flow: live
// KPIs, a dropped socket, test webhooks, test notifications and calendar
// sync (and, in wedme_browser_test.go, a WedMe edit). CI runs them with
// WEDSYNC_REQUIRE_BROWSER=1, so that a missing browser fails instead of
// skipping. They wait on the page's DOM with deadlines, never on time.

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/calendar"
	"github.com/wedsync/integrations/notify/smtp/smtptest"
)

// tileIs is true when the KPI tile key shows a value whose digits are
// digits: toLocaleString groups them ("4,242", "4.242") and money has a
// currency sign.
func tileIs(key, digits string) string {
	return fmt.Sprintf(`(() => { const v = document.querySelector('#kpis .tile[data-kpi=%q] .value');
		return !!v && v.textContent.replace(/\D/g, "") === %q; })()`, key, digits)
}

// viewing is true when the page counts n open dashboards (presence).
func viewing(n int) string {
	return fmt.Sprintf(`document.getElementById("rt-viewers").textContent === "%d viewing"`, n)
}

// Flow 1: live KPIs. A dashboard opened after the KPIs were broadcast shows
// them at once (from GET /api/kpis: its activity list, which shows what
// arrives over the socket, stays empty); a KPI changed through the API
// then appears without a reload; a second tab counts two viewers. When the
// browser closes, nothing of it is left.
func TestDemoBrowserKPIs(t *testing.T) {
	b := browserTest(t)
	tab := b.Tab

	// Two broadcasts before any dashboard is open; the second changes one
	// KPI and leaves the others.
	for _, kpis := range []string{`{"bookings":12,"enquiries":31,"revenue":{"currency":"GBP","value":"18450.00"}}`, `{"bookings":13}`} {
		code, body := b.API.do("POST", "/api/events", `{"supplier_id":"`+demoSupplier+`","type":"kpi.updated","payload":`+kpis+`}`)
		require.Equal(t, http.StatusAccepted, code, body)
	}

	b.open(tab, b.dashboardURL(demoSupplier, ""))
	var profile string
	if p := chromedp.FromContext(tab).Browser.Process(); p != nil {
		profile = profileFlag(p.Pid)
	}
	b.waitFor(tab, "bookings 13", tileIs("bookings", "13"))
	b.waitFor(tab, "enquiries 31", tileIs("enquiries", "31"))
	b.waitFor(tab, "revenue 18450.00", tileIs("revenue", "1845000"))
	require.Equal(t, "Bookings", b.eval(tab, `document.querySelector('#kpis .tile[data-kpi="bookings"] .label').textContent`))
	require.Equal(t, "0", b.eval(tab, `String(document.querySelectorAll("#rt-events tr[data-event]").length)`),
		"the KPIs came from the snapshot, not from events over the socket")
	require.Equal(t, demoSupplier, b.eval(tab, `document.getElementById("rt-supplier").textContent`), "the supplier of the token")
	require.Equal(t, "/", b.eval(tab, `location.pathname + location.search + location.hash`), "the page drops the tokens from the address bar")
	b.waitFor(tab, `the page to count itself ("1 viewing")`, viewing(1))
	// A mark on the page's window: a reload would lose it.
	require.Equal(t, "kept", b.eval(tab, `window.__mark = "kept"`))

	// A KPI changed through the API appears live, and in the activity list.
	code, body := b.API.do("POST", "/api/events", `{"supplier_id":"`+demoSupplier+`","type":"kpi.updated","payload":{"bookings":4242}}`)
	require.Equal(t, http.StatusAccepted, code, body)
	b.waitFor(tab, "bookings 4242", tileIs("bookings", "4242"))
	b.waitFor(tab, "the event in the activity list", `(() => { const r = document.querySelector("#rt-events tr[data-event]");
		return !!r && r.dataset.event === "kpi.updated" && r.querySelector("td.what").textContent.startsWith("Figures changed: Bookings 4"); })()`)
	require.Equal(t, "31", b.eval(tab, `document.querySelector('#kpis .tile[data-kpi="enquiries"] .value').textContent`), "the others stay")
	require.Equal(t, "kept", b.eval(tab, `String(window.__mark)`), "the page did not reload")

	// A second tab on the same dashboard: both count two viewers; when it
	// closes, the first counts one again.
	tab2, closeTab2 := b.newTab("tab 2")
	defer closeTab2()
	if err := chromedp.Do(tab2); err != nil { // opens the tab, for as long as tab2 lives
		b.failf(tab, "opening a second tab: %v", err)
	}
	b.open(tab2, b.dashboardURL(demoSupplier, ""))
	b.waitFor(tab2, "tab 2 shows bookings 4242 at once", tileIs("bookings", "4242"))
	b.waitFor(tab2, `tab 2 to show "2 viewing"`, viewing(2))
	b.waitFor(tab, `tab 1 to show "2 viewing"`, viewing(2))
	closeTab2()
	b.waitFor(tab, `tab 1 to show "1 viewing" once tab 2 closed`, viewing(1))
	b.noExceptions()

	// Close the browser and check that nothing of it is left.
	b.Close()
	if profile == "" {
		t.Log("cannot read the browser's command line (no /proc?): not checking for leftover processes")
		return
	}
	require.Empty(t, browserProcesses(profile), "browser processes left after the allocator stopped")
	dir := strings.TrimPrefix(profile, "--user-data-dir=")
	_, err := os.Stat(dir)
	require.True(t, errors.Is(err, os.ErrNotExist), "the profile directory %s is still there (%v)", dir, err)
}

// Flow 6: the server drops the dashboard's socket, and the page recovers
// with no missed update. The server cuts the socket and refuses the
// supplier's dashboards until told otherwise; a KPI changed meanwhile (with
// the page's own form: HTTP still works) reaches the page when it rejoins,
// replayed from the hub's history, without a reload. Then the server
// stops: the page says so and keeps the figures.
func TestDemoBrowserReconnect(t *testing.T) {
	b := browserTest(t)
	tab := b.Tab
	b.open(tab, b.dashboardURL(demoSupplier, ""))
	require.Equal(t, "kept", b.eval(tab, `window.__mark = "kept"`))
	disconnected := `(() => { const c = document.getElementById("rt-conn");
		return /^(disconnected|reconnecting|connecting)/.test(c.textContent) && !c.classList.contains("live"); })()`

	// Drop the socket; keep the supplier's dashboards out.
	code, body := b.API.do("POST", "/api/realtime/drop", `{"supplier_id":"`+demoSupplier+`","offline_seconds":120}`)
	require.Equal(t, http.StatusOK, code, body)
	require.EqualValues(t, 1, body["dropped"], body)
	b.waitFor(tab, "the page to see the socket gone", disconnected)
	require.Contains(t, b.srv.out.String(), "REALTIME   dropped 1 dashboard socket of sup_demo_florist on purpose")

	// An update while the socket is down, from the page's form.
	b.do(tab, "changing enquiries to 777 with the form", chromedp.SetValue(chromedp.ID("kpi-key"), "enquiries"),
		chromedp.SetValue(chromedp.ID("kpi-value"), "777"), chromedp.Click(chromedp.ID("kpi-send")))
	b.waitFor(tab, "the broadcast to be accepted", `document.getElementById("kpi-result").textContent.startsWith("Broadcast as offset")`)
	require.Equal(t, "0", b.eval(tab, `String(document.querySelectorAll('#kpis .tile[data-kpi="enquiries"]').length)`),
		"nothing reached the page while the server refuses it")
	require.Equal(t, "true", b.eval(tab, `String(!document.getElementById("rt-conn").classList.contains("live"))`))

	// Let it back in: it rejoins, and the hub replays what it missed.
	code, body = b.API.do("POST", "/api/realtime/restore", `{"supplier_id":"`+demoSupplier+`"}`)
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, true, body["was_offline"], body)
	b.waitFor(tab, "the page to be live again", `document.getElementById("rt-conn").textContent === "live"`)
	b.waitFor(tab, "enquiries 777", tileIs("enquiries", "777"))
	b.waitFor(tab, "the missed event, replayed", `(() => { const r = document.querySelector('#rt-events tr[data-event="kpi.updated"]');
		return !!r && r.classList.contains("replayed"); })()`)
	require.Equal(t, "1", b.eval(tab, `String(document.querySelectorAll('#rt-events tr[data-event="kpi.updated"]').length)`),
		"the event shows once")
	require.Equal(t, "kept", b.eval(tab, `String(window.__mark)`), "the page did not reload")

	// The server stops: the page says it lost the connection and is trying
	// again, and keeps the last figures.
	require.NoError(t, b.srv.stop(), b.srv.out.String())
	b.waitFor(tab, "the page to show that it is disconnected", disconnected)
	require.Empty(t, b.eval(tab, `document.getElementById("rt-viewers").textContent`), "no viewer count while disconnected")
	b.waitFor(tab, "the last figures to stay on screen", tileIs("enquiries", "777"))
	b.noExceptions()
}

// Flow 2: "Send test webhook" on the integrations view shows the delivery,
// with a scripted failure and its retry. The page registers an endpoint on
// the demo's vendor CRM, then sends it a test webhook that the vendor fails
// once on purpose: the delivery shows as retrying with its next attempt,
// then as delivered on the second try; the vendor's own log shows both
// requests, with valid signatures.
func TestDemoBrowserWebhooks(t *testing.T) {
	b := browserTest(t)
	tab := b.Tab
	b.open(tab, b.dashboardURL(demoSupplier, "integrations"))
	b.waitFor(tab, "the integrations view", `!document.getElementById("view-integrations").hidden`)
	b.waitFor(tab, "the empty list of endpoints", `!!document.querySelector("#wh-endpoints .empty") &&
		document.getElementById("wh-url").textContent.startsWith("http://127.0.0.1:")`)

	// Register an endpoint from the page: it shows by name.
	b.do(tab, "registering an endpoint", chromedp.SetValue(chromedp.ID("wh-name"), "bookkeeping"),
		chromedp.SetValue(chromedp.ID("wh-events"), "booking.*"), chromedp.Click(chromedp.ID("wh-register")))
	b.waitFor(tab, "the endpoint, by name", `(() => { const li = document.querySelector('#wh-endpoints li.endpoint[data-name="bookkeeping"]');
		return !!li && li.querySelector(".name").textContent === "bookkeeping" && li.querySelector(".pill").textContent === "enabled"; })()`)
	epID := b.eval(tab, `document.querySelector('#wh-endpoints li.endpoint[data-name="bookkeeping"]').dataset.id`)
	require.True(t, strings.HasPrefix(epID, "ep_"), epID)
	require.Contains(t, b.eval(tab, `document.getElementById("wh-reg-result").textContent`), "Registered bookkeeping")

	// Watch every state a delivery row of the endpoint goes through.
	b.eval(tab, `(() => { window.__states = [];
		const note = () => { for (const tr of document.querySelectorAll('#wh-deliveries tr[data-endpoint="`+epID+`"]')) {
			const s = tr.dataset.status + "|" + tr.querySelector("td:last-child").textContent;
			if (!window.__states.includes(s)) window.__states.push(s); } };
		new MutationObserver(note).observe(document.getElementById("wh-deliveries"), { childList: true, subtree: true, characterData: true });
		return ""; })()`)

	// A test webhook that the vendor fails once, with 503 and Retry-After: 1.
	b.do(tab, "sending a test webhook that fails once", chromedp.SetValue(chromedp.ID("wh-mode"), "fail-once"),
		chromedp.Click(chromedp.CSS(`#wh-endpoints li.endpoint[data-name="bookkeeping"] button.wh-test`)))
	b.waitFor(tab, "the send's confirmation", `/^Sent webhook\.test as msg_\w+ to bookkeeping; the vendor fails its first try/.test(
		document.getElementById("wh-test-result").textContent)`)
	msgID := b.eval(tab, `document.getElementById("wh-test-result").textContent.match(/msg_\w+/)[0]`)
	row := `document.querySelector('#wh-deliveries tr[data-message="` + msgID + `"][data-endpoint="` + epID + `"]')`
	b.waitFor(tab, "the delivery, delivered on the second try", `(() => { const tr = `+row+`;
		return !!tr && tr.dataset.status === "delivered" && tr.dataset.tries === "2"; })()`)
	require.Equal(t, "bookkeeping", b.eval(tab, row+`.querySelector("td.endpoint-name").textContent`))
	require.Equal(t, "webhook.test", b.eval(tab, row+`.querySelector("code").textContent`))
	require.True(t, strings.HasPrefix(b.eval(tab, row+`.querySelector("td.answer").textContent`), "HTTP 200 in "))
	// On the way, the row showed the failure and when the retry was due.
	states := b.eval(tab, `JSON.stringify(window.__states)`)
	require.Regexp(t, `"retrying\|\d{1,2}:\d\d:\d\d( [AP]M)? \((in \d+ s|due now: waiting for a worker)\)"`, states,
		"the row showed the next attempt's time")
	// The tries, oldest first: the scripted failure, then the retry.
	tries := b.eval(tab, `(() => { const d = `+row+`.querySelector("td.tries details"); d.open = true;
		return [...d.querySelectorAll("li")].map((li) => li.textContent).join("\n"); })()`)
	require.Regexp(t, `(?s)^\S+( [AP]M)?: failed, HTTP 503 in [\d.]+ ms; next try at \S+( [AP]M)?\n\S+( [AP]M)?: delivered, HTTP 200 in [\d.]+ ms$`, tries)

	// The vendor's own log: both requests, signatures valid, 503 then 200.
	received := `[...document.querySelectorAll('#vendor-received tr[data-webhook-id="` + msgID + `"]')]`
	b.waitFor(tab, "the vendor's two requests", received+`.length === 2`)
	vendorRows := b.eval(tab, `JSON.stringify(`+received+`.reverse().map((tr) => [tr.dataset.hook, tr.dataset.try, tr.dataset.answered,
		tr.querySelector("td.sig").textContent, tr.querySelector("td.answered").textContent]))`)
	require.JSONEq(t, `[["bookkeeping","1","503","✓ valid","503 (Retry-After: 1)"],["bookkeeping","2","200","✓ valid","200"]]`, vendorRows)
	require.Contains(t, b.srv.out.String(), "VENDOR     bookkeeping <- webhook.test      "+msgID+": signature ok; answering 503, Retry-After: 1 on purpose")
	b.noExceptions()
}

// Flow 4: "Send test notification" shows each channel's status as the
// notifier reports it (through the realtime hub), and the mail arrives at
// the demo's SMTP server: checked on the server itself, not only on the
// page. Then a critical notification is acknowledged from the page, and
// quiet hours are saved.
func TestDemoBrowserNotifications(t *testing.T) {
	b := browserTest(t)
	tab := b.Tab
	// chip is the status text of a channel of the newest notification.
	chip := func(channel, status string) string {
		return fmt.Sprintf(`(() => { const c = document.querySelector('#nt-list .nt-item:first-child .chip[data-channel=%q] .st');
			return !!c && c.textContent === %q; })()`, channel, status)
	}

	b.open(tab, b.dashboardURL(demoSupplier, "notifications"))
	b.waitFor(tab, "the notifications view", `!document.getElementById("view-notifications").hidden`)
	b.waitFor(tab, "the preferences to load", `document.querySelectorAll("#nt-categories tr").length === 9`)
	b.waitFor(tab, "the empty lists", `!!document.querySelector("#nt-list .empty") && !!document.querySelector("#nt-mail .empty")`)
	require.Equal(t, "Europe/London", b.eval(tab, `document.getElementById("nt-tz").textContent`))
	require.Equal(t, "false", b.eval(tab, `String(document.getElementById("nt-quiet").checked)`), "quiet hours start off")
	require.Equal(t, "true", b.eval(tab,
		`String(document.querySelector('#nt-categories tr[data-category="payment"] input[data-channel="sms"]').checked)`))

	// Send a booking.confirmed: each channel's status shows.
	b.do(tab, "clicking Send test notification", chromedp.Click(chromedp.ID("nt-send")))
	b.waitFor(tab, "email sent", chip("email", "sent"))
	b.waitFor(tab, "in-app sent", chip("in_app", "sent"))
	b.waitFor(tab, "push failed", chip("push", "failed"))
	b.waitFor(tab, "sms suppressed", chip("sms", "suppressed"))
	require.Contains(t, b.eval(tab, `document.querySelector('#nt-list .chip[data-channel="push"] .reason').textContent`),
		"no live push subscription")
	b.waitFor(tab, "the in-app message", `document.getElementById("nt-unread").textContent === "1 unread"`)
	require.Equal(t, "1 unread", b.eval(tab, `document.getElementById("nav-notifications").textContent`), "the tab's badge")
	// The panel reloaded because the hub carried the notifier's status
	// changes to the page.
	b.waitFor(tab, "notify.status broadcasts", `/live updates? received through the realtime hub/.test(document.getElementById("nt-status").textContent)`)

	// The mail, as the demo's SMTP server received it.
	const subject = "New flowers booking: Alex & Sam, 2027-05-01"
	b.waitFor(tab, "the mail on the page", `(() => { const s = document.querySelector("#nt-mail .nt-mail-item .subject");
		return !!s && s.textContent === "`+subject+`"; })()`)
	msgs := b.srv.api.ns.mail.Messages()
	require.Len(t, msgs, 1, "the SMTP server received one message")
	require.Equal(t, []string{"hello@fernandbloom.example"}, msgs[0].To, "the envelope's recipient")
	require.Equal(t, notifyFrom, msgs[0].From, "the envelope's sender")
	mail, err := smtptest.Parse(msgs[0])
	require.NoError(t, err)
	require.Equal(t, subject, mail.Subject)
	require.Contains(t, mail.Text, "Alex & Sam booked your flowers (booking bk_1001) for 2027-05-01")
	require.Contains(t, mail.HTML, "<strong>Alex &amp; Sam</strong>")
	require.Equal(t, msgs[0].Header.Get("Message-Id"), b.eval(tab, `document.querySelector("#nt-mail .nt-mail-item").dataset.messageId`),
		"the page shows that message")
	// Its HTML part previews in a sandbox. Opened from inside the page, and
	// again if a live reload replaced the list meanwhile (a click on a node
	// that was just replaced fails).
	b.waitFor(tab, "the preview", `(() => { const f = document.querySelector("#nt-mail iframe.nt-html");
		if (!f) {
			const s = document.querySelector("#nt-mail .nt-mail-item summary");
			if (s && !s.parentElement.open) s.click();
			return false;
		}
		return f.getAttribute("sandbox") === "" && f.srcdoc.includes("<strong>Alex &amp; Sam</strong>"); })()`)

	// A critical payment.failed: push fails, SMS and email wait their turn;
	// Acknowledge stops the escalation.
	b.do(tab, "choosing payment.failed, critical", chromedp.SetValue(chromedp.ID("nt-event"), "payment.failed"),
		chromedp.SetValue(chromedp.ID("nt-priority"), "critical"), chromedp.Click(chromedp.ID("nt-send")))
	b.waitFor(tab, "the Acknowledge button", `!!document.querySelector("#nt-list .nt-item:first-child button.nt-ack")`)
	b.waitFor(tab, "email waiting", chip("email", "queued"))
	b.do(tab, "clicking Acknowledge", chromedp.Click(chromedp.CSS("#nt-list .nt-item:first-child button.nt-ack")))
	b.waitFor(tab, "email acknowledged", chip("email", "acknowledged"))
	b.waitFor(tab, "the acknowledgement", `(() => { const a = document.querySelector("#nt-list .nt-item:first-child .acked");
		return !!a && a.textContent.startsWith("acknowledged"); })()`)

	// Quiet hours switched on and saved.
	b.do(tab, "switching quiet hours on", chromedp.Click(chromedp.ID("nt-quiet")), chromedp.Click(chromedp.ID("nt-save")))
	b.waitFor(tab, "the preferences saved", `document.getElementById("nt-prefs-result").textContent.startsWith("Saved")`)
	require.Contains(t, b.srv.out.String(), "preferences of sup_demo_florist saved (quiet hours 22:00-07:00 Europe/London)")
	b.noExceptions()
}

// Flow 5: a calendar sync shows a provider event and a conflict. The
// seeded week renders with the wedding, the hold and the supplier's own
// events, the dentist's conflict outlined and listed. Then an event is
// written straight into the supplier's CalDAV calendar, as their calendar
// app would, on top of a wedding; "Sync now" on the page brings it in as
// busy time, and the new conflict shows.
func TestDemoBrowserCalendar(t *testing.T) {
	b := browserTest(t)
	tab := b.Tab
	b.open(tab, b.dashboardURL(demoSupplier, "calendar"))
	b.waitFor(tab, "the week", `document.querySelectorAll("#cal-grid .cal-day").length === 7`)
	b.waitFor(tab, "the wedding in the grid", `[...document.querySelectorAll("#cal-grid .cal-item.booking .cal-title")].some((e) => e.textContent === "Alex & Sam wedding")`)
	b.waitFor(tab, "the hold, marked HOLD", `[...document.querySelectorAll("#cal-grid .cal-item.hold")].some((e) =>
		e.querySelector(".cal-tag").textContent.trim() === "HOLD" && e.querySelector(".cal-title").textContent === "Priya & Jordan: consultation")`)
	b.waitFor(tab, "the dentist as busy time, outlined", `[...document.querySelectorAll("#cal-grid .cal-item.busy.conflict .cal-title")].some((e) => e.textContent === "Dentist")`)
	require.Equal(t, "true", b.eval(tab, `String([...document.querySelectorAll("#cal-grid .cal-item.booking.conflict .cal-title")].some((e) => e.textContent === "Alex & Sam wedding"))`),
		"the wedding is outlined too")
	require.Equal(t, "false", b.eval(tab, `String([...document.querySelectorAll("#cal-grid .cal-item.conflict .cal-title")].some((e) => e.textContent === "Gym"))`))
	require.Contains(t, b.eval(tab, `document.getElementById("cal-conflicts").innerText`), "Dentist")
	require.Equal(t, "synced", b.eval(tab, `document.getElementById("cal-conn").textContent`))
	require.Equal(t, "1 conflict", b.eval(tab, `document.getElementById("nav-calendar").textContent`), "the tab's badge")

	// The supplier's calendar app writes "School run" over the Morgan &
	// Casey wedding, straight into the CalDAV calendar (not through
	// WedSync).
	date := b.eval(tab, `(() => { const it = [...document.querySelectorAll("#cal-grid .cal-item.booking")].find((e) =>
		e.querySelector(".cal-title").textContent === "Morgan & Casey wedding"); return it.closest(".cal-day").dataset.date; })()`)
	cs := b.srv.api.cal
	day, err := time.ParseInLocation(time.DateOnly, date, cs.loc)
	require.NoError(t, err)
	_, err = cs.app.Create(t.Context(), cs.creds, cs.cal, &calendar.Event{Summary: "School run",
		Start: day.Add(12 * time.Hour), End: day.Add(12*time.Hour + 30*time.Minute)})
	require.NoError(t, err)

	// Sync now: the provider's event shows as busy time, with its conflict.
	b.do(tab, "clicking Sync now", chromedp.Click(chromedp.ID("cal-sync")))
	b.waitFor(tab, "the sync's result", `document.getElementById("cal-action").textContent.startsWith("Synced: ")`)
	b.waitFor(tab, "the event's conflict", `[...document.querySelectorAll("#cal-grid .cal-item.busy.conflict .cal-title")].some((e) => e.textContent === "School run")`)
	b.waitFor(tab, "the conflict listed", `[...document.querySelectorAll("#cal-conflicts li.conflict")].some((li) =>
		li.textContent.startsWith("School run") && li.textContent.includes("Morgan & Casey wedding"))`)
	require.Contains(t, b.eval(tab, `document.getElementById("cal-busy").innerText`), "School run")
	require.Equal(t, "2 conflicts", b.eval(tab, `document.getElementById("nav-calendar").textContent`))
	require.Contains(t, b.srv.out.String(), `calendar: conflict: "School run"`)
	if p := os.Getenv("WEDSYNC_CALENDAR_SCREENSHOT"); p != "" {
		png, err := chromedp.Run(tab, chromedp.Screenshot(chromedp.ID("view-calendar")))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(p, png, 0o644))
	}
	b.noExceptions()
}
