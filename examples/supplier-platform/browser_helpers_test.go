package main

import (
	"bytes"
	"context"
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
	// api is the server's API, for what the test checks behind the page
	// (the SMTP server's mail) or does as a third party would (write into
	// the CalDAV calendar).
	api  *api
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
	var parts *api
	cfg.onAPI = func(a *api) { parts = a }
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
		s.api = parts // set before onReady
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

// browser is one Chromium for a browser test, with its first tab, and the
// helpers every browser test uses: on a failure they report what the tab
// shows (the test's snapshot expression), the page console, the demo's
// output and the browser's.
type browser struct {
	t   *testing.T
	srv *demoServer
	// API calls the demo's JSON API with the admin token.
	API *apiClient
	// Tab is the first tab.
	Tab   context.Context
	alloc context.Context
	out   lockedBuffer
	plog  pageLog
	// snapshotJS evaluates, in a tab, to a JSON string of what it shows.
	snapshotJS string
	// Close closes the browser (also at the end of the test), within 10 s.
	Close func()
}

// openBrowser starts Chromium (chromiumPath) for srv, with a first tab
// whose console lines are labelled firstTab; snapshotJS describes a tab
// for failure messages; extra adds allocator options.
func openBrowser(t *testing.T, ctx context.Context, chromium string, srv *demoServer, firstTab, snapshotJS string,
	extra ...chromedp.ExecAllocatorOption) *browser {
	b := &browser{t: t, srv: srv, snapshotJS: snapshotJS}
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, append(browserOptions(chromium, &b.out), extra...)...)
	tab, closeTab := chromedp.NewContext(alloc, chromedp.WithListener(b.plog.listen(firstTab)))
	b.alloc, b.Tab = alloc, tab
	b.Close = sync.OnceFunc(func() {
		// Close the browser gracefully, within 10 s; then closeTab and
		// cancelAlloc wait until the process is reaped, its helpers are
		// killed and its profile directory is removed.
		cctx, ccancel := context.WithTimeout(tab, 10*time.Second)
		defer ccancel()
		if err := chromedp.Cancel(cctx); err != nil && ctx.Err() == nil {
			t.Errorf("closing the browser: %v", err)
		}
		closeTab()
		cancelAlloc()
	})
	t.Cleanup(b.Close)
	return b
}

// start opens the first tab (the browser process starts here).
func (b *browser) start(chromium string) {
	b.t.Helper()
	if err := chromedp.Do(b.Tab); err != nil {
		b.t.Fatalf("starting %s: %v\nbrowser output:\n%s", chromium, err, chromiumOutput(&b.out))
	}
}

// newTab opens another tab in the same browser, its console lines
// labelled name.
func (b *browser) newTab(name string) (context.Context, context.CancelFunc) {
	return chromedp.NewContext(b.Tab, chromedp.WithListener(b.plog.listen(name)))
}

// snapshot is what tab shows, for failure messages.
func (b *browser) snapshot(tab context.Context) string {
	sctx, scancel := context.WithTimeout(tab, 5*time.Second)
	defer scancel()
	s, err := chromedp.Run(sctx, chromedp.Evaluate[string](b.snapshotJS))
	if err != nil {
		return fmt.Sprintf("(cannot read the page: %v)", err)
	}
	return s
}

func (b *browser) failf(tab context.Context, format string, args ...any) {
	b.t.Helper()
	b.t.Fatalf("%s\npage now: %s\npage console:\n%s\nserver output:\n%s\nbrowser output:\n%s",
		fmt.Sprintf(format, args...), b.snapshot(tab), &b.plog, b.srv.out, chromiumOutput(&b.out))
}

// waitFor polls a JavaScript condition in tab until it holds.
func (b *browser) waitFor(tab context.Context, what, cond string) {
	b.t.Helper()
	_, err := chromedp.Run(tab, chromedp.Poll[bool](cond,
		chromedp.WithPollingInterval(25*time.Millisecond), chromedp.WithPollingTimeout(pageWaitTimeout)))
	if err != nil {
		b.failf(tab, "waiting for %s: %v", what, err)
	}
}

// do runs actions in tab, within pageWaitTimeout.
func (b *browser) do(tab context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	wctx, wcancel := context.WithTimeout(tab, pageWaitTimeout)
	defer wcancel()
	if err := chromedp.Do(wctx, actions...); err != nil {
		b.failf(tab, "%s: %v", what, err)
	}
}

// pageSnapshotJS describes a tab for failure messages: the connection, the
// notice, and the text of the view on screen.
const pageSnapshotJS = `JSON.stringify({
	url: location.href,
	conn: (document.getElementById("rt-conn") || {}).textContent,
	notice: (document.getElementById("rt-notice") || {}).textContent,
	view: ((document.querySelector("main > section:not([hidden])") || document.body).innerText || "").slice(0, 4000),
}, null, 1)`

// browserTest starts what a browser test needs: the demo server (without
// the scripted demo; opts change its config) and a Chromium for it, with
// its first tab open, within browserTestTimeout. When the test ends it
// checks that nothing is left running (goleak): the browser, chromedp's
// goroutines, the server and the HTTP client.
func browserTest(t *testing.T, opts ...func(*config)) *browser {
	t.Helper()
	chromium := chromiumPath(t)
	// Registered first, so it runs last.
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	ctx, cancel := context.WithTimeout(t.Context(), browserTestTimeout)
	t.Cleanup(cancel) // after the browser's and the server's cleanups
	srv := startDemo(t, ctx, opts...)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	b := openBrowser(t, ctx, chromium, srv, "tab", pageSnapshotJS, chromedp.WindowSize(1400, 1000))
	b.API = &apiClient{t: t, base: srv.base, token: testAdminToken, c: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
	b.start(chromium)
	return b
}

// dashboardURL is the supplier page as run() prints its link: supplier's
// dashboard token and the admin token, on view ("" is the dashboard).
func (b *browser) dashboardURL(supplier, view string) string {
	frag := "#token=" + testAdminToken
	if view != "" {
		frag = "#" + view + "&token=" + testAdminToken
	}
	return b.srv.base + "/?token=" + token(b.t, testJWTSecret, supplier) + frag
}

// open navigates tab to url and waits until the dashboard is live.
func (b *browser) open(tab context.Context, url string) {
	b.t.Helper()
	b.do(tab, "opening "+url, chromedp.Navigate(url), chromedp.WaitReady("body"))
	b.waitFor(tab, "the dashboard to connect", `document.getElementById("rt-conn").textContent === "live"`)
}

// eval evaluates a JavaScript expression of type string in tab.
func (b *browser) eval(tab context.Context, expr string) string {
	b.t.Helper()
	s, err := chromedp.Run(tab, chromedp.Evaluate[string](expr))
	if err != nil {
		b.failf(tab, "evaluating %s: %v", expr, err)
	}
	return s
}

// noExceptions checks that no tab threw.
func (b *browser) noExceptions() {
	b.t.Helper()
	require.Empty(b.t, b.plog.uncaught(), "the page threw:\n%s", &b.plog)
}
