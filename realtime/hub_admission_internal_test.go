package realtime

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestSlowConsumerFollowsItsOption: a socket whose queue passes its send
// buffer is cut when its write has been blocked for WithSlowConsumer's
// blockedFor, or when the queue reaches overflow times the buffer, and not
// before.
func TestSlowConsumerFollowsItsOption(t *testing.T) {
	o := defaultHubOptions()
	for _, opt := range []Option{WithSendBuffer(4, 1000), WithSlowConsumer(time.Hour, 2)} {
		opt.applyHub(&o)
	}
	c := &conn{h: &Hub{o: o}}

	c.queue = make([]outFrame, 3)
	require.False(t, c.overLocked(10), "4 frames: within the buffer")
	c.queue = make([]outFrame, 4)
	require.False(t, c.overLocked(10), "5 frames, past the buffer, but no write is blocked")
	c.writeSince.Store(time.Now().Add(-time.Minute).UnixNano())
	require.False(t, c.overLocked(10), "a write blocked for a minute, under blockedFor")
	c.writeSince.Store(time.Now().Add(-2 * time.Hour).UnixNano())
	require.True(t, c.overLocked(10), "a write blocked for longer than blockedFor")

	c.writeSince.Store(0)
	c.queue = make([]outFrame, 7)
	require.False(t, c.overLocked(10), "8 frames: overflow times the buffer")
	c.queue = make([]outFrame, 8)
	require.True(t, c.overLocked(10), "9 frames: past overflow times the buffer")

	c.queue, c.qbytes = nil, 1990
	require.False(t, c.overLocked(10), "2,000 bytes: overflow times the buffer")
	require.True(t, c.overLocked(11), "2,001 bytes: past it")
}
