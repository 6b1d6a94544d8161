package calendar

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// memStore is memory mode's store: maps under one mutex. It loses
// everything on exit.
type memStore struct {
	mu    sync.Mutex
	conns map[string]*connRow
	books map[string]*Booking
	// maps is connection -> event id -> mapping.
	maps map[string]map[string]mapping
	// busy is supplier -> connection -> event id -> rows.
	busy map[string]map[string]map[string][]busyRow
	log  []memAttempt
}

type memAttempt struct {
	Attempt
	jobID int64
}

func newMemStore() *memStore {
	return &memStore{
		conns: map[string]*connRow{},
		books: map[string]*Booking{},
		maps:  map[string]map[string]mapping{},
		busy:  map[string]map[string]map[string][]busyRow{},
	}
}

func cloneConn(c *connRow) *connRow {
	d := *c
	d.creds = slices.Clone(c.creds)
	d.watch = slices.Clone(c.watch)
	return &d
}

func (s *memStore) insertConnection(_ context.Context, _ pgx.Tx, c *connRow) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns[c.ID] = cloneConn(c)
	return nil
}

func (s *memStore) connection(_ context.Context, _ pgx.Tx, id string, _ bool) (*connRow, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.conns[id]
	if !ok {
		return nil, ErrNotFound
	}
	d := cloneConn(c)
	d.Events = len(s.maps[id])
	return d, nil
}

func (s *memStore) connections(_ context.Context, _ pgx.Tx, supplier string) ([]*connRow, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*connRow
	for _, c := range s.conns {
		if c.Supplier == supplier {
			d := cloneConn(c)
			d.Events = len(s.maps[c.ID])
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b *connRow) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

func (s *memStore) saveSync(_ context.Context, _ pgx.Tx, c *connRow) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.conns[c.ID]
	if !ok {
		return ErrNotFound
	}
	cur.Cursor, cur.fullAt, cur.LastSuccess, cur.LastError = c.Cursor, c.fullAt, c.LastSuccess, c.LastError
	cur.Failures, cur.NextRun, cur.seq = c.Failures, c.NextRun, c.seq
	return nil
}

func (s *memStore) bumpSeq(_ context.Context, _ pgx.Tx, id string, nextRun time.Time) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.conns[id]
	if !ok {
		return 0, ErrNotFound
	}
	c.seq++
	c.NextRun = nextRun
	return c.seq, nil
}

func (s *memStore) setCredentials(_ context.Context, _ pgx.Tx, id string, sealed []byte, needsReconnect bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.conns[id]
	if !ok {
		return ErrNotFound
	}
	c.creds, c.NeedsReconnect = slices.Clone(sealed), needsReconnect
	return nil
}

func (s *memStore) setWatch(_ context.Context, id, watchID string, sealed []byte, expires time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.conns[id]
	if !ok {
		return ErrNotFound
	}
	c.watchID, c.watch, c.WatchExpires = watchID, slices.Clone(sealed), expires
	if watchID == "" {
		c.WatchExpires = time.Time{}
	}
	return nil
}

func (s *memStore) connectionByWatch(_ context.Context, watchID string) (*connRow, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		if watchID != "" && c.watchID == watchID {
			return cloneConn(c), nil
		}
	}
	return nil, ErrNotFound
}

func (s *memStore) deleteConnection(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.conns[id]
	if !ok {
		return ErrNotFound
	}
	delete(s.conns, id)
	delete(s.maps, id)
	delete(s.busy[c.Supplier], id)
	return nil
}

// live reports whether b takes time at now.
func live(b *Booking, now time.Time) bool {
	return b.Status == StatusConfirmed || (b.Status == StatusHold && b.HoldUntil.After(now))
}

func (s *memStore) putBooking(_ context.Context, _ pgx.Tx, b *Booking, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, exists := s.books[b.ID]
	if exists && old.Supplier != b.Supplier {
		return invalid("Booking.Supplier", "cannot change (booking %q belongs to another supplier)", b.ID)
	}
	blocked := b.Blocked()
	if b.Status.blocks() {
		var cs []Conflict
		for _, o := range s.books {
			if o.Supplier == b.Supplier && o.ID != b.ID && o.Status.blocks() && o.Blocked().Overlaps(blocked) {
				cs = append(cs, bookingConflict(o))
			}
		}
		if len(cs) > 0 {
			return &ConflictError{Booking: b.ID, Conflicts: cs}
		}
	}
	b.Version = 1
	if exists {
		b.Version = old.Version + 1
	}
	b.UpdatedAt = now
	c := *b
	s.books[b.ID] = &c
	return nil
}

func bookingConflict(b *Booking) Conflict {
	k := ConflictBooking
	if b.Status == StatusHold {
		k = ConflictHold
	}
	return Conflict{Kind: k, Interval: b.Blocked(), BookingID: b.ID}
}

func (s *memStore) booking(_ context.Context, _ pgx.Tx, id string) (*Booking, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.books[id]
	if !ok {
		return nil, ErrNotFound
	}
	c := *b
	return &c, nil
}

func (s *memStore) bookings(_ context.Context, _ pgx.Tx, supplier string, iv Interval) ([]Booking, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Booking
	for _, b := range s.books {
		if b.Supplier == supplier && b.Blocked().Overlaps(iv) {
			out = append(out, *b)
		}
	}
	slices.SortFunc(out, func(a, b Booking) int { return cmp.Or(a.Start.Compare(b.Start), cmp.Compare(a.ID, b.ID)) })
	return out, nil
}

func (s *memStore) expireHolds(_ context.Context, _ pgx.Tx, supplier string, now time.Time, limit int) ([]Booking, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Booking
	for _, b := range s.books {
		if len(out) == limit {
			break
		}
		if (supplier == "" || b.Supplier == supplier) && b.Status == StatusHold && !b.HoldUntil.After(now) {
			b.Status = StatusExpired
			b.Version++
			b.UpdatedAt = now
			out = append(out, *b)
		}
	}
	return out, nil
}

func (s *memStore) mappings(_ context.Context, _ pgx.Tx, conn string) (map[string]mapping, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]mapping, len(s.maps[conn]))
	for k, v := range s.maps[conn] {
		out[k] = v
	}
	return out, nil
}

func (s *memStore) mappingForBooking(_ context.Context, _ pgx.Tx, conn, booking string) (*mapping, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.maps[conn] {
		if m.BookingID == booking {
			c := m
			return &c, nil
		}
	}
	return nil, nil
}

func (s *memStore) putMapping(_ context.Context, _ pgx.Tx, m mapping) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.conns[m.Conn]; !ok {
		return ErrNotFound
	}
	ms := s.maps[m.Conn]
	if ms == nil {
		ms = map[string]mapping{}
		s.maps[m.Conn] = ms
	}
	if m.BookingID != "" {
		for id, o := range ms {
			if o.BookingID == m.BookingID && id != m.EventID {
				delete(ms, id)
			}
		}
	}
	ms[m.EventID] = m
	return nil
}

func (s *memStore) deleteMapping(_ context.Context, _ pgx.Tx, conn, eventID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.maps[conn], eventID)
	return nil
}

func (s *memStore) replaceBusy(_ context.Context, _ pgx.Tx, conn, supplier, eventID string, rows []busyRow) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.conns[conn]; !ok {
		return ErrNotFound
	}
	bySupplier := s.busy[supplier]
	if bySupplier == nil {
		bySupplier = map[string]map[string][]busyRow{}
		s.busy[supplier] = bySupplier
	}
	byConn := bySupplier[conn]
	if byConn == nil {
		byConn = map[string][]busyRow{}
		bySupplier[conn] = byConn
	}
	if len(rows) == 0 {
		delete(byConn, eventID)
		return nil
	}
	byConn[eventID] = slices.Clone(rows)
	return nil
}

func (s *memStore) overlapping(_ context.Context, _ pgx.Tx, supplier string, iv Interval, exclude string, now time.Time, busy bool) ([]Conflict, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Conflict
	for _, b := range s.books {
		if b.Supplier == supplier && b.ID != exclude && live(b, now) && b.Blocked().Overlaps(iv) {
			out = append(out, bookingConflict(b))
		}
	}
	if busy {
		for conn, events := range s.busy[supplier] {
			for id, rows := range events {
				for _, r := range rows {
					if r.Span.Overlaps(iv) {
						out = append(out, Conflict{Kind: ConflictBusy, Interval: r.Span, Connection: conn, EventID: id, Summary: r.Summary})
					}
				}
			}
		}
	}
	sortConflicts(out)
	return out, nil
}

func sortConflicts(cs []Conflict) {
	slices.SortFunc(cs, func(a, b Conflict) int {
		return cmp.Or(a.Interval.Start.Compare(b.Interval.Start), cmp.Compare(a.Kind, b.Kind),
			cmp.Compare(a.BookingID, b.BookingID), cmp.Compare(a.Connection, b.Connection), cmp.Compare(a.EventID, b.EventID))
	})
}

func (s *memStore) addAttempt(_ context.Context, _ pgx.Tx, a *Attempt, jobID int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = append(s.log, memAttempt{Attempt: *a, jobID: jobID})
	return nil
}

func (s *memStore) attempts(_ context.Context, conn string, limit int) ([]Attempt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Attempt
	for i := len(s.log) - 1; i >= 0 && len(out) < limit; i-- {
		if s.log[i].Connection == conn {
			out = append(out, s.log[i].Attempt)
		}
	}
	return out, nil
}

func (s *memStore) attemptRecorded(_ context.Context, jobID int64) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.log {
		if a.jobID == jobID {
			return true, nil
		}
	}
	return false, nil
}

func (s *memStore) prune(_ context.Context, before time.Time) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.log)
	s.log = slices.DeleteFunc(s.log, func(a memAttempt) bool { return a.At.Before(before) })
	return int64(n - len(s.log)), nil
}
