package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/wedsync/integrations/calendar"
)

// The calendar panel's API: the sample supplier's week, holds, confirm and
// cancel, an event written into the supplier's CalDAV calendar as their
// calendar app would, and a sync on demand.

// calendarWaitIdle bounds how long POST /api/calendar/external and
// /api/calendar/sync wait for the sync they asked for.
const calendarWaitIdle = 10 * time.Second

// maxTitle bounds titles and summaries typed on the page.
const maxTitle = 200

func (a *api) calendarRoutes(mux *http.ServeMux) {
	mux.Handle("GET /api/calendar/week", a.handle(a.calendarWeek))
	mux.Handle("POST /api/calendar/hold", a.handle(a.calendarHold))
	mux.Handle("POST /api/calendar/confirm", a.handle(a.calendarConfirm))
	mux.Handle("POST /api/calendar/cancel", a.handle(a.calendarCancel))
	mux.Handle("POST /api/calendar/external", a.handle(a.calendarExternal))
	mux.Handle("POST /api/calendar/sync", a.handle(a.calendarSync))
}

type intervalJSON struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

type bookingJSON struct {
	ID              string       `json:"id"`
	Title           string       `json:"title"`
	Status          string       `json:"status"`
	Start           time.Time    `json:"start"`
	End             time.Time    `json:"end"`
	Blocked         intervalJSON `json:"blocked"`
	SetupMinutes    int          `json:"setup_minutes"`
	TeardownMinutes int          `json:"teardown_minutes"`
	HoldUntil       time.Time    `json:"hold_until,omitzero"`
	Couple          string       `json:"couple,omitempty"`
	Venue           string       `json:"venue,omitempty"`
	Conflict        bool         `json:"conflict"`
}

type busyJSON struct {
	Summary    string    `json:"summary"`
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	Connection string    `json:"connection"`
	EventID    string    `json:"event_id"`
	Conflict   bool      `json:"conflict"`
}

// conflictJSON is a booking or hold and a busy block that overlap.
type conflictJSON struct {
	BookingID    string       `json:"booking_id"`
	BookingTitle string       `json:"booking_title"`
	Kind         string       `json:"kind"` // what it overlaps: busy, booking or hold
	With         string       `json:"with"` // the busy block's summary, or the other booking's id
	EventID      string       `json:"event_id,omitempty"`
	Overlap      intervalJSON `json:"overlap"`
}

type connectionJSON struct {
	ID            string    `json:"id"`
	Provider      string    `json:"provider"`
	Calendar      string    `json:"calendar"`
	TimeZone      string    `json:"time_zone"`
	LastSuccess   time.Time `json:"last_success,omitzero"`
	LastError     string    `json:"last_error,omitempty"`
	Failures      int       `json:"failures"`
	NextRun       time.Time `json:"next_run,omitzero"`
	Events        int       `json:"events"`
	CursorPresent bool      `json:"cursor_present"`
}

// itemJSON is one block of a day's grid: minutes since the day's midnight
// in the supplier's zone, clipped to the day.
type itemJSON struct {
	Type     string `json:"type"` // booking, hold, busy
	ID       string `json:"id"`   // booking id or busy event id
	Title    string `json:"title"`
	StartMin int    `json:"start_min"`
	EndMin   int    `json:"end_min"`
	// BlockedStartMin and BlockedEndMin include a booking's buffers.
	BlockedStartMin int  `json:"blocked_start_min"`
	BlockedEndMin   int  `json:"blocked_end_min"`
	Conflict        bool `json:"conflict"`
}

type dayJSON struct {
	Date  string     `json:"date"`
	Label string     `json:"label"`
	Items []itemJSON `json:"items"`
}

func toBookingJSON(b calendar.Booking, loc *time.Location) bookingJSON {
	bl := b.Blocked()
	out := bookingJSON{ID: b.ID, Title: b.Title, Status: string(b.Status), Start: b.Start.In(loc), End: b.End.In(loc),
		Blocked:      intervalJSON{bl.Start.In(loc), bl.End.In(loc)},
		SetupMinutes: int(b.SetupBuffer / time.Minute), TeardownMinutes: int(b.TeardownBuffer / time.Minute),
		Couple: b.Couple, Venue: b.Venue}
	if b.Status == calendar.StatusHold {
		out.HoldUntil = b.HoldUntil.In(loc)
	}
	return out
}

func toConnectionJSON(cs calendar.ConnectionStatus) connectionJSON {
	return connectionJSON{ID: cs.ID, Provider: cs.Provider, Calendar: cs.Calendar, TimeZone: cs.TimeZone,
		LastSuccess: cs.LastSuccess, LastError: cs.LastError, Failures: cs.Failures, NextRun: cs.NextRun,
		Events: cs.Events, CursorPresent: cs.Cursor != ""}
}

// GET /api/calendar/week?start=YYYY-MM-DD (default: today in the supplier's zone)
func (a *api) calendarWeek(w http.ResponseWriter, r *http.Request) error {
	c := a.cal
	day := today(time.Now(), c.loc)
	if s := r.URL.Query().Get("start"); s != "" {
		d, err := time.ParseInLocation(time.DateOnly, s, c.loc)
		if err != nil {
			return badRequest("start", "must be a date such as 2027-06-05, got %q", truncate(s, 40))
		}
		day = d
	}
	body, err := a.week(r.Context(), day)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

// week builds the week from day (midnight in the supplier's zone).
func (a *api) week(ctx context.Context, day time.Time) (map[string]any, error) {
	c := a.cal
	end := day.AddDate(0, 0, 7)
	iv := calendar.Interval{Start: day, End: end}
	all, err := c.s.Bookings(ctx, demoSupplier, iv)
	if err != nil {
		return nil, err
	}
	taken, err := c.s.Check(ctx, demoSupplier, iv)
	if err != nil {
		return nil, err
	}
	conns, err := c.s.Connections(ctx, demoSupplier)
	if err != nil {
		return nil, err
	}

	var bookings []calendar.Booking
	for _, b := range all {
		if live(b) {
			bookings = append(bookings, b)
		}
	}
	slices.SortFunc(bookings, func(x, y calendar.Booking) int { return x.Start.Compare(y.Start) })
	var busy []calendar.Conflict
	for _, t := range taken {
		if t.Kind == calendar.ConflictBusy {
			busy = append(busy, t)
		}
	}

	// Conflicts: a booking or hold (with its buffers) and a busy block, or
	// another booking (the engine refuses those; a lapsed hold confirmed
	// late could still meet one), that overlap.
	conflicts := []conflictJSON{}
	inConflict := map[string]bool{} // booking ids and busy event ids
	for i, b := range bookings {
		bl := b.Blocked()
		for _, t := range busy {
			if bl.Overlaps(t.Interval) {
				conflicts = append(conflicts, conflictJSON{BookingID: b.ID, BookingTitle: b.Title, Kind: string(calendar.ConflictBusy),
					With: t.Summary, EventID: t.EventID, Overlap: overlap(bl, t.Interval, c.loc)})
				inConflict[b.ID], inConflict["busy:"+t.EventID+t.Interval.Start.String()] = true, true
			}
		}
		for _, o := range bookings[i+1:] {
			if ob := o.Blocked(); bl.Overlaps(ob) {
				conflicts = append(conflicts, conflictJSON{BookingID: b.ID, BookingTitle: b.Title, Kind: string(o.Status),
					With: o.ID, Overlap: overlap(bl, ob, c.loc)})
				inConflict[b.ID], inConflict[o.ID] = true, true
			}
		}
	}

	bj := make([]bookingJSON, len(bookings))
	for i, b := range bookings {
		bj[i] = toBookingJSON(b, c.loc)
		bj[i].Conflict = inConflict[b.ID]
	}
	busyOut := make([]busyJSON, len(busy))
	for i, t := range busy {
		busyOut[i] = busyJSON{Summary: t.Summary, Start: t.Interval.Start.In(c.loc), End: t.Interval.End.In(c.loc),
			Connection: t.Connection, EventID: t.EventID, Conflict: inConflict["busy:"+t.EventID+t.Interval.Start.String()]}
	}
	connOut := make([]connectionJSON, len(conns))
	for i, cs := range conns {
		connOut[i] = toConnectionJSON(cs)
	}

	days := make([]dayJSON, 7)
	for d := range days {
		ds := time.Date(day.Year(), day.Month(), day.Day()+d, 0, 0, 0, 0, c.loc)
		de := time.Date(day.Year(), day.Month(), day.Day()+d+1, 0, 0, 0, 0, c.loc)
		dj := dayJSON{Date: ds.Format(time.DateOnly), Label: ds.Format("Mon 2 Jan"), Items: []itemJSON{}}
		for i, b := range bookings {
			bl := b.Blocked()
			if !bl.Overlaps(calendar.Interval{Start: ds, End: de}) {
				continue
			}
			it := itemJSON{Type: string(b.Status), ID: b.ID, Title: b.Title, Conflict: bj[i].Conflict}
			if it.Type == string(calendar.StatusConfirmed) {
				it.Type = "booking"
			}
			it.StartMin, it.EndMin = dayMinutes(b.Start, b.End, ds, de)
			it.BlockedStartMin, it.BlockedEndMin = dayMinutes(bl.Start, bl.End, ds, de)
			dj.Items = append(dj.Items, it)
		}
		for i, t := range busy {
			if !t.Interval.Overlaps(calendar.Interval{Start: ds, End: de}) {
				continue
			}
			it := itemJSON{Type: "busy", ID: t.EventID, Title: t.Summary, Conflict: busyOut[i].Conflict}
			it.StartMin, it.EndMin = dayMinutes(t.Interval.Start, t.Interval.End, ds, de)
			it.BlockedStartMin, it.BlockedEndMin = it.StartMin, it.EndMin
			dj.Items = append(dj.Items, it)
		}
		slices.SortFunc(dj.Items, func(x, y itemJSON) int { return cmp.Compare(x.BlockedStartMin, y.BlockedStartMin) })
		days[d] = dj
	}
	return map[string]any{
		"supplier": demoSupplier, "time_zone": c.loc.String(),
		"start": day.Format(time.DateOnly), "end": end.Format(time.DateOnly),
		"days": days, "bookings": bj, "busy": busyOut, "conflicts": conflicts, "connections": connOut,
		"caldav_server": c.URL(), "sync_interval": calendarSyncInterval.String(),
	}, nil
}

// overlap is the shared part of two overlapping intervals.
func overlap(x, y calendar.Interval, loc *time.Location) intervalJSON {
	s, e := x.Start, x.End
	if y.Start.After(s) {
		s = y.Start
	}
	if y.End.Before(e) {
		e = y.End
	}
	return intervalJSON{s.In(loc), e.In(loc)}
}

// dayMinutes places [s, e) on the day [ds, de): wall-clock minutes since
// midnight, clipped to 0..1440.
func dayMinutes(s, e, ds, de time.Time) (int, int) {
	minutes := func(t time.Time) int {
		if !t.After(ds) {
			return 0
		}
		if !t.Before(de) {
			return 24 * 60
		}
		lt := t.In(ds.Location())
		return lt.Hour()*60 + lt.Minute()
	}
	return minutes(s), minutes(e)
}

// parseWhen reads a time as RFC 3339, or as the page's datetime-local
// ("2027-06-05T14:00", seconds optional) in the supplier's zone.
func parseWhen(field, s string, loc *time.Location) (time.Time, error) {
	if s == "" {
		return time.Time{}, badRequest(field, "is required: a time such as 2027-06-05T14:00 (%s) or RFC 3339", loc)
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.In(loc), nil
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, badRequest(field, "must be a time such as 2027-06-05T14:00 (%s) or RFC 3339, got %q", loc, truncate(s, 40))
}

func checkTitle(field, s string) error {
	switch {
	case strings.TrimSpace(s) == "":
		return badRequest(field, "is required")
	case len(s) > maxTitle:
		return badRequest(field, "must be at most %d bytes (it has %d)", maxTitle, len(s))
	case strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return badRequest(field, "must not contain control characters")
	}
	return nil
}

func checkMinutes(field string, n int) error {
	if n < 0 || n > 24*60 {
		return badRequest(field, "must be 0 to 1440 minutes, got %d", n)
	}
	return nil
}

// POST /api/calendar/hold  {"title", "start", "end", "setup_minutes", "teardown_minutes"}
func (a *api) calendarHold(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Title           string `json:"title"`
		Start           string `json:"start"`
		End             string `json:"end"`
		SetupMinutes    int    `json:"setup_minutes"`
		TeardownMinutes int    `json:"teardown_minutes"`
	}
	if err := decode(w, r, &in, false); err != nil {
		return err
	}
	c := a.cal
	if err := checkTitle("title", in.Title); err != nil {
		return err
	}
	start, err := parseWhen("start", in.Start, c.loc)
	if err != nil {
		return err
	}
	end, err := parseWhen("end", in.End, c.loc)
	if err != nil {
		return err
	}
	if err := checkMinutes("setup_minutes", in.SetupMinutes); err != nil {
		return err
	}
	if err := checkMinutes("teardown_minutes", in.TeardownMinutes); err != nil {
		return err
	}
	if !end.After(start) {
		return badRequest("end", "must be after start")
	}
	b, err := c.s.Hold(r.Context(), calendar.Booking{
		ID: "hold_" + strings.ToLower(rand.Text()[:10]), Supplier: demoSupplier, Title: strings.TrimSpace(in.Title),
		Start: start, End: end,
		SetupBuffer: time.Duration(in.SetupMinutes) * time.Minute, TeardownBuffer: time.Duration(in.TeardownMinutes) * time.Minute,
	})
	if err != nil {
		return err
	}
	// A hold is refused only by bookings and holds; the supplier's own
	// events are shown as conflicts on the page.
	busy, err := c.s.Check(r.Context(), demoSupplier, b.Blocked(), calendar.Excluding(b.ID))
	if err != nil {
		return err
	}
	over := []string{}
	for _, t := range busy {
		if t.Kind == calendar.ConflictBusy {
			over = append(over, t.Summary)
		}
	}
	msg := ""
	if len(over) > 0 {
		msg = "; it overlaps the supplier's own " + strings.Join(quoteAll(over), ", ")
	}
	a.out.printf("calendar: hold %s %q taken for %s (%s, held until %s)%s (through the API)", b.ID, b.Title, demoSupplier,
		c.span(calendar.Interval{Start: b.Start, End: b.End}), localTime(b.HoldUntil, c.loc.String()), msg)
	c.broadcast(r.Context(), demoSupplier, map[string]any{"kind": "hold", "booking_id": b.ID})
	writeJSON(w, http.StatusCreated, map[string]any{"booking": toBookingJSON(b, c.loc), "overlaps_busy": over})
	return nil
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = "\"" + s + "\""
	}
	return out
}

// idBody reads {"id"} and requires it.
func idBody(w http.ResponseWriter, r *http.Request) (string, error) {
	var in struct {
		ID string `json:"id"`
	}
	if err := decode(w, r, &in, false); err != nil {
		return "", err
	}
	if in.ID == "" {
		return "", badRequest("id", "is required: a booking or hold id")
	}
	if len(in.ID) > 200 {
		return "", badRequest("id", "must be at most 200 bytes")
	}
	return in.ID, nil
}

// noBooking turns the engine's ErrNotFound into a 404 that names the id.
func noBooking(id string, err error) error {
	if errors.Is(err, calendar.ErrNotFound) {
		return &apiError{status: http.StatusNotFound, field: "id", msg: fmt.Sprintf("id: no booking or hold %q", truncate(id, 60))}
	}
	return err
}

// takenJSON is something that takes time a booking wanted (a 409's
// conflicts).
type takenJSON struct {
	Kind       string    `json:"kind"` // booking, hold, busy
	BookingID  string    `json:"booking_id,omitempty"`
	Summary    string    `json:"summary,omitempty"`
	Connection string    `json:"connection,omitempty"`
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
}

func toConflictsJSON(cs []calendar.Conflict) []takenJSON {
	out := make([]takenJSON, len(cs))
	for i, c := range cs {
		out[i] = takenJSON{Kind: string(c.Kind), BookingID: c.BookingID, Summary: c.Summary, Connection: c.Connection,
			Start: c.Interval.Start, End: c.Interval.End}
	}
	return out
}

// POST /api/calendar/confirm  {"id"}
func (a *api) calendarConfirm(w http.ResponseWriter, r *http.Request) error {
	id, err := idBody(w, r)
	if err != nil {
		return err
	}
	c := a.cal
	b, err := c.s.Confirm(r.Context(), id)
	if err != nil {
		return noBooking(id, err)
	}
	a.out.printf("calendar: hold %s %q of %s confirmed: now a booking (through the API)", b.ID, b.Title, b.Supplier)
	c.broadcast(r.Context(), b.Supplier, map[string]any{"kind": "confirmed", "booking_id": b.ID})
	writeJSON(w, http.StatusOK, map[string]any{"booking": toBookingJSON(b, c.loc)})
	return nil
}

// POST /api/calendar/cancel  {"id"}
func (a *api) calendarCancel(w http.ResponseWriter, r *http.Request) error {
	id, err := idBody(w, r)
	if err != nil {
		return err
	}
	c := a.cal
	if err := c.s.Cancel(r.Context(), id); err != nil {
		return noBooking(id, err)
	}
	b, err := c.s.Booking(r.Context(), id)
	if err != nil {
		return err
	}
	a.out.printf("calendar: %s %q of %s cancelled: its time is free and its calendar event is deleted (through the API)", b.ID, b.Title, b.Supplier)
	c.broadcast(r.Context(), b.Supplier, map[string]any{"kind": "cancelled", "booking_id": b.ID})
	writeJSON(w, http.StatusOK, map[string]any{"booking": toBookingJSON(b, c.loc)})
	return nil
}

// POST /api/calendar/external  {"summary", "start", "end"}: an event of
// the supplier's own, written into their CalDAV calendar the way their
// calendar app would, then synced.
func (a *api) calendarExternal(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Summary string `json:"summary"`
		Start   string `json:"start"`
		End     string `json:"end"`
	}
	if err := decode(w, r, &in, false); err != nil {
		return err
	}
	c := a.cal
	if err := checkTitle("summary", in.Summary); err != nil {
		return err
	}
	start, err := parseWhen("start", in.Start, c.loc)
	if err != nil {
		return err
	}
	end, err := parseWhen("end", in.End, c.loc)
	if err != nil {
		return err
	}
	if !end.After(start) {
		return badRequest("end", "must be after start")
	}
	if end.Sub(start) > 7*24*time.Hour {
		return badRequest("end", "must be at most 7 days after start")
	}
	ev, err := c.app.Create(r.Context(), c.creds, c.cal, &calendar.Event{Summary: strings.TrimSpace(in.Summary), Start: start, End: end})
	if err != nil {
		return err
	}
	a.out.printf("calendar: the supplier's calendar app wrote %q (%s) into %s%s; syncing now", ev.Summary,
		c.span(calendar.Interval{Start: start, End: end}), c.URL(), strings.TrimPrefix(c.cal, "/"))
	synced, err := c.syncNow(r.Context())
	if err != nil {
		return err
	}
	c.broadcast(r.Context(), demoSupplier, map[string]any{"kind": "external", "event_id": ev.ID})
	writeJSON(w, http.StatusCreated, map[string]any{"event_id": ev.ID, "summary": ev.Summary, "start": start, "end": end, "synced": synced})
	return nil
}

// POST /api/calendar/sync
func (a *api) calendarSync(w http.ResponseWriter, r *http.Request) error {
	c := a.cal
	synced, err := c.syncNow(r.Context())
	if err != nil {
		return err
	}
	cs, err := c.s.Connection(r.Context(), c.conn)
	if err != nil {
		return err
	}
	a.out.printf("calendar: synced %s on demand (through the API): %d events in the calendar", c.conn, cs.Events)
	c.broadcast(r.Context(), demoSupplier, map[string]any{"kind": "synced", "connection": c.conn})
	writeJSON(w, http.StatusOK, map[string]any{"synced": synced, "connection": toConnectionJSON(cs)})
	return nil
}

// syncNow queues a sync of the supplier's calendar and waits, for at most
// calendarWaitIdle, until the engine is idle. synced is false when the
// wait ran out (the sync still happens).
func (c *calendarSide) syncNow(ctx context.Context) (synced bool, err error) {
	if err := c.s.SyncNow(ctx, c.conn); err != nil {
		return false, err
	}
	wctx, cancel := context.WithTimeout(ctx, calendarWaitIdle)
	defer cancel()
	if err := c.s.WaitIdle(wctx); err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		return false, nil
	}
	return true, nil
}
