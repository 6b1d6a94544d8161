package main

import (
	"context"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// The WedMe page and the dashboard's couple panel in a real Chromium: the
// caterer's dashboard is open; the couple changes the vegetarian count on
// /wedme and saves; the dashboard shows the new count without a reload
// (a wedme.changed broadcast). The florist's dashboard shows the dietary
// needs as not shared.
func TestDemoBrowserWedMe(t *testing.T) {
	chromium := chromiumPath(t)
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })

	ctx, cancel := context.WithTimeout(t.Context(), browserTestTimeout)
	t.Cleanup(cancel)
	srv := startDemo(t, ctx, func(c *config) { c.CoupleToken = testCoupleToken })

	b := openBrowser(t, ctx, chromium, srv, "dashboard", `JSON.stringify({
			url: location.href,
			status: (document.getElementById("wm-panel-status") || document.getElementById("wm-status") || {}).textContent,
			records: (document.getElementById("wm-records") || document.getElementById("wm-held") || {}).innerText,
			result: (document.getElementById("wm-result-dietary_requirements") || {}).textContent,
		}, null, 1)`)
	dash := b.Tab
	failf, waitFor, do := b.failf, b.waitFor, b.do
	vegetarianIs := func(n string) string {
		return `(() => { const v = document.querySelector('#wm-records .wm-card[data-type="dietary_requirements"] tr[data-field="vegetarian"] .v');
			return !!v && v.textContent === "` + n + `"; })()`
	}

	// 1. The caterer's dashboard, as run() prints its link: the seeded
	// dietary needs.
	b.start(chromium)
	do(dash, "opening the caterer's dashboard", chromedp.Navigate(srv.base+"/?token="+token(t, testJWTSecret, demoCaterer)+"#token="+testAdminToken),
		chromedp.WaitVisible(chromedp.ID("wm-records")))
	waitFor(dash, "the dashboard to connect", `document.getElementById("rt-conn").textContent === "live"`)
	waitFor(dash, "the caterer's view", `document.getElementById("wm-supplier").textContent === "sup_demo_caterer (caterer)"`)
	waitFor(dash, "vegetarian 3", vegetarianIs("3"))
	require.Equal(t, "peanuts", evalString(t, dash,
		`document.querySelector('#wm-records .wm-card[data-type="dietary_requirements"] tr[data-field="allergies"] .v').textContent`))
	// A mark on the page's window: a reload would lose it.
	require.Equal(t, "kept", evalString(t, dash, `window.__wedmeMark = "kept"`))

	// 2. The couple's page, in a second tab: the form holds the seed;
	// change the vegetarian count and save.
	couple, closeCouple := b.newTab("wedme")
	defer closeCouple()
	if err := chromedp.Do(couple); err != nil {
		failf(dash, "opening a second tab: %v", err)
	}
	do(couple, "opening /wedme", chromedp.Navigate(srv.base+"/wedme?token="+testCoupleToken), chromedp.WaitVisible(chromedp.ID("wm-vegetarian")))
	waitFor(couple, "the form to load", `document.getElementById("wm-vegetarian").value === "3"`)
	require.Equal(t, "/wedme", evalString(t, couple, `location.pathname + location.search`), "the page drops ?token= from the address bar")
	require.Contains(t, evalString(t, couple, `document.getElementById("wm-suppliers").innerText`), "sup_demo_florist (florist) sees: Wedding details")
	do(couple, "changing the vegetarian count and saving", chromedp.SetValue(chromedp.ID("wm-vegetarian"), "7"),
		chromedp.Click(chromedp.ID("wm-save-dietary_requirements")))
	waitFor(couple, "Saved", `document.getElementById("wm-result-dietary_requirements").textContent.startsWith("Saved")`)
	waitFor(couple, "the WedMe side to hold 7", `(() => { const v = document.querySelector('#wm-held .wm-card[data-type="dietary_requirements"] tr[data-field="vegetarian"] .v');
		return !!v && v.textContent === "7"; })()`)

	// 3. The dashboard shows 7, without a reload.
	waitFor(dash, "vegetarian 7 on the dashboard", vegetarianIs("7"))
	require.Equal(t, "kept", evalString(t, dash, `String(window.__wedmeMark)`), "the dashboard did not reload")
	waitFor(dash, "the live update count", `/live update/.test(document.getElementById("wm-panel-status").textContent)`)
	require.Contains(t, srv.out.String(), "wedme: couple cpl_demo_alex_sam changed dietary_requirements, seen by sup_demo_caterer (caterer): vegetarian 3 → 7")

	// 4. The florist's dashboard: the dietary needs are not shared.
	do(couple, "opening the florist's dashboard", chromedp.Navigate(srv.base+"/?token="+token(t, testJWTSecret, demoSupplier)+"#token="+testAdminToken),
		chromedp.WaitVisible(chromedp.ID("wm-records")))
	waitFor(couple, "the florist's view", `document.getElementById("wm-supplier").textContent === "sup_demo_florist (florist)"`)
	waitFor(couple, "dietary needs not shared", `(() => { const c = document.querySelector('#wm-records .wm-card.hidden[data-type="dietary_requirements"]');
		return !!c && c.textContent.includes("Not shared with a florist"); })()`)
	require.Equal(t, "Kew Gardens", evalString(t, couple,
		`document.querySelector('#wm-records .wm-card[data-type="wedding_details"] tr[data-field="venue"] .v').textContent`))
	require.Empty(t, b.plog.uncaught(), "the page threw:\n%s", &b.plog)
}
