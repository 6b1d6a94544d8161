package webhook_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/webhook"
)

// firstReadSignal wraps a request body and signals once, when the first
// Read is called: by then the middleware has allocated whatever it
// allocates before reading.
type firstReadSignal struct {
	io.ReadCloser
	once sync.Once
	ch   chan<- struct{}
}

func (b *firstReadSignal) Read(p []byte) (int, error) {
	b.once.Do(func() { b.ch <- struct{}{} })
	return b.ReadCloser.Read(p)
}

// TestMiddlewareStalledBodiesCostWhatArrives opens many connections that
// each announce a 1 MiB body, send the headers only, and stall. The
// middleware must not allocate what the client claims before any byte has
// arrived (nothing is verified yet, so the claim is anyone's): the heap may
// grow by the server's per-connection buffers, far below a MiB per
// connection.
func TestMiddlewareStalledBodiesCostWhatArrives(t *testing.T) {
	const (
		conns   = 100
		claimed = 1 << 20 // Content-Length each client announces: the default cap
		bound   = 8 << 20 // heap growth allowed for all of them together
	)
	v := newVerifier(t, vecSecret)
	mw := v.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		t.Error("next handler called for a body that never arrived")
	}))
	reading := make(chan struct{}, conns)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = &firstReadSignal{ReadCloser: r.Body, ch: reading}
		mw.ServeHTTP(w, r)
	}))
	defer srv.Close()

	clients := make([]net.Conn, 0, conns)
	defer func() {
		for _, c := range clients {
			_ = c.Close()
		}
	}()

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	for i := range conns {
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		require.NoError(t, err)
		clients = append(clients, c)
		_, err = fmt.Fprintf(c, "POST /hooks HTTP/1.1\r\nHost: receiver\r\nContent-Type: application/json\r\n"+
			"Content-Length: %d\r\nwebhook-id: msg_%d\r\nwebhook-timestamp: %d\r\nwebhook-signature: v1,%s\r\n\r\n",
			claimed, i, time.Now().Unix(), b64(32, 1))
		require.NoError(t, err)
	}
	timeout := time.NewTimer(time.Minute)
	defer timeout.Stop()
	for i := range conns {
		select {
		case <-reading:
		case <-timeout.C:
			t.Fatalf("only %d of %d requests reached the body read within a minute", i, conns)
		}
	}

	// Every handler is now in (or entering) its first body Read, holding
	// whatever it allocated for the body.
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	inuse := int64(after.HeapInuse) - int64(before.HeapInuse)
	t.Logf("%d stalled requests announcing %d bytes each: heap grew by %.2f MiB (HeapAlloc), %.2f MiB (HeapInuse)",
		conns, claimed, float64(growth)/(1<<20), float64(inuse)/(1<<20))
	require.Less(t, growth, int64(bound),
		"the middleware allocated what the clients announced, not what arrived")

	// The clients give up: each handler's Read fails and it answers 400
	// without calling next; srv.Close waits for them.
	for _, c := range clients {
		_ = c.Close()
	}
	clients = nil
}

func signedRequest(t *testing.T, s *webhook.Signer, body []byte) *http.Request {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/hooks/wedsync", bytes.NewReader(body))
	require.NoError(t, s.SetHeaders(req.Header, "msg_mw", time.Now(), body))
	return req
}

func TestMiddleware(t *testing.T) {
	s := newSigner(t, vecSecret)
	v := newVerifier(t, vecSecret)
	// Non-canonical JSON: odd spacing, tabs, CRLF, trailing newline, key order.
	body := []byte("{ \"z\" :1,\r\n\t\"a\":  [ 1 ,2.50 ],\"u\":\"\\u00e9\"   }\n")

	var called int
	var got []byte
	var gotLen int64
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		called++
		var err error
		got, err = io.ReadAll(r.Body)
		require.NoError(t, err)
		gotLen = r.ContentLength
		w.WriteHeader(http.StatusNoContent)
	})
	h := v.Middleware(next)

	t.Run("valid: body passed on byte for byte", func(t *testing.T) {
		called = 0
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, signedRequest(t, s, body))
		require.Equal(t, http.StatusNoContent, rec.Code)
		require.Equal(t, 1, called)
		require.Equal(t, body, got)
		require.Equal(t, int64(len(body)), gotLen)
	})
	t.Run("valid with unknown length", func(t *testing.T) {
		called = 0
		req := signedRequest(t, s, body)
		req.ContentLength = -1
		req.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body[:5]), bytes.NewReader(body[5:])))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		require.Equal(t, http.StatusNoContent, rec.Code)
		require.Equal(t, body, got)
	})
	t.Run("bad signature: 401, next not called", func(t *testing.T) {
		called = 0
		req := signedRequest(t, s, body)
		req.Body = io.NopCloser(bytes.NewReader(append(bytes.Clone(body), ' ')))
		req.ContentLength++
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		require.Equal(t, http.StatusUnauthorized, rec.Code)
		require.Equal(t, 0, called)
		require.Contains(t, rec.Header().Get("Content-Type"), "text/plain")
		require.Contains(t, rec.Body.String(), "no matching signature")
	})
	t.Run("missing header: 401 names it", func(t *testing.T) {
		called = 0
		req := signedRequest(t, s, body)
		req.Header.Del(webhook.HeaderWebhookTimestamp)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		require.Equal(t, http.StatusUnauthorized, rec.Code)
		require.Equal(t, 0, called)
		require.Contains(t, rec.Body.String(), "webhook-timestamp")
	})
	t.Run("stale: 401", func(t *testing.T) {
		called = 0
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		require.NoError(t, s.SetHeaders(req.Header, "msg_old", time.Now().Add(-time.Hour), body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		require.Equal(t, http.StatusUnauthorized, rec.Code)
		require.Contains(t, rec.Body.String(), "too old")
		require.Equal(t, 0, called)
	})
}

func TestMiddlewareBodyCap(t *testing.T) {
	s := newSigner(t, vecSecret)
	var called int
	var got []byte
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		called++
		got, _ = io.ReadAll(r.Body)
	})

	for _, tc := range []struct {
		name     string
		cap      int64 // 0: the default
		size     int
		announce int64 // ContentLength: -2 the true length, -1 unknown, else this (a lie)
		body     func(io.Reader) io.Reader
		want     int
	}{
		{"default cap, exactly 1 MiB", 0, 1 << 20, -2, nil, http.StatusOK},
		{"default cap, 1 MiB + 1", 0, 1<<20 + 1, -2, nil, http.StatusRequestEntityTooLarge},
		{"default cap, exactly 1 MiB, unknown length", 0, 1 << 20, -1, nil, http.StatusOK},
		{"default cap, 1 MiB + 1, unknown length", 0, 1<<20 + 1, -1, nil, http.StatusRequestEntityTooLarge},
		{"default cap, 1 MiB + 1 announced as 1 MiB", 0, 1<<20 + 1, 1 << 20, nil, http.StatusRequestEntityTooLarge},
		{"default cap, 1 MiB + 1 announced as 10 bytes", 0, 1<<20 + 1, 10, nil, http.StatusRequestEntityTooLarge},
		{"default cap, 1 MiB, one byte per Read", 0, 1 << 20, -2, iotest.OneByteReader, http.StatusOK},
		{"default cap, empty body", 0, 0, -2, nil, http.StatusOK},
		{"announced over the cap: 413 before reading", 4096, 10, 5000, nil, http.StatusRequestEntityTooLarge},
		{"small cap, at cap", 10, 10, -1, nil, http.StatusOK},
		{"small cap, over", 10, 11, -1, nil, http.StatusRequestEntityTooLarge},
		{"small cap, over, announced", 10, 11, -2, nil, http.StatusRequestEntityTooLarge},
		{"small cap, at cap, data with EOF", 10, 10, -1, iotest.DataErrReader, http.StatusOK},
		{"cap 1, one byte", 1, 1, -2, nil, http.StatusOK},
		{"cap 1, two bytes", 1, 2, -1, nil, http.StatusRequestEntityTooLarge},
		{"3000 bytes announced as 5000", 8192, 3000, 5000, iotest.HalfReader, http.StatusOK},
		{"3000 bytes announced as 700", 8192, 3000, 700, iotest.HalfReader, http.StatusOK},
		{"largest cap, 100 KiB", webhook.MaxBodyBytesLimit, 100 << 10, -1, nil, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			called, got = 0, nil
			var opts []webhook.VerifierOption
			if tc.cap != 0 {
				opts = append(opts, webhook.WithMaxBodyBytes(tc.cap))
			}
			v := newVerifier(t, vecSecret, opts...)
			body := bytes.Repeat([]byte("x"), tc.size)
			req := signedRequest(t, s, body)
			if tc.announce != -2 {
				req.ContentLength = tc.announce
			}
			if tc.body != nil {
				req.Body = io.NopCloser(tc.body(bytes.NewReader(body)))
			}
			rec := httptest.NewRecorder()
			v.Middleware(next).ServeHTTP(rec, req)
			require.Equal(t, tc.want, rec.Code, rec.Body.String())
			if tc.want == http.StatusOK {
				require.Equal(t, 1, called)
				require.Equal(t, body, got, "next gets every byte, whatever was announced")
			} else {
				require.Equal(t, 0, called)
				require.Contains(t, rec.Body.String(), "too large")
			}
		})
	}

	// Over HTTP the cap holds too: the server's body reader enforces the
	// announced length and the middleware the cap.
	v := newVerifier(t, vecSecret, webhook.WithMaxBodyBytes(1000))
	srv := httptest.NewServer(v.Middleware(next))
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	defer client.CloseIdleConnections()
	for size, want := range map[int]int{1000: http.StatusOK, 1001: http.StatusRequestEntityTooLarge} {
		body := bytes.Repeat([]byte("y"), size)
		req, err := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
		require.NoError(t, err)
		require.NoError(t, s.SetHeaders(req.Header, "msg_cap", time.Now(), body))
		resp, err := client.Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		require.Equal(t, want, resp.StatusCode, "%d bytes", size)
	}
}

// An outer handler's http.MaxBytesReader that trips before the
// middleware's own cap is answered with 413 too.
func TestMiddlewareOuterMaxBytesReader(t *testing.T) {
	s := newSigner(t, vecSecret)
	v := newVerifier(t, vecSecret)
	called := false
	h := v.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true }))
	body := bytes.Repeat([]byte("z"), 100)
	req := signedRequest(t, s, body)
	rec := httptest.NewRecorder()
	req.Body = http.MaxBytesReader(rec, req.Body, 50)
	req.ContentLength = -1
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusRequestEntityTooLarge, rec.Code)
	require.False(t, called)
}

func TestWithMaxBodyBytesBounds(t *testing.T) {
	for _, n := range []int64{0, -1, math.MinInt64, webhook.MaxBodyBytesLimit + 1, math.MaxInt64} {
		_, err := webhook.NewVerifier(vecSecret, webhook.WithMaxBodyBytes(n))
		require.ErrorIs(t, err, webhook.ErrInvalid, "n=%d", n)
		var ve *webhook.ValidationError
		require.ErrorAs(t, err, &ve)
		require.Equal(t, "WithMaxBodyBytes", ve.Field)
		require.EqualError(t, err,
			fmt.Sprintf("webhook: WithMaxBodyBytes: must be between 1 and 1073741824 bytes, got %d", n))
	}
	for _, n := range []int64{1, 512 << 10, webhook.DefaultMaxBodyBytes, webhook.MaxBodyBytesLimit} {
		_, err := webhook.NewVerifier(vecSecret, webhook.WithMaxBodyBytes(n))
		require.NoError(t, err, "n=%d", n)
	}
}

func TestOptionErrors(t *testing.T) {
	_, err := webhook.NewVerifier(vecSecret, webhook.WithTolerance(0))
	require.EqualError(t, err, "webhook: WithTolerance: must be positive, got 0s")
	require.ErrorIs(t, err, webhook.ErrInvalid)
	var ve *webhook.ValidationError
	require.ErrorAs(t, err, &ve)
	require.Equal(t, webhook.ValidationError{Field: "WithTolerance", Rule: "must be positive, got 0s"}, *ve)

	// Every bad option is reported at once.
	_, err = webhook.NewVerifier(vecSecret, webhook.WithTolerance(-time.Second), webhook.WithMaxBodyBytes(0))
	require.ErrorIs(t, err, webhook.ErrInvalid)
	require.ErrorContains(t, err, "webhook: WithTolerance: must be positive, got -1s")
	require.ErrorContains(t, err, "webhook: WithMaxBodyBytes: must be between 1 and 1073741824 bytes, got 0")

	// A bad secret matches ErrMalformedSecret, and ErrInvalid too; option
	// errors are not secret errors.
	_, err = webhook.NewVerifier("whsec_short")
	require.ErrorIs(t, err, webhook.ErrMalformedSecret)
	require.ErrorIs(t, err, webhook.ErrInvalid)
	require.NotErrorAs(t, err, &ve)
	_, err = webhook.NewSigner("whpk_" + b64(32, 3))
	require.ErrorIs(t, err, webhook.ErrInvalid)
	_, err = webhook.NewVerifier(vecSecret, webhook.WithMaxBodyBytes(0))
	require.NotErrorIs(t, err, webhook.ErrMalformedSecret)

	// The message format, field by field.
	require.EqualError(t, &webhook.ValidationError{Field: "F", Rule: "r"}, "webhook: F: r")
	require.False(t, errors.Is(&webhook.ValidationError{}, webhook.ErrMalformedSecret))
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestMiddlewareReadError(t *testing.T) {
	v := newVerifier(t, vecSecret)
	called := false
	h := v.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true }))
	req := httptest.NewRequest(http.MethodPost, "/", io.NopCloser(errReader{}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusBadRequest, rec.Code)
	require.False(t, called)
}

func TestMiddlewareOverHTTP(t *testing.T) {
	s := newSigner(t, vecSecret)
	v := newVerifier(t, vecSecret)
	body := []byte("{\"b\" : [1,  2],\n \"a\":null}\n\n")
	received := make(chan []byte, 1)
	srv := httptest.NewServer(v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		received <- b
		_, _ = io.WriteString(w, "ok")
	})))
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	defer client.CloseIdleConnections()

	req, err := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
	require.NoError(t, err)
	require.NoError(t, s.SetHeaders(req.Header, "msg_http", time.Now(), body))
	resp, err := client.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, body, <-received)

	req, err = http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
	require.NoError(t, err)
	require.NoError(t, s.SetHeaders(req.Header, "msg_http", time.Now(), []byte(`{"b":[1,2],"a":null}`)))
	resp, err = client.Do(req)
	require.NoError(t, err)
	msg, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Contains(t, string(msg), "no matching signature")
	require.Empty(t, received)
}
