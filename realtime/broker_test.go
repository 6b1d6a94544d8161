package realtime_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/realtime"
	"github.com/wedsync/integrations/realtime/realtimetest"
)

// The memory broker keeps the Broker contract the Postgres broker keeps
// too (realtime/pgbroker runs the same suite); each broker is its own
// store, so a new one starts a new epoch.
func TestMemoryBrokerContract(t *testing.T) {
	realtimetest.BrokerSuite(t, realtimetest.BrokerKit{
		NewStore: func(t *testing.T) realtimetest.BrokerStore {
			var last *realtime.MemoryBroker
			return realtimetest.BrokerStore{
				Open: func(s realtimetest.BrokerSettings) (realtime.Broker, error) {
					b, err := realtime.NewMemoryBroker(realtime.WithHistorySize(s.HistorySize), realtime.WithHistoryTTL(s.HistoryTTL), realtime.WithClock(s.Clock))
					if err == nil {
						last = b
					}
					return b, err
				},
				Topics: func() (int, error) { return realtime.MemoryTopics(last), nil },
			}
		},
	})
}

// Times never go back, even when the clock does.
func TestMemoryBrokerTimesNeverGoBack(t *testing.T) {
	clk := fakeClock()
	b, err := realtime.NewMemoryBroker(realtime.WithClock(clk))
	require.NoError(t, err)
	defer b.Close()
	clk.Advance(time.Minute)
	p1, err := b.Publish(ctxBG, "supplier:1", "e", json.RawMessage(`{}`), "")
	require.NoError(t, err)
	clk.Advance(-time.Minute)
	p2, err := b.Publish(ctxBG, "supplier:1", "e", nil, "")
	require.NoError(t, err)
	require.Equal(t, p1.Time, p2.Time)

	_, err = realtime.NewMemoryBroker(realtime.WithHistorySize(0), realtime.WithHistoryTTL(-1), realtime.WithClock(nil))
	for _, opt := range []string{"WithHistorySize", "WithHistoryTTL", "WithClock"} {
		require.ErrorContains(t, err, "realtime: "+opt+": ")
	}
	require.ErrorIs(t, err, realtime.ErrInvalid)
}

func offsets(pubs []realtime.Publication) []uint64 {
	out := make([]uint64, len(pubs))
	for i, p := range pubs {
		out[i] = p.Offset
	}
	return out
}
