package client

import (
	"context"
	"net"
	"net/http"
	"sync"

	"github.com/coder/websocket"
)

// connRecorder keeps the network connection a dial opened, so that Close
// can drop a socket whose server does not answer the close handshake.
// coder/websocket keeps the connection to itself.
type connRecorder struct {
	mu   sync.Mutex
	conn net.Conn
}

func (r *connRecorder) record(c net.Conn) {
	r.mu.Lock()
	r.conn = c
	r.mu.Unlock()
}

// cut closes the recorded connection, if any.
func (r *connRecorder) cut() {
	if r == nil {
		return
	}
	r.mu.Lock()
	c := r.conn
	r.mu.Unlock()
	if c != nil {
		_ = c.Close()
	}
}

// recordingDialOptions returns the dial options with an HTTP client whose
// transport records the connection it dials, and a function that releases
// the transport's idle connections (call it once the dial is over). When
// the host's WithDialOptions sets a transport other than *http.Transport,
// nothing can be recorded: the options are returned as they are, with a
// nil recorder.
func recordingDialOptions(opts *websocket.DialOptions) (*websocket.DialOptions, *connRecorder, func()) {
	var o websocket.DialOptions
	if opts != nil {
		o = *opts
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	rt := hc.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	base, ok := rt.(*http.Transport)
	if !ok {
		return &o, nil, func() {}
	}
	rec := &connRecorder{}
	tr := base.Clone()
	wrap := func(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
		return func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dial(ctx, network, addr)
			if err == nil {
				rec.record(c)
			}
			return c, err
		}
	}
	if tr.DialTLSContext != nil {
		tr.DialTLSContext = wrap(tr.DialTLSContext)
	}
	dial := tr.DialContext
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	tr.DialContext = wrap(dial)
	client := *hc
	client.Transport = tr
	o.HTTPClient = &client
	return &o, rec, tr.CloseIdleConnections
}
