package client

import (
	"context"
	"log/slog"
	"time"

	"github.com/coder/websocket"
	"github.com/jonboulle/clockwork"

	"github.com/wedsync/integrations/internal/validate"
	"github.com/wedsync/integrations/realtime/protocol"
)

// TokenSource returns a fresh access token and when it expires (zero means
// it does not expire). See WithTokenSource.
type TokenSource func(ctx context.Context) (token string, expiresAt time.Time, err error)

// Option configures a Client built by New. Each option's comment states its
// default; New reports every bad option at once, as a *ValidationError.
type Option func(*options)

type options struct {
	apiKey            string
	accessToken       string
	tokenSource       TokenSource
	vsn               string
	heartbeatInterval time.Duration
	backoffMin        time.Duration
	backoffMax        time.Duration
	dialOptions       *websocket.DialOptions
	logger            *slog.Logger
	clock             clockwork.Clock
	readLimit         int64
	onStateChange     func(ConnState)
	onResync          func(ctx context.Context)
	onError           func(error)
}

// Client defaults.
const (
	// DefaultHeartbeatInterval is how often the client sends a heartbeat;
	// Supabase drops a socket that is silent for about 60 s.
	DefaultHeartbeatInterval = 25 * time.Second
	// DefaultBackoffMin and DefaultBackoffMax bound the reconnect delay.
	DefaultBackoffMin = time.Second
	DefaultBackoffMax = 30 * time.Second
	// DefaultReadLimit is the largest frame the client accepts.
	DefaultReadLimit = 1 << 20

	dialTimeout  = 30 * time.Second
	writeTimeout = 10 * time.Second
	// closeTimeout bounds how long Close waits for the server to answer
	// its close frame.
	closeTimeout = time.Second
)

func defaultOptions() options {
	return options{
		vsn:               protocol.VSN1,
		heartbeatInterval: DefaultHeartbeatInterval,
		backoffMin:        DefaultBackoffMin,
		backoffMax:        DefaultBackoffMax,
		logger:            slog.New(slog.DiscardHandler),
		clock:             clockwork.NewRealClock(),
		readLimit:         DefaultReadLimit,
	}
}

// validate reports every bad option at once, each as a *ValidationError.
func (o options) validate() error {
	c := validate.NewChecker(pkg)
	c.Check(o.vsn == protocol.VSN1 || o.vsn == protocol.VSN2, "WithVSN", "must be %q or %q, got %q", protocol.VSN1, protocol.VSN2, o.vsn)
	c.Check(o.heartbeatInterval > 0, "WithHeartbeatInterval", "must be positive, got %s", o.heartbeatInterval)
	c.Check(o.backoffMin >= 0 && o.backoffMax >= o.backoffMin, "WithReconnectBackoff", "needs 0 <= min <= max, got min %s and max %s", o.backoffMin, o.backoffMax)
	c.Check(o.readLimit > 0, "WithReadLimit", "must be positive, got %d", o.readLimit)
	c.Check(o.logger != nil, "WithLogger", "must not be nil")
	c.Check(o.clock != nil, "WithClock", "must not be nil")
	return c.Err()
}

// WithAPIKey sets the project API key, sent as the apikey query parameter.
// It is also the default access token. Defaults to none.
func WithAPIKey(key string) Option { return func(o *options) { o.apiKey = key } }

// WithAccessToken sets the JWT sent as access_token when joining channels.
// Defaults to the API key.
func WithAccessToken(token string) Option {
	return func(o *options) { o.accessToken = token }
}

// WithTokenSource sets a function that returns a fresh access token. The
// client calls it before each connection attempt and again when 80% of the
// token's remaining life has passed, then sends the new token on every
// joined channel. When it fails before a connection attempt and the current
// token has expired, the attempt is retried with backoff. It takes
// precedence over WithAccessToken. Defaults to none.
func WithTokenSource(src TokenSource) Option {
	return func(o *options) { o.tokenSource = src }
}

// WithVSN chooses the serializer: protocol.VSN1 (JSON objects) or
// protocol.VSN2 (JSON arrays, broadcasts sent as kind 3 binary frames and
// received as kind 4). Defaults to protocol.VSN1, as Supabase assumes when
// vsn is absent.
func WithVSN(vsn string) Option { return func(o *options) { o.vsn = vsn } }

// WithHeartbeatInterval sets how often a heartbeat is sent. A heartbeat
// still unanswered when the next one is due closes the socket and the client
// reconnects. Defaults to 25s.
func WithHeartbeatInterval(d time.Duration) Option {
	return func(o *options) { o.heartbeatInterval = d }
}

// WithReconnectBackoff bounds the delay before reconnecting and before
// rejoining an errored channel: exponential from min, capped at max, with
// full jitter. Defaults to 1s and 30s. The reconnect delay starts again
// at min after a session the server answered; one it closed before
// answering anything keeps growing the delay.
func WithReconnectBackoff(min, max time.Duration) Option {
	return func(o *options) { o.backoffMin, o.backoffMax = min, max }
}

// WithDialOptions sets the options passed to websocket.Dial (HTTP client,
// headers, compression). Defaults to nil: coder/websocket's defaults. When
// the HTTP client's transport is not an *http.Transport, Close may wait
// up to coder/websocket's own 5 s for a server that does not answer the
// close frame, rather than a second.
func WithDialOptions(opts *websocket.DialOptions) Option {
	return func(o *options) { o.dialOptions = opts }
}

// WithLogger sets the logger. Tokens are never logged. Defaults to a logger
// that discards everything.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithClock sets the clock that drives heartbeats, backoff and token
// refresh. Defaults to the wall clock.
func WithClock(c clockwork.Clock) Option { return func(o *options) { o.clock = c } }

// WithReadLimit sets the largest frame, in bytes, the client accepts; a
// larger one closes the socket. Defaults to 1 MiB.
func WithReadLimit(n int64) Option { return func(o *options) { o.readLimit = n } }

// WithOnStateChange sets a function called with each new connection state,
// on the client's handler goroutine. Defaults to none.
func WithOnStateChange(fn func(ConnState)) Option {
	return func(o *options) { o.onStateChange = fn }
}

// WithOnResync sets a function called after every reconnect (never after
// the first connect) once every channel's rejoin has been answered, on the
// client's handler goroutine. Supabase replays nothing that was sent while
// the socket was down, so the host reloads what it shows from its database
// here. The context ends when the client is closed. Defaults to none.
func WithOnResync(fn func(ctx context.Context)) Option {
	return func(o *options) { o.onResync = fn }
}

// WithOnError sets a function called with errors the client recovers from:
// malformed frames (wrapping protocol.ErrFrame), unexpected replies, failed dials,
// heartbeat timeouts, refused rejoins, token source failures and handler
// panics. It runs on the client's handler goroutine. Defaults to none.
func WithOnError(fn func(error)) Option { return func(o *options) { o.onError = fn } }
