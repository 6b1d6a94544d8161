package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Sentinel errors. Match them with errors.Is.
var (
	// ErrBlockedAddress is matched by every *BlockedError: the destination
	// is an address the guard refuses to connect to.
	ErrBlockedAddress = errors.New("netguard: blocked address")
	// ErrInsecureScheme reports a URL whose scheme is not https (or http,
	// when WithAllowHTTP(true) is set).
	ErrInsecureScheme = errors.New("netguard: insecure scheme")
	// ErrInvalidURL reports a URL that cannot be parsed or breaks a rule
	// other than the scheme: missing host, userinfo, bad port.
	ErrInvalidURL = errors.New("netguard: invalid url")
	// ErrUnsupportedNetwork reports a dial on a network other than tcp or
	// udp (unix sockets, for instance, would bypass the address check).
	ErrUnsupportedNetwork = errors.New("netguard: unsupported network")
)

// BlockedError reports an address the guard refused. It matches
// ErrBlockedAddress with errors.Is.
type BlockedError struct {
	// IP is the refused address. It is the zero Addr when the dial address
	// could not be parsed at all.
	IP netip.Addr
	// Reason names the rule, for example "loopback" or
	// "cloud metadata endpoint".
	Reason string
}

func (e *BlockedError) Error() string {
	if !e.IP.IsValid() {
		return "netguard: blocked address: " + e.Reason
	}
	return fmt.Sprintf("netguard: blocked address %s: %s", e.IP, e.Reason)
}

// Is reports whether target is ErrBlockedAddress.
func (e *BlockedError) Is(target error) bool { return target == ErrBlockedAddress }

// IsBlocked reports whether ip is in the default deny list and why. It does
// not know about a Guard's allowed ranges; use Guard.CheckIP for that.
//
// An IPv6 zone is ignored. An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is
// always blocked, whatever the IPv4 address it carries: nothing legitimate
// needs that form on the wire, and it is a classic way around filters that
// only look at one family. The reason then also names the embedded address's
// own rule, if any. The IPv4-translated form ::ffff:0:a.b.c.d (RFC 6145) and
// the other well-known prefixes that embed an IPv4 address (IPv4-compatible,
// NAT64, 6to4, Teredo) are on the list and are blocked whole too, and so is
// every IPv6 address outside global unicast space (2000::/3). The zero Addr
// is blocked.
func IsBlocked(ip netip.Addr) (reason string, blocked bool) {
	if !ip.IsValid() {
		return "invalid address", true
	}
	ip = ip.WithZone("")
	if ip.Is4In6() {
		reason = "IPv4-mapped IPv6 address"
		if inner, ok := IsBlocked(ip.Unmap()); ok {
			reason += " of a blocked IPv4 address (" + inner + ")"
		}
		return reason, true
	}
	for _, rl := range deniedRanges {
		if rl.prefix.Contains(ip) {
			return rl.reason, true
		}
	}
	// IPv6 servers live in global unicast space; everything outside it is
	// reserved, special or not yet allocated, and a deny list cannot keep
	// up with it (::ffff:0:0:0/96 was once missed that way).
	if ip.Is6() && !globalUnicast6.Contains(ip) {
		return "not an IPv6 global unicast address (outside 2000::/3)", true
	}
	// Backstop in case the table above misses something the standard
	// library classifies as non-public.
	switch {
	case ip.IsLoopback():
		return "loopback", true
	case ip.IsPrivate():
		return "private network", true
	case ip.IsLinkLocalUnicast():
		return "link-local", true
	case ip.IsMulticast(), ip.IsInterfaceLocalMulticast(), ip.IsLinkLocalMulticast():
		return "multicast", true
	case ip.IsUnspecified():
		return "unspecified address", true
	}
	return "", false
}

// globalUnicast6 is IPv6 global unicast space (RFC 4291, section 2.4).
var globalUnicast6 = netip.MustParsePrefix("2000::/3")

// Option configures a Guard.
type Option func(*options)

type options struct {
	allowed   []netip.Prefix
	allowHTTP bool
	resolver  *net.Resolver
}

// WithAllowedRanges lets the guard connect to addresses in prefixes even
// when the deny list blocks them; an allowed range overrides the deny list.
// Tests and demos use 127.0.0.0/8 and ::1/128. Calls add up. Invalid prefixes
// are ignored. An allowed IPv4 range does not match IPv4-mapped IPv6
// addresses. Defaults to none.
func WithAllowedRanges(prefixes ...netip.Prefix) Option {
	return func(o *options) {
		for _, p := range prefixes {
			if p.IsValid() {
				o.allowed = append(o.allowed, p.Masked())
			}
		}
	}
}

// WithAllowHTTP lets CheckURL and the guard's Client accept plain http URLs
// as well as https. Defaults to false: https is required.
func WithAllowHTTP(allow bool) Option {
	return func(o *options) { o.allowHTTP = allow }
}

// WithResolver sets the resolver the guard's dialer uses to turn host names
// into addresses. Whatever it answers, the answer is checked at dial time.
// Defaults to nil, which means net.DefaultResolver.
func WithResolver(r *net.Resolver) Option {
	return func(o *options) { o.resolver = r }
}

// Guard dials only addresses that pass its policy. It is immutable after New
// and safe for concurrent use.
type Guard struct {
	allowed   []netip.Prefix
	allowHTTP bool
	dialer    *net.Dialer
}

// New returns a Guard configured by opts.
func New(opts ...Option) *Guard {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	g := &Guard{
		allowed:   o.allowed,
		allowHTTP: o.allowHTTP,
	}
	g.dialer = &net.Dialer{
		Timeout:        30 * time.Second,
		KeepAlive:      30 * time.Second,
		Resolver:       o.resolver,
		ControlContext: g.control,
	}
	return g
}

// CheckIP returns nil if the guard may connect to ip: ip is in an allowed
// range, or IsBlocked does not block it. Otherwise it returns a
// *BlockedError.
func (g *Guard) CheckIP(ip netip.Addr) error {
	bare := ip.WithZone("")
	for _, p := range g.allowed {
		if p.Contains(bare) {
			return nil
		}
	}
	if reason, blocked := IsBlocked(ip); blocked {
		return &BlockedError{IP: ip, Reason: reason}
	}
	return nil
}

// control runs after name resolution, before connect(2), once for every
// address the dialer tries.
func (g *Guard) control(_ context.Context, _, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &BlockedError{Reason: fmt.Sprintf("cannot parse dial address %q", address)}
	}
	return g.CheckIP(ap.Addr())
}

// DialContext connects like net.Dialer.DialContext, but refuses, with a
// *BlockedError wrapped in a *net.OpError, every resolved address the guard
// does not allow. When a name resolves to several addresses, blocked ones are
// skipped and never connected to. Only tcp and udp networks are accepted.
func (g *Guard) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6":
	default:
		return nil, fmt.Errorf("netguard: network must be tcp or udp, got %q: %w", network, ErrUnsupportedNetwork)
	}
	return g.dialer.DialContext(ctx, network, addr)
}

// Transport returns a new *http.Transport that dials through the guard. It
// never uses a proxy (a proxy would make the connection on our behalf, past
// the check); TLS handshakes time out after 10s; idle connections are pooled
// as in http.DefaultTransport. Each call returns a separate transport with its
// own pool.
func (g *Guard) Transport() *http.Transport {
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           g.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: 1 * time.Second,
	}
}

// Client returns an *http.Client that sends through a fresh Transport, runs
// CheckURL on every request URL before sending it, and does not follow
// redirects: a 3xx response is returned to the caller as is. timeout is the
// client's overall timeout (zero means none). A sender that bounds each
// request by its context should pass zero: http.Client does not recognise
// the guard's transport, so it enforces a non-zero timeout with a goroutine
// and a timer per request (measured in examples/benchmark (b)).
func (g *Guard) Client(timeout time.Duration) *http.Client {
	return g.ClientConns(timeout, 0)
}

// ClientConns is Client for a sender that makes up to conns requests at
// once: its transport keeps up to conns idle connections per host (and in
// all) instead of Transport's 64 (100), so that conns concurrent requests
// to one host reuse their connections instead of dialling (measured in
// examples/benchmark (b): with 500 workers and 64 idle connections, a
// sixth of the delivery's CPU went to dialling). conns <= 64 keeps
// Transport's pool.
func (g *Guard) ClientConns(timeout time.Duration, conns int) *http.Client {
	tr := g.Transport()
	if conns > tr.MaxIdleConnsPerHost {
		tr.MaxIdleConnsPerHost = conns
		tr.MaxIdleConns = max(tr.MaxIdleConns, conns)
	}
	return &http.Client{
		Transport: &checkedTransport{guard: g, next: tr},
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

type checkedTransport struct {
	guard *Guard
	next  *http.Transport
}

func (t *checkedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL == nil {
		return nil, fmt.Errorf("url: is required: %w", ErrInvalidURL)
	}
	if err := t.guard.checkURL(req.URL); err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	return t.next.RoundTrip(req)
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the pool.
func (t *checkedTransport) CloseIdleConnections() { t.next.CloseIdleConnections() }

// CheckURL validates raw as a destination: it must parse as an absolute URL
// with scheme https (or http under WithAllowHTTP(true)), have a host, carry
// no userinfo, and have a port, if any, in 1-65535. A literal IP host is
// checked against the policy now; a host name is resolved and checked only at
// dial time. Host names that look like non-canonical IPv4 forms ("127.1",
// "0x7f000001", "2130706433") are rejected, since some resolvers turn them
// into addresses.
//
// The error wraps ErrInvalidURL, ErrInsecureScheme or, through a
// *BlockedError, ErrBlockedAddress.
func (g *Guard) CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("url: must parse (%v): %w", stripURLPrefix(err), ErrInvalidURL)
	}
	return g.checkURL(u)
}

func stripURLPrefix(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func (g *Guard) checkURL(u *url.URL) error {
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme == "https":
	case scheme == "http" && g.allowHTTP:
	case scheme == "":
		return fmt.Errorf("url: must be absolute with scheme https: %w", ErrInvalidURL)
	case g.allowHTTP:
		return fmt.Errorf("url: scheme must be https or http, got %q: %w", u.Scheme, ErrInsecureScheme)
	default:
		return fmt.Errorf("url: scheme must be https, got %q: %w", u.Scheme, ErrInsecureScheme)
	}
	if u.Opaque != "" {
		return fmt.Errorf("url: must have the form scheme://host: %w", ErrInvalidURL)
	}
	if u.User != nil {
		return fmt.Errorf("url: userinfo is not allowed: %w", ErrInvalidURL)
	}
	host := u.Hostname()
	if host == "" {
		return fmt.Errorf("url: host is required: %w", ErrInvalidURL)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("url: port must be in 1-65535, got %q: %w", p, ErrInvalidURL)
		}
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if err := g.CheckIP(ip); err != nil {
			return fmt.Errorf("url: host must not be a blocked address: %w", err)
		}
		return nil
	}
	if looksNumeric(host) {
		return fmt.Errorf("url: host must be a name or a canonical IP address, got %q: %w", host, ErrInvalidURL)
	}
	return nil
}

// looksNumeric reports whether the last label of host is a number (decimal,
// octal or 0x-hex). No real top-level domain is numeric, while resolvers
// that use inet_aton read such names as IPv4 addresses.
func looksNumeric(host string) bool {
	host = strings.TrimSuffix(host, ".")
	last := host[strings.LastIndexByte(host, '.')+1:]
	if last == "" {
		return false
	}
	digits := last
	if len(last) > 2 && (last[:2] == "0x" || last[:2] == "0X") {
		digits = last[2:]
		for _, c := range digits {
			if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
				return false
			}
		}
		return true
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
