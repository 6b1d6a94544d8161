package realtime_test

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/realtime"
	"github.com/wedsync/integrations/realtime/protocol"
)

// TestHubWritesQueuedFramesTogether holds a socket's writer while its join
// reply and five broadcasts queue behind it: the batched writer then
// writes all six frames with one write, the per-frame writer (the
// benchmark's comparison) with six; either way the client reads them all,
// in order.
func TestHubWritesQueuedFramesTogether(t *testing.T) {
	const n = 5
	for _, tc := range []struct {
		name   string
		opts   []realtime.Option
		writes []int
	}{
		{"batched", nil, []int{n + 1}},
		{"per-frame", []realtime.Option{realtime.WithPerFrameWrites()}, []int{1, 1, 1, 1, 1, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			var releaseOnce sync.Once
			queued := make(chan struct{}, 2*n)
			var mu sync.Mutex
			var writes []int
			wrote := make(chan struct{}, 2*n)
			opts := append([]realtime.Option{
				// The socket's writer waits before it takes the queue.
				realtime.WithDrainingHook(func() { <-release }),
				realtime.WithQueuedHook(func([]byte) {
					select {
					case queued <- struct{}{}:
					default: // more than the test waits for: never block a publisher
					}
				}),
				realtime.WithWroteHook(func(frames int) {
					mu.Lock()
					writes = append(writes, frames)
					mu.Unlock()
					select {
					case wrote <- struct{}{}:
					default: // more than the test waits for: never block a writer
					}
				}),
			}, tc.opts...)
			env := newHubEnv(t, opts...)
			t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
			ctx, cancel := context.WithTimeout(ctxBG, 10*time.Second)
			defer cancel()
			waitQueued := func(what string) {
				t.Helper()
				select {
				case <-queued:
				case <-ctx.Done():
					t.Fatalf("%s was not queued to the socket", what)
				}
			}

			p := dialPeer(t, env.url, "sup:1", protocol.VSN1)
			body, err := json.Marshal(joinPayload)
			require.NoError(t, err)
			p.send(protocol.Message{JoinRef: "1", Ref: "1", Topic: protocol.WireTopic("supplier:1"), Event: protocol.EventJoin, Payload: body})
			waitQueued("the join reply") // the channel is registered
			var offsets []uint64
			for i := range n {
				pub, err := env.hub.Broadcast(ctxBG, "supplier:1", "kpi.updated", json.RawMessage(`{"i":`+strconv.Itoa(i)+`}`))
				require.NoError(t, err)
				offsets = append(offsets, pub.Offset)
				waitQueued("broadcast " + strconv.Itoa(i))
			}
			releaseOnce.Do(func() { close(release) })

			reply := p.read()
			require.Equal(t, protocol.EventReply, reply.Event)
			require.Equal(t, "1", reply.Ref)
			for i, off := range offsets {
				b := p.readBroadcast()
				require.Equal(t, off, b.Meta.Offset, "broadcast %d", i)
				require.JSONEq(t, `{"i":`+strconv.Itoa(i)+`}`, string(b.Payload))
			}
			for range tc.writes {
				select {
				case <-wrote:
				case <-ctx.Done():
					mu.Lock()
					defer mu.Unlock()
					t.Fatalf("writes reported: %v, want %v", writes, tc.writes)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			require.Equal(t, tc.writes, writes)
		})
	}
}
