package realtimetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/wedsync/integrations/realtime"
)

// BrokerSettings are the settings BrokerSuite opens a broker with.
type BrokerSettings struct {
	// HistorySize caps each topic's history, as WithHistorySize does.
	HistorySize int
	// HistoryTTL caps how long a publication stays in history, as
	// WithHistoryTTL does.
	HistoryTTL time.Duration
	// Clock is a fake clock the suite advances. It ages history; unless
	// the kit says StoreClock, it stamps publications too.
	Clock clockwork.Clock
}

// BrokerStore is an empty store for the brokers of one test of the suite:
// a fresh Postgres schema, say.
type BrokerStore struct {
	// Open returns a new broker on the store with the settings. The suite
	// closes it.
	Open func(BrokerSettings) (realtime.Broker, error)
	// Topics, when not nil, counts the topics the store holds, so that
	// the suite can check that reads, which clients can cause, never
	// create one.
	Topics func() (int, error)
}

// BrokerKit describes a realtime.Broker implementation to BrokerSuite.
type BrokerKit struct {
	// NewStore returns an empty store for one test of the suite. It may
	// skip t (no database configured) and register cleanups on it; the
	// suite's own cleanups (closing the brokers) run first.
	NewStore func(t *testing.T) BrokerStore
	// Shared says that the brokers opened on one store share it, as
	// Postgres brokers on one schema do: each delivers the others'
	// publications to its handler, and a broker opened later continues
	// the topics' offsets and epochs and reads their history. Without it
	// (a MemoryBroker) each broker is a store of its own, and a new one
	// starts a new epoch.
	Shared bool
	// StoreClock says that the store stamps publications with a clock of
	// its own (Postgres' clock_timestamp()), so that BrokerSettings.Clock
	// only ages history.
	StoreClock bool
}

// BrokerSuite checks that the brokers kit makes keep the realtime.Broker
// contract the hub relies on, in one subtest per clause:
//
//   - Publish gives each topic's publications offsets 1, 2, 3... in one
//     epoch, keeps event, payload (byte for byte) and origin, never lets a
//     topic's times go back, and delivers each publication to the attached
//     handler, in offset order, as Publish returned it (concurrent
//     publishers included); a second Attach is refused.
//   - History by Since is inclusive; by Epoch and After it returns what
//     follows the offset; it is Complete only when it holds everything
//     the query asks for: never partial, so a result over Limit, trimmed
//     by size or by age, from before the store existed or of another
//     epoch is not Complete and holds nothing.
//   - Epochs: a broker opened again on a shared store keeps the epoch and
//     the history; a new broker of its own store starts a new epoch.
//   - Reads of a topic nobody published do not create it.
//   - A canceled context publishes nothing; after Close, Publish, History
//     and Attach return realtime.ErrBrokerClosed and Close is idempotent.
//
// A host with a Broker of its own (on Redis, on NATS) runs it from a
// test:
//
//	func TestBrokerContract(t *testing.T) {
//		realtimetest.BrokerSuite(t, realtimetest.BrokerKit{NewStore: ...})
//	}
func BrokerSuite(t *testing.T, kit BrokerKit) {
	t.Helper()
	if kit.NewStore == nil {
		t.Fatal("realtimetest: BrokerSuite needs BrokerKit.NewStore")
	}
	cases := []struct {
		name string
		run  func(*suite)
	}{
		{"PublishAssignsOffsetsAndDelivers", (*suite).publish},
		{"ConcurrentPublishersKeepOrder", (*suite).concurrent},
		{"HistorySince", (*suite).historySince},
		{"HistoryAfter", (*suite).historyAfter},
		{"HistoryLimitIsNeverPartial", (*suite).historyLimit},
		{"TrimBySize", (*suite).trimBySize},
		{"TrimByTTL", (*suite).trimByTTL},
		{"Epochs", (*suite).epochs},
		{"ReadsDoNotCreateTopics", (*suite).unknownTopic},
		{"CanceledContextPublishesNothing", (*suite).canceled},
		{"Close", (*suite).close},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := &suite{t: t, kit: kit, store: kit.NewStore(t)}
			if s.store.Open == nil {
				t.Fatal("realtimetest: BrokerStore.Open is nil")
			}
			// Before any publication: under StoreClock the fake clock runs
			// an hour behind the store's, so nothing has expired by
			// default.
			s.clock = clockwork.NewFakeClockAt(time.Now().Add(-time.Hour).Truncate(time.Millisecond))
			c.run(s)
		})
	}
}

// suite is one test of the suite.
type suite struct {
	t     *testing.T
	kit   BrokerKit
	store BrokerStore
	clock *clockwork.FakeClock
}

// suiteWait bounds every wait for a handler call.
const suiteWait = 30 * time.Second

func (s *suite) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), suiteWait)
	s.t.Cleanup(cancel)
	return ctx
}

// open opens a broker with size and ttl (0: 1000 and an hour) and closes
// it when the test ends.
func (s *suite) open(size int, ttl time.Duration) realtime.Broker {
	s.t.Helper()
	if size == 0 {
		size = 1000
	}
	if ttl == 0 {
		ttl = time.Hour
	}
	b, err := s.store.Open(BrokerSettings{HistorySize: size, HistoryTTL: ttl, Clock: s.clock})
	if err != nil {
		s.t.Fatalf("open a broker: %v", err)
	}
	s.t.Cleanup(func() {
		if err := b.Close(); err != nil {
			s.t.Errorf("closing the broker: %v", err)
		}
	})
	return b
}

// later lets time pass before the next publication, so that it gets a
// later time than the one before: a second on the fake clock, or a
// millisecond of the store's own clock.
func (s *suite) later() {
	if s.kit.StoreClock {
		time.Sleep(time.Millisecond)
		return
	}
	s.clock.Advance(time.Second)
}

// now is a moment after every publication so far.
func (s *suite) now() time.Time {
	if s.kit.StoreClock {
		return time.Now()
	}
	return s.clock.Now()
}

func (s *suite) publish1(ctx context.Context, b realtime.Broker, topic string, payload string) realtime.Publication {
	s.t.Helper()
	p, err := b.Publish(ctx, topic, "kpi.updated", json.RawMessage(payload), "origin-"+topic)
	if err != nil {
		s.t.Fatalf("Publish to %s: %v", topic, err)
	}
	return p
}

// publishN publishes n publications to topic, each later than the last.
func (s *suite) publishN(ctx context.Context, b realtime.Broker, topic string, n int) []realtime.Publication {
	s.t.Helper()
	var out []realtime.Publication
	for i := range n {
		if i > 0 {
			s.later()
		}
		out = append(out, s.publish1(ctx, b, topic, fmt.Sprintf(`{"n":%d}`, i+1)))
	}
	return out
}

func (s *suite) history(ctx context.Context, b realtime.Broker, topic string, q realtime.HistoryQuery) realtime.HistoryResult {
	s.t.Helper()
	res, err := b.History(ctx, topic, q)
	if err != nil {
		s.t.Fatalf("History(%s, %+v): %v", topic, q, err)
	}
	return res
}

// complete fails the test unless res is Complete with exactly want, in
// the topic's epoch with latest as its newest offset.
func (s *suite) complete(what string, res realtime.HistoryResult, epoch string, latest uint64, want ...realtime.Publication) {
	s.t.Helper()
	if !res.Complete {
		s.t.Fatalf("%s: not Complete, want Complete with offsets %v", what, offsets(want))
	}
	s.result(what, res, epoch, latest)
	if len(res.Publications) != len(want) {
		s.t.Fatalf("%s: offsets %v, want %v", what, offsets(res.Publications), offsets(want))
	}
	for i := range want {
		if msg := diffPub(res.Publications[i], want[i]); msg != "" {
			s.t.Fatalf("%s: publication %d: %s", what, i, msg)
		}
	}
}

// incomplete fails the test unless res is not Complete and holds nothing.
func (s *suite) incomplete(what string, res realtime.HistoryResult, epoch string, latest uint64) {
	s.t.Helper()
	if res.Complete {
		s.t.Fatalf("%s: Complete with offsets %v, want not Complete", what, offsets(res.Publications))
	}
	if len(res.Publications) != 0 {
		s.t.Fatalf("%s: not Complete but holds offsets %v: a history is never partial", what, offsets(res.Publications))
	}
	s.result(what, res, epoch, latest)
}

func (s *suite) result(what string, res realtime.HistoryResult, epoch string, latest uint64) {
	s.t.Helper()
	if res.Epoch != epoch || res.Latest != latest {
		s.t.Fatalf("%s: Epoch %q and Latest %d, want %q and %d", what, res.Epoch, res.Latest, epoch, latest)
	}
}

func offsets(pubs []realtime.Publication) []uint64 {
	out := make([]uint64, len(pubs))
	for i, p := range pubs {
		out[i] = p.Offset
	}
	return out
}

// diffPub says how got differs from want, or "".
func diffPub(got, want realtime.Publication) string {
	switch {
	case got.Topic != want.Topic, got.Event != want.Event, got.Origin != want.Origin:
		return fmt.Sprintf("topic, event, origin %q %q %q, want %q %q %q", got.Topic, got.Event, got.Origin, want.Topic, want.Event, want.Origin)
	case string(got.Payload) != string(want.Payload):
		return fmt.Sprintf("payload %q, want %q (byte for byte)", got.Payload, want.Payload)
	case got.Epoch != want.Epoch, got.Offset != want.Offset:
		return fmt.Sprintf("id %s, want %s", got.ID(), want.ID())
	case !got.Time.Equal(want.Time):
		return fmt.Sprintf("time %s, want %s", got.Time, want.Time)
	}
	return ""
}

// recorder is a BrokerHandler that never blocks.
type recorder struct {
	mu   sync.Mutex
	pubs []realtime.Publication
	more chan struct{} // signalled after each publication
}

func newRecorder() *recorder { return &recorder{more: make(chan struct{}, 1)} }

func (r *recorder) OnPublication(p realtime.Publication) {
	r.mu.Lock()
	r.pubs = append(r.pubs, p)
	r.mu.Unlock()
	select {
	case r.more <- struct{}{}:
	default:
	}
}

func (r *recorder) OnResync() {}

// wait returns the first n publications the handler got, failing t when
// they do not come within suiteWait.
func (r *recorder) wait(t *testing.T, n int) []realtime.Publication {
	t.Helper()
	deadline := time.NewTimer(suiteWait)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		got := append([]realtime.Publication(nil), r.pubs...)
		r.mu.Unlock()
		if len(got) >= n {
			return got[:n]
		}
		select {
		case <-r.more:
		case <-deadline.C:
			t.Fatalf("the handler got %d publications in %s, want %d", len(got), suiteWait, n)
		}
	}
}

func (s *suite) publish() {
	t, ctx := s.t, s.ctx()
	b := s.open(0, 0)
	rec := newRecorder()
	if err := b.Attach(rec); err != nil {
		t.Fatalf("Attach: %v", err)
	}
	if err := b.Attach(newRecorder()); err == nil {
		t.Fatal("a second Attach was accepted: a broker serves one hub")
	}

	payloads := []string{"{\"b\":1,   \"a\" :2 ,\n\t\"é\": \"\\u00e9 ☃\"}  ", `{"n":2}`, `{}`}
	var a, other []realtime.Publication
	for i, pl := range payloads {
		if i > 0 {
			s.later()
		}
		a = append(a, s.publish1(ctx, b, "supplier:1", pl))
		other = append(other, s.publish1(ctx, b, "supplier:2", pl))
	}
	for _, pubs := range [][]realtime.Publication{a, other} {
		for i, p := range pubs {
			if p.Offset != uint64(i+1) {
				t.Fatalf("%s: offsets %v, want 1, 2, 3: each topic counts its own", p.Topic, offsets(pubs))
			}
			if p.Epoch == "" || p.Epoch != pubs[0].Epoch {
				t.Fatalf("%s: epochs %q and %q: one topic, one epoch, never empty", p.Topic, pubs[0].Epoch, p.Epoch)
			}
			if i > 0 && p.Time.Before(pubs[i-1].Time) {
				t.Fatalf("%s: offset %d at %s, before offset %d at %s", p.Topic, p.Offset, p.Time, i, pubs[i-1].Time)
			}
			if string(p.Payload) != payloads[i] || p.Event != "kpi.updated" || p.Origin != "origin-"+p.Topic || p.Topic == "" {
				t.Fatalf("Publish returned %+v for payload %q", p, payloads[i])
			}
		}
	}
	// The handler sees each as Publish returned it, in order per topic.
	got := rec.wait(t, 6)
	var gotA, gotOther []realtime.Publication
	for _, p := range got {
		switch p.Topic {
		case "supplier:1":
			gotA = append(gotA, p)
		case "supplier:2":
			gotOther = append(gotOther, p)
		default:
			t.Fatalf("the handler got a publication of topic %q", p.Topic)
		}
	}
	for i := range a {
		if msg := diffPub(gotA[i], a[i]); msg != "" {
			t.Fatalf("handler, supplier:1, #%d: %s", i, msg)
		}
		if msg := diffPub(gotOther[i], other[i]); msg != "" {
			t.Fatalf("handler, supplier:2, #%d: %s", i, msg)
		}
	}
	res := s.history(ctx, b, "supplier:1", realtime.HistoryQuery{Epoch: a[0].Epoch})
	s.complete("History after offset 0", res, a[0].Epoch, 3, a...)
}

func (s *suite) concurrent() {
	t, ctx := s.t, s.ctx()
	b := s.open(0, 0)
	rec := newRecorder()
	if err := b.Attach(rec); err != nil {
		t.Fatalf("Attach: %v", err)
	}
	const writers, each = 4, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if _, err := b.Publish(ctx, "busy", "e", json.RawMessage(fmt.Sprintf(`{"w":%d,"i":%d}`, w, i)), ""); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent Publish: %v", err)
	}
	for i, p := range rec.wait(t, writers*each) {
		if p.Offset != uint64(i+1) {
			t.Fatalf("the handler's publication %d has offset %d: each offset once, in order", i+1, p.Offset)
		}
	}
}

func (s *suite) historySince() {
	ctx := s.ctx()
	b := s.open(0, 0)
	p := s.publishN(ctx, b, "supplier:1", 3)
	e := p[0].Epoch
	s.complete("Since the first", s.history(ctx, b, "supplier:1", realtime.HistoryQuery{Since: p[0].Time}), e, 3, p...)
	s.complete("Since the second (inclusive)", s.history(ctx, b, "supplier:1", realtime.HistoryQuery{Since: p[1].Time}), e, 3, p[1:]...)
	s.complete("Since just after the first", s.history(ctx, b, "supplier:1", realtime.HistoryQuery{Since: p[0].Time.Add(time.Nanosecond)}), e, 3, p[1:]...)
	s.complete("Since after the newest", s.history(ctx, b, "supplier:1", realtime.HistoryQuery{Since: p[2].Time.Add(time.Millisecond)}), e, 3)
	s.incomplete("Since the zero time, before the store existed", s.history(ctx, b, "supplier:1", realtime.HistoryQuery{}), e, 3)
}

func (s *suite) historyAfter() {
	ctx := s.ctx()
	b := s.open(0, 0)
	p := s.publishN(ctx, b, "supplier:1", 3)
	e := p[0].Epoch
	s.complete("After 0", s.history(ctx, b, "supplier:1", realtime.HistoryQuery{Epoch: e}), e, 3, p...)
	s.complete("After 1", s.history(ctx, b, "supplier:1", realtime.HistoryQuery{Epoch: e, After: 1}), e, 3, p[1:]...)
	s.complete("After the newest", s.history(ctx, b, "supplier:1", realtime.HistoryQuery{Epoch: e, After: 3}), e, 3)
	s.incomplete("After 1 of another epoch", s.history(ctx, b, "supplier:1", realtime.HistoryQuery{Epoch: e + "x", After: 1}), e, 3)
}

func (s *suite) historyLimit() {
	ctx := s.ctx()
	b := s.open(0, 0)
	p := s.publishN(ctx, b, "supplier:1", 3)
	e := p[0].Epoch
	s.complete("After 0, Limit 3", s.history(ctx, b, "supplier:1", realtime.HistoryQuery{Epoch: e, Limit: 3}), e, 3, p...)
	s.incomplete("After 0, Limit 2", s.history(ctx, b, "supplier:1", realtime.HistoryQuery{Epoch: e, Limit: 2}), e, 3)
	s.complete("After 1, Limit 2", s.history(ctx, b, "supplier:1", realtime.HistoryQuery{Epoch: e, After: 1, Limit: 2}), e, 3, p[1:]...)
	s.complete("Since the first, Limit 3", s.history(ctx, b, "supplier:1", realtime.HistoryQuery{Since: p[0].Time, Limit: 3}), e, 3, p...)
	s.incomplete("Since the first, Limit 1", s.history(ctx, b, "supplier:1", realtime.HistoryQuery{Since: p[0].Time, Limit: 1}), e, 3)
}

func (s *suite) trimBySize() {
	ctx := s.ctx()
	b := s.open(3, 0)
	p := s.publishN(ctx, b, "supplier:1", 5)
	e := p[0].Epoch
	s.incomplete("After 1: offset 2 was trimmed", s.history(ctx, b, "supplier:1", realtime.HistoryQuery{Epoch: e, After: 1}), e, 5)
	s.complete("After 2", s.history(ctx, b, "supplier:1", realtime.HistoryQuery{Epoch: e, After: 2}), e, 5, p[2:]...)
	s.incomplete("Since the trimmed offset 2", s.history(ctx, b, "supplier:1", realtime.HistoryQuery{Since: p[1].Time}), e, 5)
	s.complete("Since just after the trimmed offset 2", s.history(ctx, b, "supplier:1", realtime.HistoryQuery{Since: p[1].Time.Add(time.Nanosecond)}), e, 5, p[2:]...)
}

func (s *suite) trimByTTL() {
	ctx := s.ctx()
	const ttl = time.Minute
	b := s.open(0, ttl)
	p := s.publishN(ctx, b, "supplier:1", 3)
	e := p[0].Epoch
	s.complete("nothing expired yet", s.history(ctx, b, "supplier:1", realtime.HistoryQuery{Epoch: e}), e, 3, p...)

	// Age the first two just past the TTL; the third is younger.
	s.clock.Advance(p[1].Time.Add(ttl + time.Microsecond).Sub(s.clock.Now()))
	s.incomplete("After 0: offsets 1 and 2 expired", s.history(ctx, b, "supplier:1", realtime.HistoryQuery{Epoch: e}), e, 3)
	s.complete("After 2", s.history(ctx, b, "supplier:1", realtime.HistoryQuery{Epoch: e, After: 2}), e, 3, p[2])
	s.incomplete("Since the expired offset 2", s.history(ctx, b, "supplier:1", realtime.HistoryQuery{Since: p[1].Time}), e, 3)
	s.complete("Since just after the expired offset 2", s.history(ctx, b, "supplier:1", realtime.HistoryQuery{Since: p[1].Time.Add(time.Nanosecond)}), e, 3, p[2])

	// Everything expired: nothing is returned, and a publication after
	// that is complete on its own.
	s.clock.Advance(p[2].Time.Add(ttl + time.Microsecond).Sub(s.clock.Now()))
	s.incomplete("After 2: offset 3 expired", s.history(ctx, b, "supplier:1", realtime.HistoryQuery{Epoch: e, After: 2}), e, 3)
	s.complete("After the newest", s.history(ctx, b, "supplier:1", realtime.HistoryQuery{Epoch: e, After: 3}), e, 3)
	s.later()
	p4 := s.publish1(ctx, b, "supplier:1", `{"n":4}`)
	if p4.Offset != 4 || p4.Epoch != e {
		s.t.Fatalf("after expiry, the next publication is %s, want %s:4: trimming keeps the epoch and the count", p4.ID(), e)
	}
	s.complete("After 3", s.history(ctx, b, "supplier:1", realtime.HistoryQuery{Epoch: e, After: 3}), e, 4, p4)
}

func (s *suite) epochs() {
	t, ctx := s.t, s.ctx()
	b1 := s.open(0, 0)
	rec1 := newRecorder()
	if err := b1.Attach(rec1); err != nil {
		t.Fatalf("Attach: %v", err)
	}
	p := s.publishN(ctx, b1, "supplier:1", 2)
	e := p[0].Epoch

	if !s.kit.Shared {
		// A new broker knows nothing of the old one's history: its
		// publications start again at 1 in a new epoch, and a replay from
		// the old one is incomplete.
		s.later()
		b2 := s.open(0, 0)
		q := s.publish1(ctx, b2, "supplier:1", `{"n":1}`)
		if q.Offset != 1 || q.Epoch == e {
			t.Fatalf("a new broker's first publication is %s after %s: want offset 1 in a new epoch", q.ID(), p[1].ID())
		}
		s.incomplete("After 1 of the old epoch", s.history(ctx, b2, "supplier:1", realtime.HistoryQuery{Epoch: e, After: 1}), q.Epoch, 1)
		s.incomplete("Since the old broker's first", s.history(ctx, b2, "supplier:1", realtime.HistoryQuery{Since: p[0].Time}), q.Epoch, 1)
		return
	}

	// Shared: two brokers alive see each other's publications, in one
	// sequence of offsets.
	b2 := s.open(0, 0)
	rec2 := newRecorder()
	if err := b2.Attach(rec2); err != nil {
		t.Fatalf("Attach: %v", err)
	}
	s.later()
	q1 := s.publish1(ctx, b2, "supplier:1", `{"from":2}`)
	s.later()
	q2 := s.publish1(ctx, b1, "supplier:1", `{"from":1}`)
	if q1.Epoch != e || q1.Offset != 3 || q2.Offset != 4 {
		t.Fatalf("brokers on one store published %s and %s after %s: want %s:3 and %s:4", q1.ID(), q2.ID(), p[1].ID(), e, e)
	}
	for i, rec := range []*recorder{rec1, rec2} {
		want := []realtime.Publication{q1, q2}
		if i == 0 {
			want = []realtime.Publication{p[0], p[1], q1, q2}
		}
		got := rec.wait(t, len(want))
		for j, want := range want {
			if msg := diffPub(got[j], want); msg != "" {
				t.Fatalf("broker %d's handler, publication %d: %s", i+1, j, msg)
			}
		}
	}
	// A broker opened after the others closed (a restart) keeps it all.
	if err := b1.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := b2.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	b3 := s.open(0, 0)
	s.later()
	q3 := s.publish1(ctx, b3, "supplier:1", `{"from":3}`)
	if q3.Epoch != e || q3.Offset != 5 {
		t.Fatalf("after a restart the next publication is %s, want %s:5: the epoch lasts and offsets continue", q3.ID(), e)
	}
	s.complete("After 0 across brokers", s.history(ctx, b3, "supplier:1", realtime.HistoryQuery{Epoch: e}), e, 5, p[0], p[1], q1, q2, q3)
}

func (s *suite) unknownTopic() {
	t, ctx := s.t, s.ctx()
	b := s.open(0, 0)
	topics := func(want int, when string) {
		t.Helper()
		if s.store.Topics == nil {
			return
		}
		n, err := s.store.Topics()
		if err != nil {
			t.Fatalf("counting topics: %v", err)
		}
		if n != want {
			t.Fatalf("%s: the store holds %d topics, want %d", when, n, want)
		}
	}
	topics(0, "before anything")
	now := s.now()
	for _, q := range []realtime.HistoryQuery{{Since: now}, {Since: now, Limit: 1}, {Epoch: "nope", After: 1}, {}} {
		res := s.history(ctx, b, "nobody", q)
		if res.Latest != 0 || len(res.Publications) != 0 {
			t.Fatalf("History(nobody, %+v) = %+v: a topic nobody published has no publications and Latest 0", q, res)
		}
	}
	if res := s.history(ctx, b, "nobody", realtime.HistoryQuery{Since: now}); !res.Complete {
		t.Fatal("History(nobody) since now: not Complete; nothing was published since, and nothing lost")
	}
	if res := s.history(ctx, b, "nobody", realtime.HistoryQuery{Epoch: "nope", After: 1}); res.Complete {
		t.Fatal("History(nobody) after offset 1 of an epoch: Complete; the store never had that offset")
	}
	topics(0, "after reads of an unknown topic")
	s.publish1(ctx, b, "somebody", `{}`)
	topics(1, "after a publication")
}

func (s *suite) canceled() {
	t, ctx := s.t, s.ctx()
	b := s.open(0, 0)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := b.Publish(cctx, "supplier:1", "e", json.RawMessage(`{}`), ""); err == nil {
		t.Fatal("Publish with a canceled context succeeded")
	}
	if _, err := b.History(cctx, "supplier:1", realtime.HistoryQuery{Since: s.now()}); err == nil {
		t.Fatal("History with a canceled context succeeded")
	}
	if p := s.publish1(ctx, b, "supplier:1", `{}`); p.Offset != 1 {
		t.Fatalf("the first publication after a canceled one has offset %d, want 1", p.Offset)
	}
}

func (s *suite) close() {
	t, ctx := s.t, s.ctx()
	b := s.open(0, 0)
	if err := b.Attach(nil); err == nil {
		t.Fatal("Attach(nil) was accepted")
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("a second Close: %v", err)
	}
	if _, err := b.Publish(ctx, "supplier:1", "e", json.RawMessage(`{}`), ""); !errors.Is(err, realtime.ErrBrokerClosed) {
		t.Fatalf("Publish after Close: %v, want ErrBrokerClosed", err)
	}
	if _, err := b.History(ctx, "supplier:1", realtime.HistoryQuery{}); !errors.Is(err, realtime.ErrBrokerClosed) {
		t.Fatalf("History after Close: %v, want ErrBrokerClosed", err)
	}
	if err := b.Attach(newRecorder()); !errors.Is(err, realtime.ErrBrokerClosed) {
		t.Fatalf("Attach after Close: %v, want ErrBrokerClosed", err)
	}
}
