package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wedsync/integrations/calendar"
	"github.com/wedsync/integrations/notify"
	"github.com/wedsync/integrations/realtime"
	"github.com/wedsync/integrations/webhook/delivery"
	"github.com/wedsync/integrations/wedmesync"
)

// Events the host sends: the webhook event type, the notify event and the
// realtime event of a confirmed booking share one name.
const (
	EventBookingConfirmed = "booking.confirmed"
	EventCalendarConflict = "calendar.conflict"
	EventNotification     = "notification.created"
	EventWedMeChanged     = "wedme.changed"
)

// Booking is the host's booking, as its API receives it.
type Booking struct {
	ID         string
	SupplierID string
	CoupleID   string
	Couple     string // "Ana & Ben"
	Title      string
	Start, End time.Time
}

// bookingPayload is the webhook body and the dashboard broadcast.
type bookingPayload struct {
	Type string      `json:"type"`
	Data bookingData `json:"data"`
}

type bookingData struct {
	BookingID string    `json:"booking_id"`
	Couple    string    `json:"couple"`
	Title     string    `json:"title"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
}

func (b *Booking) payload() bookingPayload {
	return bookingPayload{Type: EventBookingConfirmed, Data: bookingData{
		BookingID: b.ID, Couple: b.Couple, Title: b.Title, Start: b.Start.UTC(), End: b.End.UTC()}}
}

// ConfirmBooking confirms b: in Postgres mode the host's row and every SDK
// write commit in one transaction (ConfirmBookingTx), and the dashboards
// hear of it only after the commit. A booking that overlaps another is
// refused with an error matching calendar.ErrConflict, and then nothing at
// all happened.
//
// In memory mode there is no transaction: the calendar booking comes
// first, since it is the one that can refuse, then the other sends. A
// failure half-way leaves the earlier ones done; memory mode is for demos
// and tests.
func (a *App) ConfirmBooking(ctx context.Context, b Booking) error {
	if a.pool == nil {
		if err := a.confirmInMemory(ctx, b); err != nil {
			return err
		}
	} else if err := pgx.BeginFunc(ctx, a.pool, func(tx pgx.Tx) error {
		return a.ConfirmBookingTx(ctx, tx, b)
	}); err != nil {
		return err
	}
	a.AfterCommit(ctx, b)
	return nil
}

// ConfirmBookingTx does the booking's writes in the host's transaction tx
// (Postgres mode): the host's row, the calendar booking (refused on an
// overlap), the webhook to the supplier's endpoints, the notification and
// the WedMe change. Each exists only if tx commits; after the commit, call
// AfterCommit. A host whose transaction does more calls this inside it.
func (a *App) ConfirmBookingTx(ctx context.Context, tx pgx.Tx, b Booking) error {
	if _, err := tx.Exec(ctx, `INSERT INTO bookings (id, supplier_id, couple_id, title, starts_at, ends_at, status)
		VALUES ($1, $2, $3, $4, $5, $6, 'confirmed')
		ON CONFLICT (id) DO UPDATE SET status = 'confirmed'`,
		b.ID, b.SupplierID, b.CoupleID, b.Title, b.Start, b.End); err != nil {
		return fmt.Errorf("store booking %s: %w", b.ID, err)
	}
	// First the write that can refuse: an overlap is *calendar.ConflictError
	// (and tx stays usable, though here the host gives up).
	if _, err := a.Calendar.BookTx(ctx, tx, a.calendarBooking(&b)); err != nil {
		return err
	}
	msg, err := a.webhook(&b)
	if err != nil {
		return err
	}
	if _, err := a.Webhooks.SendTx(ctx, tx, msg); err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	nt, err := a.notification(ctx, &b)
	if err != nil {
		return err
	}
	if _, err := a.Notifier.SendTx(ctx, tx, nt); err != nil {
		return fmt.Errorf("notification: %w", err)
	}
	if _, err := a.WedMe.RecordTx(ctx, tx, wedmeEdit(&b)); err != nil {
		return fmt.Errorf("wedme: %w", err)
	}
	return nil
}

// confirmInMemory is ConfirmBookingTx without a database: the plain calls.
func (a *App) confirmInMemory(ctx context.Context, b Booking) error {
	if _, err := a.Calendar.Book(ctx, a.calendarBooking(&b)); err != nil {
		return err
	}
	msg, err := a.webhook(&b)
	if err != nil {
		return err
	}
	if _, err := a.Webhooks.Send(ctx, msg); err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	nt, err := a.notification(ctx, &b)
	if err != nil {
		return err
	}
	if _, err := a.Notifier.Send(ctx, nt); err != nil {
		return fmt.Errorf("notification: %w", err)
	}
	if _, err := a.WedMe.Record(ctx, wedmeEdit(&b)); err != nil {
		return fmt.Errorf("wedme: %w", err)
	}
	return nil
}

// AfterCommit does what must wait for the commit: the dashboards'
// broadcast (a rolled-back booking must never flash on a screen). It
// cannot fail the booking, which is committed: a dashboard that misses the
// broadcast reloads (replay). The WedMe change needs nothing here: the
// peer hears the commit and pushes it.
func (a *App) AfterCommit(ctx context.Context, b Booking) {
	if _, err := a.Hub.Broadcast(ctx, realtime.SupplierTopic(b.SupplierID), EventBookingConfirmed, b.payload().Data); err != nil &&
		!errors.Is(err, realtime.ErrHubClosed) {
		a.log.Warn("broadcast booking.confirmed", "booking", b.ID, "error", err)
	}
}

func (a *App) calendarBooking(b *Booking) calendar.Booking {
	return calendar.Booking{ID: b.ID, Supplier: b.SupplierID, Status: calendar.StatusConfirmed,
		Title: b.Title, Couple: b.Couple, Start: b.Start, End: b.End}
}

func (a *App) webhook(b *Booking) (delivery.Message, error) {
	body, err := json.Marshal(b.payload())
	if err != nil {
		return delivery.Message{}, err
	}
	return delivery.Message{SupplierID: b.SupplierID, EventType: EventBookingConfirmed, Payload: body,
		IdempotencyKey: EventBookingConfirmed + ":" + b.ID}, nil
}

func (a *App) notification(ctx context.Context, b *Booking) (notify.Notification, error) {
	to, err := a.recipient(ctx, b.SupplierID)
	if err != nil {
		return notify.Notification{}, fmt.Errorf("supplier %s: %w", b.SupplierID, err)
	}
	return notify.Notification{Event: EventBookingConfirmed, Recipient: to,
		Data:           map[string]any{"couple": b.Couple, "title": b.Title},
		WeddingDate:    b.Start.Format(time.DateOnly),
		IdempotencyKey: EventBookingConfirmed + ":" + b.ID}, nil
}

func wedmeEdit(b *Booking) wedmesync.Edit {
	set := map[string]json.RawMessage{}
	for k, v := range map[string]string{"supplier": b.SupplierID, "service": b.Title, "status": "confirmed"} {
		set[k], _ = json.Marshal(v) // strings always marshal
	}
	return wedmesync.Edit{Couple: b.CoupleID, Supplier: b.SupplierID, Type: wedmesync.TypeSupplierBooking, Record: b.ID, Set: set}
}

// hostTemplates are the host's notification templates, checked at
// start-up: a template that uses an undeclared variable fails New.
func hostTemplates() (*notify.Templates, error) {
	ts := notify.NewTemplates()
	events := []notify.EventSpec{
		{Name: EventBookingConfirmed, Category: notify.CategoryBooking, Variables: []string{"couple", "title"},
			Channels: []notify.Channel{notify.ChannelEmail, notify.ChannelInApp}},
		{Name: EventCalendarConflict, Category: notify.CategoryCalendarConflict, Variables: []string{"booking_id", "summary"},
			Channels: []notify.Channel{notify.ChannelEmail, notify.ChannelInApp}},
	}
	templates := []notify.Template{
		{Event: EventBookingConfirmed, Channel: notify.ChannelEmail, Subject: "{{.couple}} booked you",
			Text: "Hi {{.recipient_name}}, {{.couple}} confirmed {{.title}}."},
		{Event: EventBookingConfirmed, Channel: notify.ChannelInApp, Subject: "New booking",
			Text: "{{.couple}} confirmed {{.title}}."},
		{Event: EventCalendarConflict, Channel: notify.ChannelEmail, Subject: "Double booking: {{.summary}}",
			Text: "Hi {{.recipient_name}}, {{.summary}} in your calendar overlaps booking {{.booking_id}}."},
		{Event: EventCalendarConflict, Channel: notify.ChannelInApp, Subject: "Double booking",
			Text: "{{.summary}} overlaps booking {{.booking_id}}."},
	}
	for _, e := range events {
		if err := ts.AddEvent(e); err != nil {
			return nil, fmt.Errorf("integration: templates: %w", err)
		}
	}
	for _, t := range templates {
		if err := ts.Add(t); err != nil {
			return nil, fmt.Errorf("integration: templates: %w", err)
		}
	}
	return ts, nil
}

// The glue. The packages never import each other; the host connects them
// with their handlers. Each runs on a job's goroutine: quick, bounded.

// inAppMessage shows a stored in-app message live on the supplier's
// dashboards.
func (a *App) inAppMessage(ctx context.Context, m notify.InAppMessage) {
	a.broadcast(ctx, m.SupplierID, EventNotification, m)
}

// calendarChange routes what a sync found: a conflict notifies the supplier
// (with Send: the handler runs after the sync's commit, outside any host
// transaction) and shows on the dashboards; every change shows there.
func (a *App) calendarChange(ctx context.Context, c calendar.Change) {
	if c.Kind == calendar.ChangeConflict && c.Conflict != nil {
		to, err := a.recipient(ctx, c.Supplier)
		if err == nil {
			_, err = a.Notifier.Send(ctx, notify.Notification{Event: EventCalendarConflict, Recipient: to,
				Data: map[string]any{"booking_id": c.BookingID, "summary": c.Conflict.Summary},
				// One notification per event and booking, however often
				// the sync sees it.
				IdempotencyKey: fmt.Sprintf("%s:%s:%s", EventCalendarConflict, c.BookingID, c.Conflict.EventID)})
		}
		if err != nil {
			a.log.Warn("notify calendar conflict", "supplier", c.Supplier, "booking", c.BookingID, "error", err)
		}
	}
	a.broadcast(ctx, c.Supplier, "calendar."+string(c.Kind), c)
}

// wedmeApplied shows a couple's change on the dashboards of the supplier
// it was applied for.
func (a *App) wedmeApplied(ctx context.Context, ap wedmesync.Applied) {
	a.broadcast(ctx, ap.Record.Supplier, EventWedMeChanged, map[string]any{
		"couple": ap.Change.Couple, "type": ap.Change.Type, "record": ap.Change.Record})
}

func (a *App) broadcast(ctx context.Context, supplierID, event string, payload any) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := a.Hub.Broadcast(ctx, realtime.SupplierTopic(supplierID), event, payload); err != nil &&
		!errors.Is(err, realtime.ErrHubClosed) {
		a.log.Warn("broadcast", "event", event, "supplier", supplierID, "error", err)
	}
}
