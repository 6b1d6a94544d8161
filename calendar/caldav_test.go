package calendar_test

// The engine against a real CalDAV server: Radicale when it is installed
// (CI requires it), else the in-process server of caldavtest, which says
// so. The supplier's own calendar app is played by a second CalDAV client
// writing to the same calendar.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-ical"
	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/calendar"
	"github.com/wedsync/integrations/calendar/caldav"
	"github.com/wedsync/integrations/calendar/caldav/caldavtest"
	"github.com/wedsync/integrations/internal/pgtest"
)

// davWorld is one supplier with one CalDAV calendar connected to an
// engine, and the supplier's own client on the same calendar.
type davWorld struct {
	s     *calendar.Sync
	app   *caldav.Provider // the supplier's calendar app
	creds []byte
	cal   string
	conn  calendar.ConnectionStatus
	ch    *changes
}

func newDAVWorld(t *testing.T, newSync func(...calendar.Option) *calendar.Sync, zone string) *davWorld {
	t.Helper()
	srv := caldavtest.Start(t)
	dav, err := caldav.New(srv.ProviderOptions()...)
	require.NoError(t, err)
	app, err := caldav.New(srv.ProviderOptions()...)
	require.NoError(t, err)
	w := &davWorld{app: app, creds: srv.Creds("alice"), cal: srv.MakeCalendar(t, "alice", "work"), ch: &changes{}}
	w.s = newSync(calendar.WithProvider(dav), w.ch.Handler())
	w.conn, err = w.s.Connect(context.Background(), calendar.Connection{Supplier: "sup_alice", Provider: caldav.ProviderName,
		Calendar: w.cal, TimeZone: zone}, w.creds)
	require.NoError(t, err)
	settle(t, w.s, w.conn.ID)
	return w
}

// events lists the calendar as the supplier's app sees it.
func (w *davWorld) events(t *testing.T) []calendar.Event {
	t.Helper()
	cs, err := w.app.Changes(context.Background(), w.creds, w.cal, "")
	require.NoError(t, err)
	slices.SortFunc(cs.Updated, func(a, b calendar.Event) int { return a.Start.Compare(b.Start) })
	return cs.Updated
}

func (w *davWorld) put(t *testing.T, ev *calendar.Event) *calendar.Event {
	t.Helper()
	got, err := w.app.Create(context.Background(), w.creds, w.cal, ev)
	require.NoError(t, err)
	return got
}

func (w *davWorld) putICS(t *testing.T, ics string) *calendar.Event {
	t.Helper()
	ev, err := caldav.ParseEvent([]byte(strings.ReplaceAll(ics, "\n", "\r\n")))
	require.NoError(t, err)
	return w.put(t, ev)
}

func (w *davWorld) busy(t *testing.T, from, to time.Time) []calendar.Interval {
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

func (w *davWorld) writes(t *testing.T) int {
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
// events. After each round the calendar holds each live booking once, at
// its time, and the engine's busy time is exactly the supplier's events.
func TestCalDAVTenRoundsBothWaysNoDuplicates(t *testing.T) {
	modes(t, func(t *testing.T, newSync func(...calendar.Option) *calendar.Sync) {
		ctx := context.Background()
		w := newDAVWorld(t, newSync, "Europe/London")
		seed := rand.Uint64()
		t.Logf("seed %d", seed)
		rnd := rand.New(rand.NewPCG(seed, 1))
		bookings := map[string]calendar.Booking{}
		own := map[string]*calendar.Event{} // the supplier's events by id
		next := 0
		slot := func() time.Time { next++; return at(1, 8).AddDate(0, 0, next) } // one day each: no overlaps
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
					ev := w.put(t, &calendar.Event{Summary: fmt.Sprintf("Own %d", next), Start: st, End: st.Add(2 * time.Hour)})
					own[ev.ID] = ev
				},
				func() { // the supplier moves one of theirs
					for id, ev := range own {
						ev.Start, ev.End = ev.Start.Add(30*time.Minute), ev.End.Add(30*time.Minute)
						got, err := w.app.Update(ctx, w.creds, w.cal, ev, ev.ETag)
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
						require.NoError(t, w.app.Delete(ctx, w.creds, w.cal, id, ev.ETag))
						delete(own, id)
						return
					}
				})
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
		// Loop prevention: more syncs with nothing changed write nothing.
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
	})
}

// The supplier adds an alarm to a booking's event; WedSync then moves the
// booking. The write meets a 412 (the event changed since our write),
// reads the event, merges, and writes: the new time, and the alarm kept.
func TestCalDAVConcurrentEditMergesOn412(t *testing.T) {
	ctx := context.Background()
	w := newDAVWorld(t, func(opts ...calendar.Option) *calendar.Sync { return start(t, opts...) }, "Europe/London")
	b, err := w.s.Book(ctx, calendar.Booking{ID: "bk_1", Supplier: "sup_alice", Title: "Wedding", Start: at(5, 11), End: at(5, 23)})
	require.NoError(t, err)
	settle(t, w.s, w.conn.ID)
	evs := w.events(t)
	require.Len(t, evs, 1)
	ev := evs[0]
	cal, ok := ev.Native.(*ical.Calendar)
	require.True(t, ok, "the caldav provider keeps the parsed object in Native")
	alarm := ical.NewComponent(ical.CompAlarm)
	alarm.Props.SetText(ical.PropAction, "DISPLAY")
	alarm.Props.SetText(ical.PropDescription, "Charge the batteries")
	trig := ical.NewProp(ical.PropTrigger)
	trig.Value = "-PT12H"
	alarm.Props.Set(trig)
	for _, c := range cal.Children {
		if c.Name == ical.CompEvent {
			c.Children = append(c.Children, alarm)
		}
	}
	_, err = w.app.Update(ctx, w.creds, w.cal, &ev, ev.ETag)
	require.NoError(t, err)
	settle(t, w.s, w.conn.ID) // the engine sees the change: its content is ours, nothing to do

	b.Start, b.End = at(5, 12), at(5, 22)
	_, err = w.s.Book(ctx, b)
	require.NoError(t, err)
	settle(t, w.s, w.conn.ID)
	evs = w.events(t)
	require.Len(t, evs, 1)
	require.True(t, evs[0].Start.Equal(at(5, 12)), "moved: %s", evs[0].Start)
	raw, err := caldav.EncodeEvent(&evs[0])
	require.NoError(t, err)
	require.Contains(t, string(raw), "Charge the batteries", "the supplier's alarm survives our write")
	var merged, failed412 bool
	as, err := w.s.Attempts(ctx, w.conn.ID, 100)
	require.NoError(t, err)
	for _, a := range as {
		failed412 = failed412 || (a.Op == "update" && !a.OK && strings.Contains(a.Error, "precondition"))
		merged = merged || a.Op == "get"
	}
	require.True(t, failed412, "the first update met a 412")
	require.True(t, merged, "the event was read again")
}

// Deleting a booking's event in the calendar app brings it back; deleting
// the supplier's own event frees the time.
func TestCalDAVDeletesBothWays(t *testing.T) {
	ctx := context.Background()
	w := newDAVWorld(t, func(opts ...calendar.Option) *calendar.Sync { return start(t, opts...) }, "Europe/London")
	_, err := w.s.Book(ctx, calendar.Booking{ID: "bk_1", Supplier: "sup_alice", Title: "Wedding", Start: at(5, 11), End: at(5, 23)})
	require.NoError(t, err)
	own := w.put(t, &calendar.Event{Summary: "Dentist", Start: at(7, 9), End: at(7, 10)})
	settle(t, w.s, w.conn.ID)
	require.Len(t, w.busy(t, at(7, 0), at(8, 0)), 1)

	evs := w.events(t)
	var ours calendar.Event
	for _, ev := range evs {
		if ev.Tag == "bk_1" {
			ours = ev
		}
	}
	require.NoError(t, w.app.Delete(ctx, w.creds, w.cal, ours.ID, ours.ETag))
	require.NoError(t, w.app.Delete(ctx, w.creds, w.cal, own.ID, own.ETag))
	settle(t, w.s, w.conn.ID)
	evs = w.events(t)
	require.Len(t, evs, 1)
	require.Equal(t, "bk_1", evs[0].Tag, "the booking's event is written again")
	require.Len(t, w.ch.Of(calendar.ChangeBookingDeleted), 1)
	require.Empty(t, w.busy(t, at(7, 0), at(8, 0)), "the dentist is gone")

	require.NoError(t, w.s.Cancel(ctx, "bk_1"))
	settle(t, w.s, w.conn.ID)
	require.Empty(t, w.events(t), "a cancelled booking's event is deleted")
}

// A weekly series with an EXDATE, an RDATE, one instance moved and one
// cancelled, created in the calendar app, becomes exactly the right busy
// blocks.
func TestCalDAVRecurringSeries(t *testing.T) {
	w := newDAVWorld(t, func(opts ...calendar.Option) *calendar.Sync { return start(t, opts...) }, "Europe/London")
	w.putICS(t, `BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VEVENT
UID:series-1@test
DTSTAMP:20270101T000000Z
DTSTART;TZID=Europe/London:20270601T090000
DTEND;TZID=Europe/London:20270601T100000
SUMMARY:Studio hours
RRULE:FREQ=WEEKLY;COUNT=6
EXDATE;TZID=Europe/London:20270608T090000
RDATE;TZID=Europe/London:20270603T150000
END:VEVENT
BEGIN:VEVENT
UID:series-1@test
DTSTAMP:20270101T000000Z
RECURRENCE-ID;TZID=Europe/London:20270615T090000
DTSTART;TZID=Europe/London:20270616T130000
DTEND;TZID=Europe/London:20270616T140000
SUMMARY:Studio hours (moved)
END:VEVENT
BEGIN:VEVENT
UID:series-1@test
DTSTAMP:20270101T000000Z
RECURRENCE-ID;TZID=Europe/London:20270622T090000
DTSTART;TZID=Europe/London:20270622T090000
DTEND;TZID=Europe/London:20270622T100000
STATUS:CANCELLED
SUMMARY:Studio hours
END:VEVENT
END:VCALENDAR
`)
	settle(t, w.s, w.conn.ID)
	got := w.busy(t, at(1, 0), at(30, 0).AddDate(0, 1, 0))
	want := []calendar.Interval{
		{Start: at(1, 9), End: at(1, 10)},
		{Start: at(3, 15), End: at(3, 16)},   // RDATE
		{Start: at(16, 13), End: at(16, 14)}, // the 15th, moved
		{Start: at(29, 9), End: at(29, 10)},
		{Start: at(1, 9).AddDate(0, 0, 35), End: at(1, 10).AddDate(0, 0, 35)}, // 6 July, the sixth
	}
	require.Len(t, got, len(want), "got %v", got)
	for i := range want {
		require.True(t, got[i].Start.Equal(want[i].Start) && got[i].End.Equal(want[i].End), "instance %d: got %s, want %s", i, got[i], want[i])
	}
}

// An all-day event blocks its day in the connection's zone, whatever zone
// wrote it; a Sunday-morning series keeps its local time across both DST
// changes in London and New York; a booking on a DST Sunday round-trips.
func TestCalDAVAllDayAndDST(t *testing.T) {
	for _, zone := range []string{"Europe/London", "America/New_York"} {
		t.Run(zone, func(t *testing.T) {
			loc, err := time.LoadLocation(zone)
			require.NoError(t, err)
			w := newDAVWorld(t, func(opts ...calendar.Option) *calendar.Sync { return start(t, opts...) }, zone)
			w.put(t, &calendar.Event{Summary: "Day off", AllDay: true,
				Start: time.Date(2027, 6, 5, 0, 0, 0, 0, time.UTC), End: time.Date(2027, 6, 6, 0, 0, 0, 0, time.UTC)})
			// Sundays 09:30 local from early March to mid November 2027:
			// both changes (London 28 March and 31 October, New York 14
			// March and 7 November).
			tzid := zone
			w.putICS(t, fmt.Sprintf(`BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VEVENT
UID:sunday-%[1]s@test
DTSTAMP:20270101T000000Z
DTSTART;TZID=%[1]s:20270307T093000
DTEND;TZID=%[1]s:20270307T103000
SUMMARY:Sunday shoot
RRULE:FREQ=WEEKLY;BYDAY=SU;UNTIL=20271115T000000Z
END:VEVENT
END:VCALENDAR
`, tzid))
			settle(t, w.s, w.conn.ID)

			day := w.busy(t, time.Date(2027, 6, 4, 0, 0, 0, 0, time.UTC), time.Date(2027, 6, 8, 0, 0, 0, 0, time.UTC))
			var allDay []calendar.Interval
			for _, b := range day {
				if b.End.Sub(b.Start) >= 23*time.Hour {
					allDay = append(allDay, b)
				}
			}
			require.Len(t, allDay, 1)
			require.True(t, allDay[0].Start.Equal(time.Date(2027, 6, 5, 0, 0, 0, 0, loc)), "the day starts at midnight in %s: %s", zone, allDay[0].Start)
			require.True(t, allDay[0].End.Equal(time.Date(2027, 6, 6, 0, 0, 0, 0, loc)))

			sundays := w.busy(t, time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 12, 1, 0, 0, 0, 0, time.UTC))
			var n int
			for _, b := range sundays {
				if b.End.Sub(b.Start) != time.Hour {
					continue
				}
				n++
				local := b.Start.In(loc)
				require.Equal(t, time.Sunday, local.Weekday())
				require.Equal(t, 9, local.Hour(), "%s: %s", zone, b.Start.UTC())
				require.Equal(t, 30, local.Minute())
			}
			require.Equal(t, 37, n, "Sundays from 7 March to 14 November 2027 (36 weeks on)")
			// The exact instants either side of each change.
			edges := map[string][]string{
				"Europe/London":    {"2027-03-21T09:30:00Z", "2027-03-28T08:30:00Z", "2027-10-24T08:30:00Z", "2027-10-31T09:30:00Z"},
				"America/New_York": {"2027-03-07T14:30:00Z", "2027-03-14T13:30:00Z", "2027-10-31T13:30:00Z", "2027-11-07T14:30:00Z"},
			}[zone]
			starts := map[string]bool{}
			for _, b := range sundays {
				starts[b.Start.UTC().Format(time.RFC3339)] = true
			}
			for _, e := range edges {
				require.True(t, starts[e], "%s: an instance at %s", zone, e)
			}

			// A booking on the Sunday the clocks go back round-trips.
			sun := time.Date(2027, 10, 31, 0, 0, 0, 0, loc)
			if zone == "America/New_York" {
				sun = time.Date(2027, 11, 7, 0, 0, 0, 0, loc)
			}
			_, err = w.s.Book(context.Background(), calendar.Booking{ID: "bk_dst", Supplier: "sup_alice", Title: "Brunch wedding",
				Start: sun.Add(time.Hour), End: sun.Add(5 * time.Hour)})
			require.NoError(t, err)
			settle(t, w.s, w.conn.ID)
			for _, ev := range w.events(t) {
				if ev.Tag == "bk_dst" {
					require.True(t, ev.Start.Equal(sun.Add(time.Hour)), "%s vs %s", ev.Start, sun.Add(time.Hour))
					require.True(t, ev.End.Equal(sun.Add(5*time.Hour)), "four real hours, across the change")
					require.Equal(t, zone, ev.Start.Location().String(), "written with its TZID")
					return
				}
			}
			t.Fatal("the booking is not in the calendar")
		})
	}
}

// A sync token Radicale no longer accepts (403 valid-sync-token) makes the
// engine list the whole calendar instead, and nothing is duplicated or
// lost.
func TestCalDAVInvalidSyncTokenFullResyncPostgres(t *testing.T) {
	ctx := context.Background()
	db := pgtest.New(t, "calendar")
	require.NoError(t, calendar.Migrate(ctx, db.Pool, calendar.WithSchema(db.Schema)))
	w := newDAVWorld(t, func(opts ...calendar.Option) *calendar.Sync {
		return start(t, append([]calendar.Option{calendar.WithPostgres(db.Pool), calendar.WithSchema(db.Schema), calendar.WithEncryptionKey(testKey)}, opts...)...)
	}, "Europe/London")
	_, err := w.s.Book(ctx, calendar.Booking{ID: "bk_1", Supplier: "sup_alice", Title: "Wedding", Start: at(5, 11), End: at(5, 23)})
	require.NoError(t, err)
	gone := w.put(t, &calendar.Event{Summary: "Gone", Start: at(7, 9), End: at(7, 10)})
	settle(t, w.s, w.conn.ID)
	st, err := w.s.Connection(ctx, w.conn.ID)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(st.Cursor, "s1:"), "Radicale speaks sync-collection: %q", st.Cursor)

	// The server forgets the token (a restored backup, a cleared cache):
	// here, a token it never issued.
	_, err = db.Pool.Exec(ctx, fmt.Sprintf(`UPDATE %q.calendar_connections SET cursor = 's1:http://radicale.org/ns/sync/0000000000000000000000000000000000000000000000000000000000000000'`, db.Schema))
	require.NoError(t, err)
	require.NoError(t, w.app.Delete(ctx, w.creds, w.cal, gone.ID, gone.ETag))
	w.put(t, &calendar.Event{Summary: "New", Start: at(8, 9), End: at(8, 10)})
	settle(t, w.s, w.conn.ID)

	busy := w.busy(t, at(1, 0), at(30, 0))
	require.Len(t, busy, 1, "the full listing dropped the deleted event and found the new one")
	require.True(t, busy[0].Start.Equal(at(8, 9)))
	evs := w.events(t)
	require.Len(t, evs, 2, "no duplicate of the booking's event")
	as, err := w.s.Attempts(ctx, w.conn.ID, 1000)
	require.NoError(t, err)
	var refused bool
	for _, a := range as {
		refused = refused || (a.Op == "changes" && !a.OK && strings.Contains(a.Error, "cursor"))
	}
	require.True(t, refused, "the refused token is in the attempt log")
	st, err = w.s.Connection(ctx, w.conn.ID)
	require.NoError(t, err)
	require.Empty(t, st.LastError)
	require.Zero(t, st.Failures, "a refused token is not a failed sync")
}
