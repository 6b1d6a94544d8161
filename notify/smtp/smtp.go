package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"os"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/wedsync/integrations/internal/validate"
	"github.com/wedsync/integrations/notify"
)

const pkg = "smtp"

// TLSMode says how a Provider protects its connection to the server.
type TLSMode int

// TLS modes.
const (
	// TLSMandatory upgrades the connection with STARTTLS and fails the send
	// (a *notify.ProviderError) when the server does not offer STARTTLS or
	// its certificate does not verify. The default, and what production
	// needs: the submission port 587 of every relay works this way.
	TLSMandatory TLSMode = iota
	// TLSOpportunistic uses STARTTLS when the server offers it and goes on
	// in clear when it does not. A password is still never sent in clear,
	// except to a loopback host.
	TLSOpportunistic
	// TLSImplicit speaks TLS from the first byte (SMTPS, port 465).
	TLSImplicit
	// NoTLS never encrypts: for a test server on loopback, such as
	// smtptest's. New refuses it together with WithAuth for a host that is
	// not a loopback one, so that a password never crosses a network in
	// clear.
	NoTLS
)

// String returns the mode's name ("mandatory", "opportunistic", "implicit",
// "none").
func (m TLSMode) String() string {
	switch m {
	case TLSMandatory:
		return "mandatory"
	case TLSOpportunistic:
		return "opportunistic"
	case TLSImplicit:
		return "implicit"
	case NoTLS:
		return "none"
	}
	return "TLSMode(" + strconv.Itoa(int(m)) + ")"
}

// secret keeps a password out of every formatted output.
type secret string

func (secret) String() string   { return "[redacted]" }
func (secret) GoString() string { return "[redacted]" }

// Option configures a Provider.
type Option func(*config)

type config struct {
	name      string
	fromAddr  string
	fromName  string
	fromSet   bool
	user      string
	pass      secret
	auth      bool
	tlsMode   TLSMode
	tlsConfig *tls.Config
	timeout   time.Duration
	helo      string
}

// WithName sets the provider's name, which keys its breaker, rate limit
// and statuses in the notifier (default "smtp"). Two SMTP providers of one
// notifier (a primary and a fallback relay) need different names.
func WithName(name string) Option { return func(c *config) { c.name = name } }

// WithFrom sets the sender: the From header and the envelope sender (MAIL
// FROM). Required; address must be a bare address (bookings@example.com),
// name may be empty. The Message-ID's domain is the address's.
func WithFrom(address, name string) Option {
	return func(c *config) { c.fromAddr, c.fromName, c.fromSet = address, name, true }
}

// WithAuth authenticates with username and password, by AUTH PLAIN or, when
// the server offers only that, AUTH LOGIN (default: no authentication). The
// password is sent only over TLS or to a loopback host, and never appears
// in errors or in the provider's String.
func WithAuth(username, password string) Option {
	return func(c *config) { c.user, c.pass, c.auth = username, secret(password), true }
}

// WithTLS sets how the connection is protected (default TLSMandatory:
// STARTTLS required). Use NoTLS for smtptest's server on loopback, and
// TLSImplicit for port 465.
func WithTLS(mode TLSMode) Option { return func(c *config) { c.tlsMode = mode } }

// WithTLSConfig sets the TLS configuration for STARTTLS and TLSImplicit
// (default: the system's roots, TLS 1.2 or later, the host as server name).
// Its ServerName defaults to the host. Use it to trust a private CA, such
// as smtptest's (Server.RootCAs).
func WithTLSConfig(cfg *tls.Config) Option { return func(c *config) { c.tlsConfig = cfg } }

// WithTimeout bounds the connection and each SMTP command (default 30s).
// The ctx given to Send bounds the whole send as well.
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithHelo sets the name the provider gives in EHLO (default: the machine's
// host name, or "localhost" when it has none).
func WithHelo(name string) Option { return func(c *config) { c.helo = name } }

// Provider sends email through one SMTP server. It is safe for concurrent
// use: each Send has its own connection.
type Provider struct {
	name       string
	host       string
	port       int
	from       *mail.Address
	fromDomain string
	user       string
	pass       secret
	auth       bool
	tlsMode    TLSMode
	tlsConfig  *tls.Config
	timeout    time.Duration
	helo       string
}

var _ notify.Provider = (*Provider)(nil)

// New returns a provider that sends through the SMTP server at host:port.
// WithFrom is required. Bad options get a *notify.ValidationError naming
// the option ("WithFrom") or the argument ("host", "port").
func New(host string, port int, opts ...Option) (*Provider, error) {
	c := config{name: "smtp", tlsMode: TLSMandatory, timeout: 30 * time.Second}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if c.helo == "" {
		c.helo = defaultHelo()
	}
	ck := validate.NewChecker(pkg)
	ck.Check(host != "" && !strings.ContainsAny(host, " \t\r\n/:") || isIPv6(host), "host", "must be a host name or IP address, got %q", host)
	ck.Check(port >= 1 && port <= 65535, "port", "must be between 1 and 65535, got %d", port)
	ck.Check(c.name != "" && !hasBreak(c.name), "WithName", "must be non-empty and on one line")
	ck.Check(c.timeout > 0, "WithTimeout", "must be positive, got %s", c.timeout)
	ck.Check(c.helo != "" && !strings.ContainsAny(c.helo, " \t\r\n"), "WithHelo", "must be a host name without spaces, got %q", c.helo)
	ck.Check(c.tlsMode >= TLSMandatory && c.tlsMode <= NoTLS, "WithTLS", "must be TLSMandatory, TLSOpportunistic, TLSImplicit or NoTLS, got %d", int(c.tlsMode))
	var from *mail.Address
	switch {
	case !c.fromSet:
		ck.Check(false, "WithFrom", "is required: the sender's address")
	case !isBareAddress(c.fromAddr):
		ck.Check(false, "WithFrom", "address must be a bare email address (name@example.com), got %q", c.fromAddr)
	case hasBreak(c.fromName):
		ck.Check(false, "WithFrom", "name must not contain CR, LF or NUL")
	default:
		from = &mail.Address{Name: c.fromName, Address: c.fromAddr}
	}
	if c.auth {
		ck.Check(c.user != "" && !hasBreak(c.user), "WithAuth", "username must be non-empty and on one line")
		ck.Check(c.pass != "", "WithAuth", "password must not be empty")
		ck.Check(c.tlsMode != NoTLS || isLoopback(host), "WithTLS",
			"NoTLS with WithAuth is allowed for a loopback host only: it would send the password in clear to %s", host)
	}
	if err := ck.Err(); err != nil {
		return nil, err
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.tlsConfig != nil {
		tc = c.tlsConfig.Clone()
	}
	if tc.ServerName == "" {
		tc.ServerName = host
	}
	return &Provider{
		name: c.name, host: host, port: port,
		from: from, fromDomain: c.fromAddr[strings.LastIndexByte(c.fromAddr, '@')+1:],
		user: c.user, pass: c.pass, auth: c.auth,
		tlsMode: c.tlsMode, tlsConfig: tc, timeout: c.timeout, helo: c.helo,
	}, nil
}

// Name returns the provider's name (WithName).
func (p *Provider) Name() string { return p.name }

// Channel returns notify.ChannelEmail.
func (p *Provider) Channel() notify.Channel { return notify.ChannelEmail }

// String describes the provider without its password (a value receiver,
// so that printing a dereferenced Provider does not show it either):
// smtp "smtp" relay.example.com:587 tls=mandatory auth=user from=bookings@example.com.
func (p Provider) String() string {
	auth := "none"
	if p.auth {
		auth = p.user
	}
	return fmt.Sprintf("smtp %q %s tls=%s auth=%s from=%s", p.name, net.JoinHostPort(p.host, strconv.Itoa(p.port)), p.tlsMode, auth, p.from.Address)
}

// GoString is String, so that %#v does not print the password either.
func (p Provider) GoString() string { return p.String() }

// Send sends m to m.To. It honours ctx: a cancelled or expired ctx closes
// the connection at once and Send returns a *notify.ProviderError wrapping
// ctx.Err().
func (p *Provider) Send(ctx context.Context, m *notify.Message) (notify.Result, error) {
	if m == nil {
		return notify.Result{}, errors.New("smtp: nil message")
	}
	msg, err := p.build(m)
	if err != nil {
		return notify.Result{}, err
	}
	if err := ctx.Err(); err != nil {
		return notify.Result{}, p.providerError(ctx, err, nil, m.To)
	}
	w := &watch{parent: ctx}
	defer w.close()
	client, err := p.client(w)
	if err != nil {
		return notify.Result{}, err
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		return notify.Result{}, p.classify(ctx, err, w, m.To)
	}
	return notify.Result{ExternalID: msg.GetMessageID()}, nil
}

// client returns a go-mail client for one send. go-mail clients keep per
// connection state (the AUTH exchange), so each send gets its own; building
// one costs a few allocations (see BenchmarkSend).
func (p *Provider) client(w *watch) (*gomail.Client, error) {
	policy := gomail.NoTLS
	switch p.tlsMode {
	case TLSMandatory:
		policy = gomail.TLSMandatory
	case TLSOpportunistic:
		policy = gomail.TLSOpportunistic
	}
	opts := []gomail.Option{
		gomail.WithPort(p.port),
		gomail.WithTimeout(p.timeout),
		gomail.WithHELO(p.helo),
		gomail.WithTLSPolicy(policy),
		gomail.WithTLSConfig(p.tlsConfig),
		gomail.WithDialContextFunc(p.dialer(w)),
		// A fresh connection needs neither a NOOP before the message nor
		// an RSET after it: two round trips saved per send.
		gomail.WithoutNoop(),
		gomail.WithoutRset(),
	}
	if p.auth {
		opts = append(opts, gomail.WithSMTPAuthCustom(&plainOrLogin{user: p.user, pass: p.pass, host: p.host}))
	}
	c, err := gomail.NewClient(p.host, opts...)
	if err != nil {
		return nil, fmt.Errorf("smtp: %w", err)
	}
	return c, nil
}

// dialer dials for one send: it records the connection in w, so that a
// cancelled ctx closes it and Send closes it whatever go-mail leaves open
// on its error paths, and it notes timeouts of reads and writes.
func (p *Provider) dialer(w *watch) gomail.DialContextFunc {
	addr := net.JoinHostPort(p.host, strconv.Itoa(p.port)) // go-mail's own joining breaks IPv6
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		raw, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		wc := &watchedConn{Conn: raw, w: w}
		if !w.attach(raw) {
			_ = raw.Close()
			return nil, w.parent.Err()
		}
		if p.tlsMode != TLSImplicit {
			return wc, nil
		}
		tc := tls.Client(wc, p.tlsConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, err
		}
		return tc, nil
	}
}

func defaultHelo() string {
	h, err := os.Hostname()
	if err != nil || h == "" || strings.ContainsAny(h, " \t\r\n") {
		return "localhost"
	}
	return h
}

func isIPv6(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.To4() == nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// hasBreak reports whether s contains CR, LF or NUL, which would end a
// header line (header injection) or be cut by servers.
func hasBreak(s string) bool { return strings.ContainsAny(s, "\r\n\x00") }

// isBareAddress reports whether s is an addr-spec alone (no display name,
// no spaces around it).
func isBareAddress(s string) bool {
	if s == "" || hasBreak(s) || len(s) > 254 {
		return false
	}
	a, err := mail.ParseAddress(s)
	return err == nil && a.Name == "" && a.Address == s
}
