package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/internal/pgtest"
	"github.com/wedsync/integrations/webhook/delivery"
)

func TestMain(m *testing.M) {
	if os.Getenv(demoChildEnv) != "" {
		os.Exit(demoChild())
	}
	pgtest.Main(m)
}

// lockedBuffer is a bytes.Buffer safe to read while run writes to it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// The smoke test: the scripted demo in memory mode, exactly as
// `go run ./examples/supplier-platform -exit-after-demo` runs it.
func TestDemoScript(t *testing.T) {
	var out lockedBuffer
	cfg := config{Addr: "127.0.0.1:0", VendorAddr: "127.0.0.1:0", Demo: true, ExitAfterDemo: true, AdminToken: "tok-from-env",
		JWTSecret: "jwt-secret-from-env-0123456789-abcdefgh"}
	err := run(t.Context(), cfg, &out)
	s := out.String()
	require.NoError(t, err, s)
	require.Contains(t, s, "memory mode")
	require.Contains(t, s, "HTTP 401", "the vendor refuses the forged request")
	require.Contains(t, s, "FAILED ", "some attempts fail on purpose")
	require.Contains(t, s, "retry (attempt 2) in", "and are retried")
	require.Contains(t, s, "DELIVERED ")
	require.Contains(t, s, "attempt 2: HTTP 200", "a retry succeeds")
	require.Contains(t, s, "same idempotency key: same id")
	require.Contains(t, s, "all 8 deliveries arrived with valid signatures")
	require.NotContains(t, s, "tok-from-env", "a token the operator chose is never printed")
	require.NotContains(t, s, "jwt-secret-from-env", "nor the JWT secret")
	require.NotContains(t, s, "GAVE UP")

	// The realtime side: the hub, a dashboard token and link, a curl line
	// for POST /api/events, and the KPI broadcasts of the demo.
	require.Contains(t, s, "realtime hub: ws://127.0.0.1:")
	require.Contains(t, s, "/realtime/v1/websocket")
	require.Regexp(t, `dashboard: +http://127\.0\.0\.1:\d+/\?token=eyJ[\w-]+\.[\w-]+\.[\w-]+\n`, s)
	require.Contains(t, s, "JWT secret:   from "+envJWTSecret)
	require.Contains(t, s, `-H "Authorization: Bearer $WEDSYNC_ADMIN_TOKEN" -d '{"supplier_id":"sup_demo_florist","type":"kpi.updated"`)
	require.Contains(t, s, "/api/events")
	// The first broadcast to the topic is the start KPIs; webhook.attempt
	// broadcasts (not printed) share the topic, so later offsets vary.
	require.Contains(t, s, `BROADCAST  kpi.updated       -> supplier:sup_demo_florist, offset 1: {"bookings":12`)
	require.Regexp(t, `BROADCAST  kpi.updated       -> supplier:sup_demo_florist, offset \d+: \{"revenue":\{"currency":"GBP","value":"19020.00"\}\}`, s)
}

// -exit-after-demo fails when the deliveries do not all arrive in time.
func TestDemoTimeout(t *testing.T) {
	var out lockedBuffer
	cfg := config{Addr: "127.0.0.1:0", VendorAddr: "127.0.0.1:0", Demo: true, ExitAfterDemo: true, DemoTimeout: time.Nanosecond}
	err := run(t.Context(), cfg, &out)
	require.ErrorContains(t, err, "after 1ns")
}

func TestDemoConfig(t *testing.T) {
	env := map[string]string{envDatabaseURL: "postgres://db/x", envAdminToken: "t0k"}
	c, err := parseConfig([]string{"-addr", "127.0.0.1:0", "-demo=false"}, func(k string) string { return env[k] }, io.Discard)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:0", c.Addr)
	require.Equal(t, "postgres://db/x", c.DatabaseURL)
	require.Equal(t, "t0k", c.AdminToken)
	require.False(t, c.Demo)

	// Postgres mode needs the encryption key, and says which variable.
	err = run(t.Context(), c, io.Discard)
	require.ErrorContains(t, err, envEncryptionKey+" is required")

	_, err = parseEncryptionKey("not a key")
	require.ErrorContains(t, err, envEncryptionKey)
	k, err := parseEncryptionKey(strings.Repeat("ab", 32))
	require.NoError(t, err)
	require.Len(t, k, 32)
	k, err = parseEncryptionKey("q83vq83vq83vq83vq83vq83vq83vq83vq83vq83vq80=")
	require.NoError(t, err)
	require.Len(t, k, 32)

	err = run(t.Context(), config{Demo: false, ExitAfterDemo: true}, io.Discard)
	require.ErrorContains(t, err, "-exit-after-demo")
}

// apiClient calls the demo's API.
type apiClient struct {
	t     *testing.T
	base  string
	token string
	c     *http.Client
}

// do sends a request and decodes the JSON answer into a map.
func (a *apiClient) do(method, path, body string) (int, map[string]any) {
	a.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(a.t.Context(), method, a.base+path, r)
	require.NoError(a.t, err)
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := a.c.Do(req)
	require.NoError(a.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(a.t, err)
	var m map[string]any
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		require.NoError(a.t, json.Unmarshal(raw, &m), string(raw))
	}
	return resp.StatusCode, m
}

func TestDemoAPI(t *testing.T) {
	const token = "test-admin-token"
	ctx, cancel := context.WithCancel(t.Context())
	type urls struct{ api, vendor string }
	ready := make(chan urls, 1)
	attempts := make(chan delivery.Attempt, 64)
	var out lockedBuffer
	cfg := config{
		Addr: "127.0.0.1:0", VendorAddr: "127.0.0.1:0", AdminToken: token,
		onReady: func(api, vendor string) { ready <- urls{api, vendor} },
		onAttempt: func(a delivery.Attempt) {
			select {
			case attempts <- a:
			default:
			}
		},
	}
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, &out) }()
	var u urls
	select {
	case u = <-ready:
	case err := <-done:
		t.Fatalf("run ended early: %v\n%s", err, out.String())
	}
	tr := &http.Transport{}
	defer func() {
		tr.CloseIdleConnections()
		cancel()
		require.NoError(t, <-done, out.String())
	}()
	api := &apiClient{t: t, base: u.api, token: token, c: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
	anon := &apiClient{t: t, base: u.api, c: api.c}
	wrong := &apiClient{t: t, base: u.api, token: "nope", c: api.c}

	// waitDelivered waits for the attempt hook to report msg delivered.
	waitDelivered := func(msg string) delivery.Attempt {
		t.Helper()
		timeout := time.NewTimer(30 * time.Second)
		defer timeout.Stop()
		for {
			select {
			case a := <-attempts:
				if a.MessageID == msg && a.Status == delivery.AttemptSucceeded {
					return a
				}
			case <-timeout.C:
				t.Fatalf("message %s not delivered\n%s", msg, out.String())
			}
		}
	}

	// The page is public; the API is not.
	code, _ := anon.do("GET", "/", "")
	require.Equal(t, http.StatusOK, code)
	code, body := anon.do("GET", "/api/attempts", "")
	require.Equal(t, http.StatusUnauthorized, code)
	require.Contains(t, body["error"], "bearer token")
	code, _ = wrong.do("POST", "/api/messages", `{}`)
	require.Equal(t, http.StatusUnauthorized, code)

	// Create an endpoint on the vendor's hooks: the vendor learns its secret.
	code, ep := api.do("POST", "/api/endpoints", `{"supplier_id":"sup_api","url":"`+u.vendor+`/hooks/api-test",
		"event_types":["booking.*"],"description":"from the test","rate_limit":5}`)
	require.Equal(t, http.StatusCreated, code, ep)
	epID, _ := ep["id"].(string)
	require.True(t, strings.HasPrefix(epID, "ep_"), ep)
	secret, _ := ep["secret"].(string)
	require.True(t, strings.HasPrefix(secret, "whsec_"), ep)
	require.Equal(t, "enabled", ep["status"])
	require.Equal(t, []any{"booking.*"}, ep["event_types"])

	code, list := api.do("GET", "/api/endpoints?supplier_id=sup_api", "")
	require.Equal(t, http.StatusOK, code)
	require.Len(t, list["endpoints"], 1)

	// Bad input: 400, naming the field and the rule.
	for _, tc := range []struct{ method, path, body, field, rule string }{
		{"POST", "/api/endpoints", `{"supplier_id":"sup_api"}`, "url", "is required"},
		{"POST", "/api/endpoints", `{"supplier_id":"sup_api","url":"ftp://example.com/x"}`, "url", "scheme"},
		{"POST", "/api/endpoints", `{"url":"https://example.com/x"}`, "supplier_id", "is required"},
		{"POST", "/api/endpoints", `{"supplier_id":"sup_api","url":"https://example.com/x","event_types":["a..b"]}`, "event_types", "pattern"},
		{"POST", "/api/endpoints", `{"supplier_id":"sup_api","url":"https://example.com/x","rate_limit":"fast"}`, "rate_limit", "must be a number"},
		{"POST", "/api/endpoints", `{"supplier_id":"sup_api","url":"https://example.com/x","colour":"blue"}`, "colour", "not a known field"},
		{"POST", "/api/endpoints", `{"supplier_id":`, "body", "truncated"},
		{"POST", "/api/endpoints", ``, "body", "is required"},
		{"GET", "/api/endpoints", ``, "supplier_id", "is required"},
		{"POST", "/api/messages", `{"supplier_id":"sup_api","event_type":"booking confirmed","payload":{}}`, "event_type", "dot-separated"},
		{"POST", "/api/messages", `{"supplier_id":"sup_api","event_type":"booking.confirmed"}`, "payload", "is required"},
		{"GET", "/api/attempts?status=maybe", ``, "status", "must be"},
		{"GET", "/api/attempts?limit=ten", ``, "limit", "whole number"},
		{"GET", "/api/endpoints/" + epID + "/stats?since=yesterday", ``, "since", "RFC 3339"},
	} {
		code, body := api.do(tc.method, tc.path, tc.body)
		require.Equal(t, http.StatusBadRequest, code, "%s %s %s: %v", tc.method, tc.path, tc.body, body)
		require.Equal(t, tc.field, body["field"], body)
		require.Contains(t, body["error"], tc.field+": ")
		require.Contains(t, body["error"], tc.rule)
	}
	code, body = api.do("POST", "/api/messages", `{"supplier_id":"sup_api","event_type":"x","payload":"`+strings.Repeat("a", 2<<20)+`"}`)
	require.Equal(t, http.StatusRequestEntityTooLarge, code, body)

	// Not found.
	for _, p := range []string{"/api/endpoints/ep_nope", "/api/endpoints/ep_nope/stats"} {
		code, body = api.do("GET", p, "")
		require.Equal(t, http.StatusNotFound, code, p)
		require.Contains(t, body["error"], "not found")
	}
	for _, action := range []string{"pause", "resume", "rotate-secret", "recover"} {
		code, _ = api.do("POST", "/api/endpoints/ep_nope/"+action, "")
		require.Equal(t, http.StatusNotFound, code, action)
	}
	code, _ = api.do("GET", "/api/nothing-here", "")
	require.Equal(t, http.StatusNotFound, code)

	// Send; the vendor verifies the signature and the attempt log shows it.
	code, sent := api.do("POST", "/api/messages", `{"supplier_id":"sup_api","event_type":"booking.confirmed",
		"payload":{"type":"booking.confirmed","data":{"booking_id":"bk_1"}},"idempotency_key":"k1"}`)
	require.Equal(t, http.StatusAccepted, code, sent)
	msgID, _ := sent["id"].(string)
	require.True(t, strings.HasPrefix(msgID, "msg_"), sent)
	a := waitDelivered(msgID)
	require.Equal(t, epID, a.EndpointID)
	require.Equal(t, 200, a.ResponseStatus)

	code, again := api.do("POST", "/api/messages", `{"supplier_id":"sup_api","event_type":"booking.confirmed","payload":{},"idempotency_key":"k1"}`)
	require.Equal(t, http.StatusAccepted, code)
	require.Equal(t, msgID, again["id"], "same idempotency key, same message")

	code, atts := api.do("GET", "/api/attempts?message_id="+msgID+"&endpoint_id="+epID+"&status=succeeded", "")
	require.Equal(t, http.StatusOK, code)
	list1, _ := atts["attempts"].([]any)
	require.Len(t, list1, 1)
	row, _ := list1[0].(map[string]any)
	require.Equal(t, "succeeded", row["status"])
	require.EqualValues(t, 1, row["number"])

	code, stats := api.do("GET", "/api/endpoints/"+epID+"/stats", "")
	require.Equal(t, http.StatusOK, code)
	require.EqualValues(t, 1, stats["attempts"])
	require.EqualValues(t, 1, stats["success_rate"])

	// Pause, resume, rotate the secret (the vendor switches to the new one),
	// and recover (nothing failed, nothing to resend).
	code, ep = api.do("POST", "/api/endpoints/"+epID+"/pause", "")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "paused", ep["status"])
	code, ep = api.do("POST", "/api/endpoints/"+epID+"/resume", "")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "enabled", ep["status"])
	code, rot := api.do("POST", "/api/endpoints/"+epID+"/rotate-secret", "")
	require.Equal(t, http.StatusOK, code)
	require.True(t, strings.HasPrefix(rot["secret"].(string), "whsec_"))
	require.NotEqual(t, secret, rot["secret"])
	code, rec := api.do("POST", "/api/endpoints/"+epID+"/recover", `{"since":"2020-01-01T00:00:00Z"}`)
	require.Equal(t, http.StatusOK, code, rec)
	require.EqualValues(t, 0, rec["queued"])

	code, sent = api.do("POST", "/api/messages", `{"supplier_id":"sup_api","event_type":"booking.cancelled","payload":{"type":"booking.cancelled"}}`)
	require.Equal(t, http.StatusAccepted, code)
	waitDelivered(sent["id"].(string))
	require.Contains(t, out.String(), "api-test <- booking.cancelled")
}
