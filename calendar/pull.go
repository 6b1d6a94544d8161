package calendar

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wedsync/integrations/internal/jobs"
)

// syncArgs is the job that syncs one connection. Seq is the connection's
// seq when the job was queued: a job whose seq is no longer the
// connection's was superseded (SyncNow, a reschedule) and does nothing, so
// each connection has one live chain of syncs.
type syncArgs struct {
	Connection string `json:"connection"`
	Seq        int64  `json:"seq"`
}

func (syncArgs) Kind() string { return "wedsync_calendar_sync" }

// errSuperseded: the connection's seq moved while a sync ran.
var errSuperseded = errors.New("calendar: sync superseded")

// syncJob asks the provider what changed and applies it.
func (s *Sync) syncJob(ctx context.Context, job *jobs.Job[syncArgs]) error {
	a := job.Args
	defer lock(&s.syncLocks, a.Connection)()
	c, err := s.store.connection(ctx, nil, a.Connection, false)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	p := s.providers[c.Provider]
	if c.seq != a.Seq || c.NeedsReconnect {
		return nil // superseded, or stopped until the supplier connects again
	}
	if p == nil {
		return s.syncFailed(ctx, c, nil, fmt.Errorf("calendar: connection %s names provider %q, which this engine was not given", c.ID, c.Provider))
	}
	permit, wait, _ := s.guards.Acquire(c.ID, s.o.rates[c.Provider])
	if permit == nil {
		return jobs.Snooze(wait)
	}
	creds, err := s.keys.Open(c.creds, []byte(c.ID))
	if err != nil {
		permit.NotAttempted()
		return s.syncFailed(ctx, c, nil, fmt.Errorf("calendar: connection %s: credentials: %w", c.ID, err))
	}
	// What the engine knew before asking: a write that lands while the
	// provider answers is newer than the answer (see applier.stale).
	before, err := s.store.mappings(ctx, nil, c.ID)
	if err != nil {
		permit.NotAttempted()
		return err
	}
	now := s.o.clock.Now()
	full := c.Cursor == "" || now.Sub(c.fullAt) >= s.o.fullEvery
	cursor := c.Cursor
	if full {
		cursor = ""
	}
	var log []Attempt
	hctx, storeCreds := s.credsHook(ctx, c)
	defer storeCreds(ctx)
	changes := func(cursor string) (*ChangeSet, error) {
		cctx, cancel := context.WithTimeout(hctx, 3*s.o.timeout)
		defer cancel()
		var cs *ChangeSet
		d, err := s.tel.call(cctx, p.Name(), "changes", c.ID, func(ctx context.Context) (err error) {
			cs, err = p.Changes(ctx, creds, c.Calendar, cursor)
			return err
		})
		at := Attempt{ID: newID("calatt_"), Connection: c.ID, Op: "changes", OK: err == nil, Duration: d, At: s.o.clock.Now()}
		if err != nil {
			at.Error = err.Error()
		}
		log = append(log, at)
		if err == nil && cs == nil {
			err = fmt.Errorf("calendar: provider %s returned no change set", p.Name())
		}
		return cs, err
	}
	cs, err := changes(cursor)
	if errors.Is(err, ErrCursorInvalid) {
		s.o.logger.Info("calendar: sync cursor refused; syncing the whole calendar", "connection", c.ID)
		full = true
		cs, err = changes("")
	}
	permit.Done(err == nil || errors.Is(err, ErrCursorInvalid))
	if err != nil {
		return s.syncFailed(ctx, c, log, err)
	}
	if full && !cs.Full {
		cs.Full = cursor == ""
	}
	var found []Change
	err = s.queue.InTx(ctx, func(tx pgx.Tx) error {
		found = found[:0]
		cur, err := s.store.connection(ctx, tx, c.ID, true)
		if err != nil {
			return err
		}
		if cur.seq != a.Seq {
			return errSuperseded
		}
		ap := &applier{s: s, c: cur, now: now, before: before}
		if err := ap.apply(ctx, tx, cs); err != nil {
			return err
		}
		found = ap.changes
		for i := range log {
			if err := s.store.addAttempt(ctx, tx, &log[i], 0); err != nil {
				return err
			}
		}
		cur.Cursor = cs.Cursor
		if cs.Full {
			cur.fullAt = now
		}
		cur.LastSuccess, cur.LastError, cur.Failures = now, "", 0
		return s.reschedule(ctx, tx, cur, now.Add(s.o.interval))
	})
	if errors.Is(err, errSuperseded) || errors.Is(err, ErrNotFound) {
		s.tel.synced(ctx, p.Name(), cs.Full, "superseded")
		return nil
	}
	if err != nil {
		return err
	}
	s.tel.synced(ctx, p.Name(), cs.Full, "ok")
	s.report(ctx, found)
	s.ensureWatch(hctx, c, p, creds)
	return nil
}

// reschedule saves c's sync state with the next sync at next, and queues
// that sync.
func (s *Sync) reschedule(ctx context.Context, tx pgx.Tx, c *connRow, next time.Time) error {
	c.seq++
	c.NextRun = next
	if err := s.store.saveSync(ctx, tx, c); err != nil {
		return err
	}
	return s.queue.InsertTx(ctx, tx, jobs.InsertParams{Args: syncArgs{Connection: c.ID, Seq: c.seq}, RunAt: next, Unique: true, Priority: 2})
}

// syncFailed records a failed sync and schedules the next with backoff
// (Retry-After honoured). A sync never gives up: past the retry schedule
// it keeps the schedule's last delay.
func (s *Sync) syncFailed(ctx context.Context, c *connRow, log []Attempt, cause error) error {
	if errors.Is(cause, ErrReconnect) {
		err := s.queue.InTx(ctx, func(tx pgx.Tx) error {
			for i := range log {
				if err := s.store.addAttempt(ctx, tx, &log[i], 0); err != nil {
					return err
				}
			}
			cur, err := s.store.connection(ctx, tx, c.ID, true)
			if err != nil {
				return err
			}
			cur.LastError = cause.Error() // what the status shows, beside NeedsReconnect
			return s.store.saveSync(ctx, tx, cur)
		})
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		s.tel.synced(ctx, c.Provider, c.Cursor == "", "failed")
		s.needsReconnect(ctx, c, cause)
		return nil // no next sync: Reconnect starts the chain again
	}
	c.Failures++
	d, ok := s.o.policy.Next(c.Failures, outcomeOf(cause))
	if !ok {
		sched := s.o.policy.Schedule
		d = max(sched[len(sched)-1], s.o.interval)
	}
	c.LastError = cause.Error()
	s.o.logger.Warn("calendar: sync failed", "connection", c.ID, "failures", c.Failures, "retry_in", d, "error", cause)
	err := s.queue.InTx(ctx, func(tx pgx.Tx) error {
		cur, err := s.store.connection(ctx, tx, c.ID, true)
		if err != nil {
			return err
		}
		if cur.seq != c.seq {
			return errSuperseded
		}
		for i := range log {
			if err := s.store.addAttempt(ctx, tx, &log[i], 0); err != nil {
				return err
			}
		}
		cur.LastError, cur.Failures = c.LastError, c.Failures
		return s.reschedule(ctx, tx, cur, s.o.clock.Now().Add(d))
	})
	if errors.Is(err, errSuperseded) || errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	s.tel.synced(ctx, c.Provider, c.Cursor == "", "failed")
	s.report(ctx, []Change{{Kind: ChangeSyncFailed, Supplier: c.Supplier, Connection: c.ID, Err: c.LastError, At: s.o.clock.Now()}})
	return nil
}

// report hands what a sync found to the host.
func (s *Sync) report(ctx context.Context, cs []Change) {
	if s.o.onChange == nil {
		return
	}
	for _, c := range cs {
		s.o.onChange(ctx, c)
	}
}

// applier applies one change set to one connection, in one transaction.
type applier struct {
	s       *Sync
	c       *connRow
	now     time.Time
	known   map[string]mapping
	before  map[string]mapping // known before the provider was asked
	changes []Change
	pushes  []jobs.InsertParams
	loc     *time.Location
	window  Interval
	counts  map[string]int
}

func (ap *applier) apply(ctx context.Context, tx pgx.Tx, cs *ChangeSet) error {
	var err error
	if ap.known, err = ap.s.store.mappings(ctx, tx, ap.c.ID); err != nil {
		return err
	}
	if ap.loc, err = time.LoadLocation(ap.c.TimeZone); err != nil {
		ap.loc = time.UTC
	}
	ap.window = Interval{Start: ap.now.Add(-ap.s.o.horizonPast), End: ap.now.Add(ap.s.o.horizonAhead)}
	ap.counts = map[string]int{}
	seen := make(map[string]bool, len(cs.Updated))
	for i := range cs.Updated {
		ev := &cs.Updated[i]
		if ev.ID == "" {
			continue
		}
		seen[ev.ID] = true
		if err := ap.event(ctx, tx, ev); err != nil {
			return fmt.Errorf("calendar: applying event %q: %w", ev.ID, err)
		}
	}
	for _, id := range cs.Deleted {
		if err := ap.deleted(ctx, tx, id); err != nil {
			return fmt.Errorf("calendar: applying the deletion of %q: %w", id, err)
		}
	}
	if cs.Full {
		for id := range ap.known {
			if !seen[id] {
				if err := ap.deleted(ctx, tx, id); err != nil {
					return err
				}
			}
		}
		if err := ap.reconcile(ctx, tx); err != nil {
			return err
		}
	}
	for k, n := range ap.counts {
		ap.s.tel.appliedN(ctx, k, n)
	}
	if len(ap.pushes) == 0 {
		return nil
	}
	return ap.s.queue.InsertTx(ctx, tx, ap.pushes...)
}

// restore queues the write of booking b again (its event was edited or
// deleted in the calendar).
func (ap *applier) restore(b *Booking) {
	if ap.c.ReadOnly {
		return
	}
	ap.pushes = append(ap.pushes, jobs.InsertParams{Unique: true,
		Args: pushArgs{Booking: b.ID, Connection: ap.c.ID, Version: b.Version, Attempt: 1, Restore: ap.c.seq + 1}})
}

// ours returns the booking an event stands for: by its tag, or by the
// mapping of a booking the engine wrote; nil for the supplier's own events
// (a tag naming another supplier's booking counts as the supplier's own).
func (ap *applier) ours(ctx context.Context, tx pgx.Tx, ev *Event) (*Booking, error) {
	id := ev.Tag
	if m, ok := ap.known[ev.ID]; ok && m.Origin == originWedSync && id == "" {
		id = m.BookingID
	}
	if id == "" {
		return nil, nil
	}
	b, err := ap.s.store.booking(ctx, tx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil || b.Supplier != ap.c.Supplier {
		return nil, err
	}
	return b, nil
}

// stale reports whether the engine wrote event id while the provider was
// answering: the answer shows the event as it was before that write (or
// not at all, for a create), and the next sync sees it as it is. Without
// this, a full listing racing a booking's first write would report the
// new event deleted, and one racing an update would report it edited.
func (ap *applier) stale(id string) bool {
	m, known := ap.known[id]
	if !known || m.Origin != originWedSync {
		return false
	}
	b, was := ap.before[id]
	return !was || b.ETag != m.ETag || b.BookingVersion != m.BookingVersion
}

func (ap *applier) event(ctx context.Context, tx pgx.Tx, ev *Event) error {
	if ap.stale(ev.ID) {
		ap.counts["stale"]++
		return nil
	}
	m, known := ap.known[ev.ID]
	b, err := ap.ours(ctx, tx, ev)
	if err != nil {
		return err
	}
	if b != nil {
		return ap.bookingEvent(ctx, tx, ev, b, m, known)
	}
	if known && m.Origin == originProvider && ev.ETag != "" && m.ETag == ev.ETag {
		ap.counts["unchanged"]++
		return nil
	}
	if known && m.Origin == originWedSync {
		// Our event, whose booking is gone: the booking's cancellation
		// deletes it; until then it blocks nothing.
		return nil
	}
	var rows []busyRow
	if !ev.Cancelled {
		// Expand returns what it could on an error (the instances before
		// a cut-off): those still count as busy.
		insts, err := Expand(ev, ap.window, ap.loc)
		if err != nil {
			ap.s.o.logger.Warn("calendar: event not fully expanded", "connection", ap.c.ID, "event", ev.ID, "instances", len(insts), "error", err)
		}
		for _, in := range insts {
			if !in.Transparent {
				rows = append(rows, busyRow{Span: in.Interval, Summary: ev.Summary})
			}
		}
	}
	if err := ap.s.store.replaceBusy(ctx, tx, ap.c.ID, ap.c.Supplier, ev.ID, rows); err != nil {
		return err
	}
	nm := mapping{Conn: ap.c.ID, EventID: ev.ID, Origin: originProvider, ETag: ev.ETag}
	if err := ap.s.store.putMapping(ctx, tx, nm); err != nil {
		return err
	}
	ap.known[ev.ID] = nm
	ap.counts["busy"]++
	return ap.conflicts(ctx, tx, ev, rows)
}

// conflicts reports the bookings and holds a changed event now overlaps.
func (ap *applier) conflicts(ctx context.Context, tx pgx.Tx, ev *Event, rows []busyRow) error {
	if len(rows) == 0 {
		return nil
	}
	span := rows[0].Span
	for _, r := range rows[1:] {
		span.Start, span.End = minTime(span.Start, r.Span.Start), maxTime(span.End, r.Span.End)
	}
	bs, err := ap.s.store.overlapping(ctx, tx, ap.c.Supplier, span, "", ap.now, false)
	if err != nil {
		return err
	}
	for _, b := range bs {
		for _, r := range rows {
			if r.Span.Overlaps(b.Interval) {
				busy := Conflict{Kind: ConflictBusy, Interval: r.Span, Connection: ap.c.ID, EventID: ev.ID, Summary: ev.Summary}
				ap.changes = append(ap.changes, Change{Kind: ChangeConflict, Supplier: ap.c.Supplier, Connection: ap.c.ID,
					BookingID: b.BookingID, Conflict: &busy, At: ap.now})
				ap.s.tel.conflicts.Add(ctx, 1)
				break
			}
		}
	}
	return nil
}

// bookingEvent handles an event that stands for booking b: our own write
// coming back (skipped), an event to adopt, or an edit made in the
// calendar (reported, and the booking written again: WedSync's booking is
// the truth). An event to adopt carries b's tag with no mapping of ours
// (one written before a crash lost its bookkeeping, or one listed before
// b was there and stored as the supplier's own, or a reconnected
// calendar's): it is mapped to b on any listing, full or incremental, and
// when it does not show b as it is (an older version of b, most likely)
// b is written over it, without telling the host of an edit nobody made
// that we know of.
func (ap *applier) bookingEvent(ctx context.Context, tx pgx.Tx, ev *Event, b *Booking, m mapping, known bool) error {
	if known && m.Origin == originWedSync && ev.ETag != "" && m.ETag == ev.ETag {
		ap.counts["echo"]++
		return nil
	}
	adopting := !known || m.Origin != originWedSync
	if adopting {
		if other, err := ap.s.store.mappingForBooking(ctx, tx, ap.c.ID, b.ID); err != nil {
			return err
		} else if other != nil && other.EventID != ev.ID {
			ap.s.o.logger.Warn("calendar: a second event carries a booking's tag; left alone", "connection", ap.c.ID,
				"booking", b.ID, "event", ev.ID, "mapped_event", other.EventID)
			return nil
		}
		ap.counts["adopted"]++
	}
	version := m.BookingVersion
	if !live(b, ap.now) {
		// A cancelled booking's event: delete it (its cancellation's
		// write may have run before this event was known).
		version = 0
		ap.restore(b)
	} else if want, err := ap.s.render(b, ap.c); err != nil {
		return err
	} else if sameContent(ev, want) {
		if !adopting {
			ap.counts["echo"]++
		}
		version = b.Version
	} else {
		version = 0 // needs writing
		ap.restore(b)
		if !adopting {
			ap.counts["restored"]++
			ap.changes = append(ap.changes, Change{Kind: ChangeBookingEdited, Supplier: ap.c.Supplier, Connection: ap.c.ID, BookingID: b.ID, At: ap.now})
		}
	}
	// The mapping keeps the ETag of our last write while we know it: an
	// event someone changed in ways we do not own (an alarm added) then
	// meets a 412 at our next write, which reads it and merges, instead of
	// a blind overwrite that would drop their alarm.
	etag := ev.ETag
	if known && m.Origin == originWedSync && m.ETag != "" {
		etag = m.ETag
	}
	nm := mapping{Conn: ap.c.ID, EventID: ev.ID, Origin: originWedSync, BookingID: b.ID, BookingVersion: version, ETag: etag}
	if err := ap.s.store.replaceBusy(ctx, tx, ap.c.ID, ap.c.Supplier, ev.ID, nil); err != nil {
		return err
	}
	if err := ap.s.store.putMapping(ctx, tx, nm); err != nil {
		return err
	}
	ap.known[ev.ID] = nm
	return nil
}

func (ap *applier) deleted(ctx context.Context, tx pgx.Tx, id string) error {
	m, ok := ap.known[id]
	if !ok || ap.stale(id) {
		return nil
	}
	delete(ap.known, id)
	if err := ap.s.store.deleteMapping(ctx, tx, ap.c.ID, id); err != nil {
		return err
	}
	if m.Origin == originProvider {
		ap.counts["removed"]++
		return ap.s.store.replaceBusy(ctx, tx, ap.c.ID, ap.c.Supplier, id, nil)
	}
	b, err := ap.s.store.booking(ctx, tx, m.BookingID)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if live(b, ap.now) {
		ap.counts["restored"]++
		ap.restore(b)
		ap.changes = append(ap.changes, Change{Kind: ChangeBookingDeleted, Supplier: ap.c.Supplier, Connection: ap.c.ID, BookingID: b.ID, At: ap.now})
	}
	return nil
}

// reconcile, after a full listing, queues the write of every booking of
// the supplier within the horizon whose calendar event is not what it
// should be: a live booking with no event or an older version of it (a new
// connection, a write that failed for good or waited for a reconnect), a
// cancelled one whose event is still there.
func (ap *applier) reconcile(ctx context.Context, tx pgx.Tx) error {
	if ap.c.ReadOnly {
		return nil
	}
	bs, err := ap.s.store.bookings(ctx, tx, ap.c.Supplier, Interval{Start: ap.now.Add(-ap.s.o.horizonPast), End: ap.now.Add(ap.s.o.horizonAhead)})
	if err != nil {
		return err
	}
	mapped := map[string]mapping{}
	for _, m := range ap.known {
		if m.BookingID != "" {
			mapped[m.BookingID] = m
		}
	}
	for i := range bs {
		m, ok := mapped[bs[i].ID]
		switch {
		case live(&bs[i], ap.now) && (!ok || m.BookingVersion != bs[i].Version):
			ap.restore(&bs[i]) // missing, or a write that never landed (it failed for good, or waited for a reconnect)
		case !live(&bs[i], ap.now) && ok:
			ap.restore(&bs[i]) // cancelled while its delete could not be written
		}
	}
	return nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
