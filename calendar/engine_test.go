package calendar_test

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/calendar"
	"github.com/wedsync/integrations/calendar/calendartest"
)

func TestBookingReachesCalendarAndEchoIsSkipped(t *testing.T) {
	modes(t, func(t *testing.T, newSync func(...calendar.Option) *calendar.Sync) {
		ctx := context.Background()
		p := calendartest.NewProvider("")
		var ch changes
		s := newSync(calendar.WithProvider(p), ch.Handler())
		c := connect(t, s, p, "sup_1", "work")
		b, err := s.Book(ctx, calendar.Booking{ID: "bk_1", Supplier: "sup_1", Start: at(5, 11), End: at(5, 23),
			Title: "Smith & Jones wedding", Couple: "Sam Smith & Alex Jones", Venue: "Hall Barn", Contact: "sam@example.com"})
		require.NoError(t, err)
		require.Equal(t, calendar.StatusConfirmed, b.Status)
		settle(t, s, c.ID)

		evs := p.Events("work")
		require.Len(t, evs, 1)
		require.Equal(t, "Smith & Jones wedding", evs[0].Summary)
		require.Equal(t, "bk_1", evs[0].Tag)
		require.True(t, evs[0].Start.Equal(at(5, 11)))
		require.NotContains(t, evs[0].Description, "Sam Smith", "the couple's details are not shared by default")
		require.NotContains(t, evs[0].Description, "sam@example.com")
		require.Empty(t, evs[0].Location)

		// The event's echo is not a busy block, and not a conflict.
		cs, err := s.Check(ctx, "sup_1", calendar.Interval{Start: at(5, 0), End: at(6, 0)})
		require.NoError(t, err)
		require.Len(t, cs, 1)
		require.Equal(t, calendar.ConflictBooking, cs[0].Kind)
		require.Equal(t, 1, p.Calls("create"))
		require.Equal(t, 0, p.Calls("update"), "syncing our own write back must not write again")
		require.Empty(t, ch.Of(calendar.ChangeConflict))
		require.Empty(t, ch.Of(calendar.ChangeBookingEdited))
	})
}

func TestProviderEventsBecomeBusyBlocksMovesAndDeletes(t *testing.T) {
	modes(t, func(t *testing.T, newSync func(...calendar.Option) *calendar.Sync) {
		ctx := context.Background()
		p := calendartest.NewProvider("")
		var ch changes
		s := newSync(calendar.WithProvider(p), ch.Handler())
		c := connect(t, s, p, "sup_1", "work")
		settle(t, s, c.ID)

		ev := p.Put("work", calendar.Event{Summary: "Dentist", Start: at(7, 9), End: at(7, 10)})
		settle(t, s, c.ID)
		day := calendar.Interval{Start: at(7, 0), End: at(8, 0)}
		cs, err := s.Check(ctx, "sup_1", day)
		require.NoError(t, err)
		require.Len(t, cs, 1)
		require.Equal(t, calendar.ConflictBusy, cs[0].Kind)
		require.Equal(t, "Dentist", cs[0].Summary)
		require.True(t, cs[0].Interval.Start.Equal(at(7, 9)))

		// Moved in the calendar: the busy block moves.
		ev.Start, ev.End = at(7, 14), at(7, 15)
		p.Put("work", ev)
		settle(t, s, c.ID)
		cs, err = s.Check(ctx, "sup_1", day)
		require.NoError(t, err)
		require.Len(t, cs, 1)
		require.True(t, cs[0].Interval.Start.Equal(at(7, 14)))

		// A transparent (free) event blocks nothing.
		p.Put("work", calendar.Event{Summary: "Reminder", Start: at(7, 16), End: at(7, 17), Transparent: true})
		// Buffers widen the check.
		settle(t, s, c.ID)
		cs, err = s.Check(ctx, "sup_1", calendar.Interval{Start: at(7, 16), End: at(7, 18)}, calendar.WithBuffers(90*time.Minute, 0))
		require.NoError(t, err)
		require.Len(t, cs, 1, "the 14:00-15:00 event is within the 90-minute set-up buffer")

		// Deleted in the calendar: the busy block goes.
		p.Remove("work", ev.ID)
		settle(t, s, c.ID)
		cs, err = s.Check(ctx, "sup_1", day)
		require.NoError(t, err)
		require.Empty(t, cs)

		st, err := s.Connection(ctx, c.ID)
		require.NoError(t, err)
		require.NotEmpty(t, st.Cursor)
		require.False(t, st.LastSuccess.IsZero())
		require.Empty(t, st.LastError)
		require.True(t, st.NextRun.After(st.LastSuccess))
		require.Equal(t, 1, st.Events, "the transparent event is known, the deleted one is not")
	})
}

func TestConflictFoundWhileSyncingIsReported(t *testing.T) {
	modes(t, func(t *testing.T, newSync func(...calendar.Option) *calendar.Sync) {
		ctx := context.Background()
		p := calendartest.NewProvider("")
		var ch changes
		s := newSync(calendar.WithProvider(p), ch.Handler())
		c := connect(t, s, p, "sup_1", "work")
		_, err := s.Book(ctx, calendar.Booking{ID: "bk_1", Supplier: "sup_1", Start: at(5, 11), End: at(5, 23), Title: "Wedding",
			TeardownBuffer: 2 * time.Hour})
		require.NoError(t, err)
		settle(t, s, c.ID)
		require.Empty(t, ch.Of(calendar.ChangeConflict))

		// An event inside the booking's pack-down buffer.
		p.Put("work", calendar.Event{Summary: "Dinner with friends", Start: at(6, 0), End: at(6, 1)})
		settle(t, s, c.ID)
		got := ch.Of(calendar.ChangeConflict)
		require.Len(t, got, 1)
		require.Equal(t, "bk_1", got[0].BookingID)
		require.Equal(t, "sup_1", got[0].Supplier)
		require.Equal(t, "Dinner with friends", got[0].Conflict.Summary)
	})
}

func TestEditsAndDeletesOfBookingEventsInTheCalendarAreRestored(t *testing.T) {
	modes(t, func(t *testing.T, newSync func(...calendar.Option) *calendar.Sync) {
		ctx := context.Background()
		p := calendartest.NewProvider("")
		var ch changes
		s := newSync(calendar.WithProvider(p), ch.Handler())
		c := connect(t, s, p, "sup_1", "work")
		_, err := s.Book(ctx, calendar.Booking{ID: "bk_1", Supplier: "sup_1", Start: at(5, 11), End: at(5, 23), Title: "Wedding"})
		require.NoError(t, err)
		settle(t, s, c.ID)

		// Someone drags the booking to another day in the calendar app.
		ev := p.Events("work")[0]
		ev.Start, ev.End = at(6, 11), at(6, 23)
		p.Put("work", ev)
		settle(t, s, c.ID)
		evs := p.Events("work")
		require.Len(t, evs, 1)
		require.True(t, evs[0].Start.Equal(at(5, 11)), "the booking is the truth: its time is written back")
		require.Len(t, ch.Of(calendar.ChangeBookingEdited), 1)

		// Someone deletes it.
		p.Remove("work", evs[0].ID)
		settle(t, s, c.ID)
		evs = p.Events("work")
		require.Len(t, evs, 1, "a live booking's event is written again")
		require.Equal(t, "bk_1", evs[0].Tag)
		require.Len(t, ch.Of(calendar.ChangeBookingDeleted), 1)

		// Cancelled in WedSync: the event goes.
		require.NoError(t, s.Cancel(ctx, "bk_1"))
		settle(t, s, c.ID)
		require.Empty(t, p.Events("work"))
	})
}

func TestConcurrentEditGetsMerged(t *testing.T) {
	modes(t, func(t *testing.T, newSync func(...calendar.Option) *calendar.Sync) {
		ctx := context.Background()
		p := calendartest.NewProvider("")
		s := newSync(calendar.WithProvider(p))
		c := connect(t, s, p, "sup_1", "work")
		b, err := s.Book(ctx, calendar.Booking{ID: "bk_1", Supplier: "sup_1", Start: at(5, 11), End: at(5, 23), Title: "Wedding"})
		require.NoError(t, err)
		settle(t, s, c.ID)

		// The supplier adds a location in the calendar; before the engine
		// syncs, WedSync moves the booking: the write meets a 412.
		ev := p.Events("work")[0]
		ev.Transparent = true
		p.Put("work", ev)
		b.Start, b.End = at(5, 12), at(5, 22)
		_, err = s.Book(ctx, b)
		require.NoError(t, err)
		settle(t, s, c.ID)
		evs := p.Events("work")
		require.Len(t, evs, 1)
		require.True(t, evs[0].Start.Equal(at(5, 12)))
		require.GreaterOrEqual(t, p.Calls("get"), 1, "the 412 made the engine read the event again")
		require.False(t, evs[0].Transparent, "our fields win")
	})
}

func TestInvalidCursorFallsBackToFullSync(t *testing.T) {
	modes(t, func(t *testing.T, newSync func(...calendar.Option) *calendar.Sync) {
		ctx := context.Background()
		p := calendartest.NewProvider("")
		s := newSync(calendar.WithProvider(p))
		c := connect(t, s, p, "sup_1", "work")
		gone := p.Put("work", calendar.Event{Summary: "A", Start: at(7, 9), End: at(7, 10)})
		_, err := s.Book(ctx, calendar.Booking{ID: "bk_1", Supplier: "sup_1", Start: at(5, 11), End: at(5, 23), Title: "Wedding"})
		require.NoError(t, err)
		settle(t, s, c.ID)

		p.InvalidateCursors("work")
		p.Remove("work", gone.ID)
		p.Put("work", calendar.Event{Summary: "B", Start: at(8, 9), End: at(8, 10)})
		settle(t, s, c.ID)

		cs, err := s.Check(ctx, "sup_1", calendar.Interval{Start: at(1, 0), End: at(30, 0)})
		require.NoError(t, err)
		require.Len(t, cs, 2)
		require.Equal(t, calendar.ConflictBooking, cs[0].Kind)
		require.Equal(t, "B", cs[1].Summary, "the full listing dropped A, which it did not list")
		require.Len(t, p.Events("work"), 2, "no duplicate of the booking's event")
		require.Equal(t, 1, p.Calls("create"))
	})
}

func TestFailingSyncBacksOffWithRetryAfter(t *testing.T) {
	modes(t, func(t *testing.T, newSync func(...calendar.Option) *calendar.Sync) {
		ctx := context.Background()
		p := calendartest.NewProvider("")
		var ch changes
		s := newSync(calendar.WithProvider(p), ch.Handler())
		p.AddCalendar("work")
		p.FailNext("changes", &calendar.ProviderError{Provider: "fake", Op: "changes", Status: 429, RetryAfter: 20 * time.Minute})
		before := time.Now()
		c, err := s.Connect(ctx, calendar.Connection{Supplier: "sup_1", Provider: "fake", Calendar: "work"}, []byte("x"))
		require.NoError(t, err)
		require.NoError(t, s.WaitIdle(ctx))
		st, err := s.Connection(ctx, c.ID)
		require.NoError(t, err)
		require.Equal(t, 1, st.Failures)
		require.Contains(t, st.LastError, "429")
		require.True(t, st.LastSuccess.IsZero())
		require.False(t, st.NextRun.Before(before.Add(20*time.Minute)), "Retry-After is honoured: next run %s", st.NextRun)
		require.Len(t, ch.Of(calendar.ChangeSyncFailed), 1)
		att, err := s.Attempts(ctx, c.ID, 10)
		require.NoError(t, err)
		require.Len(t, att, 1)
		require.False(t, att[0].OK)
		require.Equal(t, "changes", att[0].Op)

		// On demand, it recovers.
		require.NoError(t, s.SyncNow(ctx, c.ID))
		require.NoError(t, s.WaitIdle(ctx))
		st, err = s.Connection(ctx, c.ID)
		require.NoError(t, err)
		require.Zero(t, st.Failures)
		require.Empty(t, st.LastError)
		require.False(t, st.LastSuccess.IsZero())
	})
}

func TestOverlappingBookingsAreRefused(t *testing.T) {
	modes(t, func(t *testing.T, newSync func(...calendar.Option) *calendar.Sync) {
		ctx := context.Background()
		s := newSync(calendar.WithProvider(calendartest.NewProvider("")))
		_, err := s.Hold(ctx, calendar.Booking{ID: "h1", Supplier: "sup_1", Start: at(5, 11), End: at(5, 23), Title: "Enquiry 1", SetupBuffer: 2 * time.Hour})
		require.NoError(t, err)
		_, err = s.Hold(ctx, calendar.Booking{ID: "h2", Supplier: "sup_1", Start: at(5, 6), End: at(5, 10), Title: "Enquiry 2"})
		var ce *calendar.ConflictError
		require.ErrorAs(t, err, &ce, "09:00-10:00 is in h1's set-up buffer")
		require.ErrorIs(t, err, calendar.ErrConflict)
		require.Len(t, ce.Conflicts, 1)
		require.Equal(t, "h1", ce.Conflicts[0].BookingID)
		require.Equal(t, calendar.ConflictHold, ce.Conflicts[0].Kind)

		// Another supplier's time is theirs.
		_, err = s.Hold(ctx, calendar.Booking{ID: "h3", Supplier: "sup_2", Start: at(5, 11), End: at(5, 23), Title: "Enquiry 3"})
		require.NoError(t, err)
		// Back to back is fine (half-open intervals).
		_, err = s.Book(ctx, calendar.Booking{ID: "b4", Supplier: "sup_1", Start: at(5, 23), End: at(6, 2), Title: "After party"})
		require.NoError(t, err)

		b, err := s.Confirm(ctx, "h1")
		require.NoError(t, err)
		require.Equal(t, calendar.StatusConfirmed, b.Status)
		require.NoError(t, s.Cancel(ctx, "h1"))
		_, err = s.Hold(ctx, calendar.Booking{ID: "h2", Supplier: "sup_1", Start: at(5, 6), End: at(5, 10), Title: "Enquiry 2"})
		require.NoError(t, err, "a cancelled booking frees its time")
		_, err = s.Confirm(ctx, "h1")
		require.ErrorIs(t, err, calendar.ErrInvalid)
		_, err = s.Confirm(ctx, "nope")
		require.ErrorIs(t, err, calendar.ErrNotFound)
	})
}

func TestLapsedHoldFreesItsTime(t *testing.T) {
	modes(t, func(t *testing.T, newSync func(...calendar.Option) *calendar.Sync) {
		ctx := context.Background()
		p := calendartest.NewProvider("")
		s := newSync(calendar.WithProvider(p))
		c := connect(t, s, p, "sup_1", "work")
		_, err := s.Hold(ctx, calendar.Booking{ID: "h1", Supplier: "sup_1", Start: at(5, 11), End: at(5, 23), Title: "Enquiry",
			HoldUntil: time.Now().Add(-time.Second)})
		require.NoError(t, err, "a hold may be taken already lapsed (a test, or a clock skew)")
		settle(t, s, c.ID)
		_, err = s.Book(ctx, calendar.Booking{ID: "b2", Supplier: "sup_1", Start: at(5, 12), End: at(5, 20), Title: "Wedding"})
		require.NoError(t, err, "a lapsed hold does not block")
		h, err := s.Booking(ctx, "h1")
		require.NoError(t, err)
		require.Equal(t, calendar.StatusExpired, h.Status)
		settle(t, s, c.ID)
		evs := p.Events("work")
		require.Len(t, evs, 1, "the lapsed hold's event is deleted")
		require.Equal(t, "b2", evs[0].Tag)
	})
}

func TestBadInputNamesTheField(t *testing.T) {
	ctx := context.Background()
	s := start(t, calendar.WithProvider(calendartest.NewProvider("")))
	_, err := s.Book(ctx, calendar.Booking{ID: "b", Supplier: "s", Start: at(5, 11), End: at(5, 10), Title: "x"})
	require.ErrorIs(t, err, calendar.ErrInvalid)
	require.ErrorContains(t, err, "Booking.End")
	_, err = s.Book(ctx, calendar.Booking{Supplier: "s", Start: at(5, 11), End: at(5, 12), Title: " "})
	require.ErrorContains(t, err, "Booking.ID")
	require.ErrorContains(t, err, "Booking.Title")
	_, err = s.Connect(ctx, calendar.Connection{Supplier: "s", Provider: "google", Calendar: "c", TimeZone: "Mars/Base"}, nil)
	require.ErrorContains(t, err, "Connection.Provider")
	require.ErrorContains(t, err, "Connection.TimeZone")
	require.ErrorContains(t, err, "credentials")
	_, err = s.Check(ctx, "s", calendar.Interval{Start: at(5, 11), End: at(5, 11)})
	require.ErrorContains(t, err, "interval")
	_, err = calendar.NewSync()
	require.ErrorContains(t, err, "WithProvider")
	_, err = calendar.NewSync(calendar.WithProvider(calendartest.NewProvider("")), calendar.WithSyncInterval(time.Second))
	require.ErrorContains(t, err, "WithSyncInterval")
	require.True(t, errors.Is(err, calendar.ErrInvalid))
}

// slowListing is a provider whose next full listing is taken, then held
// until the test releases it: what a slow provider does while the engine
// writes a booking.
type slowListing struct {
	*calendartest.Provider
	taken   chan struct{}
	release chan struct{}
	armed   bool
}

func (p *slowListing) Changes(ctx context.Context, creds []byte, cal, cursor string) (*calendar.ChangeSet, error) {
	cs, err := p.Provider.Changes(ctx, creds, cal, cursor)
	if p.armed && cursor == "" {
		p.armed = false
		p.taken <- struct{}{}
		<-p.release
	}
	return cs, err
}

// A full listing taken before a booking's first write and applied after it
// does not report the new event deleted (nor write it again); one taken
// before an update does not report it edited.
func TestListingOlderThanOurWriteIsNotAnEdit(t *testing.T) {
	ctx := context.Background()
	p := &slowListing{Provider: calendartest.NewProvider(""), taken: make(chan struct{}, 1), release: make(chan struct{})}
	var ch changes
	s := start(t, calendar.WithProvider(p), ch.Handler())
	p.AddCalendar("work")
	p.armed = true
	c, err := s.Connect(ctx, calendar.Connection{Supplier: "sup_1", Provider: p.Name(), Calendar: "work"}, []byte("x"))
	require.NoError(t, err)
	<-p.taken // the first sync has its (empty) listing
	_, err = s.Book(ctx, calendar.Booking{ID: "bk_1", Supplier: "sup_1", Start: at(5, 11), End: at(5, 23), Title: "Wedding"})
	require.NoError(t, err)
	deadline, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for len(p.Events("work")) == 0 { // the write lands while the listing waits
		require.NoError(t, deadline.Err(), "the booking's write did not land")
		runtime.Gosched()
	}
	close(p.release)
	settle(t, s, c.ID)
	require.Empty(t, ch.Of(calendar.ChangeBookingDeleted), "the stale listing did not see the event: not a delete")
	require.Empty(t, ch.Of(calendar.ChangeBookingEdited))
	require.Len(t, p.Events("work"), 1)
	require.Equal(t, 1, p.Calls("create"))
	require.Equal(t, 0, p.Calls("update"))
}
