package realtime

import (
	"runtime"
	"sync/atomic"
	"time"
)

// writerPool writes every socket's queued frames from a few goroutines (one
// per P), rather than starting a goroutine per socket per broadcast: with
// thousands of sockets, thousands of runnable writers would queue the
// clients' readers behind them. A write that blocks (a socket whose buffers
// are full) would stall the pool, so a worker whose write takes longer than
// the stall bound hands its place to a fresh worker and stays with that
// one socket until it is drained, then ends.
type writerPool struct {
	h     *Hub
	ready chan *conn
	stall time.Duration
}

// poolStall is how long a write may take before its worker is replaced. A
// write to a healthy socket goes into the kernel's buffer in microseconds.
const poolStall = 10 * time.Millisecond

func newWriterPool(h *Hub) *writerPool {
	p := &writerPool{h: h, ready: make(chan *conn, 16384), stall: poolStall}
	for range runtime.GOMAXPROCS(0) {
		p.spawn()
	}
	return p
}

// spawn adds a worker unless the hub is closing.
func (p *writerPool) spawn() {
	p.h.bgMu.Lock()
	defer p.h.bgMu.Unlock()
	if p.h.bgClosed {
		return
	}
	p.h.wg.Add(1)
	go p.work()
}

// submit hands a socket with queued frames to the pool. When every worker
// is busy and the hand-over queue is full, the socket gets a goroutine of
// its own.
func (p *writerPool) submit(c *conn) {
	select {
	case p.ready <- c:
	default:
		go c.drain(nil)
	}
}

type poolWorker struct {
	p        *writerPool
	detached atomic.Bool
	timer    *time.Timer
}

func (p *writerPool) work() {
	defer p.h.wg.Done()
	w := &poolWorker{p: p}
	w.timer = time.AfterFunc(time.Hour, w.detach)
	w.timer.Stop()
	defer w.timer.Stop()
	for {
		select {
		case <-p.h.ctx.Done():
			return
		case c := <-p.ready:
			c.drain(w)
			if w.detached.Load() {
				return
			}
		}
	}
}

// detach runs when the worker's write has taken too long: a new worker
// takes its place in the pool.
func (w *poolWorker) detach() {
	if w.detached.CompareAndSwap(false, true) {
		w.p.spawn()
	}
}
