package integration_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/calendar"
	"github.com/wedsync/integrations/examples/integration"
	"github.com/wedsync/integrations/internal/pgtest"
	"github.com/wedsync/integrations/notify/smtp/smtptest"
	"github.com/wedsync/integrations/realtime/client"
)

// TestConfirmBookingAllOrNothingPostgres runs the Example's wiring on
// Postgres, the way production runs it, and proves the property the
// ...Tx calls exist for. A booking whose business transaction rolls back,
// after every SDK write was made in it, leaves nothing anywhere: no
// webhook, no notification, no calendar booking (its slot stays free), no
// WedMe change, no broadcast. A booking that commits reaches every one of
// them.
func TestConfirmBookingAllOrNothingPostgres(t *testing.T) {
	db := pgtest.New(t, "integration")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	// Migrate twice: a second instance starting up finds nothing to do.
	require.NoError(t, integration.Migrate(ctx, db.Pool, db.Schema))
	require.NoError(t, integration.Migrate(ctx, db.Pool, db.Schema))

	out, err := startOutside()
	require.NoError(t, err)
	t.Cleanup(out.close)
	cfg, err := out.config(db.Pool, db.Schema)
	require.NoError(t, err)
	app, err := integration.New(ctx, cfg)
	require.NoError(t, err)
	require.NoError(t, app.Start(ctx))
	mux := http.NewServeMux()
	require.NoError(t, app.Mount(mux))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	sigterm, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- app.Serve(sigterm, &http.Server{Handler: mux}, ln, 30*time.Second) }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			stop()
			<-served
		}
	})

	_, err = out.connect(ctx, app)
	require.NoError(t, err)
	dash, err := openDashboard(ctx, "ws://"+ln.Addr().String()+integration.HubPath)
	require.NoError(t, err)
	defer dash.c.Close()

	slot := func(id string) integration.Booking {
		return integration.Booking{ID: id, SupplierID: supplier, CoupleID: couple, Couple: "Ana & Ben", Title: "Wedding " + id,
			Start: time.Date(2030, 6, 1, 11, 0, 0, 0, time.UTC), End: time.Date(2030, 6, 1, 21, 0, 0, 0, time.UTC)}
	}

	// 1. Every SDK write made in the transaction, then the host's next
	// step fails: all of it rolls back.
	declined := errors.New("payment declined")
	err = pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		if err := app.ConfirmBookingTx(ctx, tx, slot("bk_rolled_back")); err != nil {
			return err
		}
		for table, want := range map[string]int{"bookings": 1, "calendar_bookings": 1, "webhook_messages": 1,
			"notify_notifications": 1, "wedmesync_log": 1} {
			require.Equal(t, want, count(ctx, t, tx, table), "%s inside the transaction", table)
		}
		return declined
	})
	require.ErrorIs(t, err, declined)
	_, err = app.Calendar.Booking(ctx, "bk_rolled_back")
	require.ErrorIs(t, err, calendar.ErrNotFound)

	// 2. The same slot, committed: the rolled-back booking did not take
	// it, and everything happens.
	require.NoError(t, app.ConfirmBooking(ctx, slot("bk_committed")))

	var broadcasts []client.BroadcastMessage
	m, err := dash.next(ctx)
	require.NoError(t, err)
	broadcasts = append(broadcasts, m)
	for m.Event != integration.EventBookingConfirmed { // the in-app message may come first
		m, err = dash.next(ctx)
		require.NoError(t, err)
		broadcasts = append(broadcasts, m)
	}
	var live struct {
		BookingID string `json:"booking_id"`
	}
	require.NoError(t, json.Unmarshal(m.Payload, &live))
	require.Equal(t, "bk_committed", live.BookingID)

	hooks, err := out.vendor.WaitFor(ctx, 1)
	require.NoError(t, err)
	require.NoError(t, hooks[0].VerifyErr)
	require.Contains(t, string(hooks[0].Body), `"booking_id":"bk_committed"`)

	mails, err := out.mail.Wait(ctx, 1)
	require.NoError(t, err)
	mail, err := smtptest.Parse(mails[0])
	require.NoError(t, err)
	require.Contains(t, mail.Text, "Wedding bk_committed")

	applied, err := out.waitApplied(ctx)
	require.NoError(t, err)
	require.Equal(t, "bk_committed", applied.Record.ID)
	require.Equal(t, "confirmed", field(applied.Record, "status"))

	require.NoError(t, settle(ctx, app))
	events := out.cal.Events(calendarID)
	require.Len(t, events, 1)
	require.Equal(t, "Wedding bk_committed", events[0].Summary)

	// Everything the committed booking queued has run (settle): the
	// rolled-back one queued nothing that could still arrive.
	require.Equal(t, 1, out.vendor.Count(), "webhooks received")
	require.Equal(t, 1, out.mail.Count(), "emails received")
	records, err := out.wedme.Records(ctx)
	require.NoError(t, err)
	require.Len(t, records, 1, "records on WedMe")
	for table, want := range map[string]int{"bookings": 1, "calendar_bookings": 1, "webhook_messages": 1,
		"notify_notifications": 1, "wedmesync_log": 1} {
		require.Equal(t, want, count(ctx, t, db.Pool, table), table)
	}
	st, err := app.Notifier.List(ctx, supplier, "", 10)
	require.NoError(t, err)
	require.Len(t, st, 1)

	// 3. SIGTERM: Serve shuts the server, the workers and the hub down;
	// the dashboard is told the server is going away.
	stop()
	stopped = true
	require.NoError(t, <-served)
	require.NoError(t, dash.waitState(ctx, client.ConnDisconnected))
	// No broadcast ever named the rolled-back booking.
	for len(dash.events) > 0 {
		broadcasts = append(broadcasts, <-dash.events)
	}
	for _, m := range broadcasts {
		require.NotContains(t, string(m.Payload), "bk_rolled_back", m.Event)
	}
}

// querier is a pool or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// count counts a table's rows in the search path (the test's schema, which
// holds the SDK's tables and the host's).
func count(ctx context.Context, t *testing.T, q querier, table string) int {
	t.Helper()
	var n int
	require.NoError(t, q.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{table}.Sanitize()).Scan(&n))
	return n
}
