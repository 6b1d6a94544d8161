package notify_test

// The notifier on the wall clock, in both modes: waiting work (a retry an
// hour away, an escalation, notifications held by quiet hours and a digest)
// costs no CPU, and Stop returns within its context even while a provider
// call hangs.

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/internal/idletest"
	. "github.com/wedsync/integrations/notify"
)

func TestRealClockIdleAndStopMemory(t *testing.T) {
	testRealClockIdleAndStop(t, func(opts ...Option) *Notifier {
		n, err := NewNotifier(append([]Option{WithTemplates(testTemplates(t))}, opts...)...)
		require.NoError(t, err)
		return n
	})
}

func TestRealClockIdleAndStopPostgres(t *testing.T) {
	db := migrated(t)
	testRealClockIdleAndStop(t, func(opts ...Option) *Notifier { return newPGNotifier(t, db, opts...) })
}

func testRealClockIdleAndStop(t *testing.T, build func(...Option) *Notifier) {
	ctx := context.Background()
	sms := newFake("sms", ChannelSMS)
	sms.setFail(func(*Message) error { return &ProviderError{Provider: "sms", StatusCode: 503} })
	hang := make(chan struct{})
	arrived := make(chan struct{}, 1)
	slow := newFake("slow-mail", ChannelEmail)
	slow.setFail(func(*Message) error {
		arrived <- struct{}{}
		<-hang
		return nil
	})
	n := build(WithProvider(sms), WithProvider(slow), WithRetrySchedule(0, time.Hour), WithEscalationDelay(time.Hour))
	// Every hour of the day is quiet for sup_quiet, nothing is for the others.
	allQuiet := testPrefs(QuietWindow{Start: "00:00", End: "23:59"})
	smsOnly := Preferences{Default: CategoryPreferences{Channels: map[Channel]bool{ChannelSMS: true}}, Escalation: []Channel{ChannelSMS, ChannelEmail}}
	require.NoError(t, n.SetPreferences(ctx, "sup_quiet", allQuiet))
	require.NoError(t, n.SetPreferences(ctx, "sup_retry", smsOnly))
	require.NoError(t, n.SetPreferences(ctx, "sup_digest", testPrefs()))
	require.NoError(t, n.Start(ctx))
	t.Cleanup(func() { require.NoError(t, n.Stop(ctx)) })

	_, err := n.Send(ctx, booking("sup_quiet", "UTC"))
	require.NoError(t, err)
	crit := booking("sup_retry", "UTC")
	crit.Priority = PriorityCritical // SMS fails (retry in an hour); email escalates in an hour
	_, err = n.Send(ctx, crit)
	require.NoError(t, err)
	_, err = n.Send(ctx, Notification{Event: "review.posted", Recipient: Recipient{SupplierID: "sup_digest", Email: "a@b.example"},
		Data: map[string]any{"stars": 5}})
	require.NoError(t, err)
	waitCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	require.NoError(t, n.WaitIdle(waitCtx))
	idletest.RequireIdle(t, "a retry, an escalation, quiet hours and a digest waiting")

	// A provider that holds its call open: Stop must not wait past its
	// context.
	p := Preferences{Default: CategoryPreferences{Channels: map[Channel]bool{ChannelEmail: true}}}
	require.NoError(t, n.SetPreferences(ctx, "sup_slow", p))
	_, err = n.Send(ctx, booking("sup_slow", "UTC"))
	require.NoError(t, err)
	<-arrived
	stopCtx, cancelStop := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancelStop()
	errc := make(chan error, 1)
	go func() { errc <- n.Stop(stopCtx) }()
	select {
	case err := <-errc:
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.ErrorContains(t, n.Start(ctx), "still stopping")
	case <-time.After(time.Minute):
		t.Fatal("Stop did not return after its context ended")
	}
	close(hang)
}
