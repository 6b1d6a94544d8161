package realtime_test

import (
	"io"
	"maps"
	"net"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// dropProxy forwards TCP connections to a target and can cut them, like a
// dashboard's Wi-Fi dropping.
type dropProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  map[int]net.Conn // client side, by id
	next   int
	refuse bool
	wg     sync.WaitGroup
}

// setRefusing makes the proxy close new connections at once (the network
// is down) or accept them again.
func (p *dropProxy) setRefusing(on bool) {
	p.mu.Lock()
	p.refuse = on
	p.mu.Unlock()
}

func newDropProxy(t testing.TB, target string) *dropProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &dropProxy{ln: ln, target: target, conns: map[int]net.Conn{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *dropProxy) addr() string { return p.ln.Addr().String() }

func (p *dropProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		refuse := p.refuse
		p.mu.Unlock()
		if refuse {
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		id := p.next
		p.next++
		p.conns[id] = c
		p.mu.Unlock()
		p.wg.Add(2)
		pipe := func(dst, src net.Conn) {
			defer p.wg.Done()
			_, _ = io.Copy(dst, src)
			dst.Close()
			src.Close()
			p.mu.Lock()
			delete(p.conns, id)
			p.mu.Unlock()
		}
		go pipe(up, c)
		go pipe(c, up)
	}
}

// dropOne cuts the pick-th open connection (modulo how many are open) and
// reports whether there was one.
func (p *dropProxy) dropOne(pick int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.conns) == 0 {
		return false
	}
	// Sorted, for a pick the seed reproduces.
	ids := slices.Sorted(maps.Keys(p.conns))
	c := p.conns[ids[pick%len(ids)]]
	delete(p.conns, ids[pick%len(ids)])
	c.Close()
	return true
}

func (p *dropProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
