package delivery_test

// Tests of the delivery policy on a simulated clock: no test here sleeps.
// The memory queue runs on the fake clock, so a retry scheduled for "in 5
// hours" runs the moment the test moves the clock there.

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jonboulle/clockwork"

	"github.com/wedsync/integrations/webhook"
	. "github.com/wedsync/integrations/webhook/delivery"
	"github.com/wedsync/integrations/webhook/webhooktest"
)

var clockT0 = time.Date(2026, 6, 6, 9, 0, 0, 0, time.UTC)

type simEnv struct {
	t    *testing.T
	m    *Manager
	clk  *clockwork.FakeClock
	log  chan Attempt
	logs *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newSim(t *testing.T, opts ...Option) *simEnv {
	t.Helper()
	e := &simEnv{t: t, clk: clockwork.NewFakeClockAt(clockT0), log: make(chan Attempt, 4096), logs: &syncBuffer{}}
	base := []Option{
		WithClock(e.clk),
		WithAllowedNetworks(netip.MustParsePrefix("127.0.0.0/8")),
		WithInsecureHTTP(true),
		WithAttemptHook(func(a Attempt) { e.log <- a }),
		WithLogger(slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
	}
	m, err := NewManager(append(base, opts...)...)
	require.NoError(t, err)
	require.NoError(t, m.Start(context.Background()))
	e.m = m
	t.Cleanup(func() {
		require.NoError(t, m.Stop(context.Background()))
		require.NotContains(t, e.logs.String(), "whsec_", "secrets are never logged")
	})
	return e
}

// next waits for the next logged attempt.
func (e *simEnv) next() Attempt {
	e.t.Helper()
	select {
	case a := <-e.log:
		return a
	case <-time.After(time.Minute):
		e.t.Fatal("no attempt logged within a minute of real time")
		return Attempt{}
	}
}

// settle waits until the queue has nothing due at the current fake time.
func (e *simEnv) settle() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(e.t, e.m.WaitIdle(ctx))
}

func (e *simEnv) noMoreAttempts() {
	e.t.Helper()
	e.settle()
	select {
	case a := <-e.log:
		e.t.Fatalf("unexpected attempt %+v", a)
	default:
	}
}

func (e *simEnv) endpoint(recv *webhooktest.Receiver, in EndpointInput) *Endpoint {
	e.t.Helper()
	if in.SupplierID == "" {
		in.SupplierID = "sup_1"
	}
	in.URL = recv.URL
	ep, err := e.m.CreateEndpoint(context.Background(), in)
	require.NoError(e.t, err)
	secret, err := e.m.EndpointSecret(context.Background(), ep.ID)
	require.NoError(e.t, err)
	v, err := webhook.NewVerifier(secret, webhook.WithClock(e.clk))
	require.NoError(e.t, err)
	recv.SetVerifier(v)
	return ep
}

func (e *simEnv) send(supplier, event string) string {
	e.t.Helper()
	id, err := e.m.Send(context.Background(), Message{SupplierID: supplier, EventType: event, Payload: json.RawMessage(`{"n":1}`)})
	require.NoError(e.t, err)
	return id
}

func always(status int, header ...string) func(int, *http.Request) webhooktest.Response {
	h := http.Header{}
	for i := 0; i+1 < len(header); i += 2 {
		h.Set(header[i], header[i+1])
	}
	return func(int, *http.Request) webhooktest.Response {
		return webhooktest.Response{Status: status, Header: h, Body: "nope"}
	}
}

func TestRetryScheduleRunsToTheEndOnSimulatedClock(t *testing.T) {
	e := newSim(t)
	recv := webhooktest.NewReceiver(t)
	recv.Respond(always(500))
	ep := e.endpoint(recv, EndpointInput{})
	id := e.send("sup_1", "booking.confirmed")

	want := []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour}
	a := e.next()
	require.Equal(t, 1, a.Number)
	require.Equal(t, clockT0, a.At, "the first attempt is immediate")
	for i, d := range want {
		require.Equal(t, AttemptFailed, a.Status)
		require.Equal(t, 500, a.ResponseStatus)
		require.Equal(t, "nope", a.ResponseBody)
		gap := a.NextAttemptAt.Sub(a.At)
		require.GreaterOrEqual(t, gap, d*8/10, "attempt %d waits about %s", i+2, d)
		require.LessOrEqual(t, gap, d*12/10, "attempt %d waits about %s", i+2, d)
		e.settle()
		e.clk.Advance(max(0, a.NextAttemptAt.Sub(e.clk.Now())))
		a = e.next()
		require.Equal(t, i+2, a.Number)
	}
	require.True(t, a.NextAttemptAt.IsZero(), "the eighth attempt is the last")
	e.noMoreAttempts()
	for _, d := range recv.Deliveries() {
		require.NoError(t, d.VerifyErr, "every attempt is signed at its own send time")
		require.Equal(t, id, d.ID)
	}
	require.Equal(t, 8, recv.Count())

	// The vendor fixes the endpoint; Recover resends what failed for good.
	recv.Respond(always(200))
	n, err := e.m.Recover(context.Background(), ep.ID, clockT0)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	a = e.next()
	require.Equal(t, AttemptSucceeded, a.Status)
	require.Equal(t, id, a.MessageID)
	n, err = e.m.Recover(context.Background(), ep.ID, clockT0)
	require.NoError(t, err)
	require.Zero(t, n, "nothing left to recover")

	st, err := e.m.Stats(context.Background(), ep.ID, clockT0)
	require.NoError(t, err)
	require.Equal(t, 9, st.Attempts)
	require.Equal(t, 1, st.Succeeded)
	require.InDelta(t, 1.0/9, st.SuccessRate, 1e-9)
}

func TestRetryAfterTimeoutAnd429(t *testing.T) {
	e := newSim(t, WithRetryJitter(0))
	recv := webhooktest.NewReceiver(t)
	e.endpoint(recv, EndpointInput{})

	cases := []struct {
		name   string
		resp   func(int, *http.Request) webhooktest.Response
		expect time.Duration
	}{
		{"Retry-After seconds beyond the schedule is honoured", always(503, "Retry-After", "120"), 120 * time.Second},
		{"Retry-After below the schedule keeps the schedule", always(503, "Retry-After", "1"), 5 * time.Second},
		{"Retry-After as an HTTP date", always(503, "Retry-After", clockT0.Add(10*time.Minute).Format(http.TimeFormat)), 10 * time.Minute},
		{"Retry-After is capped at a day", always(503, "Retry-After", "2592000"), 24 * time.Hour},
		{"429 waits at least a minute", always(429), time.Minute},
		{"garbage Retry-After is ignored", always(503, "Retry-After", "soon"), 5 * time.Second},
	}
	for _, c := range cases {
		recv.Respond(c.resp)
		e.send("sup_1", "booking.confirmed")
		a := e.next()
		require.Equal(t, 1, a.Number, c.name)
		require.Equal(t, c.expect, a.NextAttemptAt.Sub(a.At), c.name)
	}
}

func TestTimeoutWaitsAtLeastAMinute(t *testing.T) {
	e := newSim(t, WithRetryJitter(0), WithTimeout(50*time.Millisecond))
	recv := webhooktest.NewReceiver(t)
	release := make(chan struct{})
	defer close(release)
	recv.Respond(func(int, *http.Request) webhooktest.Response {
		<-release // never answers in time
		return webhooktest.Response{Status: 200}
	})
	e.endpoint(recv, EndpointInput{})
	e.send("sup_1", "booking.confirmed")
	a := e.next()
	require.Equal(t, AttemptFailed, a.Status)
	require.Contains(t, a.Error, "timed out after 50ms")
	require.Equal(t, time.Minute, a.NextAttemptAt.Sub(a.At))
}

func TestGoneDisablesEndpoint(t *testing.T) {
	e := newSim(t)
	recv := webhooktest.NewReceiver(t)
	recv.Respond(always(410))
	ep := e.endpoint(recv, EndpointInput{})
	e.send("sup_1", "booking.confirmed")
	a := e.next()
	require.Equal(t, 410, a.ResponseStatus)
	require.True(t, a.NextAttemptAt.IsZero(), "410 is never retried")
	got, err := e.m.GetEndpoint(context.Background(), ep.ID)
	require.NoError(t, err)
	require.Equal(t, EndpointDisabled, got.Status)
	require.Contains(t, got.DisabledReason, "410")

	// Later messages are logged as failed without a request, for Recover.
	e.send("sup_1", "booking.confirmed")
	a = e.next()
	require.Equal(t, AttemptFailed, a.Status)
	require.Contains(t, a.Error, "endpoint disabled")
	require.Equal(t, 1, recv.Count())

	recv.Respond(always(200))
	_, err = e.m.ResumeEndpoint(context.Background(), ep.ID)
	require.NoError(t, err)
	n, err := e.m.Recover(context.Background(), ep.ID, clockT0)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Equal(t, AttemptSucceeded, e.next().Status)
	require.Equal(t, AttemptSucceeded, e.next().Status)
}

func TestEndpointFailingForFiveDaysIsDisabled(t *testing.T) {
	// Attempts every 12 hours for a week; the endpoint never succeeds.
	sched := []time.Duration{0}
	for range 14 {
		sched = append(sched, 12*time.Hour)
	}
	e := newSim(t, WithRetrySchedule(sched...), WithRetryJitter(0))
	recv := webhooktest.NewReceiver(t)
	recv.Respond(always(502))
	ep := e.endpoint(recv, EndpointInput{})
	e.send("sup_1", "booking.confirmed")
	var a Attempt
	for {
		a = e.next()
		if a.NextAttemptAt.IsZero() {
			break
		}
		got, err := e.m.GetEndpoint(context.Background(), ep.ID)
		require.NoError(t, err)
		require.Equal(t, EndpointEnabled, got.Status, "still enabled after %s of failures", a.At.Sub(clockT0))
		e.settle()
		e.clk.Advance(max(0, a.NextAttemptAt.Sub(e.clk.Now())))
	}
	require.Equal(t, clockT0.Add(5*24*time.Hour), a.At, "disabled on the first failure five days in")
	got, err := e.m.GetEndpoint(context.Background(), ep.ID)
	require.NoError(t, err)
	require.Equal(t, EndpointDisabled, got.Status)
	require.Contains(t, got.DisabledReason, "failed since 2026-06-06T09:00:00Z")
	e.noMoreAttempts()
}

func TestSuccessResetsTheFailureRun(t *testing.T) {
	e := newSim(t, WithRetrySchedule(0, 3*24*time.Hour, 3*24*time.Hour), WithRetryJitter(0))
	recv := webhooktest.NewReceiver(t)
	recv.Respond(always(500))
	ep := e.endpoint(recv, EndpointInput{})
	e.send("sup_1", "a.b")
	a := e.next()
	e.settle()
	// A success in between (another message) ends the run of failures.
	recv.Respond(func(n int, _ *http.Request) webhooktest.Response {
		if n == 2 {
			return webhooktest.Response{Status: 200}
		}
		return webhooktest.Response{Status: 500}
	})
	e.clk.Advance(24 * time.Hour)
	e.send("sup_1", "a.b")
	require.Equal(t, AttemptSucceeded, e.next().Status)
	e.settle()
	for range 2 {
		e.clk.Advance(max(0, a.NextAttemptAt.Sub(e.clk.Now())))
		a = e.next()
		e.settle()
	}
	got, err := e.m.GetEndpoint(context.Background(), ep.ID)
	require.NoError(t, err)
	require.Equal(t, EndpointEnabled, got.Status, "6 days since the first failure, but only 5 since the last success")
}

func TestCircuitBreakerStopsHammeringAndRecovers(t *testing.T) {
	e := newSim(t, WithRetrySchedule(0)) // one attempt per message
	dead := webhooktest.NewReceiver(t)
	dead.Respond(always(500))
	healthy := webhooktest.NewReceiver(t)
	epDead := e.endpoint(dead, EndpointInput{SupplierID: "sup_dead"})
	e.endpoint(healthy, EndpointInput{SupplierID: "sup_ok"})

	for range 10 {
		e.send("sup_dead", "booking.confirmed")
	}
	for range 10 {
		require.Equal(t, AttemptFailed, e.next().Status)
	}
	// The breaker is open: more messages wait without touching the endpoint,
	// while a healthy endpoint keeps flowing.
	for range 5 {
		e.send("sup_dead", "booking.confirmed")
	}
	e.send("sup_ok", "booking.confirmed")
	a := e.next()
	require.Equal(t, AttemptSucceeded, a.Status)
	require.Equal(t, "sup_ok", a.SupplierID)
	e.noMoreAttempts()
	require.Equal(t, 10, dead.Count(), "no request while the breaker is open")

	// Thirty seconds on, one probe goes out; it fails and the breaker opens again.
	e.clk.Advance(33 * time.Second)
	require.Equal(t, AttemptFailed, e.next().Status)
	e.noMoreAttempts()
	require.Equal(t, 11, dead.Count(), "exactly one probe")

	// The vendor recovers: the next probe succeeds, the breaker closes, the rest flow.
	// Jobs that met the half-open breaker while the probe was out wait a
	// few seconds more.
	dead.Respond(always(200))
	e.clk.Advance(33 * time.Second)
	a = e.next()
	require.Equal(t, AttemptSucceeded, a.Status)
	require.Equal(t, epDead.ID, a.EndpointID)
	e.settle()
	e.clk.Advance(10 * time.Second)
	for range 3 {
		a := e.next()
		require.Equal(t, AttemptSucceeded, a.Status)
		require.Equal(t, epDead.ID, a.EndpointID)
	}
	e.noMoreAttempts()
	require.Equal(t, 15, dead.Count())
}

func TestRateLimitSpacesDeliveries(t *testing.T) {
	e := newSim(t)
	recv := webhooktest.NewReceiver(t)
	e.endpoint(recv, EndpointInput{RateLimit: 1})
	for range 3 {
		e.send("sup_1", "booking.confirmed")
	}
	e.next()
	e.noMoreAttempts()
	require.Equal(t, 1, recv.Count(), "one per second")
	e.clk.Advance(time.Second)
	e.next()
	e.noMoreAttempts()
	require.Equal(t, 2, recv.Count())
	e.clk.Advance(time.Second)
	e.next()
	require.Equal(t, 3, recv.Count())
}

func TestPauseHoldsAndResumeDelivers(t *testing.T) {
	e := newSim(t)
	recv := webhooktest.NewReceiver(t)
	ep := e.endpoint(recv, EndpointInput{})
	_, err := e.m.PauseEndpoint(context.Background(), ep.ID)
	require.NoError(t, err)
	e.send("sup_1", "booking.confirmed")
	e.noMoreAttempts()
	e.clk.Advance(10 * time.Minute)
	e.noMoreAttempts()
	require.Zero(t, recv.Count())
	_, err = e.m.ResumeEndpoint(context.Background(), ep.ID)
	require.NoError(t, err)
	e.clk.Advance(2 * time.Minute)
	require.Equal(t, AttemptSucceeded, e.next().Status)
}

func TestRotationSignsWithBothSecretsDuringGrace(t *testing.T) {
	e := newSim(t)
	recv := webhooktest.NewReceiver(t)
	ep := e.endpoint(recv, EndpointInput{})
	ctx := context.Background()
	oldSecret, err := e.m.EndpointSecret(ctx, ep.ID)
	require.NoError(t, err)
	newSecret, err := e.m.RotateSecret(ctx, ep.ID)
	require.NoError(t, err)
	require.NotEqual(t, oldSecret, newSecret)
	cur, err := e.m.EndpointSecret(ctx, ep.ID)
	require.NoError(t, err)
	require.Equal(t, newSecret, cur)

	verifyWith := func(secret string, d webhooktest.Delivery) error {
		v, err := webhook.NewVerifier(secret, webhook.WithClock(e.clk))
		require.NoError(t, err)
		return v.Verify(d.Header, d.Body)
	}
	e.send("sup_1", "booking.confirmed")
	e.next()
	d := recv.Deliveries()[0]
	require.Len(t, strings.Fields(d.Header.Get("webhook-signature")), 2)
	require.NoError(t, verifyWith(oldSecret, d), "vendors still on the old secret verify")
	require.NoError(t, verifyWith(newSecret, d), "vendors on the new secret verify")

	e.clk.Advance(24*time.Hour + time.Second)
	e.send("sup_1", "booking.confirmed")
	e.next()
	d = recv.Deliveries()[1]
	require.Len(t, strings.Fields(d.Header.Get("webhook-signature")), 1)
	require.NoError(t, verifyWith(newSecret, d))
	require.ErrorIs(t, verifyWith(oldSecret, d), webhook.ErrNoMatchingSignature, "the old secret expired after the grace period")
}

func TestIdempotencyKeyWindow(t *testing.T) {
	e := newSim(t)
	recv := webhooktest.NewReceiver(t)
	e.endpoint(recv, EndpointInput{})
	ctx := context.Background()
	msg := Message{SupplierID: "sup_1", EventType: "booking.confirmed", Payload: json.RawMessage(`{}`), IdempotencyKey: "booking-42-confirmed"}
	id1, err := e.m.Send(ctx, msg)
	require.NoError(t, err)
	e.next()
	id2, err := e.m.Send(ctx, msg)
	require.NoError(t, err)
	require.Equal(t, id1, id2)
	e.noMoreAttempts()
	require.Equal(t, 1, recv.Count())

	other := msg
	other.SupplierID = "sup_2"
	id3, err := e.m.Send(ctx, other)
	require.NoError(t, err)
	require.NotEqual(t, id1, id3, "keys are per supplier")

	e.clk.Advance(24*time.Hour + time.Second)
	id4, err := e.m.Send(ctx, msg)
	require.NoError(t, err)
	require.NotEqual(t, id1, id4, "the key is free again after 24 hours")
	e.next()
}
