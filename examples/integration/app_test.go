package integration_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/calendar"
	"github.com/wedsync/integrations/examples/integration"
	"github.com/wedsync/integrations/notify/smtp/smtptest"
)

// TestCalendarConflictNotifiesAndBroadcasts checks the glue between
// packages that never import each other: the supplier adds an event to
// their own calendar on top of a booking, the next sync finds the
// conflict, and the host's handler emails the supplier, puts it in the
// inbox and shows both on the dashboard.
func TestCalendarConflictNotifiesAndBroadcasts(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	out, err := startOutside()
	require.NoError(t, err)
	defer out.close()
	cfg, err := out.config(nil, "")
	require.NoError(t, err)
	app, err := integration.New(ctx, cfg)
	require.NoError(t, err)
	require.NoError(t, app.Start(ctx))
	defer func() { require.NoError(t, app.Stop(context.WithoutCancel(ctx))) }()
	mux := http.NewServeMux()
	require.NoError(t, app.Mount(mux))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(ln) }()
	defer func() { require.NoError(t, srv.Shutdown(context.WithoutCancel(ctx))) }()

	conn, err := out.connect(ctx, app)
	require.NoError(t, err)
	dash, err := openDashboard(ctx, "ws://"+ln.Addr().String()+integration.HubPath)
	require.NoError(t, err)
	defer dash.c.Close()

	// Within the sync's horizon (two years ahead), where busy time counts.
	start := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 2, 0).Add(11 * time.Hour)
	require.NoError(t, app.ConfirmBooking(ctx, integration.Booking{ID: "bk_1", SupplierID: supplier, CoupleID: couple,
		Couple: "Ana & Ben", Title: "Ana & Ben's wedding", Start: start, End: start.Add(10 * time.Hour)}))
	_, err = out.mail.Wait(ctx, 1) // the booking's own email
	require.NoError(t, err)

	// The supplier books the dentist on the wedding day, in their own app.
	dentist := out.cal.Put(calendarID, calendar.Event{Summary: "Dentist", Start: start.Add(2 * time.Hour), End: start.Add(3 * time.Hour)})
	require.NoError(t, app.Calendar.SyncNow(ctx, conn))

	mails, err := out.mail.Wait(ctx, 2)
	require.NoError(t, err)
	mail, err := smtptest.Parse(mails[1])
	require.NoError(t, err)
	require.Equal(t, "Double booking: Dentist", mail.Subject)
	require.Contains(t, mail.Text, "overlaps booking bk_1")

	// On the dashboard: the conflict itself, and its in-app message.
	var conflict *calendar.Change
	inbox := false
	for conflict == nil || !inbox {
		m, err := dash.next(ctx)
		require.NoError(t, err)
		switch m.Event {
		case "calendar." + string(calendar.ChangeConflict):
			conflict = &calendar.Change{}
			require.NoError(t, json.Unmarshal(m.Payload, conflict))
		case integration.EventNotification:
			var msg struct{ Event string }
			require.NoError(t, json.Unmarshal(m.Payload, &msg))
			inbox = inbox || msg.Event == integration.EventCalendarConflict
		}
	}
	require.Equal(t, "bk_1", conflict.BookingID)
	require.Equal(t, dentist.ID, conflict.Conflict.EventID)

	// A later sync sends nothing new (the idempotency key would cover a
	// conflict reported again).
	require.NoError(t, app.Calendar.SyncNow(ctx, conn))
	require.NoError(t, settle(ctx, app))
	require.Equal(t, 2, out.mail.Count())
}
