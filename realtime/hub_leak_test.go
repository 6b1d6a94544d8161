package realtime_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/wedsync/integrations/realtime/protocol"
)

// TestHubConnectDisconnectCyclesLeaveNothing runs 10,000 sockets through
// connect, join, a broadcast, and close (half closing cleanly, half just
// dropping the TCP connection), then checks that the hub holds no
// connection or topic and, after Close, that no goroutine is left.
func TestHubConnectDisconnectCyclesLeaveNothing(t *testing.T) {
	const cycles, workers = 10_000, 16
	env := newHubEnv(t)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		// A principal per worker: its sockets come and go one at a time,
		// well within the per-principal cap.
		token := fmt.Sprintf("sup:1::worker-%d", w)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > cycles {
					return
				}
				p, err := tryDialPeer(t, env.url, token, protocol.VSN2)
				if err != nil {
					t.Errorf("cycle %d: dial: %v", i, err)
					return
				}
				p.mustJoin("supplier:1", joinPayload)
				if i%2 == 0 {
					p.ws.Close(1000, "bye")
				} else {
					p.ws.CloseNow()
				}
			}
		}()
	}
	wg.Wait()
	// Every socket's goroutines end on their own (goleak retries while
	// they wind down); only the hub's sweeper, its writer pool and the
	// server's accept loop remain.
	goleak.VerifyNone(t,
		goleak.IgnoreAnyFunction("github.com/wedsync/integrations/realtime.(*Hub).sweep"),
		goleak.IgnoreAnyFunction("github.com/wedsync/integrations/realtime.(*writerPool).work"),
		goleak.IgnoreAnyFunction("net/http/httptest.(*Server).goServe.func1"))
	s := env.hub.Stats()
	require.Zero(t, s.Connections)
	require.Zero(t, s.Topics)
}
