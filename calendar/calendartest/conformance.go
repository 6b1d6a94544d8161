package calendartest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/calendar"
)

// Harness is one provider under the conformance suite: the provider, the
// credentials and the calendar of a fresh, empty calendar. The suite uses
// the same provider both as the engine's and as the supplier's own
// calendar app (a second client writing to the calendar).
type Harness struct {
	Provider    calendar.Provider
	Credentials []byte
	Calendar    string
	// AllDay says the provider round-trips all-day events. Default false.
	AllDay bool
}

// RunConformance runs the suite every provider passes, against the engine
// in memory mode: bookings reach the calendar and come back without
// loops, the supplier's events become busy time, moves and deletes travel
// both ways, all-day events land on their day in the connection's zone,
// and ten rounds of changes on both sides leave no duplicates.
// newHarness is called once per subtest and must give an empty calendar.
func RunConformance(t *testing.T, newHarness func(t *testing.T) Harness) {
	t.Run("TenRoundsBothWaysNoDuplicates", func(t *testing.T) { tenRounds(t, newHarness(t)) })
	t.Run("DeletesAndMovesBothWays", func(t *testing.T) { deletesAndMoves(t, newHarness(t)) })
	t.Run("AllDayInTheConnectionsZone", func(t *testing.T) {
		h := newHarness(t)
		if !h.AllDay {
			t.Skip("the harness says the provider does not round-trip all-day events")
		}
		allDay(t, h)
	})
}

type world struct {
	h    Harness
	s    *calendar.Sync
	conn string
}

var london = func() *time.Location {
	l, err := time.LoadLocation("Europe/London")
	if err != nil {
		panic(err)
	}
	return l
}()

func day(d, h int) time.Time { return time.Date(2027, time.June, d, h, 0, 0, 0, london) }

func newWorld(t *testing.T, h Harness, zone string) *world {
	t.Helper()
	s := StartSync(t, calendar.WithProvider(h.Provider))
	c, err := s.Connect(context.Background(), calendar.Connection{Supplier: "sup_conf", Provider: h.Provider.Name(), Calendar: h.Calendar, TimeZone: zone}, h.Credentials)
	require.NoError(t, err)
	w := &world{h: h, s: s, conn: c.ID}
	w.settle(t)
	return w
}

func (w *world) settle(t *testing.T) {
	t.Helper()
	Settle(t, w.s, w.conn)
	st, err := w.s.Connection(context.Background(), w.conn)
	require.NoError(t, err)
	require.Empty(t, st.LastError, "the sync failed")
}

// events lists the calendar as the supplier's app sees it.
func (w *world) events(t *testing.T) []calendar.Event {
	t.Helper()
	cs, err := w.h.Provider.Changes(context.Background(), w.h.Credentials, w.h.Calendar, "")
	require.NoError(t, err)
	out := slices.DeleteFunc(cs.Updated, func(e calendar.Event) bool { return e.Cancelled })
	slices.SortFunc(out, func(a, b calendar.Event) int { return a.Start.Compare(b.Start) })
	return out
}

func (w *world) put(t *testing.T, ev *calendar.Event) *calendar.Event {
	t.Helper()
	if ev.UID == "" {
		ev.UID = fmt.Sprintf("conformance-%d@test", time.Now().UnixNano())
	}
	got, err := w.h.Provider.Create(context.Background(), w.h.Credentials, w.h.Calendar, ev)
	require.NoError(t, err)
	return got
}

func (w *world) busy(t *testing.T, from, to time.Time) []calendar.Interval {
	t.Helper()
	cs, err := w.s.Check(context.Background(), "sup_conf", calendar.Interval{Start: from, End: to})
	require.NoError(t, err)
	var out []calendar.Interval
	for _, c := range cs {
		if c.Kind == calendar.ConflictBusy {
			out = append(out, c.Interval)
		}
	}
	return out
}

func tenRounds(t *testing.T, h Harness) {
	ctx := context.Background()
	w := newWorld(t, h, "Europe/London")
	bookings := map[string]calendar.Booking{}
	own := map[string]*calendar.Event{}
	n := 0
	slot := func() time.Time { n++; return day(1, 8).AddDate(0, 0, n) }
	for round := 1; round <= 10; round++ {
		id := fmt.Sprintf("bk_%d", round)
		st := slot()
		b, err := w.s.Book(ctx, calendar.Booking{ID: id, Supplier: "sup_conf", Title: "Wedding " + id, Start: st, End: st.Add(10 * time.Hour)})
		require.NoError(t, err)
		bookings[id] = b
		if prev, ok := bookings[fmt.Sprintf("bk_%d", round-1)]; ok { // WedSync moves the previous booking an hour later
			prev.Start, prev.End = prev.Start.Add(time.Hour), prev.End.Add(time.Hour)
			prev, err = w.s.Book(ctx, prev)
			require.NoError(t, err)
			bookings[prev.ID] = prev
		}
		st = slot()
		ev := w.put(t, &calendar.Event{Summary: fmt.Sprint("Own ", round), Start: st, End: st.Add(2 * time.Hour)})
		own[ev.ID] = ev
		if round%3 == 0 { // and now and then each side deletes one
			for id := range bookings {
				require.NoError(t, w.s.Cancel(ctx, id))
				delete(bookings, id)
				break
			}
			for id, ev := range own {
				require.NoError(t, w.h.Provider.Delete(ctx, w.h.Credentials, w.h.Calendar, id, ev.ETag))
				delete(own, id)
				break
			}
		}
		w.settle(t)

		tagged := map[string]int{}
		untagged := 0
		for _, ev := range w.events(t) {
			if ev.Tag == "" {
				untagged++
				continue
			}
			tagged[ev.Tag]++
			b, ok := bookings[ev.Tag]
			require.True(t, ok, "round %d: an event of cancelled booking %s", round, ev.Tag)
			require.True(t, ev.Start.Equal(b.Start) && ev.End.Equal(b.End), "round %d: booking %s at %s, its event at %s", round, ev.Tag, b.Start, ev.Start)
		}
		for id := range bookings {
			require.Equal(t, 1, tagged[id], "round %d: booking %s is in the calendar once", round, id)
		}
		require.Equal(t, len(own), untagged, "round %d: the supplier's own events are left alone", round)
		require.Len(t, w.busy(t, day(1, 0), day(1, 0).AddDate(0, 2, 0)), len(own), "round %d: busy time is the supplier's events", round)
	}
	// Loop prevention: syncs with nothing changed write nothing.
	before := writes(t, w)
	for range 3 {
		w.settle(t)
	}
	require.Equal(t, before, writes(t, w), "syncing the engine's own writes back writes nothing")
}

func writes(t *testing.T, w *world) int {
	as, err := w.s.Attempts(context.Background(), w.conn, 1000)
	require.NoError(t, err)
	n := 0
	for _, a := range as {
		if a.Op == "create" || a.Op == "update" || a.Op == "delete" {
			n++
		}
	}
	return n
}

func deletesAndMoves(t *testing.T, h Harness) {
	ctx := context.Background()
	w := newWorld(t, h, "Europe/London")
	_, err := w.s.Book(ctx, calendar.Booking{ID: "bk_1", Supplier: "sup_conf", Title: "Wedding", Start: day(5, 11), End: day(5, 23)})
	require.NoError(t, err)
	own := w.put(t, &calendar.Event{Summary: "Dentist", Start: day(7, 9), End: day(7, 10)})
	w.settle(t)
	require.Len(t, w.busy(t, day(7, 0), day(8, 0)), 1)

	// The supplier moves their event: the busy block moves.
	own.Start, own.End = day(7, 14), day(7, 15)
	moved, err := h.Provider.Update(ctx, h.Credentials, h.Calendar, own, own.ETag)
	require.NoError(t, err)
	w.settle(t)
	b := w.busy(t, day(7, 0), day(8, 0))
	require.Len(t, b, 1)
	require.True(t, b[0].Start.Equal(day(7, 14)), "moved to %s", b[0].Start)

	// The supplier deletes the booking's event and their own.
	var ours calendar.Event
	for _, ev := range w.events(t) {
		if ev.Tag == "bk_1" {
			ours = ev
		}
	}
	require.NotEmpty(t, ours.ID, "the booking is in the calendar")
	require.NoError(t, h.Provider.Delete(ctx, h.Credentials, h.Calendar, ours.ID, ours.ETag))
	require.NoError(t, h.Provider.Delete(ctx, h.Credentials, h.Calendar, moved.ID, moved.ETag))
	w.settle(t)
	evs := w.events(t)
	require.Len(t, evs, 1, "the booking's event is written again; the dentist is gone")
	require.Equal(t, "bk_1", evs[0].Tag)
	require.Empty(t, w.busy(t, day(7, 0), day(8, 0)))

	// WedSync moves, then cancels, the booking.
	bk, err := w.s.Booking(ctx, "bk_1")
	require.NoError(t, err)
	bk.Start, bk.End = day(6, 11), day(6, 23)
	_, err = w.s.Book(ctx, bk)
	require.NoError(t, err)
	w.settle(t)
	evs = w.events(t)
	require.Len(t, evs, 1)
	require.True(t, evs[0].Start.Equal(day(6, 11)), "the move reached the calendar: %s", evs[0].Start)
	require.NoError(t, w.s.Cancel(ctx, "bk_1"))
	w.settle(t)
	require.Empty(t, w.events(t), "the cancellation deleted the event")
}

func allDay(t *testing.T, h Harness) {
	w := newWorld(t, h, "America/New_York")
	ny, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	w.put(t, &calendar.Event{Summary: "Day off", AllDay: true,
		Start: time.Date(2027, 6, 5, 0, 0, 0, 0, time.UTC), End: time.Date(2027, 6, 6, 0, 0, 0, 0, time.UTC)})
	w.settle(t)
	b := w.busy(t, time.Date(2027, 6, 4, 0, 0, 0, 0, time.UTC), time.Date(2027, 6, 7, 0, 0, 0, 0, time.UTC))
	require.Len(t, b, 1)
	require.True(t, b[0].Start.Equal(time.Date(2027, 6, 5, 0, 0, 0, 0, ny)) && b[0].End.Equal(time.Date(2027, 6, 6, 0, 0, 0, 0, ny)),
		"the day is New York's midnight to midnight: %s", b[0])
}
