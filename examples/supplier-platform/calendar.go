package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wedsync/integrations/calendar"
	"github.com/wedsync/integrations/calendar/caldav"
	"github.com/wedsync/integrations/calendar/caldav/caldavtest"
	"github.com/wedsync/integrations/realtime"
)

// The demo's calendars (package calendar): the sample supplier's own
// calendar lives on an in-process CalDAV server (caldavtest.MemoryServer)
// that the demo serves on a loopback port of its own, in both modes. The
// engine syncs it every 15 seconds, writes the supplier's bookings and holds
// into it, and reads the supplier's own events back as busy time. A second
// CalDAV client plays the supplier's calendar app (Apple Calendar,
// Thunderbird): it writes the supplier's own events, such as a dentist
// appointment on top of a wedding, which the next sync finds as a conflict.

// calendarSyncInterval is how often the demo's engine syncs the supplier's
// calendar when nothing asks sooner (the package default is 5 minutes).
const calendarSyncInterval = 15 * time.Second

// calendarName is the sample supplier's calendar on the CalDAV server.
const calendarName = "work"

// eventCalendarChanged is the realtime event that tells the dashboards to
// reload their calendar panel.
const eventCalendarChanged = "calendar.changed"

// calendarSide is the demo's calendar engine, the CalDAV server it syncs
// with, and the supplier's "calendar app".
type calendarSide struct {
	s     *calendar.Sync
	dav   *caldav.Provider // the engine's CalDAV client
	app   *caldav.Provider // the supplier's calendar app
	dav0  *caldavtest.MemoryServer
	srv   *http.Server
	ln    net.Listener
	serve chan error

	creds []byte // the supplier's CalDAV credentials (any password works here)
	cal   string // the supplier's calendar: its collection path
	conn  string // the engine's connection to it
	loc   *time.Location
	hub   *realtime.Hub
	out   *console
	hook  func(calendar.Change) // test hook
	// seeded is set once the seed is in: the seed's own changes are
	// printed but not broadcast (no dashboard is open yet, and the hub's
	// offsets of the supplier's topic start with the demo's KPIs).
	seeded atomic.Bool
}

// startCalendar serves the CalDAV server, starts the engine (in Postgres
// mode with a pool: calendar.Migrate, credentials sealed with encKey),
// connects the sample supplier's calendar and seeds the coming week.
func startCalendar(ctx context.Context, pool *pgxpool.Pool, encKey []byte, hub *realtime.Hub, out *console,
	hook func(calendar.Change)) (_ *calendarSide, err error) {
	c := &calendarSide{hub: hub, out: out, hook: hook, dav0: caldavtest.NewMemoryServer(), serve: make(chan error, 1)}
	if c.loc, err = time.LoadLocation(directory[demoSupplier].TimeZone); err != nil {
		return nil, fmt.Errorf("time zone of %s: %w", demoSupplier, err)
	}
	if c.ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("the demo's CalDAV server: %w", err)
	}
	c.srv = newServer(c.dav0)
	go func() { c.serve <- serve("CalDAV", c.srv, c.ln) }()
	defer func() {
		if err != nil {
			err = errors.Join(err, c.closeServer(context.WithoutCancel(ctx)))
		}
	}()
	c.cal = c.dav0.CreateCalendar(demoSupplier, calendarName)
	c.creds = caldav.Credentials{URL: c.URL(), Username: demoSupplier, Password: "any password: the demo's server takes any"}.Marshal()

	// The CalDAV server is on loopback over plain http, which the SSRF-safe
	// default client refuses: the demo allows exactly that.
	davOpts := []caldav.Option{caldav.WithAllowedNetworks(netip.MustParsePrefix("127.0.0.0/8")), caldav.WithInsecureHTTP(true)}
	// The engine's Info lines (River's job counts in Postgres mode) would
	// drown the demo's own; its warnings and errors show.
	logger := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if c.dav, err = caldav.New(append(davOpts, caldav.WithLogger(logger))...); err != nil {
		return nil, err
	}
	if c.app, err = caldav.New(davOpts...); err != nil {
		return nil, err
	}
	opts := []calendar.Option{
		calendar.WithProvider(c.dav),
		calendar.WithSyncInterval(calendarSyncInterval),
		calendar.WithRetrySchedule(demoSchedule...),
		calendar.WithChangeHandler(c.change),
		calendar.WithLogger(logger),
	}
	if pool != nil {
		if err := calendar.Migrate(ctx, pool); err != nil {
			return nil, fmt.Errorf("migrate calendar: %w", err)
		}
		opts = append(opts, calendar.WithPostgres(pool), calendar.WithEncryptionKey(encKey))
	}
	if c.s, err = calendar.NewSync(opts...); err != nil {
		return nil, err
	}
	if err := c.s.Start(ctx); err != nil {
		return nil, err
	}
	if err := c.seed(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("calendar: %w", err), c.s.Stop(context.WithoutCancel(ctx)))
	}
	return c, nil
}

// URL is the CalDAV server's root, the URL a supplier would type.
func (c *calendarSide) URL() string { return "http://" + c.ln.Addr().String() + "/" }

// stop stops the engine (running syncs and writes finish, or are cut when
// ctx ends), then the CalDAV server it talks to.
func (c *calendarSide) stop(ctx context.Context) error {
	var errs []error
	if err := c.s.Stop(ctx); err != nil {
		errs = append(errs, fmt.Errorf("stop calendar sync: %w", err))
	}
	return errors.Join(append(errs, c.closeServer(ctx))...)
}

func (c *calendarSide) closeServer(ctx context.Context) error {
	if c.dav != nil {
		c.dav.CloseIdleConnections()
	}
	if c.app != nil {
		c.app.CloseIdleConnections()
	}
	err := c.srv.Shutdown(ctx)
	if serr := <-c.serve; serr != nil {
		err = errors.Join(err, serr)
	}
	if err != nil {
		return fmt.Errorf("the demo's CalDAV server: %w", err)
	}
	return nil
}

// seed connects the sample supplier's calendar and fills the coming week:
// bookings and holds through the engine, and the supplier's own events
// through the calendar app, one of them on top of a wedding.
func (c *calendarSide) seed(ctx context.Context) error {
	// Postgres mode keeps connections and bookings across runs; the
	// CalDAV server of an earlier run is gone with its process, and its
	// bookings would overlap this run's.
	if err := c.removeStale(ctx); err != nil {
		return err
	}
	conn, err := c.s.Connect(ctx, calendar.Connection{
		Supplier: demoSupplier, Provider: caldav.ProviderName, Calendar: c.cal, TimeZone: c.loc.String(),
		Sharing: calendar.Sharing{Couple: true, Venue: true},
	}, c.creds)
	if err != nil {
		return fmt.Errorf("connect the sample supplier's calendar: %w", err)
	}
	c.conn = conn.ID
	// The first, full sync before any booking: a full listing taken while
	// a booking's event is being written would miss that event, and the
	// engine would take it for one the supplier deleted (and write it
	// again, reporting booking_deleted).
	if err := c.waitIdle(ctx); err != nil {
		return err
	}

	day := today(time.Now(), c.loc)
	at := func(d, h, m int) time.Time { return time.Date(day.Year(), day.Month(), day.Day()+d, h, m, 0, 0, c.loc) }
	run := strings.ToLower(rand.Text()[:6]) // ids of an earlier run (Postgres mode) stay taken
	for _, b := range []calendar.Booking{
		{ID: "bk_" + run + "_1", Status: calendar.StatusConfirmed, Title: "Alex & Sam wedding", Couple: "Alex & Sam", Venue: "Kew Gardens",
			Start: at(1, 12, 0), End: at(1, 18, 0), SetupBuffer: 2 * time.Hour, TeardownBuffer: time.Hour},
		{ID: "hold_" + run + "_2", Status: calendar.StatusHold, Title: "Priya & Jordan: consultation", Couple: "Priya & Jordan",
			Start: at(2, 15, 0), End: at(2, 16, 30), SetupBuffer: 30 * time.Minute, TeardownBuffer: 15 * time.Minute},
		{ID: "bk_" + run + "_3", Status: calendar.StatusConfirmed, Title: "Morgan & Casey wedding", Couple: "Morgan & Casey", Venue: "Hall Barn",
			Start: at(4, 10, 0), End: at(4, 16, 0), SetupBuffer: 3 * time.Hour, TeardownBuffer: 90 * time.Minute},
		{ID: "hold_" + run + "_4", Status: calendar.StatusHold, Title: "Taylor & Jamie: tasting", Couple: "Taylor & Jamie",
			Start: at(5, 11, 0), End: at(5, 12, 0), TeardownBuffer: 30 * time.Minute},
	} {
		b.Supplier = demoSupplier
		var err error
		if b.Status == calendar.StatusHold {
			_, err = c.s.Hold(ctx, b)
		} else {
			_, err = c.s.Book(ctx, b)
		}
		if err != nil {
			return fmt.Errorf("seed %s: %w", b.ID, err)
		}
	}
	for _, ev := range []calendar.Event{
		{Summary: "Dentist", Start: at(1, 14, 0), End: at(1, 15, 0)}, // during the Alex & Sam wedding
		{Summary: "Gym", Start: at(2, 7, 0), End: at(2, 8, 0)},
		{Summary: "Flower market", Start: at(3, 6, 0), End: at(3, 8, 30)},
		{Summary: "Mum's birthday dinner", Start: at(5, 19, 0), End: at(5, 22, 0)},
	} {
		if _, err := c.app.Create(ctx, c.creds, c.cal, &ev); err != nil {
			return fmt.Errorf("write %q into the CalDAV calendar: %w", ev.Summary, err)
		}
	}
	if err := c.s.SyncNow(ctx, c.conn); err != nil {
		return err
	}
	// Let the sync run before the banner, so that its lines (and the
	// conflict) come first.
	if err := c.waitIdle(ctx); err != nil {
		return err
	}
	c.seeded.Store(true)
	return nil
}

// waitIdle waits until the engine is idle, for at most calendarWaitIdle: a
// slow machine only shows the seed's lines later.
func (c *calendarSide) waitIdle(ctx context.Context) error {
	wctx, cancel := context.WithTimeout(ctx, calendarWaitIdle)
	defer cancel()
	if err := c.s.WaitIdle(wctx); err != nil && ctx.Err() != nil {
		return err
	}
	return nil
}

// removeStale forgets the sample supplier's connections and cancels its live
// bookings left in the database by an earlier run (Postgres mode).
func (c *calendarSide) removeStale(ctx context.Context) error {
	conns, err := c.s.Connections(ctx, demoSupplier)
	if err != nil {
		return err
	}
	for _, cs := range conns {
		if err := c.s.Disconnect(ctx, cs.ID); err != nil && !errors.Is(err, calendar.ErrNotFound) {
			return err
		}
	}
	now := time.Now()
	old, err := c.s.Bookings(ctx, demoSupplier, calendar.Interval{Start: now.AddDate(-1, 0, 0), End: now.AddDate(2, 0, 0)})
	if err != nil {
		return err
	}
	n := 0
	for _, b := range old {
		if live(b) {
			if err := c.s.Cancel(ctx, b.ID); err != nil && !errors.Is(err, calendar.ErrNotFound) {
				return err
			}
			n++
		}
	}
	if len(conns) > 0 || n > 0 {
		c.out.plain("calendar: removed %d calendar connections and %d bookings of %s left by an earlier run (their CalDAV server is gone)",
			len(conns), n, demoSupplier)
	}
	return nil
}

// live reports whether a booking takes time: a confirmed booking or a hold.
func live(b calendar.Booking) bool {
	return b.Status == calendar.StatusConfirmed || b.Status == calendar.StatusHold
}

// today is midnight of now's day in loc.
func today(now time.Time, loc *time.Location) time.Time {
	n := now.In(loc)
	return time.Date(n.Year(), n.Month(), n.Day(), 0, 0, 0, 0, loc)
}

// change is the engine's change handler: a plain console line, and a
// calendar.changed broadcast that makes the supplier's dashboards reload
// their calendar panel.
func (c *calendarSide) change(ctx context.Context, ch calendar.Change) {
	switch ch.Kind {
	case calendar.ChangeConflict:
		what, when := "an event", ""
		if ch.Conflict != nil {
			what = fmt.Sprintf("%q", ch.Conflict.Summary)
			when = " (" + c.span(ch.Conflict.Interval) + ")"
		}
		c.out.printf("calendar: conflict: %s%s in the supplier's calendar overlaps booking %s for %s", what, when, ch.BookingID, ch.Supplier)
	case calendar.ChangeBookingEdited:
		c.out.printf("calendar: someone moved or retitled booking %s in the calendar of %s; WedSync put it back", ch.BookingID, ch.Supplier)
	case calendar.ChangeBookingDeleted:
		c.out.printf("calendar: someone deleted booking %s from the calendar of %s; WedSync wrote it again", ch.BookingID, ch.Supplier)
	case calendar.ChangeSyncFailed:
		c.out.printf("calendar: sync of %s (%s) failed, retried with backoff: %s", ch.Connection, ch.Supplier, ch.Err)
	default:
		c.out.printf("calendar: %s for %s", ch.Kind, ch.Supplier)
	}
	payload := map[string]any{"kind": ch.Kind, "booking_id": ch.BookingID, "connection": ch.Connection}
	if ch.Conflict != nil {
		payload["summary"] = ch.Conflict.Summary
	}
	if c.seeded.Load() {
		c.broadcast(ctx, ch.Supplier, payload)
	}
	if c.hook != nil {
		c.hook(ch)
	}
}

// broadcast tells supplier's dashboards that the calendar changed.
func (c *calendarSide) broadcast(ctx context.Context, supplier string, payload map[string]any) {
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := c.hub.Broadcast(bctx, realtime.SupplierTopic(supplier), eventCalendarChanged, payload); err != nil &&
		!errors.Is(err, realtime.ErrHubClosed) {
		c.out.printf("calendar: could not broadcast to the dashboards of %s: %v", supplier, err)
	}
}

// span writes an interval in the supplier's zone: "Wed 2 Dec 14:00-15:00".
func (c *calendarSide) span(iv calendar.Interval) string {
	s, e := iv.Start.In(c.loc), iv.End.In(c.loc)
	if s.Format(time.DateOnly) == e.Format(time.DateOnly) {
		return s.Format("Mon 2 Jan 15:04") + "-" + e.Format("15:04")
	}
	return s.Format("Mon 2 Jan 15:04") + " - " + e.Format("Mon 2 Jan 15:04")
}
