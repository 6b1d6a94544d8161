package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/realtime"
	"github.com/wedsync/integrations/webhook/delivery"
)

// attemptWatch follows the manager's attempt hook.
type attemptWatch struct{ *hookWatch[delivery.Attempt] }

func newAttemptWatch(t *testing.T) (*attemptWatch, func(*config)) {
	w := &attemptWatch{newHookWatch[delivery.Attempt](t)}
	return w, func(c *config) { c.onAttempt = w.report }
}

// next waits for the next attempt of message msg to endpoint ep.
func (w *attemptWatch) next(msg, ep string) delivery.Attempt {
	w.t.Helper()
	return w.wait("an attempt of "+msg+" to "+ep, func(a delivery.Attempt) bool { return a.MessageID == msg && a.EndpointID == ep })
}

// startAPI runs the demo server (opts change its config) for a test of its
// API, within 60 s, with a client that calls it with the admin token.
func startAPI(t *testing.T, opts ...func(*config)) (*demoServer, *apiClient) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	srv := startDemo(t, ctx, opts...)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return srv, &apiClient{t: t, base: srv.base, token: testAdminToken, c: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

// GET /api/kpis: the supplier's KPIs as of a position in its stream, for
// the admin token (any supplier) or the supplier's own dashboard token.
func TestDemoKPIsAPI(t *testing.T) {
	srv, admin := startAPI(t)
	hc := admin.c
	// A supplier of its own: nothing else broadcasts to its topic.
	const supplier = "sup_kpi"
	dash := &apiClient{t: t, base: srv.base, token: token(t, testJWTSecret, supplier), c: hc}

	// Nothing yet; the admin token reads the sample supplier's by default.
	code, snap := admin.do("GET", "/api/kpis", "")
	require.Equal(t, http.StatusOK, code, snap)
	require.Equal(t, demoSupplier, snap["supplier_id"])
	code, snap = dash.do("GET", "/api/kpis", "")
	require.Equal(t, http.StatusOK, code, snap)
	require.Equal(t, supplier, snap["supplier_id"])
	require.Empty(t, snap["kpis"])
	require.NotContains(t, snap, "updated_at")

	// Broadcasts merge, key by key; other events do not touch the KPIs
	// but move the stream's position.
	for _, body := range []string{
		`{"supplier_id":"` + supplier + `","type":"kpi.updated","payload":{"bookings":12,"enquiries":31}}`,
		`{"supplier_id":"` + supplier + `","type":"kpi.updated","payload":{"bookings":13,"revenue":{"currency":"GBP","value":"10.00"}}}`,
		`{"supplier_id":"` + supplier + `","type":"note.added","payload":{"bookings":99}}`,
	} {
		code, body := admin.do("POST", "/api/events", body)
		require.Equal(t, http.StatusAccepted, code, body)
	}
	code, snap = dash.do("GET", "/api/kpis", "")
	require.Equal(t, http.StatusOK, code, snap)
	require.Equal(t, map[string]any{"bookings": 13.0, "enquiries": 31.0, "revenue": map[string]any{"currency": "GBP", "value": "10.00"}},
		snap["kpis"])
	asOf := snap["as_of"].(map[string]any)
	require.EqualValues(t, 3, asOf["offset"], "as of the topic's newest broadcast")
	require.NotEmpty(t, asOf["epoch"])
	require.NotEmpty(t, snap["updated_at"])

	// A kpi.updated this process did not record (as another instance's
	// would be) comes from the hub's history.
	_, err := srv.api.hub.Broadcast(t.Context(), realtime.SupplierTopic(supplier), eventKPIUpdated, json.RawMessage(`{"enquiries":40}`))
	require.NoError(t, err)
	code, snap = admin.do("GET", "/api/kpis?supplier_id="+supplier, "")
	require.Equal(t, http.StatusOK, code, snap)
	require.EqualValues(t, 40, snap["kpis"].(map[string]any)["enquiries"])
	require.EqualValues(t, 13, snap["kpis"].(map[string]any)["bookings"])
	require.EqualValues(t, 4, snap["as_of"].(map[string]any)["offset"])

	// Who may read what.
	code, body := (&apiClient{t: t, base: srv.base, c: hc}).do("GET", "/api/kpis", "")
	require.Equal(t, http.StatusUnauthorized, code)
	require.Contains(t, body["error"], "dashboard token")
	code, body = (&apiClient{t: t, base: srv.base, token: "nope", c: hc}).do("GET", "/api/kpis", "")
	require.Equal(t, http.StatusUnauthorized, code, body)
	code, body = dash.do("GET", "/api/kpis?supplier_id=sup_other", "")
	require.Equal(t, http.StatusForbidden, code, body)
	require.Equal(t, "supplier_id", body["field"])
	code, body = admin.do("GET", "/api/kpis?supplier_id=a:b", "")
	require.Equal(t, http.StatusBadRequest, code, body)
	require.Equal(t, "supplier_id", body["field"])
	code, snap = admin.do("GET", "/api/kpis?supplier_id=sup_other", "")
	require.Equal(t, http.StatusOK, code, snap)
	require.Empty(t, snap["kpis"])
}

// The integrations view's API: endpoints by name, a test webhook to one
// endpoint with the vendor's failure scripted, and the vendor's log.
func TestDemoIntegrationsAPI(t *testing.T) {
	attempts, hook := newAttemptWatch(t)
	srv, api := startAPI(t, hook)
	vendorBase := srv.api.vendor.base
	const supplier = "sup_int"

	code, ep := api.do("POST", "/api/endpoints", `{"supplier_id":"`+supplier+`","url":"`+vendorBase+`/hooks/books","event_types":["booking.*"]}`)
	require.Equal(t, http.StatusCreated, code, ep)
	require.Equal(t, "books", ep["name"], "a vendor hook is named after it")
	booksID := ep["id"].(string)
	code, ep = api.do("POST", "/api/endpoints", `{"supplier_id":"`+supplier+`","url":"`+vendorBase+`/hooks/everything","description":"All events"}`)
	require.Equal(t, http.StatusCreated, code, ep)
	allID := ep["id"].(string)
	code, ep = api.do("POST", "/api/endpoints", `{"supplier_id":"`+supplier+`","url":"https://crm.example.com/in/wedsync","description":"","event_types":["payment.*"]}`)
	require.Equal(t, http.StatusCreated, code, ep)
	require.Equal(t, "crm.example.com/in/wedsync", ep["name"], "otherwise by its URL")
	code, ep = api.do("GET", "/api/endpoints/"+booksID, "")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "books", ep["name"])

	// The vendor fails books' next request; a test webhook to books
	// (whose filter does not take webhook.test) fails, then its retry
	// arrives. It goes to books only.
	code, body := api.do("POST", "/api/vendor/hooks/books/fail", `{"next":1,"status":503,"retry_after":1}`)
	require.Equal(t, http.StatusOK, code, body)
	code, sent := api.do("POST", "/api/endpoints/"+booksID+"/test", "")
	require.Equal(t, http.StatusAccepted, code, sent)
	msg := sent["id"].(string)
	require.Equal(t, "books", sent["endpoint"])
	require.Equal(t, testEvent, sent["event_type"])
	a := attempts.next(msg, booksID)
	require.Equal(t, delivery.AttemptFailed, a.Status)
	require.Equal(t, http.StatusServiceUnavailable, a.ResponseStatus)
	require.False(t, a.NextAttemptAt.IsZero(), "a retry is scheduled")
	a = attempts.next(msg, booksID)
	require.Equal(t, delivery.AttemptSucceeded, a.Status)
	require.Equal(t, 2, a.Number)

	code, list := api.do("GET", "/api/attempts?message_id="+msg+"&endpoint_id="+booksID, "")
	require.Equal(t, http.StatusOK, code)
	rows := list["attempts"].([]any)
	require.Len(t, rows, 2)
	require.Equal(t, "books", rows[0].(map[string]any)["endpoint_name"])

	// A test to the catch-all endpoint goes there once, and nowhere else.
	code, sent = api.do("POST", "/api/endpoints/"+allID+"/test", "")
	require.Equal(t, http.StatusAccepted, code, sent)
	msg2 := sent["id"].(string)
	require.Equal(t, delivery.AttemptSucceeded, attempts.next(msg2, allID).Status)
	require.NoError(t, srv.api.m.WaitIdle(t.Context()))
	code, list = api.do("GET", "/api/attempts?message_id="+msg2, "")
	require.Equal(t, http.StatusOK, code)
	require.Len(t, list["attempts"], 1, "one delivery: %v", list)

	// The vendor's log, newest first: books' two tries of msg.
	code, v := api.do("GET", "/api/vendor?limit=200", "")
	require.Equal(t, http.StatusOK, code, v)
	require.Equal(t, vendorBase, v["base"])
	var tries []map[string]any
	for _, r := range v["received"].([]any) {
		if m := r.(map[string]any); m["webhook_id"] == msg && m["hook"] == "books" {
			tries = append([]map[string]any{m}, tries...)
		}
	}
	require.Len(t, tries, 2, "%v", v["received"])
	require.EqualValues(t, 1, tries[0]["try"])
	require.EqualValues(t, 503, tries[0]["answered"])
	require.Equal(t, "1", tries[0]["retry_after"])
	require.Equal(t, true, tries[0]["signature_ok"])
	require.Equal(t, testEvent, tries[0]["event_type"])
	require.Contains(t, tries[0]["outcome"], "failed on purpose")
	require.EqualValues(t, 200, tries[1]["answered"])
	require.Equal(t, "processed", tries[1]["outcome"])
	require.Contains(t, tries[1]["body"], `"type":"webhook.test"`)
	var books map[string]any
	for _, h := range v["hooks"].([]any) {
		if m := h.(map[string]any); m["name"] == "books" {
			books = m
		}
	}
	require.NotNil(t, books, v["hooks"])
	require.EqualValues(t, 0, books["fail_next"], "the scripted failure is spent")
	require.Equal(t, vendorBase+"/hooks/books", books["url"])

	// Bad input names the field.
	for _, tc := range []struct{ path, body, field string }{
		{"/api/vendor/hooks/books/fail", `{"status":200}`, "status"},
		{"/api/vendor/hooks/books/fail", `{"next":21}`, "next"},
		{"/api/vendor/hooks/books/fail", `{"retry_after":-1}`, "retry_after"},
		{"/api/vendor/hooks/nobody/fail", `{}`, "name"},
	} {
		code, body := api.do("POST", tc.path, tc.body)
		require.Contains(t, []int{http.StatusBadRequest, http.StatusNotFound}, code, body)
		require.Equal(t, tc.field, body["field"], body)
	}
	code, _ = api.do("POST", "/api/endpoints/ep_nope/test", "")
	require.Equal(t, http.StatusNotFound, code)
	code, _ = api.do("GET", "/api/vendor?limit=0", "")
	require.Equal(t, http.StatusBadRequest, code)
}

// POST /api/realtime/drop cuts a supplier's dashboard sockets and refuses
// its dashboards until /restore (or the time given); another supplier's
// dashboards are not touched.
func TestDemoRealtimeDrop(t *testing.T) {
	srv, api := startAPI(t)
	hc := api.c
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	mine, other := token(t, testJWTSecret, demoSupplier), token(t, testJWTSecret, "sup_other")

	p := connect(t, ctx, srv.base, hc, mine)
	status, _ := p.join("realtime:supplier:"+demoSupplier, mine, 0)
	require.Equal(t, "ok", status)
	q := connect(t, ctx, srv.base, hc, other)
	status, _ = q.join("realtime:supplier:sup_other", other, 0)
	require.Equal(t, "ok", status)

	code, body := api.do("POST", "/api/realtime/drop", `{"supplier_id":"`+demoSupplier+`","offline_seconds":60}`)
	require.Equal(t, http.StatusOK, code, body)
	require.EqualValues(t, 1, body["dropped"])
	require.NotEmpty(t, body["offline_until"])
	for {
		if _, _, err := p.c.Read(ctx); err != nil {
			require.NoError(t, ctx.Err(), "the socket is cut: %v", err)
			break
		}
	}

	// Refused while offline, with a reason.
	_, resp, err := dialHub(ctx, srv.base, hc, mine)
	require.Error(t, err)
	require.NotNil(t, resp)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)

	// The other supplier's socket is still there.
	code, _ = api.do("POST", "/api/events", `{"supplier_id":"sup_other","type":"kpi.updated","payload":{"bookings":1}}`)
	require.Equal(t, http.StatusAccepted, code)
	require.Equal(t, "kpi.updated", q.broadcast("realtime:supplier:sup_other").Event)

	code, body = api.do("POST", "/api/realtime/restore", `{"supplier_id":"`+demoSupplier+`"}`)
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, true, body["was_offline"])
	c, _, err := dialHub(ctx, srv.base, hc, mine)
	require.NoError(t, err, "back in")
	_ = c.Close(websocket.StatusNormalClosure, "")

	code, body = api.do("POST", "/api/realtime/drop", `{"offline_seconds":301}`)
	require.Equal(t, http.StatusBadRequest, code)
	require.Equal(t, "offline_seconds", body["field"])
	code, body = api.do("POST", "/api/realtime/drop", `{"supplier_id":"a:b"}`)
	require.Equal(t, http.StatusBadRequest, code)
	require.Equal(t, "supplier_id", body["field"])
	require.Contains(t, srv.out.String(), "REALTIME   dropped 1 dashboard socket of "+demoSupplier)
	require.True(t, strings.Contains(srv.out.String(), "the dashboards of "+demoSupplier+" may connect again"))
}
