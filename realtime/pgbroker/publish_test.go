package pgbroker_test

// Group commit: concurrent publishes to one topic share a transaction.
// These tests force the grouping (another session holds the topic's row,
// so the publishes queue behind a transaction in flight) and check what
// must hold: offsets gapless and in commit order across instances, a
// failed transaction leaves no gap, and a caller who gives up is told
// either "not published" (it was still queued) or that the outcome is
// unknown (its transaction had started, and goes on: it commits).

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/internal/migrate"
	"github.com/wedsync/integrations/internal/pgtest"
	"github.com/wedsync/integrations/internal/telemetry/telemetrytest"
	"github.com/wedsync/integrations/realtime"
	"github.com/wedsync/integrations/realtime/pgbroker"
)

// batches watches one broker's group commit through its hooks.
type batches struct {
	topic   string
	mu      sync.Mutex
	changed chan struct{} // closed and replaced at each event
	pending int           // the queue's length when the latest publish joined it
	sizes   []int         // the transactions started, in order
}

func newBatches(topic string) *batches {
	return &batches{topic: topic, changed: make(chan struct{})}
}

func (w *batches) option() pgbroker.Option {
	return pgbroker.WithHooks(func(topic string, n int) {
		w.event(topic, func() { w.pending = n })
	}, func(topic string, n int) {
		w.event(topic, func() { w.sizes = append(w.sizes, n) })
	})
}

func (w *batches) event(topic string, f func()) {
	if topic != w.topic {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	f()
	close(w.changed)
	w.changed = make(chan struct{})
}

// waitFor waits until cond (called under the lock) holds.
func (w *batches) waitFor(t *testing.T, ctx context.Context, what string, cond func(pending int, sizes []int) bool) {
	t.Helper()
	for {
		w.mu.Lock()
		ok, ch := cond(w.pending, w.sizes), w.changed
		w.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		}
	}
}

func (w *batches) waitPending(t *testing.T, ctx context.Context, n int) {
	t.Helper()
	w.waitFor(t, ctx, fmt.Sprintf("%d publishes queued", n), func(p int, _ []int) bool { return p >= n })
}

func (w *batches) waitBatches(t *testing.T, ctx context.Context, n int) []int {
	t.Helper()
	w.waitFor(t, ctx, fmt.Sprintf("%d transactions started", n), func(_ int, s []int) bool { return len(s) >= n })
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.sizes)
}

// holdTopic locks the topic's row from another session, as a publish in
// flight elsewhere would: every publish to the topic waits until release.
func holdTopic(t *testing.T, ctx context.Context, db *pgtest.DB, topic string) (release func()) {
	t.Helper()
	tx, err := db.Pool.Begin(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	var one int
	require.NoError(t, tx.QueryRow(ctx, "SELECT 1 FROM "+migrate.Quote(db.Schema)+".realtime_topics WHERE topic = $1 FOR UPDATE", topic).Scan(&one))
	return func() { require.NoError(t, tx.Commit(ctx)) }
}

// blocked is the event whose publications blockInserts holds up.
const blocked = "blocked"

// blockInserts makes the publications of the event blocked wait, inside
// their transaction (its topic row already locked), until release: a
// trigger on the schema's history takes a shared advisory lock that this
// holds.
func blockInserts(t *testing.T, ctx context.Context, db *pgtest.DB) (release func()) {
	t.Helper()
	q := migrate.Quote(db.Schema)
	_, err := db.Pool.Exec(ctx, `CREATE FUNCTION `+q+`.block_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_advisory_xact_lock_shared(hashtext(TG_TABLE_SCHEMA)); RETURN NEW; END $$`)
	require.NoError(t, err)
	_, err = db.Pool.Exec(ctx, `CREATE TRIGGER block BEFORE INSERT ON `+q+`.realtime_history
FOR EACH ROW WHEN (NEW.event = '`+blocked+`') EXECUTE FUNCTION `+q+`.block_insert()`)
	require.NoError(t, err)
	tx, err := db.Pool.Begin(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	_, err = tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext($1))", db.Schema)
	require.NoError(t, err)
	return func() { require.NoError(t, tx.Commit(ctx)) }
}

// Fragments of the broker's statements whose lock waits the tests watch
// for: lockSQL (waits on the topic row) and storeSQL.
const (
	publishSQL = "last_offset + $3"
	storeSQL   = "realtime_history (topic"
)

// sessions counts the backends running (state active) a statement on the
// test's schema that contains fragment and, with lockWait, that wait on a
// lock (pg_stat_activity; each query is its own snapshot).
func sessions(t *testing.T, ctx context.Context, db *pgtest.DB, fragment string, lockWait bool) int {
	t.Helper()
	var n int
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
WHERE state = 'active' AND strpos(query, $1) > 0 AND strpos(query, $2) > 0
  AND (NOT $3 OR wait_event_type = 'Lock')`, db.Schema, fragment, lockWait).Scan(&n))
	return n
}

// pollUntil polls cond until it holds (it is a condition of another
// process, Postgres, that nothing here is told about).
func pollUntil(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		}
	}
}

// waitLockWaits waits until n statements containing fragment wait on a
// lock.
func waitLockWaits(t *testing.T, ctx context.Context, db *pgtest.DB, fragment string, n int) {
	t.Helper()
	pollUntil(t, ctx, fmt.Sprintf("%d %q statements waiting on a lock", n, fragment), func() bool {
		return sessions(t, ctx, db, fragment, true) == n
	})
}

// waitPublishesDone waits until no backend runs a publish statement on
// the schema any more: a transaction whose client left has committed or
// rolled back.
func waitPublishesDone(t *testing.T, ctx context.Context, db *pgtest.DB) {
	t.Helper()
	pollUntil(t, ctx, "the abandoned publish transaction to end", func() bool {
		return sessions(t, ctx, db, publishSQL, false) == 0 && sessions(t, ctx, db, storeSQL, false) == 0
	})
}

// result is what one Publish returned.
type result struct {
	p   realtime.Publication
	err error
}

// publishAsync publishes from a goroutine; the channel gets the outcome.
func publishAsync(ctx context.Context, b *pgbroker.Broker, topic, event, payload string) <-chan result {
	ch := make(chan result, 1)
	go func() {
		p, err := b.Publish(ctx, topic, event, json.RawMessage(payload), "")
		ch <- result{p, err}
	}()
	return ch
}

func await(t *testing.T, ctx context.Context, ch <-chan result) result {
	t.Helper()
	return receive(t, ctx, ch, "return from Publish")
}

// fullHistory returns the topic's whole history, which must be complete.
func fullHistory(t *testing.T, ctx context.Context, b *pgbroker.Broker, topic string) []realtime.Publication {
	t.Helper()
	res, err := b.History(ctx, topic, realtime.HistoryQuery{})
	require.NoError(t, err)
	res, err = b.History(ctx, topic, realtime.HistoryQuery{Epoch: res.Epoch})
	require.NoError(t, err)
	require.True(t, res.Complete)
	return res.Publications
}

// groupTopic is the topic the group-commit tests publish to.
const groupTopic = "supplier:1"

// grouped is a broker whose group commit is watched, with a recorder
// attached, and whose topic has its first publication.
type grouped struct {
	db    *pgtest.DB
	w     *batches
	b     *pgbroker.Broker
	h     *recorder
	first realtime.Publication
}

func newGrouped(t *testing.T, ctx context.Context, opts ...pgbroker.Option) grouped {
	t.Helper()
	g := grouped{db: pgtest.New(t, "pgbroker"), w: newBatches(groupTopic)}
	g.b = newBroker(t, g.db, append([]pgbroker.Option{g.w.option()}, opts...)...)
	g.h = newRecorder()
	require.NoError(t, g.b.Attach(g.h))
	var err error
	g.first, err = g.b.Publish(ctx, groupTopic, "e", json.RawMessage(`1`), "")
	require.NoError(t, err)
	return g
}

// stall holds the topic's row and publishes payload with pctx: when it
// returns, that publish's transaction is in flight, waiting on the row
// (Postgres says so), and what is published next queues behind it.
func (g grouped) stall(t *testing.T, ctx, pctx context.Context, payload string) (release func(), res <-chan result) {
	t.Helper()
	release = holdTopic(t, ctx, g.db, groupTopic)
	res = publishAsync(pctx, g.b, groupTopic, "e", payload)
	require.Equal(t, []int{1, 1}, g.w.waitBatches(t, ctx, 2), "the first publish's transaction, then this one's")
	waitLockWaits(t, ctx, g.db, publishSQL, 1)
	return release, res
}

// Publishers on two instances, to one topic, queued behind a held row so
// that each instance groups them: the offsets are 1..N, each returned
// Publication has its own and is what History holds at that offset, and
// both instances deliver 1..N in order (the NOTIFYs of a transaction go
// out in offset order).
func TestGroupCommitTwoInstancesGapless(t *testing.T) {
	db := pgtest.New(t, "pgbroker")
	ctx := testCtx(t)
	const topic, writers, each = "supplier:1", 8, 25 // writers per instance
	w1, w2 := newBatches(topic), newBatches(topic)
	b1, b2 := newBroker(t, db, w1.option()), newBroker(t, db, w2.option())
	h1, h2 := newRecorder(), newRecorder()
	require.NoError(t, b1.Attach(h1))
	require.NoError(t, b2.Attach(h2))
	first, err := b1.Publish(ctx, topic, "e", json.RawMessage(`{"first":true}`), "b1")
	require.NoError(t, err)

	release := holdTopic(t, ctx, db, topic)
	var (
		mu   sync.Mutex
		pubs = []realtime.Publication{first}
		wg   sync.WaitGroup
	)
	errs := make(chan error, 2*writers)
	for i, b := range []*pgbroker.Broker{b1, b2} {
		for w := range writers {
			wg.Go(func() {
				for n := range each {
					p, err := b.Publish(ctx, topic, "e", json.RawMessage(fmt.Sprintf(`{"b":%d,"w":%d,"n":%d}`, i+1, w, n)), fmt.Sprintf("b%d", i+1))
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					pubs = append(pubs, p)
					mu.Unlock()
				}
			})
		}
	}
	// Each instance has a transaction waiting on the row and publishes
	// queued behind it: one of its transactions will carry several.
	w1.waitBatches(t, ctx, 2) // the first publish's, and one waiting on the row
	w2.waitBatches(t, ctx, 1)
	for _, w := range []*batches{w1, w2} {
		w.waitPending(t, ctx, 2)
	}
	release()
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	const total = 1 + 2*writers*each
	slices.SortFunc(pubs, func(a, b realtime.Publication) int { return int(a.Offset) - int(b.Offset) })
	require.Len(t, pubs, total)
	for i, p := range pubs {
		require.EqualValues(t, i+1, p.Offset, "offsets 1..N, each returned once")
		if i > 0 {
			require.False(t, p.Time.Before(pubs[i-1].Time), "times never go back")
		}
	}
	require.Equal(t, pubs, fullHistory(t, ctx, b2, topic), "each Publication is what History holds at its offset")
	for _, w := range []*batches{w1, w2} {
		sizes := w.waitBatches(t, ctx, 1)
		require.Greater(t, slices.Max(sizes), 1, "publishes were grouped: %v", sizes)
		require.Less(t, len(sizes), writers*each, "fewer transactions than publishes")
	}
	for _, h := range []*recorder{h1, h2} {
		for want := uint64(1); want <= total; want++ {
			require.Equal(t, pubs[want-1], h.next(t, ctx), "delivered once each, in offset order")
		}
	}
}

// A transaction that fails (a constraint rejects one of its rows) fails
// every publish in it and uses no offset: the next publication takes the
// next offset, and History has no hole.
func TestGroupCommitFailedBatchLeavesNoGap(t *testing.T) {
	ctx := testCtx(t)
	g := newGrouped(t, ctx)
	b, w, h, topic := g.b, g.w, g.h, groupTopic
	_, err := g.db.Pool.Exec(ctx, "ALTER TABLE "+migrate.Quote(g.db.Schema)+".realtime_history ADD CONSTRAINT no_poison CHECK (event <> 'poison')")
	require.NoError(t, err)

	release, a := g.stall(t, ctx, ctx, `"a"`)
	var queued []<-chan result
	for i, ev := range []string{"e", "poison", "e"} {
		queued = append(queued, publishAsync(ctx, b, topic, ev, fmt.Sprintf(`"q%d"`, i)))
		w.waitPending(t, ctx, i+1)
	}
	release()
	ra := await(t, ctx, a)
	require.NoError(t, ra.err)
	require.EqualValues(t, 2, ra.p.Offset)
	require.Equal(t, []int{1, 1, 3}, w.waitBatches(t, ctx, 3), "the three queued publishes shared a transaction")
	for _, ch := range queued {
		r := await(t, ctx, ch)
		require.ErrorContains(t, r.err, "no_poison", "the whole transaction failed")
		require.ErrorContains(t, r.err, "not published")
		require.NotErrorIs(t, r.err, pgbroker.ErrPublishOutcomeUnknown, "Postgres said it rolled back")
	}

	p3, err := b.Publish(ctx, topic, "e", json.RawMessage(`3`), "")
	require.NoError(t, err)
	require.EqualValues(t, 3, p3.Offset, "the failed transaction used no offset")
	want := []realtime.Publication{g.first, ra.p, p3}
	require.Equal(t, want, fullHistory(t, ctx, b, topic))
	for _, p := range want {
		require.Equal(t, p, h.next(t, ctx))
	}
}

// A caller whose context ends while its publish is queued is dropped
// from the next transaction: "not published", and it takes no offset. One
// whose context ends once its transaction has started is told at once
// that the outcome is unknown (ErrPublishOutcomeUnknown, wrapping
// context.Canceled), and the transaction goes on, with the publishes in it
// still waited for or not: when the row is free, it commits.
func TestGroupCommitCallerGivesUp(t *testing.T) {
	ctx := testCtx(t)
	g := newGrouped(t, ctx)
	b, w, topic, db := g.b, g.w, groupTopic, g.db
	unblock := blockInserts(t, ctx, db) // a's insert will wait, in its transaction
	xctx, xcancel := context.WithCancel(ctx)
	defer xcancel()
	release, x := g.stall(t, ctx, xctx, `"x"`) // x's transaction waits on the held row
	actx, acancel := context.WithCancel(ctx)
	defer acancel()
	qctx, qcancel := context.WithCancel(ctx)
	defer qcancel()
	a := publishAsync(actx, b, topic, blocked, `"a"`)
	w.waitPending(t, ctx, 1)
	q := publishAsync(qctx, b, topic, "e", `"q"`)
	w.waitPending(t, ctx, 2)
	c := publishAsync(ctx, b, topic, "e", `"c"`)
	w.waitPending(t, ctx, 3)

	qcancel() // q is queued behind x's transaction
	rq := await(t, ctx, q)
	require.ErrorIs(t, rq.err, context.Canceled)
	require.ErrorContains(t, rq.err, "not published")
	require.NotErrorIs(t, rq.err, pgbroker.ErrPublishOutcomeUnknown)

	xcancel() // x's transaction waits on the row: x stops waiting, it does not
	rx := await(t, ctx, x)
	require.ErrorIs(t, rx.err, pgbroker.ErrPublishOutcomeUnknown)
	require.ErrorIs(t, rx.err, realtime.ErrPublishOutcomeUnknown, "the hub's sentinel")
	require.ErrorIs(t, rx.err, context.Canceled)
	require.Equal(t, 1, sessions(t, ctx, db, publishSQL, true), "x's transaction still waits on the row")

	release()
	require.Equal(t, []int{1, 1, 2}, w.waitBatches(t, ctx, 3), "x's transaction ended; the next carries a and c, not q")
	waitLockWaits(t, ctx, db, storeSQL, 1) // a and c's: a's insert waits on the trigger's lock

	acancel() // a's transaction is in flight: a stops waiting, c does not
	ra := await(t, ctx, a)
	require.ErrorIs(t, ra.err, pgbroker.ErrPublishOutcomeUnknown)
	require.ErrorIs(t, ra.err, context.Canceled)

	unblock()
	rc := await(t, ctx, c)
	require.NoError(t, rc.err)
	require.EqualValues(t, 4, rc.p.Offset, "x took 2 and a 3, although their callers gave up; q took none")
	got := fullHistory(t, ctx, b, topic)
	require.Equal(t, []uint64{1, 2, 3, 4}, offsets(got))
	require.Equal(t, g.first, got[0])
	require.JSONEq(t, `"x"`, string(got[1].Payload), "x committed alone")
	require.JSONEq(t, `"a"`, string(got[2].Payload), "a committed with c")
	require.Equal(t, rc.p, got[3])
}

// A transaction the database does not finish within WithWriteTimeout is
// ended, and its caller told the outcome is unknown (so is the publishes
// metric): Postgres did not answer, so it may yet commit.
func TestGroupCommitWriteTimeout(t *testing.T) {
	ctx := testCtx(t)
	rec := telemetrytest.New(t)
	g := newGrouped(t, ctx, pgbroker.WithWriteTimeout(200*time.Millisecond), pgbroker.WithMeterProvider(rec.MeterProvider))
	release, x := g.stall(t, ctx, ctx, `"x"`) // held until x returns
	rx := await(t, ctx, x)
	require.ErrorIs(t, rx.err, pgbroker.ErrPublishOutcomeUnknown)
	require.ErrorIs(t, rx.err, context.DeadlineExceeded)
	require.Equal(t, map[string]int64{"ok": 1, "unknown": 1},
		rec.Collect(t).Sum("wedsync.realtime.pgbroker.publishes", "wedsync.outcome"))
	release()
	waitPublishesDone(t, ctx, g.db)
	p, err := g.b.Publish(ctx, groupTopic, "e", json.RawMessage(`"y"`), "")
	require.NoError(t, err)
	got := fullHistory(t, ctx, g.b, groupTopic)
	t.Logf("the abandoned transaction committed: %v", len(got) == 3)
	requireGaplessWith(t, got, g.first, `"x"`, p)
}

// requireGaplessWith checks a history whose first publication is first
// and last is last, with at most one publication between them, whose
// payload is maybe: one whose outcome was unknown.
func requireGaplessWith(t *testing.T, got []realtime.Publication, first realtime.Publication, maybe string, last realtime.Publication) {
	t.Helper()
	require.Equal(t, first, got[0])
	require.Equal(t, last, got[len(got)-1])
	for i, p := range got {
		require.EqualValues(t, i+1, p.Offset, "gapless")
	}
	switch len(got) {
	case 2:
	case 3:
		require.JSONEq(t, maybe, string(got[1].Payload))
	default:
		t.Fatalf("history has %d publications, want 2 or 3", len(got))
	}
}

// A transaction never holds more publications than history keeps, so the
// trim (which cannot see the rows its own statement inserts) stays exact.
func TestGroupCommitBatchFitsHistory(t *testing.T) {
	ctx := testCtx(t)
	const size, queued = 3, 7
	g := newGrouped(t, ctx, pgbroker.WithHistorySize(size))
	b, w, topic, db := g.b, g.w, groupTopic, g.db
	release, first := g.stall(t, ctx, ctx, `2`)
	var rest []<-chan result
	for i := range queued {
		rest = append(rest, publishAsync(ctx, b, topic, "e", fmt.Sprint(3+i)))
		w.waitPending(t, ctx, i+1)
	}
	release()
	require.NoError(t, await(t, ctx, first).err)
	var last realtime.Publication
	for _, ch := range rest {
		r := await(t, ctx, ch)
		require.NoError(t, r.err)
		if r.p.Offset > last.Offset {
			last = r.p
		}
	}
	require.EqualValues(t, 2+queued, last.Offset)
	require.Equal(t, []int{1, 1, 3, 3, 1}, w.waitBatches(t, ctx, 0), "at most the history size per transaction")

	q := migrate.Quote(db.Schema)
	var n, trimmed int64
	require.NoError(t, db.Pool.QueryRow(ctx, "SELECT count(*) FROM "+q+".realtime_history").Scan(&n))
	require.NoError(t, db.Pool.QueryRow(ctx, "SELECT trimmed_offset FROM "+q+".realtime_topics").Scan(&trimmed))
	require.EqualValues(t, size, n, "exactly the cap is kept")
	require.EqualValues(t, last.Offset-size, trimmed)
	res, err := b.History(ctx, topic, realtime.HistoryQuery{Epoch: last.Epoch, After: uint64(trimmed)})
	require.NoError(t, err)
	require.True(t, res.Complete)
	require.Equal(t, []uint64{7, 8, 9}, offsets(res.Publications))
	require.Equal(t, last, res.Publications[2])
}

// Close fails the queued publishes as not published and ends the
// transactions in flight, whose publishes it fails with an unknown outcome
// (Postgres did not answer); all with ErrBrokerClosed. It does not wait
// for the row they wait on.
func TestGroupCommitClose(t *testing.T) {
	ctx := testCtx(t)
	g := newGrouped(t, ctx)
	b, w, topic := g.b, g.w, groupTopic
	release, inFlight := g.stall(t, ctx, ctx, `2`)
	queued := publishAsync(ctx, b, topic, "e", `3`)
	w.waitPending(t, ctx, 1)
	closed := make(chan error, 1)
	go func() { closed <- b.Close() }()
	rf := await(t, ctx, inFlight)
	require.ErrorIs(t, rf.err, realtime.ErrBrokerClosed)
	require.ErrorIs(t, rf.err, pgbroker.ErrPublishOutcomeUnknown)
	rq := await(t, ctx, queued)
	require.ErrorIs(t, rq.err, realtime.ErrBrokerClosed)
	require.ErrorContains(t, rq.err, "not published")
	require.NotErrorIs(t, rq.err, pgbroker.ErrPublishOutcomeUnknown)
	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-ctx.Done():
		t.Fatal("Close waited on the held row")
	}
	release()
	_, err := b.Publish(ctx, topic, "e", json.RawMessage(`4`), "")
	require.ErrorIs(t, err, realtime.ErrBrokerClosed)

	// The abandoned transaction commits or not; either way the topic stays
	// gapless and the queued publish never appears.
	waitPublishesDone(t, ctx, g.db)
	other := newBroker(t, g.db)
	p, err := other.Publish(ctx, topic, "e", json.RawMessage(`5`), "")
	require.NoError(t, err)
	got := fullHistory(t, ctx, other, topic)
	t.Logf("the abandoned transaction committed: %v", len(got) == 3)
	requireGaplessWith(t, got, g.first, `2`, p)
	require.NoError(t, pgx.BeginFunc(ctx, g.db.Pool, func(pgx.Tx) error { return nil }), "the pool still works")
}

// Names Postgres would refuse are refused before they can share (and
// fail) a transaction with other publishes.
func TestPublishRefusesNamesPostgresCannotStore(t *testing.T) {
	db := pgtest.New(t, "pgbroker")
	ctx := testCtx(t)
	b := newBroker(t, db)
	for field, args := range map[string][3]string{
		"topic":  {"a\x00b", "e", ""},
		"event":  {"t", "\xff", ""},
		"origin": {"t", "e", "o\x00"},
	} {
		_, err := b.Publish(ctx, args[0], args[1], json.RawMessage(`1`), args[2])
		require.ErrorIs(t, err, pgbroker.ErrInvalid, field)
		var ve *pgbroker.ValidationError
		require.ErrorAs(t, err, &ve)
		require.Equal(t, field, ve.Field)
		require.ErrorContains(t, err, "must be valid UTF-8 without NUL bytes")
	}
}
