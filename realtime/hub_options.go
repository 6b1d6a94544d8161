package realtime

import (
	"time"

	"golang.org/x/time/rate"

	"github.com/wedsync/integrations/internal/validate"
)

type hubOptions struct {
	sharedOptions
	auth           Authenticator
	authz          Authorizer
	broker         Broker
	sendQueue      int
	sendQueueBytes int
	writeTimeout   time.Duration
	blockedWrite   time.Duration // WithSlowConsumer
	overflow       int           // WithSlowConsumer
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

	clientPresenceKeys bool
	maxPresence        int
	presenceRate       rate.Limit
	presenceBurst      int
	maxConnPrincipal   int
	maxConnIP          int

	// perFrameWrites makes drains write each frame with its own system
	// call, as the hub did before batching (hub_batch.go): only the
	// benchmark sets it (internal/hubwriter), to compare the two writers
	// in one run.
	perFrameWrites bool

	hooks testHooks
}

// testHooks stop the hub at points its tests need to hold it at; they are
// set only by the tests (export_test.go) and nil otherwise.
type testHooks struct {
	// connRemoved runs on a closed socket's goroutine once Stats no longer
	// counts the socket.
	connRemoved func()
	// queued runs on the goroutine that queued a frame to a socket, once
	// the frame is queued and a writer may be writing it.
	queued func(data []byte)
	// draining runs on a writer draining a socket each time before it
	// takes the socket's queued frames.
	draining func()
	// wrote runs on a writer after each write to a socket, with the
	// frames it carried.
	wrote func(frames int)
}

func defaultHubOptions() hubOptions {
	return hubOptions{
		sharedOptions:  defaultSharedOptions(),
		authz:          SupplierAuthorizer{},
		sendQueue:      1024,
		sendQueueBytes: 8 << 20,
		writeTimeout:   10 * time.Second,
		blockedWrite:   time.Second,
		overflow:       4,
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

		maxPresence:      1000,
		presenceRate:     2,
		presenceBurst:    5,
		maxConnPrincipal: 20,
		maxConnIP:        200,
	}
}

// WithAuthenticator sets who turns tokens into principals. Required; the
// usual choice is NewJWTAuthenticator with the project's JWT secret or JWKS.
func WithAuthenticator(a Authenticator) Option { return hubOption(func(o *hubOptions) { o.auth = a }) }

// WithAuthorizer sets who decides which topics a principal may join and
// broadcast on. Defaults to SupplierAuthorizer{}: own supplier's topics only,
// no client broadcasts.
func WithAuthorizer(a Authorizer) Option { return hubOption(func(o *hubOptions) { o.authz = a }) }

// WithBroker sets the broker that carries broadcasts between hub instances
// and keeps history; when it is a PresenceBroker, it holds presence too,
// for every instance. Defaults to a MemoryBroker with its defaults (1,000
// per topic, one hour) and the hub's clock, closed with the hub. A broker
// passed here is not closed by Hub.Shutdown or Hub.Close: close it after
// the hub.
func WithBroker(b Broker) Option { return hubOption(func(o *hubOptions) { o.broker = b }) }

// WithSendBuffer bounds what may wait to be written to one connection: at
// most frames messages and bytes bytes. A connection over either bound
// whose write has been blocked for a second (it does not read fast
// enough), or over four times either bound in any case (WithSlowConsumer), is a slow
// consumer and is disconnected (close code 1008) so that it cannot stall
// the others or grow memory. A connection is behind at an eighth of either
// bound; while most of a topic's connections are behind, Hub.Broadcast
// waits (see there). Defaults to 1,024 messages and 8 MiB.
func WithSendBuffer(frames, bytes int) Option {
	return hubOption(func(o *hubOptions) { o.sendQueue, o.sendQueueBytes = frames, bytes })
}

// WithSlowConsumer sets when a connection over its send buffer
// (WithSendBuffer) is a slow consumer and is disconnected (close code
// 1008): when its write has been blocked for blockedFor (its socket
// buffers are full and stay full: the reader does not read fast enough),
// or, whatever its writes do, when its queue reaches overflow times the
// send buffer. Between the two, a queue past the buffer whose writes go
// through belongs to a reader that keeps up while the hub's writers lag (a
// publish storm, or a writer waiting for a CPU), and it is left to catch
// up while Hub.Broadcast holds publishers back. A longer blockedFor is
// kinder to readers on slow networks and holds their frames longer; an
// overflow of 1 cuts every connection whose queue passes its send buffer.
// blockedFor must be positive and overflow from 1 to 1,024. Defaults to
// 1s and 4.
func WithSlowConsumer(blockedFor time.Duration, overflow int) Option {
	return hubOption(func(o *hubOptions) { o.blockedWrite, o.overflow = blockedFor, overflow })
}

// WithWriteTimeout bounds one socket write: the frames queued for a socket
// go out together, up to 64 KiB (or one bigger frame) per write, and each
// such write must finish within d, or the socket is closed. Defaults to
// 10s.
func WithWriteTimeout(d time.Duration) Option {
	return hubOption(func(o *hubOptions) { o.writeTimeout = d })
}

// WithIdleTimeout closes a socket that sent nothing (not even a heartbeat)
// for this long. Defaults to 60s, as Supabase.
func WithIdleTimeout(d time.Duration) Option {
	return hubOption(func(o *hubOptions) { o.idleTimeout = d })
}

// WithSweepInterval sets how often the hub looks for idle sockets and
// expired tokens. Defaults to 1s.
func WithSweepInterval(d time.Duration) Option {
	return hubOption(func(o *hubOptions) { o.sweepEvery = d })
}

// WithMaxChannels caps the channels one connection may join. Defaults to 100.
func WithMaxChannels(n int) Option { return hubOption(func(o *hubOptions) { o.maxChannels = n }) }

// WithMaxFrameSize caps one incoming frame in bytes; a bigger one closes the
// socket (close code 1009). It also caps the payload of Hub.Broadcast.
// Defaults to 1 MiB.
func WithMaxFrameSize(n int64) Option { return hubOption(func(o *hubOptions) { o.maxFrame = n }) }

// WithJoinRate limits joins per connection. Defaults to 10/s with bursts of 20.
func WithJoinRate(perSecond float64, burst int) Option {
	return hubOption(func(o *hubOptions) { o.joinRate, o.joinBurst = rate.Limit(perSecond), burst })
}

// WithMessageRate limits the messages one connection sends (heartbeats
// included). Defaults to 100/s with bursts of 200.
func WithMessageRate(perSecond float64, burst int) Option {
	return hubOption(func(o *hubOptions) { o.msgRate, o.msgBurst = rate.Limit(perSecond), burst })
}

// WithConnectRate limits new sockets per client IP; over it the handshake
// gets 429. A client IP is the request's RemoteAddr: an IPv4 address (an
// IPv4-mapped IPv6 address counts as the IPv4 address it maps), or an IPv6
// address's /64 prefix, since one host commonly holds a whole /64. Defaults
// to 20/s with bursts of 100.
func WithConnectRate(perSecond float64, burst int) Option {
	return hubOption(func(o *hubOptions) { o.connRate, o.connBurst = rate.Limit(perSecond), burst })
}

// WithReplayLimit caps how many broadcasts one join may replay; a replay
// that would need more is reported incomplete. Defaults to 1,000.
func WithReplayLimit(n int) Option { return hubOption(func(o *hubOptions) { o.replayLimit = n }) }

// WithOriginPatterns lists the browser origins (host patterns, as
// websocket.AcceptOptions.OriginPatterns) allowed besides the hub's own
// host. Defaults to none: cross-origin browser sockets are refused.
func WithOriginPatterns(patterns ...string) Option {
	return hubOption(func(o *hubOptions) { o.originPatterns = patterns })
}

// WithClientPresenceKeys sets whether a join's config.presence.key is
// honoured. By default (false) it is ignored: a channel is tracked under
// its principal's key, the token's subject (Principal.Subject, or a hash
// of the token when it has none: every user of a shared token without a
// subject has one key), so that no socket can speak for another user's
// presence, and the sockets of one user share one key with one meta each
// (told apart by phx_ref), as Phoenix presence does per user.
// With true, a non-empty key from the client is used as sent (an empty one
// still gets the principal's key): only for hosts whose clients are
// trusted to name themselves. Defaults to false.
func WithClientPresenceKeys(allow bool) Option {
	return hubOption(func(o *hubOptions) { o.clientPresenceKeys = allow })
}

// WithMaxPresencePerTopic caps the presence metas (tracked channels) of
// one topic; a track that would add one more gets an error reply and is
// not fanned out (a channel that is tracked already may always update its
// meta). Each meta is at most 4 KiB and is sent to every joiner in
// presence_state, so the cap bounds that frame too. With a broker that
// shares presence (a PresenceBroker, such as pgbroker's) the cap counts
// the topic's metas on every instance, as this instance last read them:
// tracks made at once on several instances may pass it by a few; without
// one, the metas on this instance. Defaults to 1,000.
func WithMaxPresencePerTopic(n int) Option {
	return hubOption(func(o *hubOptions) { o.maxPresence = n })
}

// WithPresenceRate limits the presence tracks one connection sends, over
// all its channels: a track over the rate gets an error reply and is not
// fanned out. Every accepted track is sent to every channel on its topic,
// so this rate, times the sockets a principal may have open, times the
// channels on the topic, bounds the presence traffic one user can cause
// (a new socket starts with a full burst; docs/realtime.md works the
// bound out). Untracks are not limited (they fan out only what a track put
// there). Defaults to 2/s with bursts of 5.
func WithPresenceRate(perSecond float64, burst int) Option {
	return hubOption(func(o *hubOptions) { o.presenceRate, o.presenceBurst = rate.Limit(perSecond), burst })
}

// WithMaxConnectionsPerPrincipal caps the sockets one principal may have
// open on this hub at once; the principal is the subject (Principal.Subject,
// a JWT's sub claim) of the handshake's token (apikey or x-api-key), or the
// token itself (hashed) when it names none. A handshake over the cap gets
// HTTP 429 naming the limit. 0 means no cap. Defaults to 20.
//
// So every user of a shared token without a subject, such as a project's
// anon key, shares one budget of sockets (and, on joins that bring no token
// of their own, one presence key): issue per-user tokens, and connect with
// them.
func WithMaxConnectionsPerPrincipal(n int) Option {
	return hubOption(func(o *hubOptions) { o.maxConnPrincipal = n })
}

// WithMaxConnectionsPerIP caps the sockets one client IP may have open on
// this hub at once; a handshake over the cap gets HTTP 429 naming the
// limit. The client IP is the request's RemoteAddr: an IPv4 address (an
// IPv4-mapped IPv6 address counts as the IPv4 address it maps), or for
// IPv6 the address's /64 prefix, since one host commonly holds a whole /64
// and would otherwise have a cap per address (all the clients of one /64
// share the cap). Behind a reverse proxy every client has the proxy's
// address: raise the cap, or set 0, which means no cap. Defaults to 200.
func WithMaxConnectionsPerIP(n int) Option {
	return hubOption(func(o *hubOptions) { o.maxConnIP = n })
}

// validate reports every bad option at once.
func (o hubOptions) validate() error {
	c := validate.NewChecker(pkg)
	c.Check(o.auth != nil, "WithAuthenticator", "is required (e.g. NewJWTAuthenticator(WithHS256Secret(secret)))")
	c.Check(o.authz != nil, "WithAuthorizer", "must not be nil")
	o.sharedOptions.validate(c)
	c.Check(o.sendQueue >= 1 && o.sendQueueBytes >= 1, "WithSendBuffer", "needs at least 1 message and 1 byte, got %d and %d", o.sendQueue, o.sendQueueBytes)
	c.Check(o.writeTimeout > 0, "WithWriteTimeout", "must be positive, got %s", o.writeTimeout)
	c.Check(o.blockedWrite > 0, "WithSlowConsumer", "blockedFor must be positive, got %s", o.blockedWrite)
	c.Check(o.overflow >= 1 && o.overflow <= 1024, "WithSlowConsumer", "overflow must be between 1 and 1024, got %d", o.overflow)
	c.Check(o.idleTimeout > 0, "WithIdleTimeout", "must be positive, got %s", o.idleTimeout)
	c.Check(o.sweepEvery > 0, "WithSweepInterval", "must be positive, got %s", o.sweepEvery)
	c.Check(o.maxChannels >= 1, "WithMaxChannels", "must be at least 1, got %d", o.maxChannels)
	c.Check(o.maxFrame >= 1024, "WithMaxFrameSize", "must be at least 1024 bytes, got %d", o.maxFrame)
	c.Check(o.joinRate > 0 && o.joinBurst >= 1, "WithJoinRate", "needs a positive rate and burst, got %v/s and %d", float64(o.joinRate), o.joinBurst)
	c.Check(o.msgRate > 0 && o.msgBurst >= 1, "WithMessageRate", "needs a positive rate and burst, got %v/s and %d", float64(o.msgRate), o.msgBurst)
	c.Check(o.connRate > 0 && o.connBurst >= 1, "WithConnectRate", "needs a positive rate and burst, got %v/s and %d", float64(o.connRate), o.connBurst)
	c.Check(o.replayLimit >= 1, "WithReplayLimit", "must be at least 1, got %d", o.replayLimit)
	c.Check(o.maxPresence >= 1, "WithMaxPresencePerTopic", "must be at least 1, got %d", o.maxPresence)
	c.Check(o.presenceRate > 0 && o.presenceBurst >= 1, "WithPresenceRate", "needs a positive rate and burst, got %v/s and %d", float64(o.presenceRate), o.presenceBurst)
	c.Check(o.maxConnPrincipal >= 0, "WithMaxConnectionsPerPrincipal", "must be 0 (no cap) or more, got %d", o.maxConnPrincipal)
	c.Check(o.maxConnIP >= 0, "WithMaxConnectionsPerIP", "must be 0 (no cap) or more, got %d", o.maxConnIP)
	return c.Err()
}
