package wedmesync

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// memStore is memory mode's store; everything is lost on exit.
type memStore struct {
	mu      sync.Mutex
	recs    map[recordKey]*Record
	applied map[string]bool
	log     []Change
	quar    map[string]*Quarantined
	confl   []Conflict
	curs    map[string][2]string
	aud     []AuditEntry
}

func newMemStore() *memStore {
	return &memStore{recs: map[recordKey]*Record{}, applied: map[string]bool{}, quar: map[string]*Quarantined{}, curs: map[string][2]string{}}
}

// memWriter is a transaction of memStore: its methods run under the
// store's lock, held by inTx.
type memWriter struct{ s *memStore }

func (s *memStore) inTx(_ context.Context, tx pgx.Tx, fn func(w writer) error) error {
	if tx != nil {
		return ErrNoDatabase
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// A failed fn leaves what it wrote: the callers write only after every
	// check, and their writes do not fail in memory.
	return fn(memWriter{s})
}

func (w memWriter) lockRecord(_ context.Context, k recordKey) (*Record, error) {
	r := w.s.recs[k]
	if r == nil {
		r = &Record{Supplier: k.supplier, Couple: k.couple, Type: k.typ, ID: k.id, Fields: map[string]FieldValue{}}
	}
	c := cloneRecord(r)
	return &c, nil
}

func (w memWriter) putRecord(_ context.Context, r *Record) error {
	c := cloneRecord(r)
	w.s.recs[recordKey{r.Supplier, r.Couple, r.Type, r.ID}] = &c
	return nil
}

func (w memWriter) markApplied(_ context.Context, id string, _ time.Time) (bool, error) {
	if w.s.applied[id] {
		return false, nil
	}
	w.s.applied[id] = true
	return true, nil
}

func (w memWriter) appendLog(_ context.Context, c *Change, _ time.Time) error {
	w.s.log = append(w.s.log, *c)
	return nil
}

func (w memWriter) addConflicts(_ context.Context, cs []Conflict) error {
	w.s.confl = append(w.s.confl, cs...)
	return nil
}

func (w memWriter) takeConflict(_ context.Context, id string) (*Conflict, error) {
	for i, c := range w.s.confl {
		if c.ID == id {
			w.s.confl = slices.Delete(w.s.confl, i, i+1)
			return &c, nil
		}
	}
	return nil, ErrNotFound
}

func (w memWriter) quarantine(_ context.Context, q *Quarantined) error {
	if _, ok := w.s.quar[q.Change.ID]; !ok {
		c := *q
		w.s.quar[q.Change.ID] = &c
	}
	return nil
}

func (w memWriter) unquarantine(_ context.Context, id string) error {
	delete(w.s.quar, id)
	return nil
}

func (w memWriter) audit(_ context.Context, e AuditEntry) error {
	w.s.aud = append(w.s.aud, e)
	return nil
}

func (s *memStore) record(_ context.Context, k recordKey) (*Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.recs[k]
	if !ok {
		return nil, ErrNotFound
	}
	c := cloneRecord(r)
	return &c, nil
}

func (s *memStore) records(context.Context) ([]Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Record, 0, len(s.recs))
	for _, r := range s.recs {
		out = append(out, cloneRecord(r))
	}
	sortRecords(out)
	return out, nil
}

func sortRecords(rs []Record) {
	slices.SortFunc(rs, func(a, b Record) int {
		return cmp.Or(cmp.Compare(a.Supplier, b.Supplier), cmp.Compare(a.Couple, b.Couple), cmp.Compare(a.Type, b.Type), cmp.Compare(a.ID, b.ID))
	})
}

func (s *memStore) logAfter(_ context.Context, after int64, limit int) ([]Change, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if after > int64(len(s.log)) {
		return nil, after, nil
	}
	end := min(int64(len(s.log)), after+int64(limit))
	return slices.Clone(s.log[after:end]), end, nil
}

func (s *memStore) wasApplied(_ context.Context, id string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.applied[id], nil
}

func (s *memStore) quarantined(context.Context) ([]Quarantined, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Quarantined, 0, len(s.quar))
	for _, q := range s.quar {
		out = append(out, *q)
	}
	slices.SortFunc(out, func(a, b Quarantined) int { return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.ID, b.ID)) })
	return out, nil
}

func (s *memStore) quarantinedOne(_ context.Context, id string) (*Quarantined, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, ok := s.quar[id]
	if !ok {
		return nil, ErrNotFound
	}
	c := *q
	return &c, nil
}

func (s *memStore) conflicts(context.Context) ([]Conflict, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.confl), nil
}

func (s *memStore) cursors(_ context.Context, peer string) (string, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.curs[peer]
	return c[0], c[1], nil
}

func (s *memStore) setCursors(_ context.Context, peer, push, pull string, _ time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.curs[peer] = [2]string{push, pull}
	return nil
}

func (s *memStore) auditLog(_ context.Context, limit int) ([]AuditEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	from := max(0, len(s.aud)-limit)
	out := slices.Clone(s.aud[from:])
	slices.Reverse(out)
	return out, nil
}

func cloneRecord(r *Record) Record {
	c := *r
	c.Fields = maps.Clone(r.Fields)
	if c.Fields == nil {
		c.Fields = map[string]FieldValue{}
	}
	return c
}
