package webhook_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
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
