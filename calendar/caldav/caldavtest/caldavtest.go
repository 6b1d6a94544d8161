package caldavtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wedsync/integrations/calendar/caldav"
)

// RequireRadicaleEnv names the environment variable that, set to "1",
// makes Start fail instead of falling back when Radicale is not installed.
// CI sets it.
const RequireRadicaleEnv = "WEDSYNC_REQUIRE_RADICALE"

// Kinds of Server.
const (
	KindRadicale = "radicale"
	KindMemory   = "memory"
)

// startTimeout bounds how long StartRadicale waits for the server to
// accept connections.
const startTimeout = 30 * time.Second

// Server is a CalDAV server for one test.
type Server struct {
	// URL is the server's root, "http://127.0.0.1:PORT/".
	URL string
	// Kind is KindRadicale or KindMemory.
	Kind string
	// Memory is the in-process server when Kind is KindMemory.
	Memory *MemoryServer
}

// Creds returns the credentials JSON for user (any password works: the
// servers do not authenticate).
func (s *Server) Creds(user string) []byte {
	return caldav.Credentials{URL: s.URL, Username: user, Password: "pw-" + user}.Marshal()
}

// ProviderOptions are the caldav.New options that let the provider reach
// this loopback, plain-http server past its SSRF guard.
func (s *Server) ProviderOptions() []caldav.Option {
	return []caldav.Option{
		caldav.WithAllowedNetworks(netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")),
		caldav.WithInsecureHTTP(true),
	}
}

// CalendarPath is where MakeCalendar puts calendar name of user: Radicale
// keeps calendars in the principal's collection (/<user>/<name>/), the
// memory server under /<user>/calendars/<name>/.
func (s *Server) CalendarPath(user, name string) string {
	if s.Kind == KindMemory {
		return "/" + user + "/calendars/" + name + "/"
	}
	return "/" + user + "/" + name + "/"
}

// MakeCalendar creates calendar name for user with MKCALENDAR (RFC 4791
// 5.3.1) and returns its path, the calendar id the provider takes.
func (s *Server) MakeCalendar(t testing.TB, user, name string) string {
	t.Helper()
	p, err := s.CreateCalendar(t.Context(), user, name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// CreateCalendar is MakeCalendar for a program that is not a test (the
// benchmark): it returns the error instead of failing a test.
func (s *Server) CreateCalendar(ctx context.Context, user, name string) (string, error) {
	p := s.CalendarPath(user, name)
	req, err := http.NewRequestWithContext(ctx, "MKCALENDAR", strings.TrimSuffix(s.URL, "/")+p, nil)
	if err != nil {
		return "", fmt.Errorf("caldavtest: MKCALENDAR %s: %w", p, err)
	}
	req.SetBasicAuth(user, "pw-"+user)
	req.Close = true // no idle connection left behind for goleak
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("caldavtest: MKCALENDAR %s: %w", p, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("caldavtest: MKCALENDAR %s: HTTP %d", p, resp.StatusCode)
	}
	return p, nil
}

// Start starts Radicale when the radicale binary is on PATH, else the
// in-process MemoryServer (saying so with t.Log). With
// WEDSYNC_REQUIRE_RADICALE=1 a missing Radicale fails the test instead.
func Start(t testing.TB) *Server {
	t.Helper()
	if _, err := exec.LookPath("radicale"); err != nil {
		if os.Getenv(RequireRadicaleEnv) == "1" {
			t.Fatalf("caldavtest: radicale is not installed and %s=1", RequireRadicaleEnv)
		}
		t.Log("caldavtest: radicale is not installed; using the in-process CalDAV server (no sync-collection)")
		return StartInProcess(t)
	}
	return StartRadicale(t)
}

// StartInProcess serves a new MemoryServer on a loopback port until the
// test ends.
func StartInProcess(t testing.TB) *Server {
	t.Helper()
	mem := NewMemoryServer()
	srv := httptest.NewServer(mem)
	t.Cleanup(srv.Close)
	return &Server{URL: srv.URL + "/", Kind: KindMemory, Memory: mem}
}

// radicaleConfig keeps Radicale quiet (warnings and worse, passwords
// masked), without its web interface, and inside the test's temp dir.
const radicaleConfig = `[server]
hosts = %s

[auth]
type = none

[rights]
type = owner_only

[storage]
filesystem_folder = %s

[web]
type = none

[logging]
level = warning
mask_passwords = True
`

// lockedBuffer collects a process's output for the failure message.
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

// StartRadicale runs the real Radicale server (the radicale binary on
// PATH) on a free loopback port, with auth type none (any user name, any
// password) and rights owner_only (user alice owns /alice/), storing in a
// temp dir. It waits, up to 30 s, until the port accepts connections, and
// stops Radicale (SIGTERM, then SIGKILL) when the test ends. Radicale's own
// log is shown only if the test fails. When radicale is not installed the
// test is skipped, or fails under WEDSYNC_REQUIRE_RADICALE=1.
func StartRadicale(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("radicale")
	if err != nil {
		if os.Getenv(RequireRadicaleEnv) == "1" {
			t.Fatalf("caldavtest: radicale is not installed and %s=1", RequireRadicaleEnv)
		}
		t.Skipf("caldavtest: radicale is not installed (%v)", err)
	}
	srv, stop, err := launchRadicale(bin, t.TempDir())
	if err != nil {
		t.Fatalf("caldavtest: radicale did not start: %v", err)
	}
	t.Cleanup(func() {
		log := stop()
		if t.Failed() {
			t.Logf("caldavtest: radicale log:\n%s", log)
		}
	})
	return srv
}

// LaunchRadicale is StartRadicale for a program that is not a test (the
// benchmark): it runs the radicale binary on PATH the same way, storing in
// dir, and returns a stop function that ends Radicale (SIGTERM, then
// SIGKILL after 10 s) and returns Radicale's own log.
func LaunchRadicale(dir string) (srv *Server, stop func() (log string), err error) {
	bin, err := exec.LookPath("radicale")
	if err != nil {
		return nil, nil, fmt.Errorf("caldavtest: radicale is not installed: %w", err)
	}
	return launchRadicale(bin, dir)
}

func launchRadicale(bin, dir string) (*Server, func() string, error) {
	var lastErr error
	for attempt := range 3 { // a port taken between probe and bind
		srv, stop, err := startRadicale(bin, filepath.Join(dir, strconv.Itoa(attempt)))
		if err == nil {
			return srv, stop, nil
		}
		lastErr = err
	}
	return nil, nil, lastErr
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	return addr, l.Close()
}

func startRadicale(bin, dir string) (*Server, func() string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, err
	}
	addr, err := freePort()
	if err != nil {
		return nil, nil, err
	}
	cfg := filepath.Join(dir, "config")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(radicaleConfig, addr, filepath.Join(dir, "collections"))), 0o600); err != nil {
		return nil, nil, err
	}
	out := &lockedBuffer{}
	cmd := exec.Command(bin, "--config", cfg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}

	deadline := time.NewTimer(startTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-done:
			return nil, nil, fmt.Errorf("radicale exited: %s", strings.TrimSpace(out.String()))
		case <-deadline.C:
			stop()
			return nil, nil, errors.New("radicale did not accept connections within " + startTimeout.String())
		case <-tick.C:
		}
	}
	var once sync.Once
	return &Server{URL: "http://" + addr + "/", Kind: KindRadicale}, func() string {
		once.Do(stop)
		return out.String()
	}, nil
}
