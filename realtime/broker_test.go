package realtime_test

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/realtime"
)

type recordingHandler struct {
	mu   sync.Mutex
	pubs []realtime.Publication
}

func (r *recordingHandler) OnPublication(p realtime.Publication) {
	r.mu.Lock()
	r.pubs = append(r.pubs, p)
	r.mu.Unlock()
}
func (r *recordingHandler) OnResync() {}

func TestMemoryBrokerHistory(t *testing.T) {
	clk := fakeClock()
	b, err := realtime.NewMemoryBroker(realtime.WithHistorySize(3), realtime.WithHistoryTTL(time.Minute), realtime.WithClock(clk))
	require.NoError(t, err)
	defer b.Close()
	rec := &recordingHandler{}
	require.NoError(t, b.Attach(rec))
	require.Error(t, b.Attach(rec), "one hub per broker")

	start := clk.Now()
	var pubs []realtime.Publication
	for i := range 5 {
		clk.Advance(time.Second)
		p, err := b.Publish(ctxBG, "supplier:1", "e", json.RawMessage(`{"i": `+string(rune('0'+i))+`}`), "")
		require.NoError(t, err)
		require.Equal(t, uint64(i+1), p.Offset)
		pubs = append(pubs, p)
	}
	require.Len(t, rec.pubs, 5, "the handler saw every publication before Publish returned")
	require.Equal(t, `{"i": 4}`, string(rec.pubs[4].Payload), "payload byte for byte")

	// Offsets 1 and 2 were trimmed by size.
	res, err := b.History(ctxBG, "supplier:1", realtime.HistoryQuery{After: 2, Epoch: pubs[0].Epoch})
	require.NoError(t, err)
	require.True(t, res.Complete)
	require.Equal(t, []uint64{3, 4, 5}, offsets(res.Publications))
	require.Equal(t, uint64(5), res.Latest)
	res, err = b.History(ctxBG, "supplier:1", realtime.HistoryQuery{After: 1, Epoch: pubs[0].Epoch})
	require.NoError(t, err)
	require.False(t, res.Complete, "offset 2 is gone")
	require.Empty(t, res.Publications, "never a partial history")
	res, err = b.History(ctxBG, "supplier:1", realtime.HistoryQuery{After: 4, Epoch: "other"})
	require.NoError(t, err)
	require.False(t, res.Complete, "another epoch's offsets mean nothing here")

	// By time: since is inclusive.
	res, err = b.History(ctxBG, "supplier:1", realtime.HistoryQuery{Since: pubs[3].Time})
	require.NoError(t, err)
	require.True(t, res.Complete)
	require.Equal(t, []uint64{4, 5}, offsets(res.Publications))
	res, err = b.History(ctxBG, "supplier:1", realtime.HistoryQuery{Since: pubs[1].Time})
	require.NoError(t, err)
	require.False(t, res.Complete, "offset 2 at that time was trimmed")
	res, err = b.History(ctxBG, "supplier:1", realtime.HistoryQuery{Since: start.Add(-time.Hour)})
	require.NoError(t, err)
	require.False(t, res.Complete, "before the broker started")
	res, err = b.History(ctxBG, "supplier:1", realtime.HistoryQuery{Since: pubs[2].Time, Limit: 2})
	require.NoError(t, err)
	require.False(t, res.Complete, "over the limit")

	// Age: after the TTL everything is gone and a replay is incomplete.
	clk.Advance(2 * time.Minute)
	res, err = b.History(ctxBG, "supplier:1", realtime.HistoryQuery{Since: pubs[4].Time})
	require.NoError(t, err)
	require.False(t, res.Complete)
	res, err = b.History(ctxBG, "supplier:1", realtime.HistoryQuery{Since: clk.Now()})
	require.NoError(t, err)
	require.True(t, res.Complete, "nothing since now, and nothing lost")

	// Times never go back even if the clock does.
	clk.Advance(max(0, start.Sub(clk.Now())))
	p, err := b.Publish(ctxBG, "supplier:1", "e", nil, "")
	require.NoError(t, err)
	require.False(t, p.Time.Before(pubs[4].Time))

	require.NoError(t, b.Close())
	_, err = b.Publish(ctxBG, "supplier:1", "e", nil, "")
	require.ErrorIs(t, err, realtime.ErrBrokerClosed)

	_, err = realtime.NewMemoryBroker(realtime.WithHistorySize(0))
	require.ErrorContains(t, err, "WithHistorySize")
}

func offsets(pubs []realtime.Publication) []uint64 {
	out := make([]uint64, len(pubs))
	for i, p := range pubs {
		out[i] = p.Offset
	}
	return out
}
