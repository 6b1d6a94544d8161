package notify

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// memStore keeps the notifier's state in this process; it is lost on exit.
// One mutex guards every map, so each method is atomic, as a transaction of
// pgStore's is. Values are copied in and out: a caller cannot reach the
// store's state through a pointer or slice it passed or got back. The tx
// arguments are nil in memory mode and ignored.
type memStore struct {
	mu            sync.Mutex
	notifications map[string]*storedNotification
	idem          map[[2]string]string // (supplier, key) -> id of the notification that holds the key
	channelRows   map[string]map[Channel]*channelRow
	attempts      []*attemptRow
	prefs         map[string][]byte // the JSON of Preferences, as pgStore keeps it
	subs          map[string]*subscriptionRow
	devices       map[[3]string]string // (supplier, kind, device key) -> subscription id
	digests       map[string]*digestRow
	openDigests   map[[2]string]string // (supplier, category) -> open digest id
	inapp         map[string]*InAppMessage
}

func newMemStore() *memStore {
	return &memStore{
		notifications: map[string]*storedNotification{},
		idem:          map[[2]string]string{},
		channelRows:   map[string]map[Channel]*channelRow{},
		prefs:         map[string][]byte{},
		subs:          map[string]*subscriptionRow{},
		devices:       map[[3]string]string{},
		digests:       map[string]*digestRow{},
		openDigests:   map[[2]string]string{},
		inapp:         map[string]*InAppMessage{},
	}
}

var _ store = (*memStore)(nil)

// errDuplicateID is memory mode's primary key violation.
func errDuplicateID(id string) error { return fmt.Errorf("notify: id %q is already taken", id) }

func cloneNotification(n *storedNotification) *storedNotification {
	c := *n
	c.Data = slices.Clone(n.Data)
	return &c
}

func cloneChannel(r *channelRow) *channelRow {
	c := *r
	return &c
}

func cloneDigest(d *digestRow) *digestRow {
	c := *d
	c.Items = slices.Clone(d.Items)
	return &c
}

// cloneSubscription copies s without its secrets (the sealed blob holds
// them).
func cloneSubscription(s *subscriptionRow) *subscriptionRow {
	c := *s
	c.P256DH, c.Auth, c.Token = "", "", ""
	c.Sealed = slices.Clone(s.Sealed)
	return &c
}

func cloneInApp(m *InAppMessage) InAppMessage {
	c := *m
	c.Data = slices.Clone(m.Data)
	return c
}

func (s *memStore) insertNotification(_ context.Context, _ pgx.Tx, n *storedNotification, idemSince time.Time) (string, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.notifications[n.ID]; dup {
		return "", false, errDuplicateID(n.ID)
	}
	k := [2]string{n.SupplierID, n.IdempotencyKey}
	if n.IdempotencyKey != "" {
		if id, ok := s.idem[k]; ok {
			if held, ok := s.notifications[id]; ok && !held.CreatedAt.Before(idemSince) {
				return id, false, nil
			}
		}
		s.idem[k] = n.ID
	}
	s.notifications[n.ID] = cloneNotification(n)
	return n.ID, true, nil
}

func (s *memStore) getNotification(_ context.Context, id string) (*storedNotification, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.notifications[id]
	if !ok {
		return nil, ErrNotFound
	}
	return cloneNotification(n), nil
}

// newestFirst orders by (created, id) descending, the order both stores
// list in.
func newestFirst(ca time.Time, ida string, cb time.Time, idb string) int {
	if c := cb.Compare(ca); c != 0 {
		return c
	}
	return cmp.Compare(idb, ida)
}

// clampLimit applies the listing default (50) and maximum (500).
func clampLimit(limit int) int {
	switch {
	case limit <= 0:
		return 50
	case limit > 500:
		return 500
	}
	return limit
}

func (s *memStore) listNotifications(_ context.Context, supplierID, before string, limit int) ([]*storedNotification, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var cur *storedNotification
	if before != "" {
		c, ok := s.notifications[before]
		if !ok || c.SupplierID != supplierID {
			return nil, nil
		}
		cur = c
	}
	var out []*storedNotification
	for _, n := range s.notifications {
		if n.SupplierID != supplierID {
			continue
		}
		if cur != nil && newestFirst(n.CreatedAt, n.ID, cur.CreatedAt, cur.ID) <= 0 {
			continue
		}
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b *storedNotification) int { return newestFirst(a.CreatedAt, a.ID, b.CreatedAt, b.ID) })
	out = out[:min(len(out), clampLimit(limit))]
	for i, n := range out {
		out[i] = cloneNotification(n)
	}
	return out, nil
}

func (s *memStore) setRouted(_ context.Context, _ pgx.Tx, id string, round int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.notifications[id]
	if !ok {
		return ErrNotFound
	}
	n.Routed = max(n.Routed, round)
	return nil
}

func (s *memStore) acknowledge(_ context.Context, id string, at time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.notifications[id]
	if !ok {
		return false, ErrNotFound
	}
	if !n.AcknowledgedAt.IsZero() {
		return false, nil
	}
	n.AcknowledgedAt = at
	return true, nil
}

func (s *memStore) setChannels(_ context.Context, _ pgx.Tx, rows ...*channelRow) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range rows {
		m := s.channelRows[r.NotificationID]
		if m == nil {
			m = map[Channel]*channelRow{}
			s.channelRows[r.NotificationID] = m
		}
		m[r.Channel] = cloneChannel(r)
	}
	return nil
}

func (s *memStore) updateChannel(_ context.Context, _ pgx.Tx, id string, ch Channel, fn func(r *channelRow) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.channelRows[id][ch]
	if !ok {
		return ErrNotFound
	}
	r := cloneChannel(cur)
	if err := fn(r); err != nil {
		return err
	}
	r.NotificationID, r.Channel = id, ch // the keys are not fn's to change
	s.channelRows[id][ch] = r
	return nil
}

// channelOrder is a channel's place in AllChannels (unknown ones last).
func channelOrder(c Channel) int {
	if i := slices.Index(AllChannels(), c); i >= 0 {
		return i
	}
	return len(AllChannels())
}

func (s *memStore) channels(_ context.Context, id string) ([]*channelRow, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*channelRow
	for _, r := range s.channelRows[id] {
		out = append(out, cloneChannel(r))
	}
	slices.SortFunc(out, func(a, b *channelRow) int {
		return cmp.Or(cmp.Compare(channelOrder(a.Channel), channelOrder(b.Channel)), cmp.Compare(a.Channel, b.Channel))
	})
	return out, nil
}

func (s *memStore) channelByExternalID(_ context.Context, provider, externalID string) (*channelRow, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var found *channelRow
	if externalID == "" {
		return nil, ErrNotFound
	}
	for _, m := range s.channelRows {
		for _, r := range m {
			if r.Provider == provider && r.ExternalID == externalID && (found == nil || r.UpdatedAt.After(found.UpdatedAt)) {
				found = r
			}
		}
	}
	if found == nil {
		return nil, ErrNotFound
	}
	return cloneChannel(found), nil
}

func (s *memStore) insertAttempts(_ context.Context, _ pgx.Tx, rows ...*attemptRow) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range rows {
		c := *r
		c.Latency = c.Latency.Truncate(time.Microsecond) // as pgStore keeps it
		s.attempts = append(s.attempts, &c)
	}
	return nil
}

func (s *memStore) attemptRecorded(_ context.Context, id string, ch Channel, jobID int64) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if jobID == 0 {
		return false, nil
	}
	for _, r := range s.attempts {
		if r.NotificationID == id && r.Channel == ch && r.JobID == jobID {
			return true, nil
		}
	}
	return false, nil
}

func (s *memStore) listAttempts(_ context.Context, id string) ([]Attempt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Attempt
	for _, r := range s.attempts {
		if r.NotificationID == id {
			out = append(out, r.Attempt)
		}
	}
	return out, nil
}

func (s *memStore) getPreferences(_ context.Context, supplierID string) (*Preferences, error) {
	s.mu.Lock()
	b, ok := s.prefs[supplierID]
	s.mu.Unlock()
	if !ok {
		return nil, nil
	}
	var p Preferences
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

func (s *memStore) setPreferences(_ context.Context, supplierID string, p *Preferences, _ time.Time) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.prefs[supplierID] = b
	return nil
}

func (s *memStore) deletePreferences(_ context.Context, supplierID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.prefs[supplierID]; !ok {
		return ErrNotFound
	}
	delete(s.prefs, supplierID)
	return nil
}

// deviceKey identifies the device of a subscription without its secret:
// the SHA-256 (hex) of the Web Push endpoint or of the FCM token; "" when
// the row names neither (it is then never merged with another).
func deviceKey(s *subscriptionRow) string {
	v := s.Endpoint
	if s.Kind == PushFCM {
		v = s.Token
	}
	if v == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(v))
	return hex.EncodeToString(sum[:])
}

func (s *memStore) insertSubscription(_ context.Context, sub *subscriptionRow) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := deviceKey(sub)
	dk := [3]string{sub.SupplierID, string(sub.Kind), key}
	if key != "" {
		if id, ok := s.devices[dk]; ok {
			cur := s.subs[id]
			cur.Endpoint = sub.Endpoint
			cur.Sealed = slices.Clone(sub.Sealed)
			cur.DeadAt = sub.DeadAt
			sub.ID, sub.CreatedAt = cur.ID, cur.CreatedAt
			return nil
		}
	}
	if _, dup := s.subs[sub.ID]; dup {
		return errDuplicateID(sub.ID)
	}
	s.subs[sub.ID] = cloneSubscription(sub)
	if key != "" {
		s.devices[dk] = sub.ID
	}
	return nil
}

func (s *memStore) subscriptions(_ context.Context, supplierID string, liveOnly bool) ([]*subscriptionRow, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*subscriptionRow
	for _, sub := range s.subs {
		if sub.SupplierID == supplierID && (!liveOnly || sub.DeadAt.IsZero()) {
			out = append(out, cloneSubscription(sub))
		}
	}
	slices.SortFunc(out, func(a, b *subscriptionRow) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

func (s *memStore) markSubscriptionDead(_ context.Context, id string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub, ok := s.subs[id]
	if !ok {
		return ErrNotFound
	}
	if sub.DeadAt.IsZero() {
		sub.DeadAt = at
	}
	return nil
}

func (s *memStore) deleteSubscription(_ context.Context, supplierID, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub, ok := s.subs[id]
	if !ok || sub.SupplierID != supplierID {
		return ErrNotFound
	}
	delete(s.subs, id)
	for k, v := range s.devices {
		if v == id {
			delete(s.devices, k)
		}
	}
	return nil
}

func (s *memStore) addToDigest(_ context.Context, _ pgx.Tx, supplierID string, c Category, notificationID string, newID string, windowEnd time.Time) (*digestRow, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := [2]string{supplierID, string(c)}
	if id, ok := s.openDigests[k]; ok {
		d := s.digests[id]
		if !slices.Contains(d.Items, notificationID) {
			d.Items = append(d.Items, notificationID)
		}
		return cloneDigest(d), false, nil
	}
	if _, dup := s.digests[newID]; dup {
		return nil, false, errDuplicateID(newID)
	}
	d := &digestRow{ID: newID, SupplierID: supplierID, Category: c, WindowEnd: windowEnd, Items: []string{notificationID}}
	s.digests[newID] = d
	s.openDigests[k] = newID
	return cloneDigest(d), true, nil
}

func (s *memStore) closeDigest(_ context.Context, _ pgx.Tx, digestID string) (*digestRow, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.digests[digestID]
	if !ok {
		return nil, ErrNotFound
	}
	delete(s.digests, digestID)
	delete(s.openDigests, [2]string{d.SupplierID, string(d.Category)})
	return d, nil
}

func (s *memStore) insertInApp(_ context.Context, _ pgx.Tx, m *InAppMessage) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.inapp[m.ID]; dup {
		return errDuplicateID(m.ID)
	}
	c := cloneInApp(m)
	s.inapp[m.ID] = &c
	return nil
}

func (s *memStore) listInApp(_ context.Context, supplierID string, q InAppQuery) ([]InAppMessage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var cur *InAppMessage
	if q.Before != "" {
		c, ok := s.inapp[q.Before]
		if !ok || c.SupplierID != supplierID {
			return nil, nil
		}
		cur = c
	}
	var sel []*InAppMessage
	for _, m := range s.inapp {
		if m.SupplierID != supplierID || (q.UnreadOnly && !m.ReadAt.IsZero()) {
			continue
		}
		if cur != nil && newestFirst(m.CreatedAt, m.ID, cur.CreatedAt, cur.ID) <= 0 {
			continue
		}
		sel = append(sel, m)
	}
	slices.SortFunc(sel, func(a, b *InAppMessage) int { return newestFirst(a.CreatedAt, a.ID, b.CreatedAt, b.ID) })
	sel = sel[:min(len(sel), clampLimit(q.Limit))]
	out := make([]InAppMessage, len(sel))
	for i, m := range sel {
		out[i] = cloneInApp(m)
	}
	return out, nil
}

func (s *memStore) unreadInApp(_ context.Context, supplierID string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, m := range s.inapp {
		if m.SupplierID == supplierID && m.ReadAt.IsZero() {
			n++
		}
	}
	return n, nil
}

func (s *memStore) markRead(_ context.Context, supplierID string, ids []string, at time.Time) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var marked []string
	mark := func(m *InAppMessage) {
		if m.SupplierID == supplierID && m.ReadAt.IsZero() {
			m.ReadAt = at
			marked = append(marked, m.NotificationID)
		}
	}
	if len(ids) == 0 {
		for _, m := range s.inapp {
			mark(m)
		}
	} else {
		for _, id := range ids {
			if m, ok := s.inapp[id]; ok {
				mark(m)
			}
		}
	}
	slices.Sort(marked)
	return slices.Compact(marked), nil
}

func (s *memStore) prune(_ context.Context, before time.Time) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	gone := map[string]bool{}
	for id, n := range s.notifications {
		if n.CreatedAt.Before(before) {
			gone[id] = true
			delete(s.notifications, id)
			delete(s.channelRows, id)
			k := [2]string{n.SupplierID, n.IdempotencyKey}
			if s.idem[k] == id {
				delete(s.idem, k)
			}
		}
	}
	if len(gone) == 0 {
		return 0, nil
	}
	s.attempts = slices.DeleteFunc(s.attempts, func(r *attemptRow) bool { return gone[r.NotificationID] })
	for id, m := range s.inapp {
		if gone[m.NotificationID] {
			delete(s.inapp, id)
		}
	}
	return int64(len(gone)), nil
}
