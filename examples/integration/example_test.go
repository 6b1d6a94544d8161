package integration_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/wedsync/integrations/calendar"
	"github.com/wedsync/integrations/examples/integration"
	"github.com/wedsync/integrations/notify/smtp/smtptest"
	"github.com/wedsync/integrations/realtime/client"
)

// The whole SDK in one host, in memory mode: a booking confirmed once
// reaches the vendor's CRM (a signed webhook), the supplier's inbox (an
// email, and an in-app message shown live), the supplier's calendar, the
// couple's WedMe app and the supplier's open dashboard. An overlapping
// booking is refused before anything is sent. Then the host shuts down as
// it does on SIGTERM.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := startOutside() // the vendor's CRM, an SMTP relay, a calendar service, WedMe
	if err != nil {
		panic(err)
	}
	defer out.close()
	cfg, err := out.config(nil, "") // no pool: memory mode
	if err != nil {
		panic(err)
	}
	app, err := integration.New(ctx, cfg)
	if err != nil {
		panic(err)
	}
	if err := app.Start(ctx); err != nil {
		panic(err)
	}
	mux := http.NewServeMux() // the host's router, with its own routes besides
	if err := app.Mount(mux); err != nil {
		panic(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	// main cancels this on SIGTERM: signal.NotifyContext(ctx, syscall.SIGTERM).
	sigterm, stop := context.WithCancel(ctx)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- app.Serve(sigterm, &http.Server{Handler: mux}, ln, 15*time.Second) }()

	if _, err := out.connect(ctx, app); err != nil { // a webhook endpoint, a calendar
		panic(err)
	}
	dash, err := openDashboard(ctx, "ws://"+ln.Addr().String()+integration.HubPath)
	if err != nil {
		panic(err)
	}
	defer dash.c.Close()

	london, _ := time.LoadLocation("Europe/London")
	booking := integration.Booking{ID: "bk_1001", SupplierID: supplier, CoupleID: couple, Couple: "Ana & Ben",
		Title: "Ana & Ben's wedding", Start: time.Date(2030, 6, 1, 12, 0, 0, 0, london), End: time.Date(2030, 6, 1, 22, 0, 0, 0, london)}
	if err := app.ConfirmBooking(ctx, booking); err != nil {
		panic(err)
	}

	// The dashboard: the booking (broadcast after the commit) and the
	// in-app notification (broadcast by the notifier's handler), in
	// either order.
	seen := map[string]string{}
	for len(seen) < 2 {
		m, err := dash.next(ctx)
		if err != nil {
			panic(err)
		}
		seen[m.Event] = string(m.Payload)
	}
	var live struct {
		BookingID string `json:"booking_id"`
		Title     string
	}
	if err := json.Unmarshal([]byte(seen[integration.EventBookingConfirmed]), &live); err != nil {
		panic(err)
	}
	fmt.Println("dashboard:", integration.EventBookingConfirmed, live.BookingID, live.Title)
	fmt.Println("dashboard:", integration.EventNotification, len(seen[integration.EventNotification]) > 0)

	hooks, err := out.vendor.WaitFor(ctx, 1)
	if err != nil {
		panic(err)
	}
	var hook struct {
		Type string
		Data struct {
			BookingID string `json:"booking_id"`
		}
	}
	if err := json.Unmarshal(hooks[0].Body, &hook); err != nil {
		panic(err)
	}
	fmt.Println("vendor CRM:", hook.Type, hook.Data.BookingID, "signature ok:", hooks[0].VerifyErr == nil)

	mails, err := out.mail.Wait(ctx, 1)
	if err != nil {
		panic(err)
	}
	mail, err := smtptest.Parse(mails[0])
	if err != nil {
		panic(err)
	}
	fmt.Println("email:", mail.Subject)

	if err := settle(ctx, app); err != nil {
		panic(err)
	}
	for _, ev := range out.cal.Events(calendarID) {
		fmt.Println("calendar:", ev.Summary, ev.Start.Format("2006-01-02 15:04 MST"))
	}

	applied, err := out.waitApplied(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println("WedMe:", applied.Record.Type, applied.Record.ID, field(applied.Record, "status"))

	// The same slot again: the calendar refuses it, and nothing is sent.
	overlap := booking
	overlap.ID = "bk_1002"
	err = app.ConfirmBooking(ctx, overlap)
	fmt.Println("overlap refused:", errors.Is(err, calendar.ErrConflict))
	if err := settle(ctx, app); err != nil {
		panic(err)
	}
	fmt.Println("webhooks:", out.vendor.Count(), "emails:", out.mail.Count(), "calendar events:", len(out.cal.Events(calendarID)))

	// SIGTERM: the server stops, the workers drain, the dashboard is
	// told the server is going away (close code 1001).
	stop()
	fmt.Println("stopped:", <-served)
	if err := dash.waitState(ctx, client.ConnDisconnected); err != nil {
		panic(err)
	}
	fmt.Println("dashboard:", client.ConnDisconnected)
	// Output:
	// dashboard: booking.confirmed bk_1001 Ana & Ben's wedding
	// dashboard: notification.created true
	// vendor CRM: booking.confirmed bk_1001 signature ok: true
	// email: Ana & Ben booked you
	// calendar: Ana & Ben's wedding 2030-06-01 12:00 BST
	// WedMe: supplier_booking bk_1001 confirmed
	// overlap refused: true
	// webhooks: 1 emails: 1 calendar events: 1
	// stopped: <nil>
	// dashboard: disconnected
}
