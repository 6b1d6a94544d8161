package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// envRequireBrowser makes a missing Chromium fail the browser test instead of
// skipping it (CI sets it once it has installed Chromium).
const envRequireBrowser = "WEDSYNC_REQUIRE_BROWSER"

const (
	// browserTestTimeout bounds the whole browser test: a page that never
	// gets where the test waits for fails, it does not hang.
	browserTestTimeout = 60 * time.Second
	// pageWaitTimeout bounds each wait for the page, inside the test's
	// timeout, so that a failed wait still leaves time to show the page.
	pageWaitTimeout = 20 * time.Second
)

// chromiumPath returns the Chromium to drive, or skips the test (fails it
// with WEDSYNC_REQUIRE_BROWSER=1) when there is none.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "chromium is not installed (not on PATH): the browser test of the dashboard needs Debian's chromium; " +
		"install it with: apt-get install -y chromium"
	if os.Getenv(envRequireBrowser) == "1" {
		t.Fatal(msg + " (" + envRequireBrowser + "=1: a missing browser is a failure)")
	}
	t.Skip(msg + " (set " + envRequireBrowser + "=1 to make this a failure)")
	return ""
}

// pageLog collects what a tab reports through the DevTools protocol: console
// calls and uncaught exceptions, for the failure messages and the check that
// the page threw nothing.
type pageLog struct {
	mu         sync.Mutex
	lines      []string
	exceptions []string
}

// listen is a chromedp listener: it runs in the tab's read loop, so it only
// records.
func (l *pageLog) listen(tab string) func(ev any) {
	return func(ev any) {
		var line string
		exception := false
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			args := make([]string, 0, len(ev.Args))
			for _, a := range ev.Args {
				switch {
				case len(a.Value) > 0:
					args = append(args, string(a.Value))
				case a.Description != "":
					args = append(args, a.Description)
				default:
					args = append(args, string(a.Type))
				}
			}
			line = fmt.Sprintf("%s console.%s: %s", tab, ev.Type, strings.Join(args, " "))
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			text := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				text += " " + d.Exception.Description
			}
			line = fmt.Sprintf("%s uncaught exception at %s:%d:%d: %s", tab, d.URL, d.LineNumber+1, d.ColumnNumber+1, text)
			exception = true
		default:
			return
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		l.lines = append(l.lines, line)
		if exception {
			l.exceptions = append(l.exceptions, line)
		}
	}
}

func (l *pageLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) == 0 {
		return "(nothing)"
	}
	return strings.Join(l.lines, "\n")
}

func (l *pageLog) uncaught() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.exceptions...)
}

// chromiumOutput is what the browser printed, without the complaints about
// D-Bus that Chromium prints in every container.
func chromiumOutput(b *lockedBuffer) string {
	var keep []string
	for line := range strings.Lines(b.String()) {
		if !strings.Contains(line, "dbus/") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "")
}

// browserOptions are the flags of the headless Chromium the browser tests
// drive; its output goes to out.
func browserOptions(chromium string, out *lockedBuffer) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true), // containers have a small /dev/shm
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		// A tab that is not in front keeps its timers and its socket.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.CombinedOutput(out),
	}
}

// demoServer is the demo, run() without the scripted demo, that the test
// can stop in the middle.
type demoServer struct {
	base string
	out  *lockedBuffer
	stop func() error // idempotent
}

func startDemo(t *testing.T, ctx context.Context, opts ...func(*config)) *demoServer {
	t.Helper()
	sctx, cancel := context.WithCancel(ctx)
	ready := make(chan string, 1)
	out := &lockedBuffer{}
	cfg := config{
		Addr: "127.0.0.1:0", VendorAddr: "127.0.0.1:0", AdminToken: testAdminToken, JWTSecret: testJWTSecret,
		Demo:    false, // the test sends the events
		onReady: func(api, _ string) { ready <- api },
	}
	for _, o := range opts {
		o(&cfg)
	}
	done := make(chan error, 1)
	go func() { done <- run(sctx, cfg, out) }()
	s := &demoServer{out: out, stop: sync.OnceValue(func() error {
		cancel()
		return <-done
	})}
	select {
	case s.base = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("run ended early: %v\n%s", err, out.String())
	}
	t.Cleanup(func() { require.NoError(t, s.stop(), out.String()) })
	return s
}

// browserProcesses lists the processes whose command line names the
// browser's profile directory: the browser and its helpers.
func browserProcesses(profileFlag string) []string {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var found []string
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		for arg := range bytes.SplitSeq(cmdline, []byte{0}) {
			if string(arg) == profileFlag {
				found = append(found, e.Name())
				break
			}
		}
	}
	return found
}

// profileFlag returns the --user-data-dir=... argument of the process pid
// (Linux), or "" when it cannot tell.
func profileFlag(pid int) string {
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return ""
	}
	for arg := range bytes.SplitSeq(cmdline, []byte{0}) {
		if bytes.HasPrefix(arg, []byte("--user-data-dir=")) {
			return string(arg)
		}
	}
	return ""
}

// A real Chromium opens the demo's dashboard page and sees the KPIs arrive
// live through the realtime hub, the presence count of a second viewer, and
// the loss of the connection when the server stops. CI runs it with
// WEDSYNC_REQUIRE_BROWSER=1, so that a missing browser fails instead of
// skipping.
func TestDemoBrowserDashboard(t *testing.T) {
	chromium := chromiumPath(t)
	// Registered first, so it runs last: by then the browser, chromedp's
	// goroutines, the server and the HTTP client must all be gone.
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	started := time.Now()

	ctx, cancel := context.WithTimeout(t.Context(), browserTestTimeout)
	t.Cleanup(cancel) // after the browser's and the server's cleanups
	srv := startDemo(t, ctx)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	tok := token(t, testJWTSecret, demoSupplier)

	b := openBrowser(t, ctx, chromium, srv, "tab 1", `JSON.stringify({
			url: location.href,
			conn: document.getElementById("rt-conn").textContent,
			connClass: document.getElementById("rt-conn").className,
			viewers: document.getElementById("rt-viewers").textContent,
			notice: document.getElementById("rt-notice").textContent,
			supplier: document.getElementById("rt-supplier").textContent,
			kpis: document.getElementById("kpis").innerText,
			events: document.getElementById("rt-events").innerText,
		}, null, 1)`)
	tab1, closeBrowser := b.Tab, b.Close
	failf, waitFor := b.failf, b.waitFor
	eval := func(tab context.Context, expr string) string {
		t.Helper()
		s, err := chromedp.Run(tab, chromedp.Evaluate[string](expr))
		if err != nil {
			failf(tab, "evaluating %s: %v", expr, err)
		}
		return s
	}
	const (
		connIs = `(() => { const c = document.getElementById("rt-conn"); return c.textContent === "live" && c.classList.contains("live"); })()`
		// toLocaleString may group the digits ("4,242" or "4.242"), so
		// compare the digits only.
		bookingsIs4242 = `(() => { const v = document.querySelector('#kpis .tile[data-kpi="bookings"] .value');
			return !!v && v.textContent.replace(/\D/g, "") === "4242"; })()`
	)
	viewing := func(n int) string {
		return fmt.Sprintf(`document.getElementById("rt-viewers").textContent === "%d viewing"`, n)
	}

	// 1. The dashboard link, as run() prints it, connects and joins. The
	// first Run starts the browser and lives as long as it: give it no
	// timeout of its own (ctx bounds it).
	b.start(chromium)
	pageURL := srv.base + "/?token=" + tok
	wctx, wcancel := context.WithTimeout(tab1, pageWaitTimeout)
	err := chromedp.Do(wctx,
		chromedp.Navigate(pageURL),
		chromedp.WaitVisible(chromedp.ID("rt-conn")),
		chromedp.WaitVisible(chromedp.CSS("#kpis .empty")),
	)
	wcancel()
	if err != nil {
		failf(tab1, "opening %s: %v", srv.base+"/?token=...", err)
	}
	var profile string
	if p := chromedp.FromContext(tab1).Browser.Process(); p != nil {
		profile = profileFlag(p.Pid)
	}
	waitFor(tab1, `tab 1 to show "live"`, connIs)
	connectedAfter := time.Since(started)
	require.Equal(t, demoSupplier, eval(tab1, `document.getElementById("rt-supplier").textContent`), "the supplier of the token")
	require.Equal(t, "/", eval(tab1, `location.pathname + location.search`), "the page drops ?token= from the address bar")
	waitFor(tab1, `tab 1 to count itself ("1 viewing")`, viewing(1))

	// 2. A kpi.updated broadcast through the API shows as a tile, and in
	// the list of events.
	code, body := post(t, hc, srv.base, testAdminToken,
		`{"supplier_id":"`+demoSupplier+`","type":"kpi.updated","payload":{"bookings":4242,"enquiries":17}}`)
	require.Equal(t, http.StatusAccepted, code, body)
	wctx, wcancel = context.WithTimeout(tab1, pageWaitTimeout)
	err = chromedp.Do(wctx, chromedp.WaitVisible(chromedp.CSS(`#kpis .tile[data-kpi="bookings"]`)))
	wcancel()
	if err != nil {
		failf(tab1, "waiting for the bookings tile: %v", err)
	}
	waitFor(tab1, "the bookings tile to show 4242", bookingsIs4242)
	require.Equal(t, "bookings", eval(tab1, `document.querySelector('#kpis .tile[data-kpi="bookings"] .label').textContent`))
	require.Equal(t, "17", eval(tab1, `document.querySelector('#kpis .tile[data-kpi="enquiries"] .value').textContent`))
	require.Equal(t, "0", eval(tab1, `String(document.querySelectorAll("#kpis .empty").length)`), "the placeholder is gone")
	var row []string
	rowJSON := eval(tab1, `JSON.stringify(Array.from(document.querySelectorAll("#rt-events tr:first-child td"), (td) => td.textContent))`)
	require.NoError(t, json.Unmarshal([]byte(rowJSON), &row), rowJSON)
	require.Len(t, row, 4, rowJSON)
	require.Equal(t, "kpi.updated", row[1], rowJSON)
	require.Equal(t, "1", row[2], "offset: %s", rowJSON)
	require.JSONEq(t, `{"bookings":4242,"enquiries":17}`, row[3])

	// 3. A second tab on the same dashboard, with the same token: the hub
	// tracks both under the token's user, one meta per tab, and both pages
	// count two open dashboards; when it closes, the first counts one again.
	tab2, closeTab2 := b.newTab("tab 2")
	defer closeTab2()
	if err := chromedp.Do(tab2); err != nil { // opens the tab, for as long as tab2 lives
		failf(tab1, "opening a second tab: %v", err)
	}
	wctx, wcancel = context.WithTimeout(tab2, pageWaitTimeout)
	err = chromedp.Do(wctx, chromedp.Navigate(pageURL), chromedp.WaitVisible(chromedp.ID("rt-conn")))
	wcancel()
	if err != nil {
		failf(tab2, "opening the second tab: %v", err)
	}
	waitFor(tab2, `tab 2 to show "live"`, connIs)
	waitFor(tab2, `tab 2 to show "2 viewing"`, viewing(2))
	waitFor(tab1, `tab 1 to show "2 viewing"`, viewing(2))
	closeTab2()
	waitFor(tab1, `tab 1 to show "1 viewing" once tab 2 closed`, viewing(1))

	// 4. The server stops: the page says it lost the connection and is
	// trying again, and keeps the last KPIs.
	require.NoError(t, srv.stop(), srv.out.String())
	waitFor(tab1, "tab 1 to show that it is disconnected", `(() => {
		const c = document.getElementById("rt-conn");
		return /^(disconnected|reconnecting)/.test(c.textContent) && !c.classList.contains("live");
	})()`)
	require.Empty(t, eval(tab1, `document.getElementById("rt-viewers").textContent`), "no viewer count while disconnected")
	waitFor(tab1, "the last KPIs to stay on screen", bookingsIs4242)
	require.Empty(t, b.plog.uncaught(), "the page threw:\n%s", &b.plog)

	// 5. Close the browser and check that nothing of it is left.
	closeBrowser()
	if profile != "" {
		require.Empty(t, browserProcesses(profile), "browser processes left after the allocator stopped")
		dir := strings.TrimPrefix(profile, "--user-data-dir=")
		_, err := os.Stat(dir)
		require.True(t, errors.Is(err, os.ErrNotExist), "the profile directory %s is still there (%v)", dir, err)
	} else {
		t.Log("cannot read the browser's command line (no /proc?): not checking for leftover processes")
	}
	t.Logf("connected after %v; whole test %v", connectedAfter.Round(time.Millisecond), time.Since(started).Round(time.Millisecond))
}

// The notification panel in a real Chromium: the page opens with the
// panel's state, "Send test notification" shows each channel's status and
// the mail the demo's SMTP server received as the notifier reports them
// (through the realtime hub), and a critical notification can be
// acknowledged.
func TestDemoBrowserNotifications(t *testing.T) {
	chromium := chromiumPath(t)
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })

	ctx, cancel := context.WithTimeout(t.Context(), browserTestTimeout)
	t.Cleanup(cancel)
	srv := startDemo(t, ctx)
	tok := token(t, testJWTSecret, demoSupplier)

	b := openBrowser(t, ctx, chromium, srv, "tab", `JSON.stringify({
			conn: document.getElementById("rt-conn").textContent,
			status: document.getElementById("nt-status").textContent,
			sent: document.getElementById("nt-send-result").textContent,
			list: document.getElementById("nt-list").innerText,
			mail: document.getElementById("nt-mail").innerText,
			inbox: document.getElementById("nt-inbox").innerText,
			events: document.getElementById("rt-events").innerText,
		}, null, 1)`)
	tab := b.Tab
	waitFor := func(what, cond string) { t.Helper(); b.waitFor(tab, what, cond) }
	do := func(what string, actions ...chromedp.Action[chromedp.Void]) { t.Helper(); b.do(tab, what, actions...) }
	// chip is the status text of a channel of the newest notification.
	chip := func(channel, status string) string {
		return fmt.Sprintf(`(() => { const c = document.querySelector('#nt-list .nt-item:first-child .chip[data-channel=%q] .st');
			return !!c && c.textContent === %q; })()`, channel, status)
	}

	b.start(chromium)
	// The dashboard link with both tokens, as run() prints it.
	do("opening the page", chromedp.Navigate(srv.base+"/?token="+tok+"#token="+testAdminToken),
		chromedp.WaitVisible(chromedp.ID("nt-send")))
	waitFor("the dashboard to connect", `document.getElementById("rt-conn").textContent === "live"`)
	waitFor("the preferences to load", `document.querySelectorAll("#nt-categories tr").length === 9`)
	waitFor("the empty lists", `!!document.querySelector("#nt-list .empty") && !!document.querySelector("#nt-mail .empty")`)
	require.Equal(t, "Europe/London", evalString(t, tab, `document.getElementById("nt-tz").textContent`))
	require.Equal(t, "false", evalString(t, tab, `String(document.getElementById("nt-quiet").checked)`), "quiet hours start off")
	require.Equal(t, "true", evalString(t, tab,
		`String(document.querySelector('#nt-categories tr[data-category="payment"] input[data-channel="sms"]').checked)`))

	// Send a booking.confirmed: the statuses and the mail appear.
	do("clicking Send test notification", chromedp.Click(chromedp.ID("nt-send")))
	waitFor("email sent", chip("email", "sent"))
	waitFor("in-app sent", chip("in_app", "sent"))
	waitFor("push failed", chip("push", "failed"))
	waitFor("sms suppressed", chip("sms", "suppressed"))
	require.Contains(t, evalString(t, tab, `document.querySelector('#nt-list .chip[data-channel="push"] .reason').textContent`),
		"no live push subscription")
	waitFor("the mail", `(() => { const s = document.querySelector("#nt-mail .nt-mail-item .subject");
		return !!s && s.textContent === "New flowers booking: Alex & Sam, 2027-05-01"; })()`)
	require.Contains(t, evalString(t, tab, `document.querySelector("#nt-mail .nt-mail-item .meta").textContent`),
		"hello@fernandbloom.example")
	waitFor("the in-app message", `document.getElementById("nt-unread").textContent === "1 unread"`)
	// The panel reloaded because the hub carried the notifier's status
	// changes to the page.
	waitFor("notify.status broadcasts", `/live updates? received through the realtime hub/.test(document.getElementById("nt-status").textContent)`)

	// The HTML part previews in a sandbox.
	// Opened from inside the page, and again if a live reload replaced the
	// list meanwhile (a click on a node that was just replaced fails).
	waitFor("the preview", `(() => { const f = document.querySelector("#nt-mail iframe.nt-html");
		if (!f) {
			const s = document.querySelector("#nt-mail .nt-mail-item summary");
			if (s && !s.parentElement.open) s.click();
			return false;
		}
		return f.getAttribute("sandbox") === "" && f.srcdoc.includes("<strong>Alex &amp; Sam</strong>"); })()`)
	require.Contains(t, evalString(t, tab, `document.querySelector("#nt-mail pre.nt-text").textContent`), "Alex & Sam booked your flowers")

	// A critical payment.failed: push fails, SMS and email wait their turn;
	// Acknowledge stops the escalation.
	do("choosing payment.failed, critical", chromedp.SetValue(chromedp.ID("nt-event"), "payment.failed"),
		chromedp.SetValue(chromedp.ID("nt-priority"), "critical"), chromedp.Click(chromedp.ID("nt-send")))
	waitFor("the Acknowledge button", `!!document.querySelector("#nt-list .nt-item:first-child button.nt-ack")`)
	waitFor("email waiting", chip("email", "queued"))
	do("clicking Acknowledge", chromedp.Click(chromedp.CSS("#nt-list .nt-item:first-child button.nt-ack")))
	waitFor("email acknowledged", chip("email", "acknowledged"))
	waitFor("the acknowledgement", `(() => { const a = document.querySelector("#nt-list .nt-item:first-child .acked");
		return !!a && a.textContent.startsWith("acknowledged"); })()`)
	require.Equal(t, "0", evalString(t, tab, `String(document.querySelectorAll("#nt-list .nt-item:first-child button.nt-ack").length)`))

	// Quiet hours switched on and saved.
	do("switching quiet hours on", chromedp.Click(chromedp.ID("nt-quiet")), chromedp.Click(chromedp.ID("nt-save")))
	waitFor("the preferences saved", `document.getElementById("nt-prefs-result").textContent.startsWith("Saved")`)
	require.Contains(t, srv.out.String(), "preferences of sup_demo_florist saved (quiet hours 22:00-07:00 Europe/London)")
	require.Empty(t, b.plog.uncaught(), "the page threw:\n%s", &b.plog)
}

func evalString(t *testing.T, tab context.Context, expr string) string {
	t.Helper()
	s, err := chromedp.Run(tab, chromedp.Evaluate[string](expr))
	require.NoError(t, err, expr)
	return s
}

// The calendar panel in a real Chromium: the seeded week renders with the
// wedding, the hold and the supplier's own events, the dentist's conflict
// is outlined and listed; adding an event in the supplier's calendar from
// the page makes a new conflict appear, and a hold can be released.
func TestDemoBrowserCalendar(t *testing.T) {
	chromium := chromiumPath(t)
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })

	ctx, cancel := context.WithTimeout(t.Context(), browserTestTimeout)
	t.Cleanup(cancel)
	srv := startDemo(t, ctx)
	tok := token(t, testJWTSecret, demoSupplier)

	b := openBrowser(t, ctx, chromium, srv, "tab", `JSON.stringify({
			status: document.getElementById("cal-status").textContent,
			action: document.getElementById("cal-action").textContent,
			conn: document.getElementById("cal-conn").textContent,
			grid: document.getElementById("cal-grid").innerText,
			conflicts: document.getElementById("cal-conflicts").innerText,
			ext: document.getElementById("cal-ext-result").textContent,
		}, null, 1)`, chromedp.WindowSize(1400, 1000))
	tab := b.Tab
	waitFor := func(what, cond string) { t.Helper(); b.waitFor(tab, what, cond) }
	do := func(what string, actions ...chromedp.Action[chromedp.Void]) { t.Helper(); b.do(tab, what, actions...) }

	b.start(chromium)
	do("opening the page", chromedp.Navigate(srv.base+"/?token="+tok+"#token="+testAdminToken),
		chromedp.WaitVisible(chromedp.ID("cal-grid")))
	waitFor("the dashboard to connect", `document.getElementById("rt-conn").textContent === "live"`)
	waitFor("the week", `document.querySelectorAll("#cal-grid .cal-day").length === 7`)
	waitFor("the wedding in the grid", `[...document.querySelectorAll("#cal-grid .cal-item.booking .cal-title")].some((e) => e.textContent === "Alex & Sam wedding")`)
	waitFor("the hold, marked HOLD", `[...document.querySelectorAll("#cal-grid .cal-item.hold")].some((e) =>
		e.querySelector(".cal-tag").textContent.trim() === "HOLD" && e.querySelector(".cal-title").textContent === "Priya & Jordan: consultation")`)
	waitFor("the dentist as busy time, outlined", `[...document.querySelectorAll("#cal-grid .cal-item.busy.conflict .cal-title")].some((e) => e.textContent === "Dentist")`)
	require.Equal(t, "true", evalString(t, tab, `String([...document.querySelectorAll("#cal-grid .cal-item.booking.conflict .cal-title")].some((e) => e.textContent === "Alex & Sam wedding"))`),
		"the wedding is outlined too")
	require.Equal(t, "false", evalString(t, tab, `String([...document.querySelectorAll("#cal-grid .cal-item.conflict .cal-title")].some((e) => e.textContent === "Gym"))`))
	require.Contains(t, evalString(t, tab, `document.getElementById("cal-conflicts").innerText`), "Dentist")
	require.Equal(t, "synced", evalString(t, tab, `document.getElementById("cal-conn").textContent`))

	// The supplier adds an event over the Morgan & Casey wedding from the
	// page: it is written to the CalDAV calendar, synced, and the new
	// conflict shows.
	wedding := evalString(t, tab, `document.querySelector('#cal-bookings li[data-id] strong').textContent`)
	require.Equal(t, "Alex & Sam wedding", wedding, "bookings are listed by start")
	date := evalString(t, tab, `(() => { const it = [...document.querySelectorAll("#cal-grid .cal-item.booking")].find((e) =>
		e.querySelector(".cal-title").textContent === "Morgan & Casey wedding"); return it.closest(".cal-day").dataset.date; })()`)
	do("adding an event in my calendar",
		chromedp.SetValue(chromedp.ID("cal-ext-summary"), "School run"),
		chromedp.SetValue(chromedp.ID("cal-ext-start"), date+"T12:00"),
		chromedp.SetValue(chromedp.ID("cal-ext-end"), date+"T12:30"),
		chromedp.Click(chromedp.ID("cal-ext")))
	waitFor("the event's conflict", `[...document.querySelectorAll("#cal-grid .cal-item.busy.conflict .cal-title")].some((e) => e.textContent === "School run")`)
	require.Contains(t, evalString(t, tab, `document.getElementById("cal-conflicts").innerText`), "Morgan & Casey wedding")
	require.Contains(t, srv.out.String(), `calendar: conflict: "School run"`)

	// Release the hold: it leaves the grid.
	do("releasing the consultation hold", chromedp.Click(chromedp.CSS(`#cal-bookings li.cal-list-item:nth-child(2) button.cal-cancel`)))
	waitFor("the hold gone", `![...document.querySelectorAll("#cal-grid .cal-title")].some((e) => e.textContent === "Priya & Jordan: consultation")`)
	if p := os.Getenv("WEDSYNC_CALENDAR_SCREENSHOT"); p != "" {
		png, err := chromedp.Run(tab, chromedp.Screenshot(chromedp.ID("calendar")))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(p, png, 0o644))
	}
	require.Empty(t, b.plog.uncaught(), "the page threw:\n%s", &b.plog)
}
