package pgbroker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jonboulle/clockwork"

	"github.com/wedsync/integrations/internal/migrate"
	"github.com/wedsync/integrations/internal/pgtest"
	"github.com/wedsync/integrations/realtime"
	"github.com/wedsync/integrations/realtime/pgbroker"
	"github.com/wedsync/integrations/realtime/realtimetest"
)

func TestMain(m *testing.M) { pgtest.Main(m, pgtest.ExamplesNeedPostgres("Example")) }

// recorder is a BrokerHandler that never blocks: it queues what it gets.
type recorder struct {
	pubs   chan realtime.Publication
	resync chan struct{}
}

func newRecorder() *recorder {
	return &recorder{pubs: make(chan realtime.Publication, 10000), resync: make(chan struct{}, 100)}
}

func (r *recorder) OnPublication(p realtime.Publication) {
	select {
	case r.pubs <- p:
	default:
		panic("recorder full")
	}
}

func (r *recorder) OnResync() {
	select {
	case r.resync <- struct{}{}:
	default:
	}
}

// next waits for the next publication.
func (r *recorder) next(t *testing.T, ctx context.Context) realtime.Publication {
	t.Helper()
	return receive(t, ctx, r.pubs, "publication")
}

// receive waits for the next value of ch; the test fails, naming what,
// when ctx ends first.
func receive[T any](t *testing.T, ctx context.Context, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-ctx.Done():
		t.Fatalf("no %s: %v", what, ctx.Err())
		var zero T
		return zero
	}
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newBroker migrates db's schema and returns a broker on it, closed when t
// ends.
func newBroker(t testing.TB, db *pgtest.DB, opts ...pgbroker.Option) *pgbroker.Broker {
	t.Helper()
	ctx := testCtx(t)
	opts = append([]pgbroker.Option{pgbroker.WithSchema(db.Schema)}, opts...)
	require.NoError(t, pgbroker.Migrate(ctx, db.Pool, opts...))
	b, err := pgbroker.New(ctx, db.Pool, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, b.Close()) })
	return b
}

func offsets(pubs []realtime.Publication) []uint64 {
	out := make([]uint64, len(pubs))
	for i, p := range pubs {
		out[i] = p.Offset
	}
	return out
}

// The Postgres broker keeps the Broker contract the memory broker keeps
// too: brokers on one schema share it (offsets, epochs, history and
// deliveries survive and cross instances), and publication times come from
// the database clock (WithClock only ages history).
func TestBrokerContract(t *testing.T) {
	realtimetest.BrokerSuite(t, realtimetest.BrokerKit{
		Shared: true, StoreClock: true,
		NewStore: func(t *testing.T) realtimetest.BrokerStore {
			db := pgtest.New(t, "pgbroker")
			ctx := testCtx(t)
			require.NoError(t, pgbroker.Migrate(ctx, db.Pool, pgbroker.WithSchema(db.Schema)))
			return realtimetest.BrokerStore{
				Open: func(s realtimetest.BrokerSettings) (realtime.Broker, error) {
					return pgbroker.New(ctx, db.Pool, pgbroker.WithSchema(db.Schema), pgbroker.WithChannel(db.Schema),
						pgbroker.WithHistorySize(s.HistorySize), pgbroker.WithHistoryTTL(s.HistoryTTL), pgbroker.WithClock(s.Clock))
				},
				Topics: func() (int, error) {
					var n int
					err := db.Pool.QueryRow(ctx, "SELECT count(*) FROM "+migrate.Quote(db.Schema)+".realtime_topics").Scan(&n)
					return n, err
				},
			}
		},
	})
}

// What is the Postgres broker's own: times have microsecond resolution
// (a Since between two microseconds rounds up), every topic has an epoch
// of its own, and a topic never published has no epoch.
func TestHistoryPostgresSpecifics(t *testing.T) {
	db := pgtest.New(t, "pgbroker")
	ctx := testCtx(t)
	b := newBroker(t, db)
	var pubs []realtime.Publication
	for range 3 {
		p, err := b.Publish(ctx, "kpi", "kpi.updated", json.RawMessage(`{}`), "")
		require.NoError(t, err)
		require.Len(t, p.Epoch, 8)
		require.Zero(t, p.Time.Nanosecond()%1000, "microseconds")
		pubs = append(pubs, p)
	}
	if pubs[2].Time.After(pubs[1].Time) {
		res, err := b.History(ctx, "kpi", realtime.HistoryQuery{Since: pubs[1].Time.Add(500 * time.Nanosecond)})
		require.NoError(t, err)
		require.Equal(t, []uint64{3}, offsets(res.Publications), "a Since between microseconds rounds up")
	}
	p, err := b.Publish(ctx, "other", "e", json.RawMessage(`{}`), "")
	require.NoError(t, err)
	require.NotEqual(t, pubs[0].Epoch, p.Epoch, "each topic gets its own random epoch")

	res, err := b.History(ctx, "nobody", realtime.HistoryQuery{Since: pubs[2].Time})
	require.NoError(t, err)
	require.Equal(t, realtime.HistoryResult{Complete: true}, res, "no epoch, complete since the store existed")
	res, err = b.History(ctx, "nobody", realtime.HistoryQuery{After: 0, Epoch: pubs[0].Epoch})
	require.NoError(t, err)
	require.Equal(t, realtime.HistoryResult{}, res, "no epoch to continue: incomplete")
}

func TestPayloadKeptByteForByte(t *testing.T) {
	db := pgtest.New(t, "pgbroker")
	ctx := testCtx(t)
	b := newBroker(t, db)
	h := newRecorder()
	require.NoError(t, b.Attach(h))
	payloads := []string{
		"{\"b\":1,   \"a\" :2 ,\n\t\"é\": \"\\u00e9 ☃\"}  ",
		`[]`,
		`"x"`,
		``,
	}
	for _, s := range payloads {
		p, err := b.Publish(ctx, "bytes", "raw", json.RawMessage(s), "")
		require.NoError(t, err)
		got := h.next(t, ctx)
		require.Equal(t, s, string(got.Payload), "through NOTIFY")
		res, err := b.History(ctx, "bytes", realtime.HistoryQuery{After: p.Offset - 1, Epoch: p.Epoch})
		require.NoError(t, err)
		require.Len(t, res.Publications, 1)
		require.Equal(t, s, string(res.Publications[0].Payload), "through History")
	}
}

// The suite checks what History says of expired publications; here, that
// the rows go: a publish deletes its topic's, the sweep those of topics
// nobody publishes to any more.
func TestTrimByTTLDeletesRows(t *testing.T) {
	db := pgtest.New(t, "pgbroker")
	ctx := testCtx(t)
	// Publication times come from the database clock; the fake clock only
	// ages them. It starts an hour behind, so nothing has expired.
	fake := clockwork.NewFakeClockAt(time.Now().Add(-time.Hour))
	b := newBroker(t, db, pgbroker.WithClock(fake), pgbroker.WithHistoryTTL(time.Minute), pgbroker.WithTrimInterval(1000*time.Hour)) // no background sweep here
	idle, err := b.Publish(ctx, "idle", "e", json.RawMessage(`1`), "")
	require.NoError(t, err)
	var last realtime.Publication
	for i := range 3 {
		last, err = b.Publish(ctx, "t", "e", json.RawMessage(fmt.Sprint(i)), "")
		require.NoError(t, err)
	}
	count := func(topic string) int {
		var n int
		require.NoError(t, db.Pool.QueryRow(ctx, "SELECT count(*) FROM "+migrate.Quote(db.Schema)+".realtime_history WHERE topic = $1", topic).Scan(&n))
		return n
	}
	fake.Advance(max(0, (last.Time.Add(time.Minute + time.Microsecond)).Sub(fake.Now())))
	require.Equal(t, 3, count("t"), "History hides expired rows; deleting them is the writers' job")

	// A publish trims its topic's expired history, never itself.
	p4, err := b.Publish(ctx, "t", "e", json.RawMessage(`4`), "")
	require.NoError(t, err)
	require.Equal(t, 1, count("t"))
	res, err := b.History(ctx, "t", realtime.HistoryQuery{After: 3, Epoch: p4.Epoch})
	require.NoError(t, err)
	require.Equal(t, []realtime.Publication{p4}, res.Publications)

	// The sweep trims the idle topic.
	require.Equal(t, 1, count("idle"))
	n, err := b.Sweep(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	require.Equal(t, 0, count("idle"))
	res, err = b.History(ctx, "idle", realtime.HistoryQuery{After: 1, Epoch: idle.Epoch})
	require.NoError(t, err)
	require.Equal(t, realtime.HistoryResult{Complete: true, Epoch: idle.Epoch, Latest: 1}, res)
	n, err = b.Sweep(ctx)
	require.NoError(t, err)
	require.Zero(t, n, "nothing left to sweep")
}

func TestTwoBrokersBothDeliverInOrder(t *testing.T) {
	db := pgtest.New(t, "pgbroker")
	ctx := testCtx(t)
	b1, b2 := newBroker(t, db), newBroker(t, db)
	h1, h2 := newRecorder(), newRecorder()
	require.NoError(t, b1.Attach(h1))
	require.NoError(t, b2.Attach(h2))

	p1, err := b1.Publish(ctx, "t", "e", json.RawMessage(`1`), "o1")
	require.NoError(t, err)
	p2, err := b2.Publish(ctx, "t", "e", json.RawMessage(`2`), "o2")
	require.NoError(t, err)
	for _, h := range []*recorder{h1, h2} {
		require.Equal(t, p1, h.next(t, ctx))
		require.Equal(t, p2, h.next(t, ctx))
	}

	const writers, each = 8, 200
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		b := b1
		if w%2 == 1 {
			b = b2
		}
		wg.Go(func() {
			for i := range each {
				if _, err := b.Publish(ctx, "busy", "e", json.RawMessage(fmt.Sprintf(`{"w":%d,"i":%d}`, w, i)), ""); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for _, h := range []*recorder{h1, h2} {
		for want := uint64(1); want <= writers*each; want++ {
			p := h.next(t, ctx)
			require.Equal(t, "busy", p.Topic)
			require.Equal(t, want, p.Offset, "offsets arrive once each, in order")
		}
		select {
		case p := <-h.pubs:
			t.Fatalf("unexpected extra publication %s/%d", p.Topic, p.Offset)
		default:
		}
	}
	res, err := b1.History(ctx, "busy", realtime.HistoryQuery{})
	require.NoError(t, err)
	epoch := res.Epoch
	res, err = b1.History(ctx, "busy", realtime.HistoryQuery{After: 600, Epoch: epoch})
	require.NoError(t, err)
	require.True(t, res.Complete)
	require.Len(t, res.Publications, 1000, "the default size cap")
	require.Equal(t, uint64(601), res.Publications[0].Offset)
	res, err = b1.History(ctx, "busy", realtime.HistoryQuery{After: 599, Epoch: epoch})
	require.NoError(t, err)
	require.False(t, res.Complete, "offset 600 was trimmed")
}

// TestPayloadsOfAnySizeArrive: payloads far over NOTIFY's 8,000-byte
// limit arrive intact, since notifications only name the row.
func TestPayloadsOfAnySizeArrive(t *testing.T) {
	db := pgtest.New(t, "pgbroker")
	ctx := testCtx(t)
	b1, b2 := newBroker(t, db), newBroker(t, db)
	h := newRecorder()
	require.NoError(t, b2.Attach(h))
	big := `{"blob":"` + strings.Repeat("0123456789abcdef", 100*1024/16) + `"}`
	p, err := b1.Publish(ctx, "big", "e", json.RawMessage(big), "o")
	require.NoError(t, err)
	got := h.next(t, ctx)
	require.Equal(t, p, got)
	require.Equal(t, big, string(got.Payload))

	// Around NOTIFY's limit, with multi-byte runes.
	for _, n := range []int{7700, 7900, 8100} {
		s := `"` + strings.Repeat("é", n/2) + `"`
		p, err := b1.Publish(ctx, "edge", "e", json.RawMessage(s), "")
		require.NoError(t, err)
		got := h.next(t, ctx)
		require.Equal(t, p, got)
	}
}

func TestLostListenConnectionResyncs(t *testing.T) {
	db := pgtest.New(t, "pgbroker")
	ctx := testCtx(t)
	b := newBroker(t, db, pgbroker.WithReconnectBackoff(10*time.Millisecond, 100*time.Millisecond))
	h := newRecorder()
	require.NoError(t, b.Attach(h))
	pid := b.ListenerPID()
	require.NotZero(t, pid)
	var app string
	require.NoError(t, db.Pool.QueryRow(ctx, "SELECT application_name FROM pg_stat_activity WHERE pid = $1", pid).Scan(&app))
	require.Equal(t, pgbroker.ApplicationName, app)

	var ok bool
	require.NoError(t, db.Pool.QueryRow(ctx, "SELECT pg_terminate_backend($1)", pid).Scan(&ok))
	require.True(t, ok)
	select {
	case <-h.resync:
	case <-ctx.Done():
		t.Fatal("no OnResync after the LISTEN connection was killed")
	}
	require.NotEqual(t, pid, b.ListenerPID())
	p, err := b.Publish(ctx, "t", "e", json.RawMessage(`"after"`), "")
	require.NoError(t, err)
	require.Equal(t, p, h.next(t, ctx), "publications arrive again")
}

// The suite checks Close; here, that it leaves the host's pool open, and
// that names too long for a notification are refused.
func TestCloseLeavesThePoolAndNamesAreBounded(t *testing.T) {
	db := pgtest.New(t, "pgbroker")
	ctx := testCtx(t)
	b := newBroker(t, db)
	_, err := b.Publish(ctx, strings.Repeat("t", 5000), "e", json.RawMessage(`1`), "")
	require.ErrorContains(t, err, "at most 4096 bytes")
	require.ErrorIs(t, err, pgbroker.ErrInvalid)
	require.NoError(t, b.Close())
	require.NoError(t, db.Pool.Ping(ctx), "Close leaves the host's pool open")
}

func TestHandlerAttachedLate(t *testing.T) {
	db := pgtest.New(t, "pgbroker")
	ctx := testCtx(t)
	b1, b2 := newBroker(t, db), newBroker(t, db)
	h1 := newRecorder()
	require.NoError(t, b1.Attach(h1))
	_, err := b1.Publish(ctx, "t", "e", json.RawMessage(`1`), "")
	require.NoError(t, err)
	h1.next(t, ctx) // b2 has received (and dropped) it by now, or will drop it
	h2 := newRecorder()
	require.NoError(t, b2.Attach(h2))
	p2, err := b1.Publish(ctx, "t", "e", json.RawMessage(`2`), "")
	require.NoError(t, err)
	h1.next(t, ctx)
	got := h2.next(t, ctx)
	if got.Offset == 1 {
		got = h2.next(t, ctx) // b2 had not read offset 1 yet when Attach ran
	}
	require.Equal(t, p2, got)
}

func TestSchemasSharingAChannelStayApart(t *testing.T) {
	a, bdb := pgtest.New(t, "pgbroker"), pgtest.New(t, "pgbroker")
	ctx := testCtx(t)
	ba, bb := newBroker(t, a), newBroker(t, bdb)
	ha, hb := newRecorder(), newRecorder()
	require.NoError(t, ba.Attach(ha))
	require.NoError(t, bb.Attach(hb))
	_, err := ba.Publish(ctx, "t", "e", json.RawMessage(`"a"`), "")
	require.NoError(t, err)
	pb, err := bb.Publish(ctx, "t", "e", json.RawMessage(`"b"`), "")
	require.NoError(t, err)
	require.Equal(t, pb, hb.next(t, ctx), "b sees only its own schema's publication")
	require.Equal(t, `"a"`, string(ha.next(t, ctx).Payload))
}

func TestNewNeedsMigrateAndValidOptions(t *testing.T) {
	db := pgtest.New(t, "pgbroker")
	ctx := testCtx(t)
	_, err := pgbroker.New(ctx, db.Pool, pgbroker.WithSchema(db.Schema))
	require.ErrorIs(t, err, pgbroker.ErrNotMigrated)
	require.ErrorContains(t, err, db.Schema)
	_, err = pgbroker.New(ctx, db.Pool, pgbroker.WithSchema(db.Schema+"_missing"))
	require.ErrorIs(t, err, pgbroker.ErrNotMigrated)

	for name, opt := range map[string]pgbroker.Option{
		"WithSchema":           pgbroker.WithSchema("bad-name"),
		"WithHistorySize":      pgbroker.WithHistorySize(0),
		"WithHistoryTTL":       pgbroker.WithHistoryTTL(0),
		"WithClock":            pgbroker.WithClock(nil),
		"WithLogger":           pgbroker.WithLogger(nil),
		"WithChannel":          pgbroker.WithChannel(""),
		"WithReconnectBackoff": pgbroker.WithReconnectBackoff(time.Second, time.Millisecond),
		"WithTrimInterval":     pgbroker.WithTrimInterval(0),
		"WithWriteTimeout":     pgbroker.WithWriteTimeout(0),
	} {
		_, err := pgbroker.New(ctx, db.Pool, opt)
		require.ErrorIs(t, err, pgbroker.ErrInvalid)
		var ve *pgbroker.ValidationError
		require.ErrorAs(t, err, &ve)
		require.Equal(t, name, ve.Field)
		require.ErrorContains(t, err, "pgbroker: "+name+": ")
	}
	_, err = pgbroker.New(ctx, nil)
	require.ErrorIs(t, err, pgbroker.ErrInvalid)
	require.ErrorIs(t, pgbroker.Migrate(ctx, db.Pool, pgbroker.WithSchema("bad-name")), pgbroker.ErrInvalid)
}

func BenchmarkPublish(b *testing.B) {
	db := pgtest.New(b, "pgbroker")
	ctx := context.Background()
	require.NoError(b, pgbroker.Migrate(ctx, db.Pool, pgbroker.WithSchema(db.Schema)))
	br, err := pgbroker.New(ctx, db.Pool, pgbroker.WithSchema(db.Schema))
	require.NoError(b, err)
	defer func() { require.NoError(b, br.Close()) }()
	payload := json.RawMessage(`{"supplier":"s_123","kpi":"bookings","value":42}`)
	b.Run("one-topic", func(b *testing.B) {
		start := time.Now()
		for b.Loop() {
			if _, err := br.Publish(ctx, "kpi", "kpi.updated", payload, ""); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "publishes/s")
	})
	b.Run("parallel-topics", func(b *testing.B) {
		var n sync.Mutex
		id := 0
		b.SetParallelism(8)
		start := time.Now()
		defer func() { b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "publishes/s") }()
		b.RunParallel(func(pb *testing.PB) {
			n.Lock()
			id++
			topic := fmt.Sprintf("kpi-%d", id)
			n.Unlock()
			for pb.Next() {
				if _, err := br.Publish(ctx, topic, "kpi.updated", payload, ""); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func TestTrimUnderConcurrentPublishers(t *testing.T) {
	db := pgtest.New(t, "pgbroker")
	ctx := testCtx(t)
	const size, writers, each = 3, 8, 50
	b := newBroker(t, db, pgbroker.WithHistorySize(size))
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for range writers {
		wg.Go(func() {
			for range each {
				if _, err := b.Publish(ctx, "t", "e", json.RawMessage(`1`), ""); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	q := migrate.Quote(db.Schema)
	var n, minOff, trimmed int64
	require.NoError(t, db.Pool.QueryRow(ctx, "SELECT count(*), min(\"offset\") FROM "+q+".realtime_history").Scan(&n, &minOff))
	require.NoError(t, db.Pool.QueryRow(ctx, "SELECT trimmed_offset FROM "+q+".realtime_topics").Scan(&trimmed))
	require.EqualValues(t, size, n, "exactly the cap is kept: every trim saw every earlier publication")
	require.EqualValues(t, writers*each-size+1, minOff)
	require.EqualValues(t, writers*each-size, trimmed)
	res, err := b.History(ctx, "t", realtime.HistoryQuery{})
	require.NoError(t, err)
	res, err = b.History(ctx, "t", realtime.HistoryQuery{After: uint64(trimmed), Epoch: res.Epoch})
	require.NoError(t, err)
	require.True(t, res.Complete)
	require.Equal(t, []uint64{398, 399, 400}, offsets(res.Publications))
}

// TestForgedNotificationIsNotDelivered: any role that can connect may
// NOTIFY any channel, so the broker delivers what the history table holds,
// never what a notification says.
func TestForgedNotificationIsNotDelivered(t *testing.T) {
	db := pgtest.New(t, "pgbroker")
	ctx := testCtx(t)
	b := newBroker(t, db, pgbroker.WithChannel(db.Schema))
	rec := newRecorder()
	require.NoError(t, b.Attach(rec))
	first, err := b.Publish(ctx, "supplier:1", "kpi.updated", json.RawMessage(`{"bookings":1}`), "")
	require.NoError(t, err)
	require.Equal(t, first, rec.next(t, ctx))

	// A forged notice of the next offset, with the right epoch.
	forged := `{"s":"` + db.Schema + `","t":"supplier:1","e":"` + first.Epoch + `","o":2,"bookings":-999}`
	_, err = db.Pool.Exec(ctx, `SELECT pg_notify($1, $2)`, db.Schema, forged)
	require.NoError(t, err)
	for i := 2; i <= 3; i++ {
		_, err := b.Publish(ctx, "supplier:1", "kpi.updated", json.RawMessage(fmt.Sprintf(`{"bookings":%d}`, i)), "")
		require.NoError(t, err)
	}
	// Everything delivered is a real row: the forged notice was dropped
	// (the row it named did not exist yet) or, read after the real offset
	// 2 landed, delivered that real row (the hub drops repeats by offset).
	for {
		got := rec.next(t, ctx)
		require.NotContains(t, string(got.Payload), "-999")
		require.JSONEq(t, fmt.Sprintf(`{"bookings":%d}`, got.Offset), string(got.Payload))
		if got.Offset == 3 {
			break
		}
	}
}
