package pgbroker_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/internal/migrate"
	"github.com/wedsync/integrations/internal/pgtest"
	"github.com/wedsync/integrations/realtime"
	"github.com/wedsync/integrations/realtime/pgbroker"
)

// hint is one presence hint a broker handed to its hub.
type hint struct {
	topic string
	ids   []string
}

// presenceRecorder is a PresenceHandler that queues the hints it gets.
type presenceRecorder struct {
	*recorder
	hints chan hint
}

func newPresenceRecorder() *presenceRecorder {
	return &presenceRecorder{recorder: newRecorder(), hints: make(chan hint, 1000)}
}

func (r *presenceRecorder) OnPresence(topic string, ids []string) {
	select {
	case r.hints <- hint{topic, ids}:
	default:
		panic("presence recorder full")
	}
}

// next waits for the next hint.
func (r *presenceRecorder) next(t *testing.T, ctx context.Context) hint {
	t.Helper()
	return receive(t, ctx, r.hints, "presence hint")
}

// none reports that no hint is queued.
func (r *presenceRecorder) none(t *testing.T) {
	t.Helper()
	select {
	case h := <-r.hints:
		t.Fatalf("unexpected presence hint %+v", h)
	default:
	}
}

func member(topic, id, key, meta string) realtime.PresenceMember {
	return realtime.PresenceMember{Topic: topic, ID: id, Key: key, Meta: json.RawMessage(meta)}
}

// presenceOf reads topic's members, sorted by id.
func presenceOf(t *testing.T, ctx context.Context, b *pgbroker.Broker, topic string, ids ...string) []realtime.PresenceMember {
	t.Helper()
	ms, err := b.Presence(ctx, topic, ids...)
	require.NoError(t, err)
	slices.SortFunc(ms, func(x, y realtime.PresenceMember) int { return strings.Compare(x.ID, y.ID) })
	return ms
}

// Two brokers on one schema share presence: a member one tracks is what
// the other reads, each change reaches both hubs as a hint naming the
// member, and a broker can neither overwrite nor remove another's member.
func TestPresenceSharedBetweenBrokers(t *testing.T) {
	db := pgtest.New(t, "pgbroker")
	ctx := testCtx(t)
	a := newBroker(t, db, pgbroker.WithChannel(db.Schema))
	b := newBroker(t, db, pgbroker.WithChannel(db.Schema))
	ra, rb := newPresenceRecorder(), newPresenceRecorder()
	require.NoError(t, a.Attach(ra))
	require.NoError(t, b.Attach(rb))

	anna := member("supplier:1", "A:1:1", "user-anna", `{"page":"dashboard","phx_ref":"r1","note":"Zoë 🌸"}`)
	require.NoError(t, a.Track(ctx, anna))
	want := hint{"supplier:1", []string{"A:1:1"}}
	require.Equal(t, want, ra.next(t, ctx), "the tracking broker's hub hears of it too")
	require.Equal(t, want, rb.next(t, ctx))
	require.Equal(t, []realtime.PresenceMember{anna}, presenceOf(t, ctx, b, "supplier:1"), "the meta byte for byte")
	require.Equal(t, []realtime.PresenceMember{anna}, presenceOf(t, ctx, b, "supplier:1", "A:1:1", "B:9:9"))
	require.Empty(t, presenceOf(t, ctx, b, "supplier:1", "B:9:9"))
	require.Empty(t, presenceOf(t, ctx, b, "supplier:2"), "a topic nobody tracked")

	// Tracking again replaces the meta.
	anna2 := member("supplier:1", "A:1:1", "user-anna", `{"page":"bookings","phx_ref":"r2"}`)
	require.NoError(t, a.Track(ctx, anna2))
	require.Equal(t, want, ra.next(t, ctx))
	require.Equal(t, want, rb.next(t, ctx))
	require.Equal(t, []realtime.PresenceMember{anna2}, presenceOf(t, ctx, b, "supplier:1"))

	// Another broker's member is not b's to replace or remove.
	err := b.Track(ctx, member("supplier:1", "A:1:1", "user-mallory", `{}`))
	require.ErrorContains(t, err, "belongs to another instance")
	require.NoError(t, b.Untrack(ctx, "supplier:1", "A:1:1"))
	ben := member("supplier:1", "B:1:1", "user-ben", `{"phx_ref":"r3"}`)
	require.NoError(t, b.Track(ctx, ben))
	benHint := hint{"supplier:1", []string{"B:1:1"}}
	require.Equal(t, benHint, ra.next(t, ctx), "the next hint: neither refusal made one")
	require.Equal(t, benHint, rb.next(t, ctx))
	require.Equal(t, []realtime.PresenceMember{anna2, ben}, presenceOf(t, ctx, a, "supplier:1"))

	// An untrack removes it, once.
	require.NoError(t, a.Untrack(ctx, "supplier:1", "A:1:1"))
	require.Equal(t, want, ra.next(t, ctx))
	require.Equal(t, want, rb.next(t, ctx))
	require.Equal(t, []realtime.PresenceMember{ben}, presenceOf(t, ctx, b, "supplier:1"))
	require.NoError(t, a.Untrack(ctx, "supplier:1", "A:1:1"), "removing what is gone is no error")
	require.NoError(t, b.Untrack(ctx, "supplier:1", "B:1:1"))
	require.Equal(t, benHint, ra.next(t, ctx), "the next hint: the second untrack made none")
	require.Equal(t, benHint, rb.next(t, ctx))

	// A hint is a hint: a forged one only makes the hub read.
	_, err = db.Pool.Exec(ctx, "SELECT pg_notify($1, $2)", db.Schema, `{"s":"`+db.Schema+`","k":"p","t":"supplier:1","m":["X"]}`)
	require.NoError(t, err)
	require.Equal(t, hint{"supplier:1", []string{"X"}}, rb.next(t, ctx))
	require.Empty(t, presenceOf(t, ctx, b, "supplier:1"))
}

// The killed instance: a broker that stops without a word (its process
// crashed) leaves its members in the table; a TTL after its last refresh,
// the live broker's sweep deletes them and both hubs' sockets hear they
// left. The live broker's own members, refreshed, stay. The clock is fake:
// the test moves it past the TTL, and waits on the hint.
func TestPresenceOfAStoppedInstanceExpires(t *testing.T) {
	db := pgtest.New(t, "pgbroker")
	ctx := testCtx(t)
	clk := clockwork.NewFakeClock()
	const ttl = 30 * time.Second
	opts := []pgbroker.Option{pgbroker.WithChannel(db.Schema), pgbroker.WithClock(clk), pgbroker.WithPresenceTTL(ttl), pgbroker.WithTrimInterval(time.Hour)}
	a := newBroker(t, db, opts...)
	b := newBroker(t, db, opts...)
	rb := newPresenceRecorder()
	require.NoError(t, b.Attach(rb))

	anna := member("supplier:1", "A:1:1", "user-anna", `{"phx_ref":"r1"}`)
	ben := member("supplier:1", "B:1:1", "user-ben", `{"phx_ref":"r2"}`)
	require.NoError(t, a.Track(ctx, anna))
	require.NoError(t, b.Track(ctx, ben))
	rb.next(t, ctx)
	rb.next(t, ctx)

	a.Crash()
	// b's trim sweep and presence refresh wait on the clock.
	require.NoError(t, clk.BlockUntilContext(ctx, 2))

	// Two thirds of the TTL on: b refreshes, anna has not expired.
	clk.Advance(2 * ttl / 3)
	require.NoError(t, clk.BlockUntilContext(ctx, 2), "b's refresh ran and waits again")
	rb.none(t)
	require.Equal(t, []realtime.PresenceMember{anna, ben}, presenceOf(t, ctx, b, "supplier:1"))

	// Past anna's TTL: b's next refresh deletes her and says so.
	clk.Advance(ttl / 2)
	require.Equal(t, hint{"supplier:1", []string{"A:1:1"}}, rb.next(t, ctx))
	require.Equal(t, []realtime.PresenceMember{ben}, presenceOf(t, ctx, b, "supplier:1"), "ben, refreshed, stays")
	require.NoError(t, clk.BlockUntilContext(ctx, 2))
	rb.none(t)

	// Much later ben is still there: b keeps refreshing.
	for range 6 {
		clk.Advance(ttl / 3)
		require.NoError(t, clk.BlockUntilContext(ctx, 2))
	}
	require.Equal(t, []realtime.PresenceMember{ben}, presenceOf(t, ctx, b, "supplier:1"))
	rb.none(t)
}

// A refresh repairs the table where it and the broker disagree: a member
// deleted behind the broker's back (swept while its instance could not
// reach the database) is written again, and a row of the instance that the
// broker does not know (an untrack whose DELETE failed) is deleted; each
// with a hint.
func TestPresenceRefreshRepairsTheTable(t *testing.T) {
	db := pgtest.New(t, "pgbroker")
	ctx := testCtx(t)
	a := newBroker(t, db, pgbroker.WithChannel(db.Schema))
	ra := newPresenceRecorder()
	require.NoError(t, a.Attach(ra))
	anna := member("supplier:1", "A:1:1", "user-anna", `{"phx_ref":"r1"}`)
	require.NoError(t, a.Track(ctx, anna))
	ra.next(t, ctx)

	q := migrate.Quote(db.Schema)
	_, err := db.Pool.Exec(ctx, "DELETE FROM "+q+".realtime_presence")
	require.NoError(t, err)
	_, err = db.Pool.Exec(ctx, "INSERT INTO "+q+".realtime_presence (topic, id, key, meta, instance, expires_at) VALUES ('supplier:2', 'A:1:2', 'user-anna', '{}', $1, now() + interval '1 hour')",
		a.PresenceInstance())
	require.NoError(t, err)

	swept, err := a.RefreshPresence(ctx)
	require.NoError(t, err)
	require.Zero(t, swept)
	got := []hint{ra.next(t, ctx), ra.next(t, ctx)}
	require.ElementsMatch(t, []hint{{"supplier:1", []string{"A:1:1"}}, {"supplier:2", []string{"A:1:2"}}}, got)
	require.Equal(t, []realtime.PresenceMember{anna}, presenceOf(t, ctx, a, "supplier:1"))
	require.Empty(t, presenceOf(t, ctx, a, "supplier:2"))

	// In agreement again: a refresh changes nothing.
	_, err = a.RefreshPresence(ctx)
	require.NoError(t, err)
	require.Equal(t, []realtime.PresenceMember{anna}, presenceOf(t, ctx, a, "supplier:1"))
	ra.none(t)
}

// Close deletes the broker's members, so the other instances see them
// leave at once; a broker that never tracked touches nothing.
func TestPresenceCloseRemovesTheBrokersMembers(t *testing.T) {
	db := pgtest.New(t, "pgbroker")
	ctx := testCtx(t)
	a := newBroker(t, db, pgbroker.WithChannel(db.Schema))
	b := newBroker(t, db, pgbroker.WithChannel(db.Schema))
	rb := newPresenceRecorder()
	require.NoError(t, b.Attach(rb))
	require.NoError(t, a.Track(ctx, member("supplier:1", "A:1:1", "user-anna", `{}`)))
	require.NoError(t, a.Track(ctx, member("supplier:2", "A:1:2", "user-anna", `{}`)))
	require.NoError(t, b.Track(ctx, member("supplier:1", "B:1:1", "user-ben", `{}`)))
	for range 3 {
		rb.next(t, ctx)
	}
	require.NoError(t, a.Close())
	got := []hint{rb.next(t, ctx), rb.next(t, ctx)}
	require.ElementsMatch(t, []hint{{"supplier:1", []string{"A:1:1"}}, {"supplier:2", []string{"A:1:2"}}}, got)
	require.Len(t, presenceOf(t, ctx, b, "supplier:1"), 1)
	require.Empty(t, presenceOf(t, ctx, b, "supplier:2"))
	require.ErrorIs(t, a.Track(ctx, member("supplier:1", "A:1:3", "k", `{}`)), realtime.ErrBrokerClosed)
	require.ErrorIs(t, a.Untrack(ctx, "supplier:1", "A:1:3"), realtime.ErrBrokerClosed)
	_, err := a.Presence(ctx, "supplier:1")
	require.ErrorIs(t, err, realtime.ErrBrokerClosed)
}

// Bad members and options get errors naming the field and the rule; a
// schema migrated before presence existed is not migrated.
func TestPresenceValidation(t *testing.T) {
	db := pgtest.New(t, "pgbroker")
	ctx := testCtx(t)
	a := newBroker(t, db, pgbroker.WithChannel(db.Schema))
	for _, c := range []struct {
		m     realtime.PresenceMember
		field string
		rule  string
	}{
		{member("", "id", "k", `{}`), "member.Topic", "must be 1 to 1024 bytes without control characters"},
		{member("t\n", "id", "k", `{}`), "member.Topic", "without control characters"},
		{member("t", strings.Repeat("i", 257), "k", `{}`), "member.ID", "must be 1 to 256 bytes"},
		{member("t", "id", strings.Repeat("k", 1025), `{}`), "member.Key", "must be at most 1024 bytes"},
		{member("t", "id", "k", `[1]`), "member.Meta", "must be a JSON object"},
		{member("t", "id", "k", `{"a":`), "member.Meta", "must be a JSON object"},
		{member("t", "id", "k", `{"a":"`+strings.Repeat("x", 64<<10)+`"}`), "member.Meta", "must be at most 65536 bytes"},
	} {
		err := a.Track(ctx, c.m)
		require.ErrorIs(t, err, pgbroker.ErrInvalid, c.field)
		var ve *pgbroker.ValidationError
		require.ErrorAs(t, err, &ve)
		require.Equal(t, c.field, ve.Field)
		require.ErrorContains(t, err, c.rule)
	}
	_, err := pgbroker.New(ctx, db.Pool, pgbroker.WithSchema(db.Schema), pgbroker.WithPresenceTTL(500*time.Millisecond))
	var ve *pgbroker.ValidationError
	require.ErrorAs(t, err, &ve)
	require.Equal(t, "WithPresenceTTL", ve.Field)
	require.ErrorContains(t, err, "must be at least 1s, got 500ms")

	_, err = db.Pool.Exec(ctx, "DROP TABLE "+migrate.Quote(db.Schema)+".realtime_presence")
	require.NoError(t, err)
	_, err = pgbroker.New(ctx, db.Pool, pgbroker.WithSchema(db.Schema))
	require.ErrorIs(t, err, pgbroker.ErrNotMigrated)
	require.ErrorContains(t, err, "realtime_presence")
}
