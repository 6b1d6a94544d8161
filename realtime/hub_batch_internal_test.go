package realtime

import (
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestBatchConnGathersWhileHeld: what is written while a drain holds the
// connection (here, from another goroutine too, as a pong would be) stays
// in memory, in order, and goes out in one write at the flush; after the
// release writes go straight through.
func TestBatchConnGathersWhileHeld(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	bc := &batchConn{Conn: a}
	bc.hold()
	_, err := bc.Write([]byte("frame1|"))
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { _, err := bc.Write([]byte("pong|")); done <- err }()
	// net.Pipe has no buffer: a write that reached it would block until
	// read, so returning means it was gathered.
	require.NoError(t, <-done)
	_, err = bc.Write([]byte("frame2"))
	require.NoError(t, err)
	require.Equal(t, len("frame1|pong|frame2"), bc.gathered())

	read := make(chan string, 2)
	go func() {
		buf := make([]byte, 1024)
		for range 2 {
			n, err := b.Read(buf)
			if err != nil {
				close(read)
				return
			}
			read <- string(buf[:n])
		}
	}()
	require.NoError(t, bc.flush(time.Minute, true))
	require.Equal(t, "frame1|pong|frame2", <-read, "one write carries everything gathered")
	require.Equal(t, 0, bc.gathered())
	_, err = bc.Write([]byte("direct"))
	require.NoError(t, err)
	require.Equal(t, "direct", <-read)
}

// TestBatchConnFlushHonoursWriteTimeout: a flush to a peer that does not
// read fails once the write timeout passes (the drain then closes the
// socket), drops what was gathered, and stops gathering.
func TestBatchConnFlushHonoursWriteTimeout(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	bc := &batchConn{Conn: a}
	bc.hold()
	_, err := bc.Write([]byte("never read"))
	require.NoError(t, err)
	err = bc.flush(50*time.Millisecond, true)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	require.Equal(t, 0, bc.gathered())
	// Released, and the deadline cleared: a write goes through to a reader.
	go func() { _, _ = io.ReadFull(b, make([]byte, 2)) }()
	_, err = bc.Write([]byte("ok"))
	require.NoError(t, err)
}
