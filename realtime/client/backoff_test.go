package client_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/realtime/client"
	"github.com/wedsync/integrations/realtime/protocol"
)

// delayRecorder is a slog handler that hands over each reconnect delay the
// client schedules (its debug line "realtime client reconnect scheduled").
type delayRecorder struct{ delays chan time.Duration }

func (d delayRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (d delayRecorder) WithAttrs([]slog.Attr) slog.Handler       { return d }
func (d delayRecorder) WithGroup(string) slog.Handler            { return d }
func (d delayRecorder) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "realtime client reconnect scheduled" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "in" {
			d.delays <- a.Value.Duration()
		}
		return true
	})
	return nil
}

// dropDelays subscribes a client to fs, then drops its socket n times,
// each time once the new session has rejoined (answered true: the server
// answers the rejoin and the client has taken the answer, OnResync) or
// has sent its unanswered rejoin (answered false), and returns the
// reconnect delays the client scheduled.
func dropDelays(t *testing.T, fs *fakeServer, min time.Duration, n int, answered bool) []time.Duration {
	t.Helper()
	rec := delayRecorder{delays: make(chan time.Duration, 64)}
	resynced := make(chan struct{}, 64)
	c := newClient(t, fs,
		client.WithReconnectBackoff(min, time.Hour),
		client.WithHeartbeatInterval(time.Hour),
		client.WithLogger(slog.New(rec)),
		client.WithOnResync(func(context.Context) { resynced <- struct{}{} }))
	ctx := testCtx(t)
	fc := fs.nextConn(t)
	ch := c.Channel("supplier:1", client.ChannelConfig{})
	require.NoError(t, ch.Subscribe(ctx))
	if !answered {
		fs.setOnJoin(func(protocol.Message) (string, any) { return "", nil }) // no reply
	}
	var got []time.Duration
	for range n {
		require.NoError(t, fc.ws.CloseNow())
		got = append(got, recv(t, rec.delays))
		fc = fs.nextConn(t)
		fc.expectEvent(t, "realtime:supplier:1", protocol.EventJoin)
		if answered {
			recv(t, resynced)
		}
	}
	return got
}

// A network that drops the socket every few seconds must not push the
// reconnect delay to its maximum: a session the server answered (here:
// the rejoin) resets the backoff, so every delay stays within the first
// step, however short the session was.
func TestClientBackoffResetsAfterAnAnsweredSession(t *testing.T) {
	fs := startFakeServer(t, protocol.VSN1)
	const min = 20 * time.Millisecond
	for i, d := range dropDelays(t, fs, min, 6, true) {
		require.LessOrEqual(t, d, min, "delay %d: a session whose rejoin was answered should reset the backoff", i)
	}
}

// A server that accepts and closes before answering anything is not
// hammered: the delay keeps growing (with full jitter, six delays all
// within the first step would be a 1 in 32,768 chance).
func TestClientBackoffGrowsWhenNothingIsAnswered(t *testing.T) {
	fs := startFakeServer(t, protocol.VSN1)
	const min = time.Millisecond
	grew := false
	for _, d := range dropDelays(t, fs, min, 6, false) {
		grew = grew || d > min
	}
	require.True(t, grew, "the reconnect delay never grew past the first step")
}
