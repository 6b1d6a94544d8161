package calendar

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"sync"
	"time"
)

// watchRenewBefore is how long before its expiry a watch is renewed. The
// connection syncs every WithSyncInterval, and each sync looks.
const watchRenewBefore = 24 * time.Hour

// credsHook returns ctx carrying the credentials-update hook for
// connection c, and a function that stores what the provider handed back
// (if anything) once the call is over.
func (s *Sync) credsHook(ctx context.Context, c *connRow) (context.Context, func(ctx context.Context)) {
	var mu sync.Mutex
	var fresh []byte
	ctx = ContextWithCredentialsUpdate(ctx, func(creds []byte) {
		mu.Lock()
		defer mu.Unlock()
		fresh = append([]byte(nil), creds...)
	})
	return ctx, func(ctx context.Context) {
		mu.Lock()
		defer mu.Unlock()
		if fresh == nil {
			return
		}
		sealed := s.keys.Seal(fresh, []byte(c.ID))
		if err := s.store.setCredentials(ctx, nil, c.ID, sealed, false); err != nil {
			s.o.logger.Error("calendar: storing refreshed credentials failed; the next call refreshes again", "connection", c.ID, "error", err)
			return
		}
		c.creds = sealed
	}
}

// needsReconnect marks a connection whose credentials the provider will no
// longer renew, and tells the host once.
func (s *Sync) needsReconnect(ctx context.Context, c *connRow, cause error) {
	if c.NeedsReconnect {
		return
	}
	if err := s.store.setCredentials(ctx, nil, c.ID, c.creds, true); err != nil {
		s.o.logger.Error("calendar: marking a connection for reconnection failed", "connection", c.ID, "error", err)
		return
	}
	c.NeedsReconnect = true
	s.o.logger.Warn("calendar: the provider will not renew this connection's credentials; syncing stops until the supplier connects again",
		"connection", c.ID, "supplier", c.Supplier, "error", cause)
	s.report(ctx, []Change{{Kind: ChangeReconnectNeeded, Supplier: c.Supplier, Connection: c.ID, Err: cause.Error(), At: s.o.clock.Now()}})
}

// Reconnect gives a connection new credentials (the supplier connected
// the calendar again), clears its reconnect mark and syncs it at once.
func (s *Sync) Reconnect(ctx context.Context, id string, creds []byte) error {
	if len(creds) == 0 || len(creds) > maxCredentials {
		return invalid("credentials", "must be 1 byte to 64 KiB, got %d bytes", len(creds))
	}
	if err := s.store.setCredentials(ctx, nil, id, s.keys.Seal(creds, []byte(id)), false); err != nil {
		return err
	}
	return s.SyncNow(ctx, id)
}

// ensureWatch opens or renews the connection's change-notification
// watch, when the host gave a callback URL and the provider has them.
func (s *Sync) ensureWatch(ctx context.Context, c *connRow, p Provider, creds []byte) {
	w, ok := p.(Watcher)
	if !ok || s.o.callbackURL == "" || (c.watchID != "" && c.WatchExpires.After(s.o.clock.Now().Add(watchRenewBefore))) {
		return
	}
	var tok [32]byte
	_, _ = rand.Read(tok[:])
	cctx, cancel := context.WithTimeout(ctx, s.o.timeout)
	defer cancel()
	var nw Watch
	d, err := s.tel.call(cctx, p.Name(), "watch", c.ID, func(ctx context.Context) (err error) {
		nw, err = w.Watch(ctx, creds, c.Calendar, s.o.callbackURL, hex.EncodeToString(tok[:]))
		return err
	})
	s.logAttempt(ctx, c.ID, "watch", d, err)
	if err != nil {
		s.o.logger.Warn("calendar: opening a change-notification watch failed; syncing on the interval", "connection", c.ID, "error", err)
		return
	}
	raw, err := json.Marshal(nw)
	if err != nil {
		return
	}
	if err := s.store.setWatch(ctx, c.ID, nw.ID, s.keys.Seal(raw, []byte(c.ID+"/watch")), nw.Expires); err != nil {
		s.o.logger.Error("calendar: storing a watch failed", "connection", c.ID, "error", err)
		return
	}
	if old, ok := s.openWatch(c); ok {
		s.stopWatch(ctx, c, w, creds, old)
	}
}

func (s *Sync) openWatch(c *connRow) (Watch, bool) {
	if c.watchID == "" {
		return Watch{}, false
	}
	raw, err := s.keys.Open(c.watch, []byte(c.ID+"/watch"))
	if err != nil {
		return Watch{}, false
	}
	var w Watch
	if json.Unmarshal(raw, &w) != nil {
		return Watch{}, false
	}
	return w, true
}

func (s *Sync) stopWatch(ctx context.Context, c *connRow, w Watcher, creds []byte, old Watch) {
	cctx, cancel := context.WithTimeout(ctx, s.o.timeout)
	defer cancel()
	d, err := s.tel.call(cctx, c.Provider, "stop_watch", c.ID, func(ctx context.Context) error { return w.StopWatch(ctx, creds, old) })
	s.logAttempt(ctx, c.ID, "stop_watch", d, err)
	if err != nil {
		s.o.logger.Warn("calendar: stopping an old watch failed; it expires by itself", "connection", c.ID, "error", err)
	}
}

func (s *Sync) logAttempt(ctx context.Context, conn, op string, d time.Duration, err error) {
	a := Attempt{ID: newID("calatt_"), Connection: conn, Op: op, OK: err == nil, Duration: d, At: s.o.clock.Now()}
	if err != nil {
		a.Error = err.Error()
	}
	if err := s.store.addAttempt(ctx, nil, &a, 0); err != nil {
		s.o.logger.Warn("calendar: logging an attempt failed", "connection", conn, "error", err)
	}
}

// LookupWatch finds the connection a change notification names: the
// provider packages' notification handlers call it, compare the token
// (constant time) and the resource, and then call Notify. ok is false for
// a watch the engine does not know (an old one, or a forgery).
func (s *Sync) LookupWatch(ctx context.Context, watchID string) (connection string, w Watch, ok bool) {
	if watchID == "" {
		return "", Watch{}, false
	}
	c, err := s.store.connectionByWatch(ctx, watchID)
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			s.o.logger.Warn("calendar: looking up a watch failed", "error", err)
		}
		return "", Watch{}, false
	}
	w, ok = s.openWatch(c)
	return c.ID, w, ok
}

// stopAndForgetWatch ends a connection's watch before it is disconnected.
func (s *Sync) stopAndForgetWatch(ctx context.Context, id string) {
	c, err := s.store.connection(ctx, nil, id, false)
	if err != nil {
		return
	}
	old, ok := s.openWatch(c)
	p := s.providers[c.Provider]
	w, isW := p.(Watcher)
	if !ok || !isW {
		return
	}
	creds, err := s.keys.Open(c.creds, []byte(c.ID))
	if err != nil {
		return
	}
	s.stopWatch(ctx, c, w, creds, old)
}
