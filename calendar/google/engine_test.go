package google_test

// The engine (calendar.Sync) against the Google fake: the same ten rounds
// of changes on both sides as calendar's CalDAV test, in memory and in
// Postgres mode.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/calendar"
	"github.com/wedsync/integrations/calendar/calendartest"
	"github.com/wedsync/integrations/calendar/google"
	"github.com/wedsync/integrations/calendar/google/googletest"
	"github.com/wedsync/integrations/internal/pgtest"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

func modes(t *testing.T, fn func(t *testing.T, newSync func(opts ...calendar.Option) *calendar.Sync)) {
	t.Run("memory", func(t *testing.T) {
		fn(t, func(opts ...calendar.Option) *calendar.Sync { return startSync(t, opts...) })
	})
	t.Run("postgres", func(t *testing.T) {
		db := pgtest.New(t, "calendar_google")
		require.NoError(t, calendar.Migrate(context.Background(), db.Pool, calendar.WithSchema(db.Schema)))
		fn(t, func(opts ...calendar.Option) *calendar.Sync {
			return startSync(t, append([]calendar.Option{calendar.WithPostgres(db.Pool), calendar.WithSchema(db.Schema),
				calendar.WithEncryptionKey(testKey)}, opts...)...)
		})
	})
}

func startSync(t *testing.T, opts ...calendar.Option) *calendar.Sync {
	return calendartest.StartSync(t, opts...)
}

type changeLog = calendartest.Changes

// settle syncs the connection and waits until the engine is idle.
func settle(t *testing.T, s *calendar.Sync, conn string) { calendartest.Settle(t, s, conn) }

func at(t testing.TB, day, hour int) time.Time {
	return time.Date(2027, time.June, day, hour, 0, 0, 0, london(t))
}

// world is one supplier with one Google calendar connected to an engine,
// and the supplier's own Google Calendar app (a second provider).
type world struct {
	srv   *googletest.Server
	s     *calendar.Sync
	app   *google.Provider
	creds []byte
	conn  calendar.ConnectionStatus
	ch    *changeLog
}

func newWorld(t *testing.T, newSync func(...calendar.Option) *calendar.Sync) *world {
	t.Helper()
	srv := googletest.Start(t)
	srv.SetPageSize(4) // several pages even for a small calendar
	w := &world{srv: srv, app: newProvider(t, srv), creds: srv.Creds(), ch: &changeLog{}}
	w.s = newSync(calendar.WithProvider(newProvider(t, srv)), w.ch.Handler())
	var err error
	w.conn, err = w.s.Connect(context.Background(), calendar.Connection{Supplier: "sup_alice", Provider: google.ProviderName,
		Calendar: cal, TimeZone: "Europe/London"}, w.creds)
	require.NoError(t, err)
	settle(t, w.s, w.conn.ID)
	return w
}

func (w *world) events(t *testing.T) []calendar.Event {
	t.Helper()
	cs, err := w.app.Changes(context.Background(), w.creds, cal, "")
	require.NoError(t, err)
	slices.SortFunc(cs.Updated, func(a, b calendar.Event) int { return a.Start.Compare(b.Start) })
	return cs.Updated
}

func (w *world) busy(t *testing.T, from, to time.Time) []calendar.Interval {
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

func (w *world) writes(t *testing.T) int {
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

// Ten rounds of changes on both sides, in random order within a round:
// WedSync books, moves and cancels; the supplier adds, moves and deletes
// events in Google Calendar; access tokens expire now and then and sync
// tokens go stale once. After each round the calendar holds each live
// booking once, at its time, and the engine's busy time is exactly the
// supplier's events.
func TestGoogleTenRoundsBothWaysNoDuplicates(t *testing.T) {
	modes(t, func(t *testing.T, newSync func(...calendar.Option) *calendar.Sync) {
		ctx := context.Background()
		w := newWorld(t, newSync)
		seed := rand.Uint64()
		if v, err := strconv.ParseUint(os.Getenv("WEDSYNC_GOOGLE_SEED"), 10, 64); err == nil {
			seed = v // to replay a failure
		}
		t.Logf("seed %d (WEDSYNC_GOOGLE_SEED=%d replays it)", seed, seed)
		rnd := rand.New(rand.NewPCG(seed, 1))
		bookings := map[string]calendar.Booking{}
		own := map[string]*calendar.Event{}
		next := 0
		slot := func() time.Time { next++; return at(t, 1, 8).AddDate(0, 0, next) }
		for round := 1; round <= 10; round++ {
			ops := []func(){
				func() { // WedSync books
					id := fmt.Sprintf("bk_%d", next)
					st := slot()
					b, err := w.s.Book(ctx, calendar.Booking{ID: id, Supplier: "sup_alice", Title: "Wedding " + id, Start: st, End: st.Add(10 * time.Hour)})
					require.NoError(t, err)
					bookings[id] = b
				},
				func() { // WedSync moves one an hour later
					for id, b := range bookings {
						b.Start, b.End = b.Start.Add(time.Hour), b.End.Add(time.Hour)
						b2, err := w.s.Book(ctx, b)
						require.NoError(t, err)
						bookings[id] = b2
						return
					}
				},
				func() { // the supplier adds an event
					st := slot()
					ev, err := w.app.Create(ctx, w.creds, cal, &calendar.Event{UID: fmt.Sprintf("own-%d", next), Summary: fmt.Sprintf("Own %d", next), Start: st, End: st.Add(2 * time.Hour)})
					require.NoError(t, err)
					own[ev.ID] = ev
				},
				func() { // the supplier moves one of theirs
					for id, ev := range own {
						ev.Start, ev.End = ev.Start.Add(30*time.Minute), ev.End.Add(30*time.Minute)
						got, err := w.app.Update(ctx, w.creds, cal, ev, ev.ETag)
						require.NoError(t, err)
						own[id] = got
						return
					}
				},
			}
			if round%3 == 0 {
				ops = append(ops, func() { // WedSync cancels one
					for id := range bookings {
						require.NoError(t, w.s.Cancel(ctx, id))
						delete(bookings, id)
						return
					}
				}, func() { // the supplier deletes one of theirs
					for id, ev := range own {
						require.NoError(t, w.app.Delete(ctx, w.creds, cal, id, ev.ETag))
						delete(own, id)
						return
					}
				})
			}
			if round == 5 {
				ops = append(ops, func() { w.srv.ExpireSyncTokens(cal) }) // 410: a full sync
			}
			if round%2 == 0 {
				// The access tokens the engine holds expire (while it is
				// idle: a token refreshed a moment ago does not expire).
				w.srv.ExpireAccessTokens()
			}
			rnd.Shuffle(len(ops), func(i, j int) { ops[i], ops[j] = ops[j], ops[i] })
			for _, op := range ops {
				op()
			}
			settle(t, w.s, w.conn.ID)

			evs := w.events(t)
			tagged := map[string]int{}
			var untagged []calendar.Event
			for _, ev := range evs {
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
			busy := w.busy(t, at(t, 1, 0), at(t, 1, 0).AddDate(0, 2, 0))
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
			settle(t, w.s, w.conn.ID)
		}
		require.Equal(t, before, w.writes(t), "syncing our own writes back writes nothing")
		require.Empty(t, w.ch.Of(calendar.ChangeBookingEdited))
		require.Empty(t, w.ch.Of(calendar.ChangeSyncFailed))
		st, err := w.s.Connection(ctx, w.conn.ID)
		require.NoError(t, err)
		require.Equal(t, len(bookings)+len(own), st.Events)
		require.Empty(t, st.LastError)
		require.Positive(t, w.srv.Calls("token"), "tokens were refreshed along the way")
		as, err := w.s.Attempts(ctx, w.conn.ID, 1000)
		require.NoError(t, err)
		stale := 0
		for _, a := range as {
			if a.Op == "changes" && !a.OK && strings.Contains(a.Error, "sync cursor no longer valid") {
				stale++
			}
		}
		require.Equal(t, 1, stale, "the stale sync token met a 410 once, and a full sync followed")
	})
}

// The supplier deletes a booking's event in Google Calendar: the engine
// puts it back (Google keeps the deleted event's id, so the provider
// restores that event rather than failing on the id for ever).
func TestGoogleDeletedBookingEventIsRestored(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, func(opts ...calendar.Option) *calendar.Sync { return startSync(t, opts...) })
	_, err := w.s.Book(ctx, calendar.Booking{ID: "bk_1", Supplier: "sup_alice", Title: "Wedding", Start: at(t, 5, 11), End: at(t, 5, 23)})
	require.NoError(t, err)
	settle(t, w.s, w.conn.ID)
	evs := w.events(t)
	require.Len(t, evs, 1)
	w.srv.Remove(cal, evs[0].ID)
	settle(t, w.s, w.conn.ID)
	settle(t, w.s, w.conn.ID)
	evs = w.events(t)
	require.Len(t, evs, 1, "restored")
	require.Equal(t, "bk_1", evs[0].Tag)
	require.Len(t, w.ch.Of(calendar.ChangeBookingDeleted), 1, "the host is told")
	require.Empty(t, w.ch.Of(calendar.ChangeSyncFailed))
	st, err := w.s.Connection(ctx, w.conn.ID)
	require.NoError(t, err)
	require.Empty(t, st.LastError)
}

// The supplier adds a guest to a booking's event; WedSync then moves the
// booking. The write meets a 412, reads the event, merges and writes: the
// new time, and the guest kept.
func TestGoogleConcurrentEditMergesOn412(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, func(opts ...calendar.Option) *calendar.Sync { return startSync(t, opts...) })
	b, err := w.s.Book(ctx, calendar.Booking{ID: "bk_1", Supplier: "sup_alice", Title: "Wedding", Start: at(t, 5, 11), End: at(t, 5, 23)})
	require.NoError(t, err)
	settle(t, w.s, w.conn.ID)
	evs := w.events(t)
	require.Len(t, evs, 1)
	raw, _ := w.srv.Event(cal, evs[0].ID)
	raw["attendees"] = []any{map[string]any{"email": "second-shooter@example.com"}}
	w.srv.Put(cal, raw)
	settle(t, w.s, w.conn.ID)

	b.Start, b.End = at(t, 5, 12), at(t, 5, 22)
	_, err = w.s.Book(ctx, b)
	require.NoError(t, err)
	settle(t, w.s, w.conn.ID)
	evs = w.events(t)
	require.Len(t, evs, 1)
	require.True(t, evs[0].Start.Equal(at(t, 5, 12)), "moved: %s", evs[0].Start)
	raw, _ = w.srv.Event(cal, evs[0].ID)
	require.Equal(t, []any{map[string]any{"email": "second-shooter@example.com"}}, raw["attendees"], "the guest survives our write")
	as, err := w.s.Attempts(ctx, w.conn.ID, 100)
	require.NoError(t, err)
	var failed412, reread bool
	for _, a := range as {
		failed412 = failed412 || (a.Op == "update" && !a.OK && strings.Contains(a.Error, "precondition"))
		reread = reread || a.Op == "get"
	}
	require.True(t, failed412, "the first update met a 412")
	require.True(t, reread, "the event was read again")
}

// Deleting the supplier's own event frees the time; cancelling a booking
// deletes its event.
func TestGoogleDeletesBothWays(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, func(opts ...calendar.Option) *calendar.Sync { return startSync(t, opts...) })
	_, err := w.s.Book(ctx, calendar.Booking{ID: "bk_1", Supplier: "sup_alice", Title: "Wedding", Start: at(t, 5, 11), End: at(t, 5, 23)})
	require.NoError(t, err)
	own, err := w.app.Create(ctx, w.creds, cal, &calendar.Event{UID: "dentist", Summary: "Dentist", Start: at(t, 7, 9), End: at(t, 7, 10)})
	require.NoError(t, err)
	settle(t, w.s, w.conn.ID)
	require.Len(t, w.busy(t, at(t, 7, 0), at(t, 8, 0)), 1)
	require.NoError(t, w.app.Delete(ctx, w.creds, cal, own.ID, own.ETag))
	settle(t, w.s, w.conn.ID)
	require.Empty(t, w.busy(t, at(t, 7, 0), at(t, 8, 0)), "the dentist is gone")
	require.NoError(t, w.s.Cancel(ctx, "bk_1"))
	settle(t, w.s, w.conn.ID)
	require.Empty(t, w.events(t), "a cancelled booking's event is deleted")
}

func gtime(tm time.Time) map[string]any {
	return map[string]any{"dateTime": tm.Format(time.RFC3339), "timeZone": tm.Location().String()}
}

// A weekly series with an EXDATE, an RDATE, one instance moved and one
// cancelled (Google's recurringEventId instances) becomes exactly the
// right busy blocks; moving another instance later is picked up by an
// incremental sync.
func TestGoogleRecurringSeries(t *testing.T) {
	w := newWorld(t, func(opts ...calendar.Option) *calendar.Sync { return startSync(t, opts...) })
	w.srv.Put(cal, map[string]any{"id": "studio1", "iCalUID": "series-1@test", "summary": "Studio hours",
		"start": gtime(at(t, 1, 9)), "end": gtime(at(t, 1, 10)),
		"recurrence": []any{"RRULE:FREQ=WEEKLY;COUNT=6", "EXDATE;TZID=Europe/London:20270608T090000", "RDATE;TZID=Europe/London:20270603T150000"}})
	w.srv.Put(cal, map[string]any{"id": "studio1_20270615T080000Z", "iCalUID": "series-1@test", "recurringEventId": "studio1",
		"originalStartTime": gtime(at(t, 15, 9)), "summary": "Studio hours (moved)", "start": gtime(at(t, 16, 13)), "end": gtime(at(t, 16, 14))})
	w.srv.Put(cal, map[string]any{"id": "studio1_20270622T080000Z", "iCalUID": "series-1@test", "recurringEventId": "studio1",
		"originalStartTime": gtime(at(t, 22, 9)), "status": "cancelled"})
	settle(t, w.s, w.conn.ID)
	want := []calendar.Interval{
		{Start: at(t, 1, 9), End: at(t, 1, 10)},
		{Start: at(t, 3, 15), End: at(t, 3, 16)},   // RDATE
		{Start: at(t, 16, 13), End: at(t, 16, 14)}, // the 15th, moved
		{Start: at(t, 29, 9), End: at(t, 29, 10)},
		{Start: at(t, 1, 9).AddDate(0, 0, 35), End: at(t, 1, 10).AddDate(0, 0, 35)}, // 6 July, the sixth
	}
	check := func(want []calendar.Interval) {
		t.Helper()
		got := w.busy(t, at(t, 1, 0), at(t, 30, 0).AddDate(0, 1, 0))
		require.Len(t, got, len(want), "got %v", got)
		for i := range want {
			require.True(t, got[i].Start.Equal(want[i].Start) && got[i].End.Equal(want[i].End), "instance %d: got %s, want %s", i, got[i], want[i])
		}
	}
	check(want)

	// The supplier moves the 29 June instance to the afternoon: only the
	// instance changes, and the sync reads the whole series again.
	w.srv.Put(cal, map[string]any{"id": "studio1_20270629T080000Z", "iCalUID": "series-1@test", "recurringEventId": "studio1",
		"originalStartTime": gtime(at(t, 29, 9)), "summary": "Studio hours", "start": gtime(at(t, 29, 14)), "end": gtime(at(t, 29, 15))})
	settle(t, w.s, w.conn.ID)
	want[3] = calendar.Interval{Start: at(t, 29, 14), End: at(t, 29, 15)}
	check(want)
}

// An all-day event blocks its day in the connection's zone; a booking on
// the Sunday the clocks go back round-trips with its zone.
func TestGoogleAllDayAndDST(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, func(opts ...calendar.Option) *calendar.Sync { return startSync(t, opts...) })
	loc := london(t)
	_, err := w.app.Create(ctx, w.creds, cal, &calendar.Event{UID: "off", Summary: "Day off", AllDay: true,
		Start: time.Date(2027, 6, 5, 0, 0, 0, 0, time.UTC), End: time.Date(2027, 6, 6, 0, 0, 0, 0, time.UTC)})
	require.NoError(t, err)
	sun := time.Date(2027, 10, 31, 0, 0, 0, 0, loc)
	_, err = w.s.Book(ctx, calendar.Booking{ID: "bk_dst", Supplier: "sup_alice", Title: "Brunch wedding", Start: sun.Add(time.Hour), End: sun.Add(5 * time.Hour)})
	require.NoError(t, err)
	settle(t, w.s, w.conn.ID)
	day := w.busy(t, time.Date(2027, 6, 4, 0, 0, 0, 0, time.UTC), time.Date(2027, 6, 8, 0, 0, 0, 0, time.UTC))
	require.Len(t, day, 1)
	require.True(t, day[0].Start.Equal(time.Date(2027, 6, 5, 0, 0, 0, 0, loc)), "midnight in London: %s", day[0].Start)
	require.True(t, day[0].End.Equal(time.Date(2027, 6, 6, 0, 0, 0, 0, loc)))
	var found bool
	for _, ev := range w.events(t) {
		if ev.Tag == "bk_dst" {
			found = true
			require.True(t, ev.Start.Equal(sun.Add(time.Hour)))
			require.True(t, ev.End.Equal(sun.Add(5*time.Hour)), "four real hours, across the change")
			require.Equal(t, "Europe/London", ev.Start.Location().String())
		}
	}
	require.True(t, found, "the booking is in the calendar")
}

// The supplier revokes WedSync's access in their Google account: the
// connection is marked for reconnection, with calendar.ErrReconnect's
// message as its last error.
func TestGoogleRevokedAccessReportsReconnect(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, func(opts ...calendar.Option) *calendar.Sync { return startSync(t, opts...) })
	w.srv.RevokeRefreshTokens()
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	require.NoError(t, w.s.SyncNow(wctx, w.conn.ID))
	require.NoError(t, w.s.WaitIdle(wctx))
	st, err := w.s.Connection(ctx, w.conn.ID)
	require.NoError(t, err)
	require.True(t, st.NeedsReconnect)
	require.Contains(t, st.LastError, "connect this calendar again")
	require.NotContains(t, st.LastError, "rt-", "no token in what the host sees")
}
