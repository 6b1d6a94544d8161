package realtime

import (
	"net"
	"sync"
	"time"

	"github.com/wedsync/integrations/internal/hubwriter"
)

// Batched writes. coder/websocket flushes its buffer after every frame, so
// writing a socket's queued frames one Write at a time costs one system
// call (and, on loopback, one pass through the TCP stack) per frame: most
// of the CPU of a fan-out. The hub keeps coder/websocket for the
// handshake, the reads, the control frames and the close handshake, and
// slips batchConn under it: while a drain holds the connection, every
// frame coder/websocket flushes (the drain's, and a pong or close frame
// another goroutine writes meanwhile) is gathered in memory, whole frames
// in the order they were written, and the drain writes them to the socket
// in one system call per batchFlushBytes.

// batchFlushBytes is the most a drain gathers before it writes to the
// socket: about what a loopback or LAN socket's send buffer takes without
// blocking, and few enough bytes to copy that a batch never holds a frame
// back noticeably.
const batchFlushBytes = 64 << 10

// batchBufs holds the gathering buffers: a socket holds one only while a
// drain runs, so idle sockets cost nothing.
var batchBufs = sync.Pool{New: func() any { b := make([]byte, 0, batchFlushBytes+4096); return &b }}

// batchConn is the hijacked connection under a socket's websocket.Conn.
type batchConn struct {
	net.Conn

	// mu serialises writes to the connection: coder/websocket's writes
	// (each whole frame flushed under its own frame lock) and the drain's
	// flushes of what was gathered.
	mu   sync.Mutex
	held bool
	buf  *[]byte // while held
}

// Write gathers p while a drain holds the connection, and writes it
// through otherwise.
func (b *batchConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.held {
		*b.buf = append(*b.buf, p...)
		return len(p), nil
	}
	return b.Conn.Write(p)
}

// hold starts gathering writes.
func (b *batchConn) hold() {
	b.mu.Lock()
	b.held = true
	if b.buf == nil {
		b.buf = batchBufs.Get().(*[]byte)
	}
	b.mu.Unlock()
}

// gathered is how many bytes wait to be written.
func (b *batchConn) gathered() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf == nil {
		return 0
	}
	return len(*b.buf)
}

// flush writes what was gathered in one Write bounded by timeout (a write
// deadline; a write that misses it fails, and the caller closes the
// socket). With release it also stops gathering, in the same critical
// section, so that no frame written meanwhile is left behind. After a
// failed flush the gathered bytes are dropped: the socket is closing.
func (b *batchConn) flush(timeout time.Duration, release bool) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var err error
	if b.buf != nil && len(*b.buf) > 0 {
		_ = b.Conn.SetWriteDeadline(time.Now().Add(timeout))
		_, err = b.Conn.Write(*b.buf)
		// Cleared, so that coder/websocket's own writes (pongs, the close
		// frame) keep their own bounds.
		_ = b.Conn.SetWriteDeadline(time.Time{})
		*b.buf = (*b.buf)[:0]
	}
	if release {
		b.held = false
		if b.buf != nil {
			if cap(*b.buf) <= 4*batchFlushBytes {
				batchBufs.Put(b.buf)
			}
			b.buf = nil
		}
	}
	return err
}

func init() {
	hubwriter.PerFrameWrites = hubOption(func(o *hubOptions) { o.perFrameWrites = true })
}
