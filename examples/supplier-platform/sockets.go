package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/wedsync/integrations/realtime"
)

// The demo can drop a supplier's dashboard sockets on purpose, as a flaky
// network, a load balancer's restart or a laptop's sleep would, to show a
// dashboard recovering without missing an update: POST /api/realtime/drop
// cuts the sockets (no close frame) and may keep refusing that supplier's
// dashboards for a while; an update broadcast meanwhile reaches the page
// when it rejoins, replayed from the hub's history.

// maxOffline bounds how long POST /api/realtime/drop may keep a supplier's
// dashboards out.
const maxOffline = 5 * time.Minute

// sockets tracks the hub's sockets by supplier, from the connections the
// hub hijacks, so that the demo can cut them.
type sockets struct {
	auth realtime.Authenticator
	now  func() time.Time

	mu      sync.Mutex
	open    map[string]map[*trackedConn]struct{} // supplier -> its sockets
	offline map[string]time.Time                 // supplier -> refused until
}

func newSockets(auth realtime.Authenticator) *sockets {
	return &sockets{auth: auth, now: time.Now, open: map[string]map[*trackedConn]struct{}{}, offline: map[string]time.Time{}}
}

// wrap serves the hub's handshakes: it notes whose socket each one is,
// and refuses the dashboards of a supplier kept offline (503).
func (s *sockets) wrap(hub http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := r.URL.Query().Get("apikey")
		if tok == "" {
			tok = r.Header.Get("x-api-key")
		}
		p, err := s.auth.Authenticate(r.Context(), tok)
		if err != nil || p.SupplierID == "" {
			hub.ServeHTTP(w, r) // the hub refuses it, and says why
			return
		}
		if until, off := s.offlineUntil(p.SupplierID); off {
			http.Error(w, fmt.Sprintf("the demo keeps the dashboards of %s offline until %s (POST /api/realtime/drop)",
				p.SupplierID, until.Format("15:04:05")), http.StatusServiceUnavailable)
			return
		}
		hub.ServeHTTP(&trackingWriter{ResponseWriter: w, s: s, supplier: p.SupplierID}, r)
	})
}

func (s *sockets) offlineUntil(supplier string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	until, ok := s.offline[supplier]
	if ok && !s.now().Before(until) {
		delete(s.offline, supplier)
		return time.Time{}, false
	}
	return until, ok
}

// drop cuts supplier's sockets and refuses its dashboards for offline (0:
// they may reconnect at once). It returns how many sockets it cut.
func (s *sockets) drop(supplier string, offline time.Duration) int {
	s.mu.Lock()
	if offline > 0 {
		s.offline[supplier] = s.now().Add(offline)
	}
	var cut []*trackedConn
	for c := range s.open[supplier] {
		cut = append(cut, c)
	}
	s.mu.Unlock()
	for _, c := range cut {
		_ = c.Close() // the hub's reader fails and cleans the socket up
	}
	return len(cut)
}

// restore lets supplier's dashboards connect again; it reports whether
// they were kept offline.
func (s *sockets) restore(supplier string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.offline[supplier]
	delete(s.offline, supplier)
	return ok
}

func (s *sockets) add(supplier string, c *trackedConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	set := s.open[supplier]
	if set == nil {
		set = map[*trackedConn]struct{}{}
		s.open[supplier] = set
	}
	set[c] = struct{}{}
}

func (s *sockets) remove(supplier string, c *trackedConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.open[supplier], c)
	if len(s.open[supplier]) == 0 {
		delete(s.open, supplier)
	}
}

// trackingWriter hands the hub a connection that the tracker knows.
type trackingWriter struct {
	http.ResponseWriter
	s        *sockets
	supplier string
}

func (w *trackingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	tc := &trackedConn{Conn: c}
	tc.onClose = func() { w.s.remove(w.supplier, tc) }
	w.s.add(w.supplier, tc)
	return tc, brw, nil
}

func (w *trackingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// trackedConn leaves the tracker when it closes.
type trackedConn struct {
	net.Conn
	once    sync.Once
	onClose func()
}

func (c *trackedConn) Close() error {
	c.once.Do(c.onClose)
	return c.Conn.Close()
}

// POST /api/realtime/drop  {"supplier_id", "offline_seconds"}
func (a *api) dropSockets(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		SupplierID     string  `json:"supplier_id"`
		OfflineSeconds float64 `json:"offline_seconds"`
	}
	if err := decode(w, r, &in, true); err != nil {
		return err
	}
	supplier, err := supplierOrDemo("supplier_id", in.SupplierID)
	if err != nil {
		return err
	}
	in.SupplierID = supplier
	if in.OfflineSeconds < 0 || in.OfflineSeconds > maxOffline.Seconds() {
		return badRequest("offline_seconds", "must be 0 to %g seconds, got %g", maxOffline.Seconds(), in.OfflineSeconds)
	}
	offline := time.Duration(in.OfflineSeconds * float64(time.Second))
	n := a.sockets.drop(in.SupplierID, offline)
	what := "they may reconnect at once"
	body := map[string]any{"supplier_id": in.SupplierID, "dropped": n}
	if offline > 0 {
		until := time.Now().Add(offline)
		what = "its dashboards are refused until " + until.Format("15:04:05") + " (POST /api/realtime/restore ends that sooner)"
		body["offline_until"] = until
	}
	a.out.printf("REALTIME   dropped %d dashboard %s of %s on purpose (through the API); %s", n, plural(n, "socket", "sockets"),
		in.SupplierID, what)
	writeJSON(w, http.StatusOK, body)
	return nil
}

// POST /api/realtime/restore  {"supplier_id"}
func (a *api) restoreSockets(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		SupplierID string `json:"supplier_id"`
	}
	if err := decode(w, r, &in, true); err != nil {
		return err
	}
	if in.SupplierID == "" {
		in.SupplierID = demoSupplier
	}
	was := a.sockets.restore(in.SupplierID)
	if was {
		a.out.printf("REALTIME   the dashboards of %s may connect again (through the API)", in.SupplierID)
	}
	writeJSON(w, http.StatusOK, map[string]any{"supplier_id": in.SupplierID, "was_offline": was})
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
