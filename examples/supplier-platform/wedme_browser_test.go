package main

import (
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// Flow 3: an edit on /wedme appears on the dashboard. The caterer's
// dashboard is open on its couple details; the couple changes the
// vegetarian count on /wedme and saves; the dashboard shows the new count
// without a reload (a wedme.changed broadcast), and its activity list says
// what changed. The florist's dashboard shows the dietary needs as not
// shared.
func TestDemoBrowserWedMe(t *testing.T) {
	b := browserTest(t, func(c *config) { c.CoupleToken = testCoupleToken })
	dash := b.Tab
	vegetarianIs := func(n string) string {
		return `(() => { const v = document.querySelector('#wm-records .wm-card[data-type="dietary_requirements"] tr[data-field="vegetarian"] .v');
			return !!v && v.textContent === "` + n + `"; })()`
	}

	// 1. The caterer's dashboard, as run() prints its link, on the couple
	// details: the seeded dietary needs.
	b.open(dash, b.dashboardURL(demoCaterer, "couple"))
	b.waitFor(dash, "the couple details view", `!document.getElementById("view-couple").hidden`)
	b.waitFor(dash, "the caterer's view", `document.getElementById("wm-supplier").textContent === "sup_demo_caterer (caterer)"`)
	b.waitFor(dash, "vegetarian 3", vegetarianIs("3"))
	require.Equal(t, "peanuts", b.eval(dash,
		`document.querySelector('#wm-records .wm-card[data-type="dietary_requirements"] tr[data-field="allergies"] .v').textContent`))
	require.Equal(t, "kept", b.eval(dash, `window.__mark = "kept"`))

	// 2. The couple's page, in a second tab: the form holds the seed;
	// change the vegetarian count and save.
	couple, closeCouple := b.newTab("wedme")
	defer closeCouple()
	if err := chromedp.Do(couple); err != nil {
		b.failf(dash, "opening a second tab: %v", err)
	}
	b.do(couple, "opening /wedme", chromedp.Navigate(b.srv.base+"/wedme?token="+testCoupleToken), chromedp.WaitVisible(chromedp.ID("wm-vegetarian")))
	b.waitFor(couple, "the form to load", `document.getElementById("wm-vegetarian").value === "3"`)
	require.Equal(t, "/wedme", b.eval(couple, `location.pathname + location.search`), "the page drops ?token= from the address bar")
	require.Contains(t, b.eval(couple, `document.getElementById("wm-suppliers").innerText`), "sup_demo_florist (florist) sees: Wedding details")
	b.do(couple, "changing the vegetarian count and saving", chromedp.SetValue(chromedp.ID("wm-vegetarian"), "7"),
		chromedp.Click(chromedp.ID("wm-save-dietary_requirements")))
	b.waitFor(couple, "Saved", `document.getElementById("wm-result-dietary_requirements").textContent.startsWith("Saved")`)
	b.waitFor(couple, "the WedMe side to hold 7", `(() => { const v = document.querySelector('#wm-held .wm-card[data-type="dietary_requirements"] tr[data-field="vegetarian"] .v');
		return !!v && v.textContent === "7"; })()`)

	// 3. The dashboard shows 7, without a reload, and says what happened.
	b.waitFor(dash, "vegetarian 7 on the dashboard", vegetarianIs("7"))
	require.Equal(t, "kept", b.eval(dash, `String(window.__mark)`), "the dashboard did not reload")
	b.waitFor(dash, "the live update count", `/live update/.test(document.getElementById("wm-panel-status").textContent)`)
	b.waitFor(dash, "the activity list", `[...document.querySelectorAll('#rt-events tr[data-event="wedme.changed"] td.what')].some((td) =>
		td.textContent === "The couple changed their dietary requirements on WedMe: vegetarian 3 → 7")`)
	require.Contains(t, b.srv.out.String(), "wedme: couple cpl_demo_alex_sam changed dietary_requirements, seen by sup_demo_caterer (caterer): vegetarian 3 → 7")

	// 4. The florist's dashboard: the dietary needs are not shared.
	b.open(couple, b.dashboardURL(demoSupplier, "couple"))
	b.waitFor(couple, "the florist's view", `document.getElementById("wm-supplier").textContent === "sup_demo_florist (florist)"`)
	b.waitFor(couple, "dietary needs not shared", `(() => { const c = document.querySelector('#wm-records .wm-card.hidden[data-type="dietary_requirements"]');
		return !!c && c.textContent.includes("Not shared with a florist"); })()`)
	require.Equal(t, "Kew Gardens", b.eval(couple,
		`document.querySelector('#wm-records .wm-card[data-type="wedding_details"] tr[data-field="venue"] .v').textContent`))
	b.noExceptions()
}
