package realtimetest

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wedsync/integrations/realtime"
)

// Path is where a Server mounts its hub, as Supabase serves Realtime.
const Path = "/realtime/v1/websocket"

// Server is a realtime.Hub on a loopback HTTP server, guarded by a
// JWTAuthenticator with a random HS256 secret of its own: Token mints the
// dashboard tokens it accepts. Get one with NewServer (closed when the test
// ends) or StartServer (closed by Close).
type Server struct {
	// URL is the Realtime base URL, "ws://127.0.0.1:<port>/realtime/v1",
	// as a Supabase project gives it to realtime-js (which adds
	// "/websocket").
	URL string
	// SocketURL is URL + "/websocket", the URL a client.Client dials.
	SocketURL string
	// Hub is the hub being served; broadcast through it.
	Hub *realtime.Hub
	// Secret is the HS256 secret the hub's authenticator accepts.
	Secret []byte

	http      *httptest.Server
	closeOnce sync.Once
	closeErr  error
}

// NewServer starts a Server for t and closes it when t and its subtests
// end (t.Cleanup). opts go to realtime.NewHub after the server's own
// WithAuthenticator, so they may replace it. It fails t if the hub cannot
// be made.
func NewServer(t testing.TB, opts ...realtime.Option) *Server {
	t.Helper()
	s, err := StartServer(opts...)
	if err != nil {
		t.Fatalf("realtimetest: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("realtimetest: closing the server: %v", err)
		}
	})
	return s
}

// StartServer starts a Server without a testing.TB, for examples and
// benchmarks; the caller must Close it. opts go to realtime.NewHub after
// the server's own WithAuthenticator, so they may replace it.
func StartServer(opts ...realtime.Option) (*Server, error) {
	secret := []byte(rand.Text() + rand.Text()) // 52 characters, 260 bits
	auth, err := realtime.NewJWTAuthenticator(realtime.WithHS256Secret(secret))
	if err != nil {
		return nil, err
	}
	hub, err := realtime.NewHub(append([]realtime.Option{realtime.WithAuthenticator(auth)}, opts...)...)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle(Path, hub)
	hs := httptest.NewServer(mux)
	base := "ws" + strings.TrimPrefix(hs.URL, "http") + strings.TrimSuffix(Path, "/websocket")
	return &Server{URL: base, SocketURL: base + "/websocket", Hub: hub, Secret: secret, http: hs}, nil
}

// Token returns a dashboard token for supplierID that the server accepts
// for an hour: HS256Token with the server's secret (subject
// "supplier-user-<supplierID>", claim app_metadata.supplier_id). With the
// default authorizer it joins "supplier:<supplierID>" and its sub-topics.
// It panics if signing fails, which it cannot with a non-empty secret.
func (s *Server) Token(supplierID string) string {
	tok, err := HS256Token(s.Secret, supplierID, time.Now().Add(time.Hour))
	if err != nil {
		panic("realtimetest: " + err.Error())
	}
	return tok
}

// Close disconnects every socket (close code 1001), closes the hub, then
// stops the HTTP server. It is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		if err := s.Hub.Close(); err != nil {
			s.closeErr = fmt.Errorf("realtimetest: closing the hub: %w", err)
		}
		s.http.Close()
	})
	return s.closeErr
}
