package netguard_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/internal/netguard"
)

var loopbackRanges = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("::1/128"),
}

// newServer starts an httptest server on 127.0.0.1 that answers "ok" and
// counts requests.
func newServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func client(t *testing.T, g *netguard.Guard) *http.Client {
	t.Helper()
	c := g.Client(5 * time.Second)
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func requireBlocked(t *testing.T, err error, ip string) {
	t.Helper()
	require.ErrorIs(t, err, netguard.ErrBlockedAddress)
	var be *netguard.BlockedError
	require.ErrorAs(t, err, &be)
	require.Equal(t, netip.MustParseAddr(ip), be.IP.WithZone(""))
}

func TestDialBlockedByDefault(t *testing.T) {
	t.Parallel()
	srv, hits := newServer(t)
	g := netguard.New(netguard.WithAllowHTTP(true))
	addr := srv.Listener.Addr().String()

	// The dialer itself refuses.
	conn, err := g.DialContext(t.Context(), "tcp", addr)
	require.Nil(t, conn)
	requireBlocked(t, err, "127.0.0.1")
	var opErr *net.OpError
	require.ErrorAs(t, err, &opErr, "net wraps the refusal in *net.OpError")

	// The bare Transport (no URL check in front) refuses at dial time.
	tr := g.Transport()
	t.Cleanup(tr.CloseIdleConnections)
	_, err = (&http.Client{Transport: tr}).Get(srv.URL)
	requireBlocked(t, err, "127.0.0.1")

	// The Client refuses before dialing.
	_, err = client(t, g).Get(srv.URL)
	requireBlocked(t, err, "127.0.0.1")

	require.Zero(t, hits.Load(), "no request reached the server")
}

func TestDialAllowedWithRanges(t *testing.T) {
	t.Parallel()
	srv, hits := newServer(t)
	g := netguard.New(netguard.WithAllowHTTP(true), netguard.WithAllowedRanges(loopbackRanges...))

	conn, err := g.DialContext(t.Context(), "tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	require.NoError(t, conn.Close())

	resp, err := client(t, g).Get(srv.URL)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "ok", string(body))
	require.Equal(t, int64(1), hits.Load())
}

func TestDialLocalhostNameBlocked(t *testing.T) {
	t.Parallel()
	srv, hits := newServer(t)
	g := netguard.New(netguard.WithAllowHTTP(true))
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	u := "http://localhost:" + strconv.Itoa(port) + "/"

	// CheckURL does not resolve names, so the URL passes...
	require.NoError(t, g.CheckURL(u))
	// ...and the dial refuses the address the name resolved to.
	_, err := client(t, g).Get(u)
	require.ErrorIs(t, err, netguard.ErrBlockedAddress)
	var be *netguard.BlockedError
	require.ErrorAs(t, err, &be)
	require.True(t, be.IP.IsLoopback(), "resolved %s", be.IP)
	require.Zero(t, hits.Load())
}

// TestDNSRebinding uses a resolver whose DNS server (in process, over
// net.Pipe) answers every name with 127.0.0.1: a public-looking name that
// rebinds to loopback after the URL was accepted.
func TestDNSRebinding(t *testing.T) {
	t.Parallel()
	srv, hits := newServer(t)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	u := "http://rebind.example:" + strconv.Itoa(port) + "/hook"
	var queries atomic.Int64
	res := fakeResolver(t, netip.MustParseAddr("127.0.0.1"), &queries)

	g := netguard.New(netguard.WithAllowHTTP(true), netguard.WithResolver(res))
	require.NoError(t, g.CheckURL(u), "the name looks fine when the URL is saved")
	_, err := client(t, g).Get(u)
	requireBlocked(t, err, "127.0.0.1")
	require.Positive(t, queries.Load(), "the fake DNS server was asked")
	require.Zero(t, hits.Load())

	// The same resolver with loopback allowed reaches the server, which
	// shows the refusal above came from the resolved address.
	g = netguard.New(netguard.WithAllowHTTP(true), netguard.WithResolver(res),
		netguard.WithAllowedRanges(loopbackRanges...))
	resp, err := client(t, g).Get(u)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, int64(1), hits.Load())
}

func TestRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	var followed atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/start", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/target", http.StatusFound)
	})
	mux.HandleFunc("/target", func(http.ResponseWriter, *http.Request) { followed.Add(1) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	g := netguard.New(netguard.WithAllowHTTP(true), netguard.WithAllowedRanges(loopbackRanges...))
	resp, err := client(t, g).Get(srv.URL + "/start")
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusFound, resp.StatusCode)
	require.Equal(t, "/target", resp.Header.Get("Location"))
	require.Zero(t, followed.Load())
}

func TestClientRequiresHTTPS(t *testing.T) {
	t.Parallel()
	srv, hits := newServer(t)
	g := netguard.New(netguard.WithAllowedRanges(loopbackRanges...))
	_, err := client(t, g).Get(srv.URL)
	require.ErrorIs(t, err, netguard.ErrInsecureScheme)
	require.Zero(t, hits.Load())

	// Bodies are closed when a request is refused.
	body := &closeRecorder{Reader: strings.NewReader("x")}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL, body)
	require.NoError(t, err)
	_, err = client(t, g).Do(req)
	require.ErrorIs(t, err, netguard.ErrInsecureScheme)
	require.True(t, body.closed.Load())
}

func TestTLSThroughGuard(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "secure")
	}))
	t.Cleanup(srv.Close)

	g := netguard.New(netguard.WithAllowedRanges(loopbackRanges...))
	require.NoError(t, g.CheckURL(srv.URL))
	tr := g.Transport()
	tr.TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	t.Cleanup(tr.CloseIdleConnections)
	resp, err := (&http.Client{Transport: tr}).Get(srv.URL)
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, "secure", string(b))

	// Without the allowed range the same transport setup is refused at dial.
	tr2 := netguard.New().Transport()
	tr2.TLSClientConfig = tr.TLSClientConfig.Clone()
	t.Cleanup(tr2.CloseIdleConnections)
	_, err = (&http.Client{Transport: tr2}).Get(srv.URL)
	requireBlocked(t, err, "127.0.0.1")
}

func TestDialUnsupportedNetwork(t *testing.T) {
	t.Parallel()
	g := netguard.New(netguard.WithAllowedRanges(loopbackRanges...))
	for _, network := range []string{"unix", "unixgram", "ip4:icmp", ""} {
		_, err := g.DialContext(t.Context(), network, "/tmp/x.sock")
		require.ErrorIs(t, err, netguard.ErrUnsupportedNetwork, network)
		require.Contains(t, err.Error(), "network must be tcp or udp")
	}
}

func TestDialRespectsContext(t *testing.T) {
	t.Parallel()
	g := netguard.New(netguard.WithAllowedRanges(loopbackRanges...))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := g.DialContext(ctx, "tcp", "127.0.0.1:1")
	require.ErrorIs(t, err, context.Canceled)
}

func TestTransportDefaults(t *testing.T) {
	t.Parallel()
	tr := netguard.New().Transport()
	require.Nil(t, tr.Proxy, "a proxy would bypass the dial-time check")
	require.NotNil(t, tr.DialContext)
	require.Nil(t, tr.DialTLSContext)
	require.Equal(t, 10*time.Second, tr.TLSHandshakeTimeout)
	require.Positive(t, tr.MaxIdleConns)
	require.Positive(t, tr.IdleConnTimeout)

	c := netguard.New().Client(7 * time.Second)
	require.Equal(t, 7*time.Second, c.Timeout)
	require.ErrorIs(t, c.CheckRedirect(&http.Request{URL: &url.URL{}}, nil), http.ErrUseLastResponse)
}

type closeRecorder struct {
	io.Reader
	closed atomic.Bool
}

func (c *closeRecorder) Close() error { c.closed.Store(true); return nil }

func itoa(n int) string {
	return netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(n)).String()[len("0.0.0.0:"):]
}

// fakeResolver returns a pure-Go resolver whose DNS "server" is a goroutine
// on the other end of a net.Pipe. It answers every A question with answer
// (when answer is IPv4) and every AAAA question with answer (when IPv6);
// other questions get an empty, successful reply. No packet leaves the
// process.
func fakeResolver(t *testing.T, answer netip.Addr, queries *atomic.Int64) *net.Resolver {
	t.Helper()
	return &net.Resolver{
		PreferGo: true,
		Dial: func(context.Context, string, string) (net.Conn, error) {
			c, s := net.Pipe()
			go serveOneDNS(s, answer, queries)
			return c, nil
		},
	}
}

// serveOneDNS answers one TCP-framed DNS query on conn and closes it. The
// Go resolver uses TCP framing on connections that are not PacketConns.
func serveOneDNS(conn net.Conn, answer netip.Addr, queries *atomic.Int64) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	var lenBuf [2]byte
	if _, err := io.ReadFull(conn, lenBuf[:]); err != nil {
		return
	}
	msg := make([]byte, binary.BigEndian.Uint16(lenBuf[:]))
	if _, err := io.ReadFull(conn, msg); err != nil {
		return
	}
	resp, err := dnsReply(msg, answer)
	if err != nil {
		return
	}
	queries.Add(1)
	out := binary.BigEndian.AppendUint16(nil, uint16(len(resp)))
	_, _ = conn.Write(append(out, resp...))
}

func dnsReply(q []byte, answer netip.Addr) ([]byte, error) {
	const headerLen = 12
	if len(q) < headerLen {
		return nil, errors.New("short query")
	}
	// Walk the question name (uncompressed labels ending in a zero byte).
	i := headerLen
	for i < len(q) && q[i] != 0 {
		i += int(q[i]) + 1
	}
	end := i + 1 + 4 // zero byte, qtype, qclass
	if end > len(q) {
		return nil, errors.New("truncated question")
	}
	qtype := binary.BigEndian.Uint16(q[i+1:])
	question := q[headerLen:end]

	var rdata []byte
	switch {
	case qtype == 1 && answer.Is4():
		b := answer.As4()
		rdata = b[:]
	case qtype == 28 && answer.Is6():
		b := answer.As16()
		rdata = b[:]
	}
	ancount := uint16(0)
	if rdata != nil {
		ancount = 1
	}
	r := make([]byte, 0, 64)
	r = append(r, q[0], q[1]) // ID
	r = append(r, 0x85, 0x80) // QR, AA, RD; RA; NOERROR
	r = binary.BigEndian.AppendUint16(r, 1)
	r = binary.BigEndian.AppendUint16(r, ancount)
	r = binary.BigEndian.AppendUint16(r, 0)
	r = binary.BigEndian.AppendUint16(r, 0)
	r = append(r, question...)
	if rdata != nil {
		r = append(r, 0xC0, headerLen) // pointer to the question name
		r = binary.BigEndian.AppendUint16(r, qtype)
		r = binary.BigEndian.AppendUint16(r, 1)  // IN
		r = binary.BigEndian.AppendUint32(r, 60) // TTL
		r = binary.BigEndian.AppendUint16(r, uint16(len(rdata)))
		r = append(r, rdata...)
	}
	return r, nil
}
