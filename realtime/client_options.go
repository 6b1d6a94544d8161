package realtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/coder/websocket"

	"github.com/jonboulle/clockwork"
)

// TokenSource returns a fresh access token and when it expires (zero means
// it does not expire). See WithTokenSource.
type TokenSource func(ctx context.Context) (token string, expiresAt time.Time, err error)

// ClientOption configures a Client built by NewClient.
type ClientOption func(*clientOptions)

type clientOptions struct {
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
	// DefaultClientHeartbeatInterval is how often the client sends a
	// heartbeat; Supabase drops a socket that is silent for about 60 s.
	DefaultClientHeartbeatInterval = 25 * time.Second
	// DefaultClientBackoffMin and DefaultClientBackoffMax bound the
	// reconnect delay.
	DefaultClientBackoffMin = time.Second
	DefaultClientBackoffMax = 30 * time.Second
	// DefaultClientReadLimit is the largest frame the client accepts.
	DefaultClientReadLimit = 1 << 20

	clientDialTimeout  = 30 * time.Second
	clientWriteTimeout = 10 * time.Second
)

func defaultClientOptions() clientOptions {
	return clientOptions{
		vsn:               VSN1,
		heartbeatInterval: DefaultClientHeartbeatInterval,
		backoffMin:        DefaultClientBackoffMin,
		backoffMax:        DefaultClientBackoffMax,
		logger:            slog.New(slog.NewTextHandler(io.Discard, nil)),
		clock:             clockwork.NewRealClock(),
		readLimit:         DefaultClientReadLimit,
	}
}

func (o clientOptions) validate() error {
	var errs []error
	if o.vsn != VSN1 && o.vsn != VSN2 {
		errs = append(errs, fmt.Errorf("realtime: WithVSN: %q is not %q or %q", o.vsn, VSN1, VSN2))
	}
	if o.heartbeatInterval <= 0 {
		errs = append(errs, fmt.Errorf("realtime: WithHeartbeatInterval: %s must be positive", o.heartbeatInterval))
	}
	if o.backoffMin < 0 || o.backoffMax < o.backoffMin {
		errs = append(errs, fmt.Errorf("realtime: WithReconnectBackoff: need 0 <= min (%s) <= max (%s)", o.backoffMin, o.backoffMax))
	}
	if o.readLimit <= 0 {
		errs = append(errs, fmt.Errorf("realtime: WithReadLimit: %d must be positive", o.readLimit))
	}
	if o.logger == nil {
		errs = append(errs, errors.New("realtime: WithLogger: logger must not be nil"))
	}
	if o.clock == nil {
		errs = append(errs, errors.New("realtime: WithClock: clock must not be nil"))
	}
	return errors.Join(errs...)
}

// WithAPIKey sets the project API key, sent as the apikey query parameter.
// It is also the default access token. Defaults to none.
func WithAPIKey(key string) ClientOption { return func(o *clientOptions) { o.apiKey = key } }

// WithAccessToken sets the JWT sent as access_token when joining channels.
// Defaults to the API key.
func WithAccessToken(token string) ClientOption {
	return func(o *clientOptions) { o.accessToken = token }
}

// WithTokenSource sets a function that returns a fresh access token. The
// client calls it before each connection attempt and again when 80% of the
// token's remaining life has passed, then sends the new token on every
// joined channel. When it fails before a connection attempt and the current
// token has expired, the attempt is retried with backoff. It takes
// precedence over WithAccessToken. Defaults to none.
func WithTokenSource(src func(ctx context.Context) (token string, expiresAt time.Time, err error)) ClientOption {
	return func(o *clientOptions) { o.tokenSource = src }
}

// WithVSN chooses the serializer: VSN1 (JSON objects) or VSN2 (JSON arrays,
// broadcasts sent as kind 3 binary frames and received as kind 4). Defaults
// to VSN1.
func WithVSN(vsn string) ClientOption { return func(o *clientOptions) { o.vsn = vsn } }

// WithHeartbeatInterval sets how often a heartbeat is sent. A heartbeat
// still unanswered when the next one is due closes the socket and the client
// reconnects. Defaults to 25s.
func WithHeartbeatInterval(d time.Duration) ClientOption {
	return func(o *clientOptions) { o.heartbeatInterval = d }
}

// WithReconnectBackoff bounds the delay before reconnecting and before
// rejoining an errored channel: exponential from min, capped at max, with
// full jitter. Defaults to 1s and 30s.
func WithReconnectBackoff(min, max time.Duration) ClientOption {
	return func(o *clientOptions) { o.backoffMin, o.backoffMax = min, max }
}

// WithDialOptions sets the options passed to websocket.Dial (HTTP client,
// headers, compression). Defaults to nil.
func WithDialOptions(opts *websocket.DialOptions) ClientOption {
	return func(o *clientOptions) { o.dialOptions = opts }
}

// WithLogger sets the logger. Tokens are never logged. Defaults to a logger
// that discards everything.
func WithLogger(l *slog.Logger) ClientOption { return func(o *clientOptions) { o.logger = l } }

// WithClock sets the clock that drives heartbeats, backoff and token
// refresh. Defaults to the wall clock.
func WithClock(c clockwork.Clock) ClientOption { return func(o *clientOptions) { o.clock = c } }

// WithReadLimit sets the largest frame, in bytes, the client accepts; a
// larger one closes the socket. Defaults to 1 MiB.
func WithReadLimit(n int64) ClientOption { return func(o *clientOptions) { o.readLimit = n } }

// WithOnStateChange sets a function called with each new connection state,
// on the client's handler goroutine. Defaults to none.
func WithOnStateChange(fn func(ConnState)) ClientOption {
	return func(o *clientOptions) { o.onStateChange = fn }
}

// WithOnResync sets a function called after every reconnect (never after
// the first connect) once every channel's rejoin has been answered, on the
// client's handler goroutine. Supabase replays nothing that was sent while
// the socket was down, so the host reloads what it shows from its database
// here. The context ends when the client is closed. Defaults to none.
func WithOnResync(fn func(ctx context.Context)) ClientOption {
	return func(o *clientOptions) { o.onResync = fn }
}

// WithOnError sets a function called with errors the client recovers from:
// malformed frames (wrapping ErrFrame), unexpected replies, failed dials,
// heartbeat timeouts, refused rejoins, token source failures and handler
// panics. It runs on the client's handler goroutine. Defaults to none.
func WithOnError(fn func(error)) ClientOption { return func(o *clientOptions) { o.onError = fn } }
