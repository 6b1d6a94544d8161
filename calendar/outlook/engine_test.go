package outlook_test

// The engine (calendar.Sync) against the Graph fake: ten rounds of
// changes on both sides, in the shape of the CalDAV test
// TestCalDAVTenRoundsBothWaysNoDuplicates in package calendar.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/calendar"
	"github.com/wedsync/integrations/calendar/calendartest"
	"github.com/wedsync/integrations/calendar/outlook"
	"github.com/wedsync/integrations/calendar/outlook/outlooktest"
	"github.com/wedsync/integrations/internal/pgtest"
)

type changeLog = calendartest.Changes

type engineWorld struct {
	srv   *outlooktest.Server
	s     *calendar.Sync
	app   *outlook.Provider // the supplier's Outlook
	creds []byte
	cal   string
	conn  calendar.ConnectionStatus
	ch    *changeLog
}

// modes runs fn with an engine in memory mode and in Postgres mode (the
// connection's OAuth token sealed in the database).
func modes(t *testing.T, fn func(t *testing.T, opts ...calendar.Option)) {
	t.Run("memory", func(t *testing.T) { fn(t) })
	t.Run("postgres", func(t *testing.T) {
		db := pgtest.New(t, "outlook")
		require.NoError(t, calendar.Migrate(context.Background(), db.Pool, calendar.WithSchema(db.Schema)))
		fn(t, calendar.WithPostgres(db.Pool), calendar.WithSchema(db.Schema),
			calendar.WithEncryptionKey([]byte("0123456789abcdef0123456789abcdef")))
	})
}

func newEngineWorld(t *testing.T, opts ...calendar.Option) *engineWorld {
	t.Helper()
	srv := outlooktest.Start(t)
	w := &engineWorld{srv: srv, app: srv.NewProvider(t), creds: srv.Creds(), cal: srv.AddCalendar("Calendar"), ch: &changeLog{}}
	s := calendartest.StartSync(t, append([]calendar.Option{calendar.WithProvider(srv.NewProvider(t)), w.ch.Handler()}, opts...)...)
	w.s = s
	var err error
	w.conn, err = s.Connect(context.Background(), calendar.Connection{Supplier: "sup_alice", Provider: outlook.ProviderName,
		Calendar: w.cal, TimeZone: "Europe/London"}, srv.Creds())
	require.NoError(t, err)
	w.settle(t)
	return w
}

// settle syncs and waits until the engine is idle.
func (w *engineWorld) settle(t *testing.T) { calendartest.Settle(t, w.s, w.conn.ID) }

// ctx keeps the supplier's app's credentials current when it refreshes
// them, as the engine does with its own.
func (w *engineWorld) ctx() context.Context {
	return calendar.ContextWithCredentialsUpdate(context.Background(), func(c []byte) { w.creds = c })
}

func (w *engineWorld) events(t *testing.T) []calendar.Event {
	t.Helper()
	cs, err := w.app.Changes(w.ctx(), w.creds, w.cal, "")
	require.NoError(t, err)
	return cs.Updated
}

func (w *engineWorld) busy(t *testing.T, from, to time.Time) []calendar.Interval {
	t.Helper()
	cs, err := w.s.Check(context.Background(), "sup_alice", calendar.Interval{Start: from, End: to})
	require.NoError(t, err)
	var out []calendar.Interval
	for _, c := range cs {
		if c.Kind == calendar.ConflictBusy {
			out = append(out, c.Interval)
		}
	}
	return out
}

func (w *engineWorld) writes(t *testing.T) int {
	t.Helper()
	as, err := w.s.Attempts(context.Background(), w.conn.ID, 1000)
	require.NoError(t, err)
	n := 0
	for _, a := range as {
		if a.Op != "changes" && a.Op != "get" {
			n++
		}
	}
	return n
}

func TestEngineTenRoundsBothWaysNoDuplicates(t *testing.T) {
	modes(t, tenRounds)
}

func tenRounds(t *testing.T, opts ...calendar.Option) {
	ctx := context.Background()
	w := newEngineWorld(t, opts...)
	loc := london(t)
	at := func(day, hour int) time.Time { return time.Date(2027, time.June, day, hour, 0, 0, 0, loc) }
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewPCG(seed, 1))
	bookings := map[string]calendar.Booking{}
	own := map[string]*calendar.Event{}
	next := 0
	slot := func() time.Time { next++; return at(1, 8).AddDate(0, 0, next) }
	for round := 1; round <= 10; round++ {
		if round == 4 {
			w.srv.ExpireAccessTokens() // the engine's token stops working: refresh, store, go on
		}
		if round == 7 {
			w.srv.InvalidateDeltaLinks() // the engine's cursor is refused: full sync
		}
		ops := []func(){
			func() {
				id := fmt.Sprintf("bk_%d", next)
				st := slot()
				b, err := w.s.Book(ctx, calendar.Booking{ID: id, Supplier: "sup_alice", Title: "Wedding " + id, Start: st, End: st.Add(10 * time.Hour)})
				require.NoError(t, err)
				bookings[id] = b
			},
			func() {
				for id, b := range bookings {
					b.Start, b.End = b.Start.Add(time.Hour), b.End.Add(time.Hour)
					b2, err := w.s.Book(ctx, b)
					require.NoError(t, err)
					bookings[id] = b2
					return
				}
			},
			func() {
				st := slot()
				ev, err := w.app.Create(w.ctx(), w.creds, w.cal, &calendar.Event{UID: fmt.Sprint("own-", next), Summary: fmt.Sprintf("Own %d", next), Start: st, End: st.Add(2 * time.Hour)})
				require.NoError(t, err)
				own[ev.ID] = ev
			},
			func() {
				for id, ev := range own {
					ev.Start, ev.End = ev.Start.Add(30*time.Minute), ev.End.Add(30*time.Minute)
					got, err := w.app.Update(w.ctx(), w.creds, w.cal, ev, ev.ETag)
					require.NoError(t, err)
					own[id] = got
					return
				}
			},
		}
		if round%3 == 0 {
			ops = append(ops, func() {
				for id := range bookings {
					require.NoError(t, w.s.Cancel(ctx, id))
					delete(bookings, id)
					return
				}
			}, func() {
				for id, ev := range own {
					require.NoError(t, w.app.Delete(w.ctx(), w.creds, w.cal, id, ev.ETag))
					delete(own, id)
					return
				}
			})
		}
		rnd.Shuffle(len(ops), func(i, j int) { ops[i], ops[j] = ops[j], ops[i] })
		for _, op := range ops {
			op()
		}
		w.settle(t)

		tagged := map[string]int{}
		var untagged []calendar.Event
		for _, ev := range w.events(t) {
			if ev.Tag != "" {
				tagged[ev.Tag]++
				b, ok := bookings[ev.Tag]
				require.True(t, ok, "round %d: event of booking %s, which is cancelled", round, ev.Tag)
				require.True(t, ev.Start.Equal(b.Start) && ev.End.Equal(b.End), "round %d: booking %s at %s, event at %s", round, ev.Tag, b.Start, ev.Start)
			} else {
				untagged = append(untagged, ev)
			}
		}
		for id := range bookings {
			require.Equal(t, 1, tagged[id], "round %d: booking %s appears once", round, id)
		}
		require.Len(t, untagged, len(own), "round %d: the supplier's events are left alone", round)
		busy := w.busy(t, at(1, 0), at(1, 0).AddDate(0, 2, 0))
		require.Len(t, busy, len(own), "round %d: busy time is the supplier's events", round)
		for _, b := range busy {
			found := false
			for _, ev := range own {
				found = found || (b.Start.Equal(ev.Start) && b.End.Equal(ev.End))
			}
			require.True(t, found, "round %d: busy block %s is one of the supplier's events", round, b)
		}
	}
	before := w.writes(t)
	for range 3 {
		w.settle(t)
	}
	require.Equal(t, before, w.writes(t), "syncing our own writes back writes nothing")
	require.Empty(t, w.ch.Of(calendar.ChangeBookingEdited))
	require.Empty(t, w.ch.Of(calendar.ChangeSyncFailed))
	st, err := w.s.Connection(ctx, w.conn.ID)
	require.NoError(t, err)
	require.Equal(t, len(bookings)+len(own), st.Events)
	// Round 4 expired every access token: both sides refreshed and went
	// on. (The engine does not yet pass ContextWithCredentialsUpdate, so
	// it refreshes on each call after round 4; TestTokenRefreshMidSync
	// checks the provider hands the new token over.)
	require.GreaterOrEqual(t, w.srv.Refreshes(), 2, "tokens were refreshed")
}

// The supplier edits a booking's event in Outlook; WedSync then moves the
// booking. The PATCH meets a 412, the engine reads the event, merges and
// writes again: the new time, one event, the booking still tagged.
func TestEngineMergesOn412(t *testing.T) {
	ctx := context.Background()
	w := newEngineWorld(t)
	loc := london(t)
	at := func(day, hour int) time.Time { return time.Date(2027, time.June, day, hour, 0, 0, 0, loc) }
	b, err := w.s.Book(ctx, calendar.Booking{ID: "bk_1", Supplier: "sup_alice", Title: "Wedding", Start: at(5, 11), End: at(5, 23)})
	require.NoError(t, err)
	w.settle(t)
	evs := w.events(t)
	require.Len(t, evs, 1)
	ev := evs[0]
	ev.Transparent = true // the supplier marks it free: a new etag
	_, err = w.app.Update(w.ctx(), w.creds, w.cal, &ev, ev.ETag)
	require.NoError(t, err)

	b.Start, b.End = at(5, 12), at(5, 22)
	_, err = w.s.Book(ctx, b)
	require.NoError(t, err)
	w.settle(t)
	evs = w.events(t)
	require.Len(t, evs, 1)
	require.True(t, evs[0].Start.Equal(at(5, 12)), "moved: %s", evs[0].Start)
	require.Equal(t, "bk_1", evs[0].Tag)
	as, err := w.s.Attempts(ctx, w.conn.ID, 100)
	require.NoError(t, err)
	var failed412, merged bool
	for _, a := range as {
		failed412 = failed412 || (a.Op == "update" && !a.OK && strings.Contains(a.Error, "precondition"))
		merged = merged || a.Op == "get"
	}
	require.True(t, failed412, "the first write met the supplier's edit")
	require.True(t, merged, "the engine read the event to merge")
}
