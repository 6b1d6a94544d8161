package delivery

import (
	"context"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// memStore keeps everything in this process; it is lost on exit.
type memStore struct {
	mu        sync.RWMutex
	endpoints map[string]*endpointRow
	messages  map[string]*storedMessage
	idem      map[[2]string]idemEntry
	attempts  []Attempt
	nextID    int64
}

type idemEntry struct {
	id string
	at time.Time
}

func newMemStore() *memStore {
	return &memStore{
		endpoints: map[string]*endpointRow{},
		messages:  map[string]*storedMessage{},
		idem:      map[[2]string]idemEntry{},
	}
}

func cloneRow(r *endpointRow) *endpointRow {
	c := *r
	c.EventTypes = slices.Clone(r.EventTypes)
	c.Sealed = slices.Clone(r.Sealed)
	return &c
}

func (s *memStore) insertEndpoint(_ context.Context, ep *endpointRow) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.endpoints[ep.ID] = cloneRow(ep)
	return nil
}

func (s *memStore) updateEndpoint(_ context.Context, id string, fn func(*endpointRow) error) (*endpointRow, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.endpoints[id]
	if !ok {
		return nil, ErrNotFound
	}
	c := cloneRow(cur)
	if err := fn(c); err != nil {
		return nil, err
	}
	s.endpoints[id] = cloneRow(c)
	return c, nil
}

func (s *memStore) getEndpoint(_ context.Context, id string) (*endpointRow, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	cur, ok := s.endpoints[id]
	if !ok {
		return nil, ErrNotFound
	}
	return cloneRow(cur), nil
}

func (s *memStore) listEndpoints(_ context.Context, supplierID string) ([]*endpointRow, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*endpointRow
	for _, ep := range s.endpoints {
		if ep.SupplierID == supplierID {
			out = append(out, cloneRow(ep))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (s *memStore) deleteEndpoint(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.endpoints[id]; !ok {
		return ErrNotFound
	}
	delete(s.endpoints, id)
	return nil
}

func (s *memStore) setFailing(_ context.Context, id string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ep, ok := s.endpoints[id]
	if !ok {
		return nil // deleted meanwhile, as in Postgres mode
	}
	if at.IsZero() || ep.FailingSince.IsZero() {
		ep.FailingSince = at
	}
	return nil
}

func (s *memStore) insertMessage(_ context.Context, _ pgx.Tx, msg *storedMessage, key string, idemSince time.Time) (string, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if key != "" {
		k := [2]string{msg.SupplierID, key}
		if e, ok := s.idem[k]; ok && !e.at.Before(idemSince) {
			return e.id, false, nil
		}
		s.idem[k] = idemEntry{id: msg.ID, at: msg.CreatedAt}
	}
	c := *msg
	s.messages[msg.ID] = &c
	return msg.ID, true, nil
}

func (s *memStore) supplierEndpoints(_ context.Context, _ pgx.Tx, supplierID string) ([]*Endpoint, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*Endpoint
	for _, ep := range s.endpoints {
		if ep.SupplierID == supplierID {
			e := ep.Endpoint
			out = append(out, &e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (s *memStore) getMessage(_ context.Context, id string) (*storedMessage, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m, ok := s.messages[id]
	if !ok {
		return nil, ErrNotFound
	}
	c := *m
	return &c, nil
}

func (s *memStore) insertAttempt(_ context.Context, _ pgx.Tx, a *Attempt) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	a.ID = s.nextID
	s.attempts = append(s.attempts, *a)
	return nil
}

func (s *memStore) insertFinalAttempt(ctx context.Context, a *Attempt) error {
	return s.insertAttempt(ctx, nil, a)
}

func (s *memStore) attemptRecorded(_ context.Context, messageID, endpointID string, number int, jobID int64, since time.Time) (bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for i := len(s.attempts) - 1; i >= 0; i-- {
		a := &s.attempts[i]
		if a.MessageID == messageID && a.EndpointID == endpointID && a.Number == number &&
			(a.jobID == jobID || (a.jobID == 0 && !a.At.Before(since))) {
			return true, nil
		}
	}
	return false, nil
}

func (q AttemptQuery) matches(a *Attempt) bool {
	return (q.MessageID == "" || a.MessageID == q.MessageID) &&
		(q.EndpointID == "" || a.EndpointID == q.EndpointID) &&
		(q.SupplierID == "" || a.SupplierID == q.SupplierID) &&
		(q.Status == "" || a.Status == q.Status) &&
		(q.Since.IsZero() || !a.At.Before(q.Since)) &&
		(q.BeforeID == 0 || a.ID < q.BeforeID)
}

func (s *memStore) listAttempts(_ context.Context, q AttemptQuery) ([]Attempt, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []Attempt
	for i := len(s.attempts) - 1; i >= 0 && len(out) < q.Limit; i-- {
		if q.matches(&s.attempts[i]) {
			out = append(out, s.attempts[i])
		}
	}
	return out, nil
}

func (s *memStore) failedMessages(_ context.Context, endpointID string, since time.Time) ([]string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	latest := map[string]*Attempt{}
	var order []string
	for i := range s.attempts {
		a := &s.attempts[i]
		if a.EndpointID != endpointID || a.At.Before(since) {
			continue
		}
		if _, ok := latest[a.MessageID]; !ok {
			order = append(order, a.MessageID)
		}
		latest[a.MessageID] = a
	}
	var out []string
	for _, id := range order {
		a := latest[id]
		if a.Status == AttemptFailed && a.NextAttemptAt.IsZero() {
			out = append(out, id)
		}
	}
	return out, nil
}

func (s *memStore) stats(_ context.Context, endpointID string, since time.Time) (EndpointStats, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var lat []time.Duration
	var st EndpointStats
	for i := range s.attempts {
		a := &s.attempts[i]
		if a.EndpointID != endpointID || a.At.Before(since) {
			continue
		}
		st.Attempts++
		if a.Status == AttemptSucceeded {
			st.Succeeded++
		} else {
			st.Failed++
		}
		lat = append(lat, a.Latency)
	}
	slices.Sort(lat)
	finishStats(&st, func(p float64) time.Duration { return percentile(lat, p) })
	return st, nil
}

// percentile picks the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func finishStats(st *EndpointStats, pct func(float64) time.Duration) {
	if st.Attempts > 0 {
		st.SuccessRate = float64(st.Succeeded) / float64(st.Attempts)
	}
	st.LatencyP50, st.LatencyP90, st.LatencyP99 = pct(0.5), pct(0.9), pct(0.99)
}

func (s *memStore) prune(_ context.Context, before time.Time) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	kept := s.attempts[:0]
	for _, a := range s.attempts {
		if a.At.Before(before) {
			n++
			continue
		}
		kept = append(kept, a)
	}
	s.attempts = kept
	for id, m := range s.messages {
		if m.CreatedAt.Before(before) {
			delete(s.messages, id)
		}
	}
	for k, e := range s.idem {
		if e.at.Before(before) {
			delete(s.idem, k)
		}
	}
	return n, nil
}
