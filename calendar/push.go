package calendar

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wedsync/integrations/internal/attempt"
	"github.com/wedsync/integrations/internal/jobs"
)

// pushArgs is the job that writes one version of a booking to one
// connection's calendar. Attempt numbers the retries; Restore, when not
// zero, is the seq of the sync that found the booking's event edited or
// deleted in the calendar and asks for it to be written again.
type pushArgs struct {
	Booking    string `json:"booking"`
	Connection string `json:"connection"`
	Version    int64  `json:"version"`
	Attempt    int    `json:"attempt"`
	Restore    int64  `json:"restore,omitempty"`
}

func (pushArgs) Kind() string { return "wedsync_calendar_push" }

// putAndQueue stores b, after expiring the supplier's lapsed holds, and
// queues the writes of both to the supplier's calendars, in tx or in a
// transaction of its own.
func (s *Sync) putAndQueue(ctx context.Context, tx pgx.Tx, b *Booking) error {
	now := s.o.clock.Now()
	fn := func(tx pgx.Tx) error {
		expired, err := s.store.expireHolds(ctx, tx, b.Supplier, now, 1000)
		if err != nil {
			return err
		}
		if err := s.store.putBooking(ctx, tx, b, now); err != nil {
			return err
		}
		return s.queuePushes(ctx, tx, append(expired, *b))
	}
	var err error
	if tx != nil {
		err = fn(tx)
	} else {
		err = s.queue.InTx(ctx, fn)
	}
	if errors.Is(err, ErrConflict) {
		s.tel.refused.Add(ctx, 1)
	}
	return err
}

// queuePushes queues the write of each booking to each writable connection
// of its supplier.
func (s *Sync) queuePushes(ctx context.Context, tx pgx.Tx, bs []Booking) error {
	conns := map[string][]*connRow{}
	var ps []jobs.InsertParams
	for _, b := range bs {
		cs, ok := conns[b.Supplier]
		if !ok {
			var err error
			if cs, err = s.store.connections(ctx, tx, b.Supplier); err != nil {
				return err
			}
			conns[b.Supplier] = cs
		}
		for _, c := range cs {
			if !c.ReadOnly {
				ps = append(ps, jobs.InsertParams{Args: pushArgs{Booking: b.ID, Connection: c.ID, Version: b.Version, Attempt: 1}, Unique: true})
			}
		}
	}
	if len(ps) == 0 {
		return nil
	}
	return s.queue.InsertTx(ctx, tx, ps...)
}

// render is the calendar event of b in connection c.
func (s *Sync) render(b *Booking, c *connRow) (*Event, error) {
	data := *b
	if !c.Sharing.Couple {
		data.Couple = ""
	}
	if !c.Sharing.Venue {
		data.Venue = ""
	}
	if !c.Sharing.Contact {
		data.Contact = ""
	}
	if !c.Sharing.Notes {
		data.Notes = ""
	}
	var title, desc bytes.Buffer
	if err := s.title.Execute(&title, &data); err != nil {
		return nil, fmt.Errorf("calendar: title template: %w", err)
	}
	if err := s.desc.Execute(&desc, &data); err != nil {
		return nil, fmt.Errorf("calendar: description template: %w", err)
	}
	return &Event{
		UID:         "wedsync-" + b.ID,
		Summary:     strings.TrimSpace(title.String()),
		Description: strings.TrimSpace(desc.String()),
		Location:    data.Venue,
		Start:       b.Start,
		End:         b.End,
		Tag:         b.ID,
	}, nil
}

// sameContent reports whether a calendar's event shows what we wrote:
// providers reformat (line endings, trailing space, time zones), so compare
// what a person sees.
func sameContent(have, want *Event) bool {
	norm := func(s string) string { return strings.TrimSpace(strings.ReplaceAll(s, "\r\n", "\n")) }
	return !have.Cancelled && have.Start.Equal(want.Start) && have.End.Equal(want.End) &&
		norm(have.Summary) == norm(want.Summary) && norm(have.Description) == norm(want.Description) &&
		norm(have.Location) == norm(want.Location)
}

// merge lays what we own of want over have, keeping the rest of have (its
// Native representation, alarms and attendees included).
func merge(have, want *Event) *Event {
	m := *have
	m.Summary, m.Description, m.Location = want.Summary, want.Description, want.Location
	m.Start, m.End, m.AllDay = want.Start, want.End, false
	m.Tag, m.Cancelled, m.Transparent = want.Tag, false, false
	m.Recurrence, m.Overrides, m.RecurrenceID = nil, nil, time.Time{}
	if m.UID == "" {
		m.UID = want.UID
	}
	return &m
}

// pushJob writes one version of a booking to one calendar.
func (s *Sync) pushJob(ctx context.Context, job *jobs.Job[pushArgs]) error {
	a := job.Args
	if done, err := attempt.AlreadyDone(ctx, job.Attempt, func(ctx context.Context) (bool, error) {
		return s.store.attemptRecorded(ctx, job.ID)
	}); err != nil || done {
		return err
	}
	// One write of a booking to a calendar at a time in this process, and
	// the booking read under the lock: a write that read an older version
	// and waited must not undo a newer one (a move waiting while the
	// cancellation deleted the event would write it back). Another
	// instance racing this one can still do that; the next full listing's
	// reconcile deletes the event again.
	defer lock(&s.pushLocks, a.Connection+"\x00"+a.Booking)()
	b, err := s.store.booking(ctx, nil, a.Booking)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if b.Version > a.Version && a.Restore == 0 {
		return nil // a newer version has its own job
	}
	c, err := s.store.connection(ctx, nil, a.Connection, false)
	if errors.Is(err, ErrNotFound) {
		return nil // disconnected
	}
	if err != nil {
		return err
	}
	if c.ReadOnly || c.NeedsReconnect {
		return nil // a reconnect's full sync writes what is missing
	}
	m, err := s.store.mappingForBooking(ctx, nil, c.ID, b.ID)
	if err != nil {
		return err
	}
	if m != nil && m.BookingVersion == b.Version && live(b, s.o.clock.Now()) {
		// Written already: by a crashed run of this job, or by a
		// concurrent one (a reconcile and a booking's write). A mapping
		// whose event was edited in the calendar has version 0.
		return nil
	}
	permit, wait, reason := s.guards.Acquire(c.ID, s.o.rates[c.Provider])
	if permit == nil {
		s.o.logger.Debug("calendar: write put off", "connection", c.ID, "reason", reason, "wait", wait)
		return jobs.Snooze(wait)
	}
	creds, err := s.keys.Open(c.creds, []byte(c.ID))
	if err != nil {
		permit.NotAttempted()
		return jobs.Cancel(fmt.Errorf("calendar: connection %s: credentials: %w", c.ID, err))
	}
	w := &writer{s: s, c: c, b: b, m: m, creds: creds, jobID: job.ID}
	hctx, storeCreds := s.credsHook(ctx, c)
	werr := w.write(hctx)
	storeCreds(ctx)
	if errors.Is(werr, ErrReconnect) {
		s.needsReconnect(ctx, c, werr)
	}
	permit.Done(werr == nil || !retryable(werr))

	entry := attempt.Entry{Write: func(ctx context.Context, tx pgx.Tx) error {
		for i := range w.log {
			if err := s.store.addAttempt(ctx, tx, &w.log[i], job.ID); err != nil {
				return err
			}
		}
		if werr != nil {
			return nil
		}
		if w.gone {
			if m != nil {
				return s.store.deleteMapping(ctx, tx, c.ID, m.EventID)
			}
			return nil
		}
		if w.outcome == "adopted" {
			// A sync may have listed the event as the supplier's own
			// (before the booking was there): it blocks no time now.
			if err := s.store.replaceBusy(ctx, tx, c.ID, c.Supplier, w.ev.ID, nil); err != nil {
				return err
			}
		}
		return s.store.putMapping(ctx, tx, mapping{Conn: c.ID, EventID: w.ev.ID, Origin: originWedSync,
			BookingID: b.ID, BookingVersion: b.Version, ETag: w.ev.ETag})
	}}
	if werr != nil && retryable(werr) {
		if d, ok := s.o.policy.Next(a.Attempt, outcomeOf(werr)); ok {
			next := a
			next.Attempt++
			entry.Next = &jobs.InsertParams{Args: next, RunAt: s.o.clock.Now().Add(d), Unique: true}
			s.tel.wrote(ctx, w.op, "retrying")
		} else {
			s.tel.wrote(ctx, w.op, "failed")
			s.o.logger.Error("calendar: writing a booking failed for good; the next full sync tries again",
				"connection", c.ID, "booking", b.ID, "error", werr)
		}
	} else if werr != nil {
		s.tel.wrote(ctx, w.op, "failed")
		s.o.logger.Error("calendar: writing a booking failed", "connection", c.ID, "booking", b.ID, "error", werr)
	} else {
		s.tel.wrote(ctx, w.op, w.outcome)
	}
	return s.recorder.Record(ctx, entry)
}

// retryable reports whether a failed write may succeed later: not when
// the provider refused the credentials or the write itself.
func retryable(err error) bool {
	var ce *jobs.CancelError
	return !errors.Is(err, ErrUnauthorized) && !errors.Is(err, ErrReconnect) && !errors.Is(err, ErrInvalid) && !errors.As(err, &ce)
}

func outcomeOf(err error) attempt.Outcome {
	var pe *ProviderError
	if errors.As(err, &pe) {
		return attempt.Outcome{Status: pe.Status, RetryAfter: pe.RetryAfter, HasRetryAfter: pe.RetryAfter > 0,
			Timeout: errors.Is(pe.Err, context.DeadlineExceeded)}
	}
	return attempt.Outcome{Timeout: errors.Is(err, context.DeadlineExceeded)}
}

// writer makes the provider calls of one push, logging each.
type writer struct {
	s     *Sync
	c     *connRow
	b     *Booking
	m     *mapping
	creds []byte
	jobID int64

	op      string
	outcome string
	ev      *Event // the event as written
	gone    bool   // the event was deleted
	log     []Attempt
}

func (w *writer) call(ctx context.Context, op string, fn func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, w.s.o.timeout)
	defer cancel()
	p := w.s.providers[w.c.Provider]
	d, err := w.s.tel.call(ctx, p.Name(), op, w.c.ID, fn)
	a := Attempt{ID: newID("calatt_"), Connection: w.c.ID, Op: op, BookingID: w.b.ID, OK: err == nil, Duration: d, At: w.s.o.clock.Now()}
	if err != nil {
		a.Error = err.Error()
	}
	w.log = append(w.log, a)
	return err
}

func (w *writer) write(ctx context.Context) error {
	p := w.s.providers[w.c.Provider]
	if p == nil {
		w.op = "write"
		return fmt.Errorf("calendar: connection %s names provider %q, which this engine was not given: %w", w.c.ID, w.c.Provider, ErrInvalid)
	}
	cal := w.c.Calendar
	if !live(w.b, w.s.o.clock.Now()) {
		w.op, w.outcome, w.gone = "delete", "ok", true
		if w.m == nil {
			return nil
		}
		err := w.call(ctx, "delete", func(ctx context.Context) error { return p.Delete(ctx, w.creds, cal, w.m.EventID, w.m.ETag) })
		if errors.Is(err, ErrPrecondition) {
			// Edited in the calendar since we wrote it: the booking is
			// cancelled all the same.
			w.outcome = "merged"
			err = w.call(ctx, "delete", func(ctx context.Context) error { return p.Delete(ctx, w.creds, cal, w.m.EventID, "") })
		}
		return err
	}
	want, err := w.s.render(w.b, w.c)
	if err != nil {
		w.op = "write"
		return jobs.Cancel(err)
	}
	if w.m == nil {
		return w.create(ctx, p, want)
	}
	w.op, w.outcome = "update", "ok"
	want.ID = w.m.EventID
	var got *Event
	err = w.call(ctx, "update", func(ctx context.Context) (err error) { got, err = p.Update(ctx, w.creds, cal, want, w.m.ETag); return })
	switch {
	case errors.Is(err, ErrPrecondition):
		// Someone edited the event since we wrote it: read it, lay our
		// fields over theirs, and write with its ETag.
		have, err := w.get(ctx, p, w.m.EventID)
		if errors.Is(err, ErrNotFound) {
			return w.create(ctx, p, want)
		}
		if err != nil {
			return err
		}
		w.outcome = "merged"
		return w.overlay(ctx, p, have, want)
	case errors.Is(err, ErrNotFound):
		// Deleted in the calendar: a live booking is written again.
		return w.create(ctx, p, want)
	}
	if err != nil {
		return err
	}
	w.ev = got
	return nil
}

func (w *writer) create(ctx context.Context, p Provider, want *Event) error {
	w.op, w.outcome = "create", "ok"
	want.ID = ""
	var got *Event
	err := w.call(ctx, "create", func(ctx context.Context) (err error) { got, err = p.Create(ctx, w.creds, w.c.Calendar, want); return })
	if errors.Is(err, ErrPrecondition) {
		return w.adopt(ctx, p, want, err)
	}
	if err != nil {
		return err
	}
	w.ev = got
	return nil
}

// adopt answers a create that met an existing event (cerr): most often
// this booking's own, written by an earlier run whose bookkeeping was lost
// (its worker was killed after the write, or the write's answer timed out
// after it landed). The event the provider names (ExistsError) is read,
// and when it carries the booking's tag it becomes the booking's event:
// written as it stands if it shows the booking, else the booking laid over
// it with its ETag. Either way the mapping follows and no second event is
// made. A provider that does not name the event gets a full sync at once,
// whose listing adopts it by its tag (an incremental one may not show an
// event that has not changed since an earlier listing); this write is
// retried after it.
func (w *writer) adopt(ctx context.Context, p Provider, want *Event, cerr error) error {
	var ex *ExistsError
	if !errors.As(cerr, &ex) || ex.ID == "" {
		if err := w.s.fullSyncNow(ctx, w.c.ID); err != nil {
			return err
		}
		return &ProviderError{Provider: p.Name(), Op: "create", Status: 412, Err: cerr}
	}
	have, err := w.get(ctx, p, ex.ID)
	if errors.Is(err, ErrNotFound) {
		// Deleted since: the next attempt creates it.
		return &ProviderError{Provider: p.Name(), Op: "create", Status: 412, Err: cerr}
	}
	if err != nil {
		return err
	}
	if have.Tag != w.b.ID {
		return jobs.Cancel(fmt.Errorf("calendar: connection %s: booking %s: its event's place %s holds an event that is not the booking's (tag %q): %w",
			w.c.ID, w.b.ID, ex.ID, have.Tag, cerr))
	}
	w.outcome = "adopted"
	if sameContent(have, want) {
		w.ev = have
		return nil
	}
	return w.overlay(ctx, p, have, want)
}

// get reads the event id from the connection's calendar.
func (w *writer) get(ctx context.Context, p Provider, id string) (have *Event, err error) {
	err = w.call(ctx, "get", func(ctx context.Context) (err error) { have, err = p.Get(ctx, w.creds, w.c.Calendar, id); return })
	return have, err
}

// overlay lays want's fields over have (the event as the calendar holds
// it: its alarms, attendees and other properties stay) and writes the
// result with have's ETag.
func (w *writer) overlay(ctx context.Context, p Provider, have, want *Event) error {
	var got *Event
	err := w.call(ctx, "update", func(ctx context.Context) (err error) {
		got, err = p.Update(ctx, w.creds, w.c.Calendar, merge(have, want), have.ETag)
		return
	})
	if err != nil {
		return err
	}
	w.ev = got
	return nil
}
