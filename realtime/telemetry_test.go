package realtime_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/wedsync/integrations/internal/telemetry/telemetrytest"
	"github.com/wedsync/integrations/realtime"
	"github.com/wedsync/integrations/realtime/protocol"
)

// The hub's metrics and spans, as docs/realtime.md lists them, move with
// what the dashboards do: a refused handshake, a join ok and one refused,
// broadcasts, a replay complete and one incomplete, a refused presence
// track, a slow consumer cut off.
func TestHubTelemetry(t *testing.T) {
	rec := telemetrytest.New(t)
	mp, tp := rec.MeterProvider, rec.TracerProvider
	clk := fakeClock() // stamps publications a second apart
	b, err := realtime.NewMemoryBroker(realtime.WithHistorySize(3), realtime.WithClock(clk))
	require.NoError(t, err)
	t.Cleanup(func() { b.Close() })
	env := newHubEnv(t, realtime.WithBroker(b), realtime.WithMeterProvider(mp), realtime.WithTracerProvider(tp),
		realtime.WithSendBuffer(4, 1<<20))

	_, resp, err := websocket.Dial(ctxBG, env.url+"?apikey=nope", nil)
	require.Error(t, err)
	resp.Body.Close()

	p := dialPeer(t, env.url, "sup:1", protocol.VSN1)
	p.mustJoin("supplier:1", joinPayload)
	_, r := p.join("supplier:2", joinPayload)
	require.Equal(t, "error", r.Status)

	var pubs []realtime.Publication
	for i := range 5 {
		clk.Advance(time.Second)
		pub, err := env.hub.Broadcast(ctxBG, "supplier:1", "kpi.updated", map[string]int{"bookings": i})
		require.NoError(t, err)
		require.Equal(t, pub.Offset, p.readBroadcast().Meta.Offset)
		pubs = append(pubs, pub)
	}

	// History keeps 3: from the last broadcast is complete, from the
	// first is not.
	late := dialPeer(t, env.url, "sup:1", protocol.VSN1)
	late.mustJoin("supplier:1", map[string]any{"config": map[string]any{"broadcast": map[string]any{"replay": map[string]any{"since": pubs[4].Time.UnixMilli()}}}})
	require.Contains(t, string(late.readEvent(protocol.EventSystem).Payload), protocol.CodeReplayComplete)
	old := dialPeer(t, env.url, "sup:1", protocol.VSN2)
	old.mustJoin("supplier:1", map[string]any{"config": map[string]any{"broadcast": map[string]any{"replay": map[string]any{"since": pubs[0].Time.UnixMilli()}}}})
	require.Contains(t, string(old.readEvent(protocol.EventSystem).Payload), protocol.CodeReplayIncomplete)

	ref := p.track("supplier:1", `{"note":"`+strings.Repeat("x", 5000)+`"}`)
	r, _ = p.reply(ref)
	require.Equal(t, "error", r.Status)

	m := rec.Collect(t)
	require.Equal(t, map[string]int64{"": 3}, m.Sum("wedsync.realtime.connections", ""))
	require.Equal(t, map[string]int64{"": 3}, m.Sum("wedsync.realtime.channels", ""))

	// A dashboard that never reads, on a topic of its own: its socket
	// buffers fill, then its send buffer of 4 frames.
	slow := dialPeer(t, env.url, "sup:9", protocol.VSN1)
	slow.mustJoin("supplier:9", joinPayload)
	blob := json.RawMessage(`{"blob":"` + strings.Repeat("x", 64<<10) + `"}`)
	for i := 0; env.hub.Stats().SlowConsumers == 0; i++ {
		require.Less(t, i, 5000, "no slow consumer after %d broadcasts of 64 KiB", i)
		_, err := env.hub.Broadcast(ctxBG, "supplier:9", "blob", blob)
		require.NoError(t, err)
	}
	broadcasts := env.hub.Stats().Published

	m = rec.Collect(t)
	require.Equal(t, map[string]int64{"unauthenticated": 1}, m.Sum("wedsync.realtime.handshakes.refused", "wedsync.reason"))
	require.Equal(t, map[string]int64{"ok": 4, "refused": 1}, m.Sum("wedsync.realtime.joins", "wedsync.outcome"))
	require.Equal(t, map[string]int64{"forbidden": 1, "": 4}, m.Sum("wedsync.realtime.joins", "wedsync.reason"))
	require.Equal(t, map[string]int64{"host": broadcasts}, m.Sum("wedsync.realtime.broadcasts", "wedsync.realtime.source"))
	require.Equal(t, map[string]int64{"complete": 1, "incomplete": 1}, m.Sum("wedsync.realtime.replays", "wedsync.outcome"))
	require.Equal(t, map[string]int64{"too_large": 1}, m.Sum("wedsync.realtime.presence.refused", "wedsync.reason"))
	require.Equal(t, map[string]int64{"send_buffer": 1}, m.Sum("wedsync.realtime.slow_consumers", "wedsync.reason"))
	for _, name := range m.Names() {
		require.True(t, strings.HasPrefix(name, "wedsync.realtime."), name)
	}

	// Closing the sockets brings the gauges back to zero; every frame
	// written is counted by then: p's 5 broadcasts and 2 join replies at
	// least.
	for _, d := range []*peer{p, late, old, slow} {
		d.ws.CloseNow()
	}
	require.Eventually(t, func() bool { return env.hub.Stats().Connections == 0 }, 10*time.Second, time.Millisecond)
	require.NoError(t, env.hub.Close())
	m = rec.Collect(t)
	require.Equal(t, map[string]int64{"": 0}, m.Sum("wedsync.realtime.connections", ""))
	require.Equal(t, map[string]int64{"": 0}, m.Sum("wedsync.realtime.channels", ""))
	require.GreaterOrEqual(t, m.Sum("wedsync.realtime.frames.delivered", "")[""], int64(5+2))

	var sent, replays []sdktrace.ReadOnlySpan
	for _, s := range rec.Spans() {
		require.Equal(t, "github.com/wedsync/integrations/realtime", s.InstrumentationScope().Name)
		switch s.Name() {
		case "realtime.broadcast":
			sent = append(sent, s)
		case "realtime.replay":
			replays = append(replays, s)
		}
	}
	require.Len(t, sent, int(broadcasts))
	first := attribute.NewSet(sent[0].Attributes()...)
	require.Equal(t, trace.SpanKindProducer, sent[0].SpanKind())
	require.Equal(t, "supplier:1", value(first, "messaging.destination.name"))
	require.Equal(t, pubs[0].ID(), value(first, "messaging.message.id"))
	require.Equal(t, "kpi.updated", value(first, "wedsync.realtime.event"))
	require.Len(t, replays, 2)
	require.Equal(t, "complete", value(attribute.NewSet(replays[0].Attributes()...), "wedsync.outcome"))
	require.Equal(t, "incomplete", value(attribute.NewSet(replays[1].Attributes()...), "wedsync.outcome"))

}

// A JWK set fetch is an HTTP client span with http.client.request.duration.
func TestJWTTelemetry(t *testing.T) {
	rec := telemetrytest.New(t)
	mp, tp := rec.MeterProvider, rec.TracerProvider
	ek := jwtTestECKey(t)
	srv := newJWKSServer(t, jwtSet(jwtECJWK("k1", &ek.PublicKey)))
	a, _ := jwtNew(t, realtime.WithJWKSURL(srv.URL+"/jwks?token=s3cret", nil),
		realtime.WithMeterProvider(mp), realtime.WithTracerProvider(tp))
	_, err := a.Authenticate(ctxBG, jwtSign(t, jwt.SigningMethodES256, "k1", jwtClaims("42"), ek))
	require.NoError(t, err)

	ended := rec.Spans()
	require.Len(t, ended, 1)
	require.Equal(t, "GET", ended[0].Name())
	require.Equal(t, trace.SpanKindClient, ended[0].SpanKind())
	require.NotEqual(t, codes.Error, ended[0].Status().Code)
	require.NotContains(t, value(attribute.NewSet(ended[0].Attributes()...), "url.full"), "s3cret")
	m := rec.Collect(t)
	require.Equal(t, uint64(1), m.HistogramCount("http.client.request.duration"))
}

func value(s attribute.Set, key attribute.Key) string {
	v, _ := s.Value(key)
	return v.Emit()
}
