package outlook_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/calendar"
)

// A weekly series in the supplier's calendar: calendarView/delta lists
// its occurrences, each an event of its own; an occurrence moved becomes
// an exception (the same id, the new time), one deleted is @removed, and
// the master read with Get carries the RRULE.
func TestRecurringSeriesWithExceptions(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	loc := london(t)
	first := time.Date(2027, 6, 5, 14, 0, 0, 0, loc) // a Saturday
	master := w.srv.Put(w.cal, calendar.Event{Summary: "Saturday surgery", Start: first, End: first.Add(time.Hour),
		Recurrence: []string{"RRULE:FREQ=WEEKLY;BYDAY=SA;COUNT=4"}})

	full := w.changes(t, "")
	require.Len(t, full.Updated, 4)
	evs := slices.Clone(full.Updated)
	slices.SortFunc(evs, func(a, b calendar.Event) int { return a.Start.Compare(b.Start) })
	for i, ev := range evs {
		require.True(t, ev.Start.Equal(first.AddDate(0, 0, 7*i)), "occurrence %d at %s", i, ev.Start)
		require.Equal(t, "Europe/London", ev.Start.Location().String())
		require.Equal(t, "Saturday surgery", ev.Summary)
		require.Empty(t, ev.Recurrence, "an instance carries no rule")
		require.NotEqual(t, master.ID, ev.ID)
	}
	require.Len(t, byID(evs), 4, "each occurrence has its own id")

	// the supplier moves the second occurrence two hours later and deletes the third
	moved := evs[1]
	moved.Start, moved.End = moved.Start.Add(2*time.Hour), moved.End.Add(2*time.Hour)
	_, err := w.p.Update(ctx, w.creds, w.cal, &moved, moved.ETag)
	require.NoError(t, err)
	require.NoError(t, w.p.Delete(ctx, w.creds, w.cal, evs[2].ID, evs[2].ETag))

	inc := w.changes(t, full.Cursor)
	require.Len(t, inc.Updated, 1)
	require.Equal(t, moved.ID, inc.Updated[0].ID)
	require.True(t, inc.Updated[0].Start.Equal(moved.Start))
	require.Equal(t, []string{evs[2].ID}, inc.Deleted)

	again := w.changes(t, "")
	require.Len(t, again.Updated, 3, "two occurrences and the exception")
	require.True(t, byID(again.Updated)[moved.ID].Start.Equal(moved.Start))

	m, err := w.p.Get(ctx, w.creds, w.cal, master.ID)
	require.NoError(t, err)
	require.Equal(t, []string{"RRULE:FREQ=WEEKLY;BYDAY=SA;COUNT=4"}, m.Recurrence)

	// the series deleted: its occurrences and its exception are removed
	w.srv.Remove(w.cal, master.ID)
	gone := w.changes(t, inc.Cursor)
	require.Empty(t, gone.Updated)
	require.ElementsMatch(t, []string{evs[0].ID, evs[1].ID, evs[3].ID}, gone.Deleted)
}
