package main

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browser is one Chromium for a browser test, with its first tab, and the
// helpers every browser test uses: on a failure they report what the tab
// shows (the test's snapshot expression), the page console, the demo's
// output and the browser's.
type browser struct {
	t   *testing.T
	srv *demoServer
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
