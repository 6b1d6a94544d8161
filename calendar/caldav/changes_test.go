package caldav_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/calendar"
	"github.com/wedsync/integrations/calendar/caldav"
	"github.com/wedsync/integrations/calendar/caldav/caldavtest"
)

// testIncrementalChanges drives create, update and delete and checks that
// each Changes call reports only what happened since its cursor.
func testIncrementalChanges(t *testing.T, srv *caldavtest.Server, p *caldav.Provider) {
	cal := srv.MakeCalendar(t, "alice", "work")
	creds := srv.Creds("alice")
	ctx := t.Context()

	keep, err := p.Create(ctx, creds, cal, timedEvent(t, "keep"))
	require.NoError(t, err)
	doomed, err := p.Create(ctx, creds, cal, timedEvent(t, "doomed"))
	require.NoError(t, err)

	full, err := p.Changes(ctx, creds, cal, "")
	require.NoError(t, err)
	require.True(t, full.Full)
	require.Empty(t, full.Deleted)
	require.NotEmpty(t, full.Cursor)
	got := byID(full.Updated)
	require.Len(t, got, 2)
	require.Equal(t, "keep", got[keep.ID].Summary)
	require.Equal(t, keep.ETag, got[keep.ID].ETag)
	require.NotNil(t, got[keep.ID].Native)

	// Nothing happened: nothing reported.
	none, err := p.Changes(ctx, creds, cal, full.Cursor)
	require.NoError(t, err)
	require.False(t, none.Full)
	require.Empty(t, none.Updated)
	require.Empty(t, none.Deleted)

	// Create one.
	added, err := p.Create(ctx, creds, cal, timedEvent(t, "added"))
	require.NoError(t, err)
	cs, err := p.Changes(ctx, creds, cal, none.Cursor)
	require.NoError(t, err)
	require.False(t, cs.Full)
	require.Len(t, cs.Updated, 1)
	require.Equal(t, added.ID, cs.Updated[0].ID)
	require.Equal(t, added.ETag, cs.Updated[0].ETag)
	require.Empty(t, cs.Deleted)

	// Update one.
	upd := got[keep.ID]
	upd.Summary = "keep (edited)"
	edited, err := p.Update(ctx, creds, cal, &upd, upd.ETag)
	require.NoError(t, err)
	cs, err = p.Changes(ctx, creds, cal, cs.Cursor)
	require.NoError(t, err)
	require.Len(t, cs.Updated, 1)
	require.Equal(t, keep.ID, cs.Updated[0].ID)
	require.Equal(t, "keep (edited)", cs.Updated[0].Summary)
	require.Equal(t, edited.ETag, cs.Updated[0].ETag)
	require.Empty(t, cs.Deleted)

	// Delete one.
	require.NoError(t, p.Delete(ctx, creds, cal, doomed.ID, doomed.ETag))
	cs, err = p.Changes(ctx, creds, cal, cs.Cursor)
	require.NoError(t, err)
	require.Empty(t, cs.Updated)
	require.Equal(t, []string{doomed.ID}, cs.Deleted)

	// A full listing from scratch agrees.
	full, err = p.Changes(ctx, creds, cal, "")
	require.NoError(t, err)
	require.ElementsMatch(t, []string{keep.ID, added.ID}, ids(full.Updated))
}

func ids(evs []calendar.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.ID)
	}
	return out
}

func TestChangesSyncCollection(t *testing.T) {
	srv := caldavtest.Start(t)
	testIncrementalChanges(t, srv, newProvider(t, srv))
}

func TestChangesEtagScanFallback(t *testing.T) {
	srv := caldavtest.StartInProcess(t)
	p := newProvider(t, srv)
	testIncrementalChanges(t, srv, p)

	// The in-process server has no sync-collection: the cursor is a scan
	// cursor, and a scan cursor that does not decode is refused as invalid.
	cal := srv.CalendarPath("alice", "work")
	cs, err := p.Changes(t.Context(), srv.Creds("alice"), cal, "")
	require.NoError(t, err)
	require.Regexp(t, `^e1:`, cs.Cursor)
	_, err = p.Changes(t.Context(), srv.Creds("alice"), cal, "e1:!!!")
	require.ErrorIs(t, err, calendar.ErrCursorInvalid)
}

func TestChangesInvalidCursor(t *testing.T) {
	srv := caldavtest.Start(t)
	p := newProvider(t, srv)
	cal := srv.MakeCalendar(t, "alice", "work")
	creds := srv.Creds("alice")
	for _, cur := range []string{
		"s1:http://radicale.org/ns/sync/0000000000000000000000000000000000000000000000000000000000000000",
		"s1:bogus",
		"nonsense",
	} {
		_, err := p.Changes(t.Context(), creds, cal, cur)
		require.ErrorIs(t, err, calendar.ErrCursorInvalid, cur)
	}
}

// Radicale with auth type none does not enforce owner_only on reads, so
// this runs against the in-process server, which answers 403.
func TestChangesAnotherUsersCalendar(t *testing.T) {
	srv := caldavtest.StartInProcess(t)
	p := newProvider(t, srv)
	cal := srv.MakeCalendar(t, "alice", "work")
	_, err := p.Changes(t.Context(), srv.Creds("mallory"), cal, "")
	require.ErrorIs(t, err, calendar.ErrUnauthorized)
}
