package smtptest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/mail"
	"strconv"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Message is one message the server accepted.
type Message struct {
	// From is the envelope sender (MAIL FROM).
	From string
	// To lists the envelope recipients (RCPT TO) the server accepted.
	To []string
	// Data is the message as it came, headers and body, with CRLF line
	// ends.
	Data []byte
	// Header is Data's header, parsed with net/mail (values are as sent:
	// decode RFC 2047 words with mime.WordDecoder, or use Parse).
	Header mail.Header
	// Username is the user the client authenticated as ("" without AUTH).
	Username string
	// TLS says whether the session was encrypted (STARTTLS or implicit).
	TLS bool
	// Helo is the name the client gave in EHLO.
	Helo string
	// ReceivedAt is when the server accepted the message.
	ReceivedAt time.Time
}

// Common replies for WithRejectRecipient and FailWith.
var (
	// ErrUserUnknown is a permanent refusal of a mailbox (550 5.1.1).
	ErrUserUnknown = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
	// ErrTemporary is a temporary failure (451 4.3.0), which a client
	// retries later.
	ErrTemporary = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary local problem, try again later"}
	// ErrRelayDenied is a permanent policy refusal (550 5.7.1).
	ErrRelayDenied = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Relaying denied"}
)

var errAuthRequired = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}

// Option configures a Server.
type Option func(*config)

type config struct {
	addr       string
	user, pass string
	auth       bool
	reject     func(addr string) *smtp.SMTPError
	inbox      int
	maxBytes   int64
	startTLS   bool
	implicit   bool
	domain     string
	errorLog   *log.Logger
}

// WithAddr sets the address to listen on (default "127.0.0.1:0": a free
// port on loopback). A demo that prints its address may want a fixed one.
func WithAddr(addr string) Option { return func(c *config) { c.addr = addr } }

// WithAuth makes the server offer AUTH PLAIN and refuse MAIL FROM (530
// 5.7.0) before a client authenticated as username with password; a wrong
// password gets 535 5.7.8 (default: no AUTH offered, every client may
// send). Over a connection without TLS the server allows AUTH anyway, as
// loopback tests need.
func WithAuth(username, password string) Option {
	return func(c *config) { c.user, c.pass, c.auth = username, password, true }
}

// WithRejectRecipient makes the server answer RCPT TO for the addresses fn
// returns an error for with that error (ErrUserUnknown, ErrTemporary, or
// any code); a nil error accepts the recipient (default: every recipient
// is accepted). fn is called from the server's connection goroutines.
func WithRejectRecipient(fn func(addr string) *smtp.SMTPError) Option {
	return func(c *config) { c.reject = fn }
}

// WithInboxSize sets how many messages the inbox keeps: the oldest go
// when it is full (default 1000).
func WithInboxSize(n int) Option { return func(c *config) { c.inbox = n } }

// WithMaxMessageBytes sets the largest message the server accepts; larger
// ones get 552 (default 10 MiB).
func WithMaxMessageBytes(n int64) Option { return func(c *config) { c.maxBytes = n } }

// WithStartTLS makes the server offer STARTTLS with a self-signed
// certificate for 127.0.0.1, ::1 and localhost, made at Start (default: no
// TLS). Clients trust it through RootCAs.
func WithStartTLS() Option { return func(c *config) { c.startTLS = true } }

// WithImplicitTLS makes the server speak TLS from the first byte, as on
// port 465, with the certificate of WithStartTLS (default: no TLS).
func WithImplicitTLS() Option { return func(c *config) { c.implicit = true } }

// WithDomain sets the name the server gives in its greeting (default
// "smtptest.local").
func WithDomain(name string) Option { return func(c *config) { c.domain = name } }

// WithErrorLog sets where go-smtp logs connection errors (default:
// nowhere).
func WithErrorLog(l *log.Logger) Option { return func(c *config) { c.errorLog = l } }

// Server is a running SMTP server. Its methods are safe for concurrent
// use.
type Server struct {
	cfg      config
	srv      *smtp.Server
	ln       net.Listener
	roots    *x509.CertPool
	served   chan struct{}
	tracker  *trackingListener
	closing  sync.Once
	closeErr error

	mu       sync.Mutex
	inbox    []Message
	arrived  chan struct{} // closed and replaced when a message arrives
	failWith *smtp.SMTPError
}

// Start starts a server; Close stops it.
func Start(opts ...Option) (*Server, error) {
	c := config{addr: "127.0.0.1:0", inbox: 1000, maxBytes: 10 << 20, domain: "smtptest.local",
		errorLog: log.New(io.Discard, "", 0)}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	switch {
	case c.inbox < 1:
		return nil, fmt.Errorf("smtptest: WithInboxSize: must be at least 1, got %d", c.inbox)
	case c.maxBytes < 1:
		return nil, fmt.Errorf("smtptest: WithMaxMessageBytes: must be positive, got %d", c.maxBytes)
	case c.auth && (c.user == "" || c.pass == ""):
		return nil, errors.New("smtptest: WithAuth: username and password must not be empty")
	case c.errorLog == nil:
		return nil, errors.New("smtptest: WithErrorLog: must not be nil")
	}
	s := &Server{cfg: c, served: make(chan struct{}), arrived: make(chan struct{})}
	var tlsConfig *tls.Config
	if c.startTLS || c.implicit {
		cert, roots, err := selfSigned()
		if err != nil {
			return nil, fmt.Errorf("smtptest: making a certificate: %w", err)
		}
		s.roots = roots
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return nil, fmt.Errorf("smtptest: %w", err)
	}
	s.ln = ln
	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Domain = c.domain
	srv.MaxMessageBytes = c.maxBytes
	srv.MaxRecipients = 100
	srv.AllowInsecureAuth = true
	srv.ErrorLog = c.errorLog
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	if c.startTLS {
		srv.TLSConfig = tlsConfig
	}
	s.srv = srv
	s.tracker = &trackingListener{Listener: ln, conns: make(map[*trackedConn]struct{})}
	var l net.Listener = s.tracker
	if c.implicit {
		l = tls.NewListener(l, tlsConfig)
	}
	go func() {
		defer close(s.served)
		_ = srv.Serve(l)
	}()
	return s, nil
}

// Addr returns the address the server listens on ("127.0.0.1:port").
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Host returns the host part of Addr ("127.0.0.1").
func (s *Server) Host() string {
	h, _, _ := net.SplitHostPort(s.Addr())
	return h
}

// Port returns the port part of Addr.
func (s *Server) Port() int {
	_, p, _ := net.SplitHostPort(s.Addr())
	n, _ := strconv.Atoi(p)
	return n
}

// RootCAs returns a pool holding the server's certificate, for a client's
// tls.Config (nil without WithStartTLS or WithImplicitTLS).
func (s *Server) RootCAs() *x509.CertPool { return s.roots }

// Messages returns a copy of the inbox, oldest first.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return cloneMessages(s.inbox)
}

// Count returns how many messages the inbox holds.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.inbox)
}

// Wait blocks until the inbox holds at least n messages, or ctx ends, and
// returns the n oldest. n must not exceed the inbox size.
func (s *Server) Wait(ctx context.Context, n int) ([]Message, error) {
	if n > s.cfg.inbox {
		return nil, fmt.Errorf("smtptest: Wait(%d): the inbox keeps only %d messages (WithInboxSize)", n, s.cfg.inbox)
	}
	for {
		s.mu.Lock()
		if len(s.inbox) >= n {
			out := cloneMessages(s.inbox[:n])
			s.mu.Unlock()
			return out, nil
		}
		ch, have := s.arrived, len(s.inbox)
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("smtptest: waited for %d messages, have %d: %w", n, have, ctx.Err())
		case <-ch:
		}
	}
}

// Reset empties the inbox and clears FailWith.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inbox = nil
	s.failWith = nil
}

// FailWith makes the server answer every MAIL FROM with e until it is
// called with nil: ErrTemporary for a relay that is down for a while,
// say. A failover test flips it while the notifier runs.
func (s *Server) FailWith(e *smtp.SMTPError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failWith = e
}

// Close stops the server: it closes the listener and every connection and
// returns once their goroutines have finished. Later calls return the
// first call's result.
func (s *Server) Close() error {
	s.closing.Do(func() {
		err := s.srv.Close()
		// go-smtp learns of the listener when its Serve goroutine starts:
		// a Close that comes first would leave it accepting forever.
		if lerr := s.ln.Close(); err == nil && !errors.Is(lerr, net.ErrClosed) {
			err = lerr
		}
		<-s.served
		// A connection accepted just before the listener closed may not be
		// in go-smtp's list yet: close it here, then wait for every
		// connection goroutine to let go of its connection.
		s.tracker.closeAll()
		if err != nil && !errors.Is(err, net.ErrClosed) {
			s.closeErr = fmt.Errorf("smtptest: %w", err)
		}
	})
	return s.closeErr
}

func (s *Server) deliver(m Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.inbox) >= s.cfg.inbox {
		drop := len(s.inbox) - s.cfg.inbox + 1
		s.inbox = append(s.inbox[:0:0], s.inbox[drop:]...)
	}
	s.inbox = append(s.inbox, m)
	close(s.arrived)
	s.arrived = make(chan struct{})
}

func (s *Server) failure() *smtp.SMTPError {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failWith
}

func cloneMessages(in []Message) []Message {
	out := make([]Message, len(in))
	copy(out, in)
	return out
}

// session is one SMTP transaction's state.
type session struct {
	s        *Server
	conn     *smtp.Conn
	username string
	from     string
	to       []string
}

var _ smtp.AuthSession = (*session)(nil)

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{s: s, conn: c}, nil
}

func (ss *session) AuthMechanisms() []string {
	if !ss.s.cfg.auth {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if !ss.s.cfg.auth || mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if (identity != "" && identity != username) || username != ss.s.cfg.user || password != ss.s.cfg.pass {
			return smtp.ErrAuthFailed
		}
		ss.username = username
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.cfg.auth && ss.username == "" {
		return errAuthRequired
	}
	if e := ss.s.failure(); e != nil {
		return e
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if fn := ss.s.cfg.reject; fn != nil {
		if e := fn(to); e != nil {
			return e
		}
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m := Message{
		From: ss.from, To: append([]string(nil), ss.to...), Data: data,
		Username: ss.username, Helo: ss.conn.Hostname(), ReceivedAt: time.Now(),
	}
	_, m.TLS = ss.conn.TLSConnectionState()
	if parsed, err := mail.ReadMessage(bytes.NewReader(data)); err == nil {
		m.Header = parsed.Header
	}
	ss.s.deliver(m)
	return nil
}

func (ss *session) Reset() {
	ss.from = ""
	ss.to = nil
}

func (ss *session) Logout() error { return nil }

// trackingListener keeps the connections it accepted until they close, so
// that Close can close any that go-smtp had not registered yet and wait for
// the server's connection goroutines.
type trackingListener struct {
	net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[*trackedConn]struct{}
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, l: l}
	l.mu.Lock()
	l.conns[tc] = struct{}{}
	l.mu.Unlock()
	l.wg.Add(1)
	return tc, nil
}

// closeAll closes every connection still open and waits until their
// goroutines have closed them too.
func (l *trackingListener) closeAll() {
	l.mu.Lock()
	open := make([]*trackedConn, 0, len(l.conns))
	for c := range l.conns {
		open = append(open, c)
	}
	l.mu.Unlock()
	for _, c := range open {
		_ = c.Conn.Close()
	}
	l.wg.Wait()
}

type trackedConn struct {
	net.Conn
	l    *trackingListener
	once sync.Once
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
		c.l.wg.Done()
	})
	return err
}
