package realtime

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/time/rate"

	"github.com/jonboulle/clockwork"
)

// Option configures a Hub.
type Option func(*hubOptions)

type hubOptions struct {
	auth           Authenticator
	authz          Authorizer
	broker         Broker
	clock          clockwork.Clock
	logger         *slog.Logger
	sendQueue      int
	sendQueueBytes int
	writeTimeout   time.Duration
	idleTimeout    time.Duration
	sweepEvery     time.Duration
	maxChannels    int
	maxFrame       int64
	joinRate       rate.Limit
	joinBurst      int
	msgRate        rate.Limit
	msgBurst       int
	connRate       rate.Limit
	connBurst      int
	replayLimit    int
	originPatterns []string
}

func defaultHubOptions() hubOptions {
	return hubOptions{
		authz:          SupplierAuthorizer{},
		clock:          clockwork.NewRealClock(),
		logger:         slog.New(slog.DiscardHandler),
		sendQueue:      1024,
		sendQueueBytes: 8 << 20,
		writeTimeout:   10 * time.Second,
		idleTimeout:    60 * time.Second,
		sweepEvery:     time.Second,
		maxChannels:    100,
		maxFrame:       1 << 20,
		joinRate:       10,
		joinBurst:      20,
		msgRate:        100,
		msgBurst:       200,
		connRate:       20,
		connBurst:      100,
		replayLimit:    1000,
	}
}

// WithAuthenticator sets who turns tokens into principals. Required; the
// usual choice is NewJWTAuthenticator with the project's JWT secret or JWKS.
func WithAuthenticator(a Authenticator) Option { return func(o *hubOptions) { o.auth = a } }

// WithAuthorizer sets who decides which topics a principal may join and
// broadcast on. Defaults to SupplierAuthorizer{}: own supplier's topics only,
// no client broadcasts.
func WithAuthorizer(a Authorizer) Option { return func(o *hubOptions) { o.authz = a } }

// WithBroker sets the broker that carries broadcasts between hub instances
// and keeps history. Defaults to a MemoryBroker with its defaults (1,000
// per topic, one hour), closed with the hub. A broker passed here is not
// closed by Hub.Close.
func WithBroker(b Broker) Option { return func(o *hubOptions) { o.broker = b } }

// WithHubClock sets the clock for idle and token-expiry checks. Defaults to the
// wall clock.
func WithHubClock(c clockwork.Clock) Option { return func(o *hubOptions) { o.clock = c } }

// WithHubLogger sets the logger. Defaults to discarding. Tokens and payloads
// are never logged.
func WithHubLogger(l *slog.Logger) Option { return func(o *hubOptions) { o.logger = l } }

// WithSendBuffer bounds what may wait to be written to one connection: at
// most frames messages and bytes bytes. A connection over either bound is a
// slow consumer and is disconnected (close code 1008) so that it cannot
// stall the others or grow memory. Defaults to 1,024 messages and 8 MiB.
func WithSendBuffer(frames, bytes int) Option {
	return func(o *hubOptions) { o.sendQueue, o.sendQueueBytes = frames, bytes }
}

// WithWriteTimeout bounds one socket write. Defaults to 10s.
func WithWriteTimeout(d time.Duration) Option { return func(o *hubOptions) { o.writeTimeout = d } }

// WithIdleTimeout closes a socket that sent nothing (not even a heartbeat)
// for this long. Defaults to 60s, as Supabase.
func WithIdleTimeout(d time.Duration) Option { return func(o *hubOptions) { o.idleTimeout = d } }

// WithSweepInterval sets how often the hub looks for idle sockets and
// expired tokens. Defaults to 1s.
func WithSweepInterval(d time.Duration) Option { return func(o *hubOptions) { o.sweepEvery = d } }

// WithMaxChannels caps the channels one connection may join. Defaults to 100.
func WithMaxChannels(n int) Option { return func(o *hubOptions) { o.maxChannels = n } }

// WithMaxFrameSize caps one incoming frame in bytes; a bigger one closes the
// socket (close code 1009). Defaults to 1 MiB.
func WithMaxFrameSize(n int64) Option { return func(o *hubOptions) { o.maxFrame = n } }

// WithJoinRate limits joins per connection. Defaults to 10/s with bursts of 20.
func WithJoinRate(perSecond float64, burst int) Option {
	return func(o *hubOptions) { o.joinRate, o.joinBurst = rate.Limit(perSecond), burst }
}

// WithMessageRate limits the messages one connection sends (heartbeats
// included). Defaults to 100/s with bursts of 200.
func WithMessageRate(perSecond float64, burst int) Option {
	return func(o *hubOptions) { o.msgRate, o.msgBurst = rate.Limit(perSecond), burst }
}

// WithConnectRate limits new sockets per client IP; over it the handshake
// gets 429. Defaults to 20/s with bursts of 100.
func WithConnectRate(perSecond float64, burst int) Option {
	return func(o *hubOptions) { o.connRate, o.connBurst = rate.Limit(perSecond), burst }
}

// WithReplayLimit caps how many broadcasts one join may replay; a replay
// that would need more is reported incomplete. Defaults to 1,000.
func WithReplayLimit(n int) Option { return func(o *hubOptions) { o.replayLimit = n } }

// WithOriginPatterns lists the browser origins (host patterns, as
// websocket.AcceptOptions.OriginPatterns) allowed besides the hub's own
// host. Defaults to none: cross-origin browser sockets are refused.
func WithOriginPatterns(patterns ...string) Option {
	return func(o *hubOptions) { o.originPatterns = patterns }
}

func (o hubOptions) validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf("realtime: "+format, args...))
		}
	}
	check(o.auth != nil, "WithAuthenticator is required (e.g. NewJWTAuthenticator(WithHS256Secret(secret)))")
	check(o.authz != nil, "WithAuthorizer must not be nil")
	check(o.clock != nil, "WithHubClock must not be nil")
	check(o.logger != nil, "WithHubLogger must not be nil")
	check(o.sendQueue >= 1 && o.sendQueueBytes >= 1, "WithSendBuffer needs at least 1 message and 1 byte")
	check(o.writeTimeout > 0, "WithWriteTimeout must be positive")
	check(o.idleTimeout > 0, "WithIdleTimeout must be positive")
	check(o.sweepEvery > 0, "WithSweepInterval must be positive")
	check(o.maxChannels >= 1, "WithMaxChannels must be at least 1")
	check(o.maxFrame >= 1024, "WithMaxFrameSize must be at least 1024 bytes")
	check(o.joinRate > 0 && o.joinBurst >= 1, "WithJoinRate needs a positive rate and burst")
	check(o.msgRate > 0 && o.msgBurst >= 1, "WithMessageRate needs a positive rate and burst")
	check(o.connRate > 0 && o.connBurst >= 1, "WithConnectRate needs a positive rate and burst")
	check(o.replayLimit >= 1, "WithReplayLimit must be at least 1")
	return errors.Join(errs...)
}
