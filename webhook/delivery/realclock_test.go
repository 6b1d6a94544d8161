package delivery_test

// The manager on the wall clock, in both modes: waiting work (a paused
// endpoint's message, a retry an hour away) costs no CPU, and Stop returns
// within its context even while a delivery hangs on a slow vendor.

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/internal/idletest"
	"github.com/wedsync/integrations/webhook/delivery"
	"github.com/wedsync/integrations/webhook/webhooktest"
)

func TestRealClockIdleAndStopMemory(t *testing.T) {
	m, err := delivery.NewManager(delivery.WithAllowedNetworks(loopback...), delivery.WithInsecureHTTP(true))
	require.NoError(t, err)
	testRealClockIdleAndStop(t, m)
}

func TestRealClockIdleAndStopPostgres(t *testing.T) {
	db := migrated(t)
	testRealClockIdleAndStop(t, newPGManager(t, db))
}

func testRealClockIdleAndStop(t *testing.T, m *delivery.Manager) {
	ctx := context.Background()
	paused := webhooktest.NewReceiver(t)
	failing := webhooktest.NewReceiver(t)
	failing.Respond(func(int, *http.Request) webhooktest.Response { return webhooktest.Response{Status: 503} })
	epPaused, err := m.CreateEndpoint(ctx, delivery.EndpointInput{SupplierID: "sup_paused", URL: paused.URL})
	require.NoError(t, err)
	_, err = m.PauseEndpoint(ctx, epPaused.ID)
	require.NoError(t, err)
	_, err = m.CreateEndpoint(ctx, delivery.EndpointInput{SupplierID: "sup_failing", URL: failing.URL})
	require.NoError(t, err)
	require.NoError(t, m.Start(ctx))
	// After the hanging vendor lets go, a second Stop waits for the rest.
	t.Cleanup(func() { require.NoError(t, m.Stop(ctx)) })

	for _, sup := range []string{"sup_paused", "sup_failing"} {
		_, err := m.Send(ctx, delivery.Message{SupplierID: sup, EventType: "booking.confirmed", Payload: json.RawMessage(`{}`)})
		require.NoError(t, err)
	}
	failing.Wait(t, 1) // its retry is 5 s away; the paused one rechecks in a minute
	require.NoError(t, m.WaitIdle(ctx))
	idletest.RequireIdle(t, "a paused endpoint's message and a retry wait")

	// A vendor that holds the request open: Stop must not wait for it
	// past its own context.
	hang := make(chan struct{})
	defer close(hang)
	slow := webhooktest.NewReceiver(t)
	arrived := make(chan struct{}, 1)
	slow.Respond(func(int, *http.Request) webhooktest.Response {
		arrived <- struct{}{}
		<-hang
		return webhooktest.Response{Status: 204}
	})
	_, err = m.CreateEndpoint(ctx, delivery.EndpointInput{SupplierID: "sup_slow", URL: slow.URL})
	require.NoError(t, err)
	_, err = m.Send(ctx, delivery.Message{SupplierID: "sup_slow", EventType: "booking.confirmed", Payload: json.RawMessage(`{}`)})
	require.NoError(t, err)
	<-arrived

	stopCtx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- m.Stop(stopCtx) }()
	select {
	case err := <-errc:
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.ErrorContains(t, m.Start(ctx), "still stopping")
	case <-time.After(time.Minute):
		t.Fatal("Stop did not return after its context ended")
	}
}

// A delivery cut short because the manager stops is not the vendor's
// failure: nothing is logged against the endpoint, and the attempt is made
// again at the next start.
func TestStopDoesNotCountAgainstTheVendor(t *testing.T) {
	ctx := context.Background()
	log := newAttempts()
	m, err := delivery.NewManager(delivery.WithAllowedNetworks(loopback...), delivery.WithInsecureHTTP(true), log.hook())
	require.NoError(t, err)
	release := make(chan struct{})
	arrived := make(chan struct{}, 2)
	recv := webhooktest.NewReceiver(t)
	recv.Respond(func(n int, r *http.Request) webhooktest.Response {
		arrived <- struct{}{}
		if n == 1 {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		return webhooktest.Response{Status: 204}
	})
	ep, err := m.CreateEndpoint(ctx, delivery.EndpointInput{SupplierID: "sup_1", URL: recv.URL})
	require.NoError(t, err)
	require.NoError(t, m.Start(ctx))
	id, err := m.Send(ctx, delivery.Message{SupplierID: "sup_1", EventType: "booking.confirmed", Payload: json.RawMessage(`{}`)})
	require.NoError(t, err)
	<-arrived

	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, m.Stop(short), context.DeadlineExceeded)
	close(release)
	require.NoError(t, m.Stop(ctx))
	got, err := m.ListAttempts(ctx, delivery.AttemptQuery{MessageID: id})
	require.NoError(t, err)
	require.Empty(t, got, "no attempt is logged for a request the shutdown cut")
	e, err := m.GetEndpoint(ctx, ep.ID)
	require.NoError(t, err)
	require.True(t, e.FailingSince.IsZero(), "the endpoint is not marked failing")

	require.NoError(t, m.Start(ctx))
	defer func() { require.NoError(t, m.Stop(ctx)) }()
	a := log.next(t)
	require.Equal(t, id, a.MessageID)
	require.Equal(t, 1, a.Number, "the attempt is made again, as the first")
	require.Equal(t, delivery.AttemptSucceeded, a.Status)
}
