package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/internal/pgtest"
	"github.com/wedsync/integrations/wedmesync"
)

const testCoupleToken = "test-couple-token"

// appliedWatch follows the supplier node's applied handler.
type appliedWatch struct{ *hookWatch[wedmesync.Applied] }

func newAppliedWatch(t *testing.T) (*appliedWatch, func(*config)) {
	w := &appliedWatch{newHookWatch[wedmesync.Applied](t)}
	return w, func(c *config) {
		c.CoupleToken = testCoupleToken
		c.onWedMe = w.report
	}
}

// until waits until the supplier side applied a change of supplier's
// record of type t whose field holds want (JSON).
func (w *appliedWatch) until(supplier string, t wedmesync.RecordType, field, want string) {
	w.t.Helper()
	w.wait(fmt.Sprintf("the supplier side to apply %s.%s = %s for %s", t, field, want, supplier), func(a wedmesync.Applied) bool {
		fv, ok := a.Record.Fields[field]
		return ok && a.Record.Supplier == supplier && a.Record.Type == t && string(fv.Value) == want
	})
}

// recordOf returns the fields of the record of type t in a records answer,
// or nil.
func recordOf(body map[string]any, t wedmesync.RecordType) map[string]any {
	list, _ := body["records"].([]any)
	for _, x := range list {
		r, _ := x.(map[string]any)
		if r["type"] == string(t) {
			f, _ := r["fields"].(map[string]any)
			return f
		}
	}
	return nil
}

// The WedMe API in memory mode: the couple's edit, recorded on the WedMe
// side, reaches the supplier side for the suppliers that may see it, with
// a console line and a wedme.changed broadcast to their dashboards; bad
// input is a 400 naming the field; each side's API needs its own token.
func TestDemoWedMeAPI(t *testing.T) {
	watch, opt := newAppliedWatch(t)
	base, hc, out := startServer(t, opt)
	couple := &apiClient{t: t, base: base, token: testCoupleToken, c: hc}
	admin := &apiClient{t: t, base: base, token: testAdminToken, c: hc}
	anon := &apiClient{t: t, base: base, c: hc}

	s := out.String()
	require.Contains(t, s, "wedme: the couple's page is "+base+"/wedme?token=$"+envCoupleToken)
	require.NotContains(t, s, testCoupleToken, "a token the operator chose is never printed")
	require.Contains(t, s, "wedme: couple cpl_demo_alex_sam shared dietary_requirements, seen by sup_demo_caterer (caterer): ")
	require.Contains(t, s, "wedme: couple cpl_demo_alex_sam shared wedding_details, seen by sup_demo_florist (florist): ")
	require.NotContains(t, s, "seen by sup_demo_florist (florist): vegetarian", "the florist is not sent dietary needs")

	// Each side's API needs its own token.
	for _, c := range []struct {
		who          *apiClient
		method, path string
	}{
		{anon, "GET", "/api/wedme/couple"}, {anon, "POST", "/api/wedme/edit"}, {anon, "GET", "/api/wedme/records"},
		{admin, "GET", "/api/wedme/couple"}, {admin, "POST", "/api/wedme/edit"},
		{couple, "GET", "/api/wedme/records"}, {couple, "GET", "/api/attempts"},
	} {
		code, body := c.who.do(c.method, c.path, `{"type":"dietary_requirements","fields":{"vegetarian":1}}`)
		require.Equal(t, http.StatusUnauthorized, code, "%s %s with token %q", c.method, c.path, c.who.token)
		require.Contains(t, body["error"], "bearer token")
	}
	code, _ := anon.do("GET", "/wedme", "")
	require.Equal(t, http.StatusOK, code, "the page itself is public; its data is not")

	// What the couple's side holds: the seed.
	code, body := couple.do("GET", "/api/wedme/couple", "")
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, demoCouple, body["couple"])
	require.EqualValues(t, 3, recordOf(body, wedmesync.TypeDietary)["vegetarian"])
	require.EqualValues(t, 96, recordOf(body, wedmesync.TypeGuestSummary)["adults"])
	require.Len(t, body["suppliers"], 2)

	// What the supplier side holds: the caterer sees the dietary needs
	// and guests; the florist only the wedding details.
	code, cat := admin.do("GET", "/api/wedme/records?supplier_id="+demoCaterer, "")
	require.Equal(t, http.StatusOK, code, cat)
	require.Equal(t, "caterer", cat["kind"])
	require.EqualValues(t, 3, recordOf(cat, wedmesync.TypeDietary)["vegetarian"])
	require.Equal(t, []any{"peanuts"}, recordOf(cat, wedmesync.TypeDietary)["allergies"])
	require.EqualValues(t, 8, recordOf(cat, wedmesync.TypeGuestSummary)["children"])
	code, flo := admin.do("GET", "/api/wedme/records", "")
	require.Equal(t, http.StatusOK, code, flo)
	require.Equal(t, demoSupplier, flo["supplier"], "the sample supplier by default")
	require.Equal(t, "florist", flo["kind"])
	require.Nil(t, recordOf(flo, wedmesync.TypeDietary), "the florist does not hold the dietary needs")
	require.Nil(t, recordOf(flo, wedmesync.TypeGuestSummary))
	require.Equal(t, "Kew Gardens", recordOf(flo, wedmesync.TypeWeddingDetails)["venue"])
	require.ElementsMatch(t, []any{"dietary_requirements", "guest_summary"}, flo["not_shared"])

	// The caterer's dashboard and the florist's listen.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	dashes := map[string]*peer{}
	for _, sup := range []string{demoCaterer, demoSupplier} {
		tok := token(t, testJWTSecret, sup)
		dashes[sup] = connect(t, ctx, base, hc, tok)
		status, resp := dashes[sup].join("realtime:supplier:"+sup, tok, 0)
		require.Equal(t, "ok", status, resp)
	}

	// The couple edits: vegetarian 3 → 4.
	code, body = couple.do("POST", "/api/wedme/edit", `{"type":"dietary_requirements","fields":{"vegetarian":4,"allergies":["peanuts","sesame"]}}`)
	require.Equal(t, http.StatusOK, code, body)
	require.True(t, strings.HasPrefix(body["change"].(string), "chg_"), body)
	require.EqualValues(t, 4, body["record"].(map[string]any)["fields"].(map[string]any)["vegetarian"])
	watch.until(demoCaterer, wedmesync.TypeDietary, "vegetarian", "4")
	b := dashes[demoCaterer].broadcast("realtime:supplier:" + demoCaterer)
	require.Equal(t, eventWedMeChanged, b.Event)
	var p struct {
		Couple string   `json:"couple"`
		Type   string   `json:"type"`
		Fields []string `json:"fields"`
	}
	require.NoError(t, json.Unmarshal(b.Payload, &p))
	require.Equal(t, demoCouple, p.Couple)
	require.Equal(t, "dietary_requirements", p.Type)
	require.Equal(t, []string{"allergies", "vegetarian"}, p.Fields)
	code, cat = admin.do("GET", "/api/wedme/records?supplier_id="+demoCaterer, "")
	require.Equal(t, http.StatusOK, code)
	require.EqualValues(t, 4, recordOf(cat, wedmesync.TypeDietary)["vegetarian"])
	require.Equal(t, []any{"peanuts", "sesame"}, recordOf(cat, wedmesync.TypeDietary)["allergies"])
	require.Contains(t, out.String(), `wedme: couple cpl_demo_alex_sam changed dietary_requirements, seen by sup_demo_caterer (caterer): `+
		`allergies ["peanuts"] → ["peanuts","sesame"], vegetarian 3 → 4`)

	// A wedding-details edit reaches both; the florist's dashboard hears
	// it, and that is its first broadcast: it heard nothing of the diets.
	code, body = couple.do("POST", "/api/wedme/edit", `{"type":"wedding_details","fields":{"style":"Autumn, copper and burgundy"}}`)
	require.Equal(t, http.StatusOK, code, body)
	b = dashes[demoSupplier].broadcast("realtime:supplier:" + demoSupplier)
	require.Equal(t, eventWedMeChanged, b.Event)
	require.Contains(t, string(b.Payload), `"type":"wedding_details"`)
	code, flo = admin.do("GET", "/api/wedme/records", "")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "Autumn, copper and burgundy", recordOf(flo, wedmesync.TypeWeddingDetails)["style"])
	require.Nil(t, recordOf(flo, wedmesync.TypeDietary))

	// Bad input: 400 naming the field and the rule.
	for _, tc := range []struct{ body, field, rule string }{
		{`{"fields":{"vegetarian":1}}`, "type", "is required"},
		{`{"type":"couple_profile","fields":{"names":"x"}}`, "type", "must be one of"},
		{`{"type":"dietary_requirements"}`, "fields", "is required"},
		{`{"type":"dietary_requirements","fields":{}}`, "fields", "is required"},
		{`{"type":"dietary_requirements","fields":{"vegetarian":-1}}`, "fields.vegetarian", "integer 0 to 2000"},
		{`{"type":"dietary_requirements","fields":{"vegetarian":"lots"}}`, "fields.vegetarian", "integer"},
		{`{"type":"dietary_requirements","fields":{"allergies":"nuts"}}`, "fields.allergies", "list of text"},
		{`{"type":"guest_summary","fields":{"adults":5000}}`, "fields.adults", "integer 0 to 2000"},
		{`{"type":"guest_summary","fields":{"pets":2}}`, "fields.pets", "not a field of guest_summary"},
		{`{"type":"dietary_requirements","fields":{"vegan":1},"colour":"red"}`, "colour", "not a known field"},
		{`{"type":`, "body", "truncated"},
	} {
		code, body := couple.do("POST", "/api/wedme/edit", tc.body)
		require.Equal(t, http.StatusBadRequest, code, "%s: %v", tc.body, body)
		require.Equal(t, tc.field, body["field"], body)
		require.Contains(t, body["error"], tc.field+": ")
		require.Contains(t, body["error"], tc.rule)
	}
	code, body = admin.do("GET", "/api/wedme/records?supplier_id=sup_stranger", "")
	require.Equal(t, http.StatusBadRequest, code, body)
	require.Equal(t, "supplier_id", body["field"])
	require.Contains(t, body["error"], "is not linked")
	// Nothing bad was recorded: the caterer still has 4.
	code, cat = admin.do("GET", "/api/wedme/records?supplier_id="+demoCaterer, "")
	require.Equal(t, http.StatusOK, code)
	require.EqualValues(t, 4, recordOf(cat, wedmesync.TypeDietary)["vegetarian"])
}

// In Postgres mode the two sides live in two schemas of one database (the
// WedMe side in wedsync_wedme, the supplier platform in the demo's own): an
// edit made through one instance reaches the supplier side, and a second
// instance finds the couple's records there and seeds nothing.
func TestDemoWedMePostgres(t *testing.T) {
	url := pgtest.NewDatabase(t, "demo_wedme") // the demo names its schemas: a database of its own
	watch, opt := newAppliedWatch(t)
	pg := func(c *config) {
		c.DatabaseURL = url
		c.EncryptionKey = strings.Repeat("5e", 32)
	}
	baseA, hcA, outA := startServer(t, pg, opt)
	require.Contains(t, outA.String(), "Postgres mode")
	couple := &apiClient{t: t, base: baseA, token: testCoupleToken, c: hcA}

	// A count of its own, so that earlier runs' values do not count.
	n := 100 + time.Now().UnixNano()%1000
	code, body := couple.do("POST", "/api/wedme/edit", fmt.Sprintf(`{"type":"dietary_requirements","fields":{"vegan":%d}}`, n))
	require.Equal(t, http.StatusOK, code, body)
	watch.until(demoCaterer, wedmesync.TypeDietary, "vegan", fmt.Sprint(n))

	pool, err := pgxpool.New(t.Context(), url)
	require.NoError(t, err)
	defer pool.Close()
	for _, schema := range []string{wedmeSchema, "wedsync"} {
		var got string
		require.NoError(t, pool.QueryRow(t.Context(), `SELECT (fields->'vegan'->'v')::text FROM `+schema+`.wedmesync_records
			WHERE couple_id = $1 AND type = $2 AND supplier_id = $3`,
			demoCouple, string(wedmesync.TypeDietary), map[string]string{wedmeSchema: "", "wedsync": demoCaterer}[schema]).Scan(&got))
		require.Equal(t, fmt.Sprint(n), got, "schema %s", schema)
	}

	baseB, hcB, outB := startServer(t, pg, func(c *config) { c.CoupleToken = testCoupleToken })
	require.Contains(t, outB.String(), "wedme: the couple's records are kept from an earlier run (Postgres mode)")
	admin := &apiClient{t: t, base: baseB, token: testAdminToken, c: hcB}
	code, cat := admin.do("GET", "/api/wedme/records?supplier_id="+demoCaterer, "")
	require.Equal(t, http.StatusOK, code, cat)
	require.EqualValues(t, n, recordOf(cat, wedmesync.TypeDietary)["vegan"])
}
