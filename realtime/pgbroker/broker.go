package pgbroker

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jonboulle/clockwork"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/wedsync/integrations/internal/backoff"
	"github.com/wedsync/integrations/internal/loop"
	"github.com/wedsync/integrations/internal/migrate"
	"github.com/wedsync/integrations/internal/pglisten"
	"github.com/wedsync/integrations/internal/validate"
	"github.com/wedsync/integrations/realtime"
)

//go:embed migrations/*.sql
var migrations embed.FS

// component names this package's migrations in wedsync_migrations.
const component = "realtime"

// ApplicationName is the application_name of the LISTEN connection, so that
// an operator can find it in pg_stat_activity.
const ApplicationName = "wedsync-realtime-listen"

// maxNames caps topic, event and origin together (the topic travels in the
// notification, which Postgres caps below 8000 bytes).
const maxNames = 4096

// pkg names this package in validation errors.
const pkg = "pgbroker"

// ErrInvalid is matched (errors.Is) by every error that reports bad input:
// an option of Migrate or New, a nil pool, names too long to publish.
var ErrInvalid = validate.ErrInvalid

// ValidationError names the field (an option such as "WithSchema") and the
// rule it broke. Its message is "pgbroker: <field>: <rule>"; it matches
// ErrInvalid. Get it with errors.As; its fields are Package, Field and Rule. New reports every bad option at once.
type ValidationError = validate.Error

// ErrNotMigrated is returned by New when the broker's tables are missing
// from the schema: call Migrate first (once, at deploy or start-up).
var ErrNotMigrated = errors.New("pgbroker: schema not migrated, call pgbroker.Migrate first")

// ErrPublishOutcomeUnknown is matched (errors.Is) by a Publish error that
// cannot say whether the publication was published: the caller gave up
// (the error also wraps its ctx.Err()) after the publication's transaction
// had started, or the transaction was cut off (Close, WithWriteTimeout, a
// lost connection) before the database answered. The publication may
// commit, with its offset, and reach every hub; or not. Retrying may
// publish it twice. It is realtime.ErrPublishOutcomeUnknown, so errors
// from Hub.Broadcast match it too.
var ErrPublishOutcomeUnknown = realtime.ErrPublishOutcomeUnknown

var _ realtime.Broker = (*Broker)(nil)

// Option configures Migrate and New.
type Option func(*options)

type options struct {
	schema          string
	historySize     int
	historyTTL      time.Duration
	clock           clockwork.Clock
	logger          *slog.Logger
	channel         string
	backoffMin      time.Duration
	backoffMax      time.Duration
	trimInterval    time.Duration
	trimIntervalSet bool
	meterProvider   metric.MeterProvider
	tracerProvider  trace.TracerProvider
	presenceTTL     time.Duration
	deliverHook     func(n int) // tests: told each batch's size before it is read
	writeTimeout    time.Duration
	hooks           hooks
}

// hooks let tests see the group commit at work (export_test.go).
type hooks struct {
	queued func(topic string, pending int) // a publish joined the queue of a topic whose leader runs (under the broker's lock)
	batch  func(topic string, size int)    // a transaction of size publishes starts
}

func defaultOptions() options {
	return options{
		schema:       migrate.DefaultSchema,
		historySize:  1000,
		historyTTL:   time.Hour,
		clock:        clockwork.NewRealClock(),
		logger:       slog.New(slog.DiscardHandler),
		channel:      "wedsync_realtime",
		backoffMin:   100 * time.Millisecond,
		backoffMax:   5 * time.Second,
		presenceTTL:  defaultPresenceTTL,
		writeTimeout: 30 * time.Second,
	}
}

// withDeliverHook has fn told the size of each batch of notified
// publications before it is read back (tests).
func withDeliverHook(fn func(n int)) Option { return func(o *options) { o.deliverHook = fn } }

// WithSchema names the Postgres schema of the broker's tables. Defaults to
// "wedsync".
func WithSchema(s string) Option { return func(o *options) { o.schema = s } }

// WithHistorySize caps how many publications each topic keeps for replay.
// Defaults to 1000.
func WithHistorySize(n int) Option { return func(o *options) { o.historySize = n } }

// WithHistoryTTL caps how long a publication stays in history. Defaults to
// one hour.
func WithHistoryTTL(d time.Duration) Option { return func(o *options) { o.historyTTL = d } }

// WithClock sets the clock that ages history (TTL trimming and the trim
// sweep's timer). Publication times come from the database's
// clock_timestamp(), not from this clock. Defaults to the wall clock.
func WithClock(c clockwork.Clock) Option { return func(o *options) { o.clock = c } }

// WithLogger sets the logger for the LISTEN connection's losses and
// reconnects and for trim sweeps. Payloads are never logged. Defaults to
// discarding.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithChannel names the NOTIFY channel. Brokers on the same schema must use
// the same channel; brokers on different schemas may share one (each ignores
// the others' notifications). Defaults to "wedsync_realtime".
func WithChannel(name string) Option { return func(o *options) { o.channel = name } }

// WithReconnectBackoff bounds the wait between attempts to re-establish a
// lost LISTEN connection: exponential backoff with full jitter, each wait
// drawn from [0, min*2^n] and capped at max, so that the instances sharing
// a database do not reconnect in step. The first attempt is immediate
// unless the connection flapped (it had lived less than max); a connection
// that keeps flapping waits longer each time, as if its reconnects had
// failed, and is retried at once again after it has lived max. The waits
// run on the wall clock, whatever WithClock says. Defaults to 100ms and 5s.
func WithReconnectBackoff(minWait, maxWait time.Duration) Option {
	return func(o *options) { o.backoffMin, o.backoffMax = minWait, maxWait }
}

// WithTrimInterval sets how often a background sweep deletes history that
// has outlived the TTL from topics nobody publishes to any more (a publish
// trims its own topic). Defaults to a quarter of the TTL, at least one
// second and at most one minute.
func WithTrimInterval(d time.Duration) Option {
	return func(o *options) { o.trimInterval, o.trimIntervalSet = d, true }
}

// WithMeterProvider sets where the broker's metrics go: publishes and
// their duration, notifications by outcome, LISTEN reconnects and swept
// publications (docs/realtime.md lists them). nil, and the default, mean
// the global provider (otel.GetMeterProvider), a no-op until the host
// installs an OpenTelemetry SDK.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(o *options) { o.meterProvider = mp }
}

// WithTracerProvider sets where the broker's spans go: one producer span
// per Publish, a child of the caller's span (Hub.Broadcast's, when a hub
// publishes). nil, and the default, mean the global provider
// (otel.GetTracerProvider), a no-op until the host installs an SDK.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) { o.tracerProvider = tp }
}

// WithWriteTimeout bounds each publish transaction, from waiting for a
// pool connection to its commit. A caller's context never cancels a
// transaction once it has started (Publish says why), so this and Close
// are what end one the database does not finish, say because another
// session holds the topic's row: its publishes then fail, with
// ErrPublishOutcomeUnknown unless the database answered that it rolled
// back (publishes still waiting for a pool connection, when it expires,
// fail as not published). Defaults to 30 seconds.
func WithWriteTimeout(d time.Duration) Option { return func(o *options) { o.writeTimeout = d } }

// validate reports every bad option at once.
func (o *options) validate() error {
	c := validate.NewChecker(pkg)
	if err := migrate.ValidateSchema(o.schema); err != nil {
		c.Add(validate.New(pkg, "WithSchema", "%v", err))
	}
	c.Check(o.historySize >= 1, "WithHistorySize", "must be at least 1, got %d", o.historySize)
	c.Check(o.historyTTL > 0, "WithHistoryTTL", "must be positive, got %s", o.historyTTL)
	c.Check(o.clock != nil, "WithClock", "must not be nil")
	c.Check(o.logger != nil, "WithLogger", "must not be nil")
	c.Check(o.channel != "" && len(o.channel) <= 63 && !strings.ContainsRune(o.channel, 0), "WithChannel", "must be 1 to 63 bytes without NUL, got %d bytes", len(o.channel))
	c.Check(o.backoffMin > 0 && o.backoffMax >= o.backoffMin, "WithReconnectBackoff", "needs 0 < min <= max, got min %s and max %s", o.backoffMin, o.backoffMax)
	if !o.trimIntervalSet {
		o.trimInterval = min(max(o.historyTTL/4, time.Second), time.Minute)
	}
	c.Check(o.trimInterval > 0, "WithTrimInterval", "must be positive, got %s", o.trimInterval)
	c.Check(o.writeTimeout > 0, "WithWriteTimeout", "must be positive, got %s", o.writeTimeout)
	o.validatePresence(c)
	return c.Err()
}

// Migrate creates or upgrades the broker's tables in the schema (WithSchema;
// other options are ignored). It is safe to call from several instances at
// once.
func Migrate(ctx context.Context, pool *pgxpool.Pool, opts ...Option) error {
	o := defaultOptions()
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if err := migrate.ValidateSchema(o.schema); err != nil {
		return validate.New(pkg, "WithSchema", "%v", err)
	}
	if err := migrate.Run(ctx, pool, o.schema, component, migrations, "migrations"); err != nil {
		return fmt.Errorf("pgbroker: %w", err)
	}
	return nil
}

// Broker is the Postgres realtime.Broker. See the package documentation.
type Broker struct {
	pool *pgxpool.Pool
	opts options
	log  *slog.Logger

	lockSQL, storeSQL, historySQL, sweepSQL, rowsSQL string
	sweepKey                                         string

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	handler realtime.BrokerHandler
	queues  map[string]*topicQueue // topics with a leader (see lead)

	met       *metrics
	pres      *presence // presence.go
	listenPID atomic.Uint32
	// inbox carries what the LISTEN connection received to the deliverer,
	// in order (deliver.go).
	inbox chan note
}

// New returns a broker on the schema's tables, which Migrate must have
// created (New returns ErrNotMigrated otherwise). It opens the LISTEN
// connection before it returns, so every publication committed after New
// returns reaches the handler once one is attached. The pool stays the
// host's: Close does not close it.
func New(ctx context.Context, pool *pgxpool.Pool, opts ...Option) (*Broker, error) {
	if pool == nil {
		return nil, validate.New(pkg, "pool", "must not be nil")
	}
	o := defaultOptions()
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	x := func(q string) string { return migrate.Expand(o.schema, q) }
	b := &Broker{
		pool: pool, opts: o, log: o.logger.With("component", "pgbroker", "schema", o.schema),
		lockSQL: x(lockSQL), storeSQL: x(storeSQL), historySQL: x(historySQL), sweepSQL: x(sweepSQL), rowsSQL: x(rowsSQL),
		sweepKey: "wedsync_realtime_sweep:" + o.schema,
		met:      newMetrics(o),
		inbox:    make(chan note, inboxSize),
		queues:   map[string]*topicQueue{},
	}
	// One round trip checks both migrations' tables: a missing
	// realtime_presence fails the statement (42P01) as realtime_meta does.
	var one int
	err := pool.QueryRow(ctx, x(`SELECT 1 FROM {{schema}}.realtime_meta
  WHERE NOT EXISTS (SELECT FROM {{schema}}.realtime_presence WHERE false)`)).Scan(&one)
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && (pgErr.Code == "42P01" || pgErr.Code == "3F000") {
			return nil, fmt.Errorf("%w (schema %q: %s)", ErrNotMigrated, o.schema, pgErr.Message)
		}
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("%w (schema %q: realtime_meta has no row)", ErrNotMigrated, o.schema)
		}
		return nil, fmt.Errorf("pgbroker: check tables in schema %q: %w", o.schema, err)
	}
	b.initPresence()

	ln := b.listener()
	conn, err := ln.Connect(ctx)
	if err != nil {
		return nil, err
	}
	b.listenPID.Store(conn.PgConn().PID())
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.wg.Add(4)
	go func() {
		defer b.wg.Done()
		ln.Run(b.ctx, conn)
	}()
	go b.deliverLoop()
	go b.sweepLoop()
	go b.presenceLoop()
	return b, nil
}

// Attach implements realtime.Broker. Notifications that arrive before
// Attach are dropped.
func (b *Broker) Attach(h realtime.BrokerHandler) error {
	if h == nil {
		return errors.New("pgbroker: Attach: handler must not be nil")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return realtime.ErrBrokerClosed
	}
	if b.handler != nil {
		return errors.New("pgbroker: broker already has a hub attached")
	}
	b.handler = h
	return nil
}

// Close implements realtime.Broker: it stops the LISTEN connection, the
// trim sweep and the presence refresh, fails the queued publishes as not
// published and ends the transactions in flight (their publishes fail
// with ErrPublishOutcomeUnknown unless the database answered that they
// rolled back; all these errors wrap realtime.ErrBrokerClosed), and waits
// for all of them; no handler call happens after it returns.
// Then it deletes the presence members this broker tracked, so that the
// other instances see them leave now rather than a TTL later (within one
// second; those it cannot delete expire). It is idempotent and leaves the
// pool open.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	b.cancel()
	b.wg.Wait()
	b.dropPresence()
	return nil
}

func (b *Broker) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

func (b *Broker) currentHandler() realtime.BrokerHandler {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	return b.handler
}

// lockSQL claims the next $3 offsets of the topic (one per publication of
// the batch) and locks its row until commit: the batches of the topic, from
// every instance, queue here, so offsets are gapless and commit in order.
// The batch shares one time, which never goes back.
//
// $1 topic, $2 epoch if the topic is new, $3 batch size.
const lockSQL = `INSERT INTO {{schema}}.realtime_topics AS t (topic, epoch, last_offset, last_time)
VALUES ($1::text, $2::text, $3::bigint, clock_timestamp())
ON CONFLICT (topic) DO UPDATE
   SET last_offset = t.last_offset + $3::bigint,
       last_time = greatest(clock_timestamp(), t.last_time)
RETURNING t.epoch, t.last_offset, t.last_time`

// storeSQL runs after lockSQL in the same transaction, as its own statement
// so that its snapshot sees every earlier publication of the topic (they
// committed before lockSQL got the row lock). It stores the batch's
// publications at offsets last_offset-$9+1 .. last_offset, trims by size
// and, when the oldest kept publication has outlived the TTL, by age (never
// the batch's own: a batch is never larger than the history size), and
// queues one notification per publication, a JSON header naming it. Its
// rows cannot see what ins inserts, which is why the trim counts on the
// batch fitting in history. ORDER BY fixes the order of the NOTIFYs:
// Postgres evaluates a volatile output column after the sort, and delivers
// a transaction's notifications in the order they were queued.
//
// $1 topic, $2 events, $3 payloads, $4 origins (arrays in offset order),
// $5 history size, $6 TTL cutoff, $7 channel, $8 schema, $9 batch size.
const storeSQL = `WITH t AS (
    SELECT epoch, last_offset, last_time, trimmed_offset
      FROM {{schema}}.realtime_topics WHERE topic = $1::text
), ins AS (
    INSERT INTO {{schema}}.realtime_history (topic, "offset", event, payload, origin, created_at)
    SELECT $1::text, t.last_offset - $9::bigint + r.n, r.event, r.payload, r.origin, t.last_time
      FROM t, unnest($2::text[], $3::bytea[], $4::text[]) WITH ORDINALITY AS r(event, payload, origin, n)
    RETURNING "offset"
), aged AS (
    SELECT coalesce(
             (SELECT h."offset" - 1 FROM {{schema}}.realtime_history h
               WHERE h.topic = $1::text AND h."offset" > t.trimmed_offset AND h.created_at >= $6::timestamptz
               ORDER BY h."offset" LIMIT 1),
             t.last_offset - $9::bigint) AS off
      FROM t
     WHERE EXISTS (SELECT 1 FROM {{schema}}.realtime_history h
                    WHERE h.topic = $1::text AND h."offset" = t.trimmed_offset + 1 AND h.created_at < $6::timestamptz)
), cut AS (
    SELECT t.trimmed_offset AS old, greatest(t.last_offset - $5::bigint, (SELECT off FROM aged)) AS off FROM t
), trimmed AS (
    UPDATE {{schema}}.realtime_topics tp
       SET trimmed_offset = c.off,
           trimmed_time = (SELECT h.created_at FROM {{schema}}.realtime_history h
                            WHERE h.topic = $1::text AND h."offset" = c.off)
      FROM cut c
     WHERE tp.topic = $1::text AND c.off > tp.trimmed_offset
    RETURNING tp.trimmed_offset
), del AS (
    DELETE FROM {{schema}}.realtime_history h USING cut c
     WHERE h.topic = $1::text AND h."offset" > c.old AND h."offset" <= c.off
)
SELECT pg_notify($7::text, json_build_object('s', $8::text, 't', $1::text, 'e', t.epoch, 'o', i."offset")::text)
  FROM t, ins i
 ORDER BY i."offset"`

// historySQL answers a HistoryQuery in one statement (one snapshot). The
// trim mark is the stored one, moved up past publications that have
// outlived the TTL but are not deleted yet; ok says whether the query can be
// complete before Limit.
//
// $1 topic, $2 TTL cutoff, $3 after mode, $4 epoch, $5 after, $6 since (NULL
// in after mode), $7 limit+1 (NULL for none).
const historySQL = `WITH t AS (
    SELECT epoch, last_offset, trimmed_offset, trimmed_time
      FROM {{schema}}.realtime_topics WHERE topic = $1::text
), aged AS (
    SELECT coalesce(
             (SELECT h."offset" - 1 FROM {{schema}}.realtime_history h
               WHERE h.topic = $1::text AND h."offset" > t.trimmed_offset AND h.created_at >= $2::timestamptz
               ORDER BY h."offset" LIMIT 1),
             t.last_offset) AS off
      FROM t
     WHERE EXISTS (SELECT 1 FROM {{schema}}.realtime_history h
                    WHERE h.topic = $1::text AND h."offset" = t.trimmed_offset + 1 AND h.created_at < $2::timestamptz)
), m AS (
    SELECT coalesce(t.epoch, '') AS epoch,
           coalesce(t.last_offset, 0) AS last_offset,
           coalesce(a.off, t.trimmed_offset, 0) AS toff,
           CASE WHEN a.off IS NULL THEN t.trimmed_time
                ELSE (SELECT h.created_at FROM {{schema}}.realtime_history h
                       WHERE h.topic = $1::text AND h."offset" = a.off) END AS ttime,
           meta.created_at AS store_created
      FROM {{schema}}.realtime_meta meta
      LEFT JOIN t ON true
      LEFT JOIN aged a ON true
), q AS (
    SELECT m.*, CASE WHEN $3::boolean
                     THEN m.epoch <> '' AND m.epoch = $4::text AND m.toff <= $5::bigint
                     ELSE $6::timestamptz >= m.store_created AND (m.ttime IS NULL OR $6::timestamptz > m.ttime)
                END AS ok
      FROM m
)
SELECT q.epoch, q.last_offset, q.ok, p."offset", p.event, p.payload, p.origin, p.created_at
  FROM q
  LEFT JOIN LATERAL (
    SELECT h."offset", h.event, h.payload, h.origin, h.created_at
      FROM {{schema}}.realtime_history h
     WHERE q.ok AND h.topic = $1::text AND h."offset" > q.toff AND h."offset" > $5::bigint
       AND h.created_at >= coalesce($6::timestamptz, '-infinity')
     ORDER BY h."offset"
     LIMIT $7::bigint
  ) p ON true
 ORDER BY p."offset"`

// sweepSQL trims, in every topic whose oldest kept publication has outlived
// the TTL, what has; one instance at a time (the advisory lock), so that two
// sweeps never lock topics in different orders.
//
// $1 TTL cutoff, $2 advisory lock key.
const sweepSQL = `WITH cand AS (
    SELECT t.topic, t.trimmed_offset AS old, t.last_offset
      FROM {{schema}}.realtime_topics t
      JOIN {{schema}}.realtime_history h ON h.topic = t.topic AND h."offset" = t.trimmed_offset + 1
     WHERE h.created_at < $1::timestamptz AND (SELECT pg_try_advisory_xact_lock(hashtext($2::text)))
), cut AS (
    SELECT c.topic, c.old, coalesce(
             (SELECT h."offset" - 1 FROM {{schema}}.realtime_history h
               WHERE h.topic = c.topic AND h."offset" > c.old AND h.created_at >= $1::timestamptz
               ORDER BY h."offset" LIMIT 1),
             c.last_offset) AS off
      FROM cand c
), upd AS (
    UPDATE {{schema}}.realtime_topics tp
       SET trimmed_offset = c.off,
           trimmed_time = (SELECT h.created_at FROM {{schema}}.realtime_history h
                            WHERE h.topic = c.topic AND h."offset" = c.off)
      FROM cut c
     WHERE tp.topic = c.topic AND tp.trimmed_offset < c.off
    RETURNING tp.topic, c.old, c.off
)
DELETE FROM {{schema}}.realtime_history h USING upd u
 WHERE h.topic = u.topic AND h."offset" > u.old AND h."offset" <= u.off`

// rowsSQL reads notified publications back from history, a batch in one
// statement. Any role that can connect may NOTIFY any channel, so a
// notification is only a hint: what a hub delivers is the row the
// publisher wrote, in the epoch of its topic.
//
// $1 topics, $2 offsets (the same length: one pair per notification).
const rowsSQL = `SELECT h.topic, h."offset", h.event, h.payload, h.origin, h.created_at, t.epoch
FROM unnest($1::text[], $2::bigint[]) AS k(topic, off)
JOIN {{schema}}.realtime_history h ON h.topic = k.topic AND h."offset" = k.off
JOIN {{schema}}.realtime_topics t ON t.topic = h.topic`

// Group commit. Each topic with publishes to write has a leader
// goroutine, started by the publish that finds the topic idle, which
// writes the topic's queue a batch at a time: at most min(maxBatch,
// WithHistorySize) publications and about maxBatchBytes, in one
// transaction, lockSQL and storeSQL pipelined. The topic row's lock is
// taken once per batch instead of once per publish, and one commit (one
// WAL flush) covers the lot. The leader exits when the queue is empty.
//
// Callers never run a transaction, so none can cancel one: a caller
// waits for its batch's outcome or gives up waiting. Canceling a pgx
// statement in flight drops its connection, and a backend that is
// waiting on the topic row still runs, and commits, what was pipelined to
// it; so a transaction canceled because its caller gave up could commit
// after its caller was told it failed. A batch's transaction therefore
// runs on the leader's context, which only Close and WithWriteTimeout
// end.
const (
	maxBatch      = 256
	maxBatchBytes = 4 << 20
)

// States of a pubReq, moved by compare-and-swap so that a caller who gives
// up and the leader who takes the request agree on who won.
const (
	reqQueued  int32 = iota // in its topic's queue: nothing of it has reached the database
	reqTaken                // in a batch: its transaction starts, and it commits or fails with the batch
	reqDropped              // its caller gave up while it was queued: never published
)

// pubReq is one Publish on its way to a transaction.
type pubReq struct {
	event, origin string
	payload       json.RawMessage
	body          []byte
	parent        trace.SpanContext // the caller's publish span
	state         atomic.Int32

	done chan struct{} // closed when pub, size and err are set
	pub  realtime.Publication
	size int   // publications in its batch
	err  error // see batchError
}

// topicQueue is a topic's publishes waiting for its leader; b.mu guards it.
type topicQueue struct {
	pending []*pubReq
}

// Publish implements realtime.Broker. The publication is in history,
// trimmed and notified when its transaction commits; handlers see it only
// after that. Concurrent publishes to one topic on one broker share a
// transaction (see the package documentation).
//
// It returns one of three outcomes:
//
//   - the Publication, with its offset: its transaction committed;
//   - ErrPublishOutcomeUnknown (errors.Is), wrapping the cause: ctx ended
//     after its transaction had started (the publication commits or fails
//     with the others in it, and nothing here can tell which), or the
//     connection was lost, Close or WithWriteTimeout ended the
//     transaction, before the database answered;
//   - any other error: it was not published and never will be. ctx ended
//     while it was queued (the error wraps ctx.Err()), its transaction
//     rolled back (a constraint refused a row, the database was away; every
//     publish in the transaction fails and it uses no offset), a name is
//     invalid (ErrInvalid), or the broker is closed (ErrBrokerClosed).
//
// Close fails the publishes still queued with an error that wraps
// realtime.ErrBrokerClosed, and those whose transaction it ends with one
// that also wraps ErrPublishOutcomeUnknown, unless the database said the
// transaction rolled back.
func (b *Broker) Publish(ctx context.Context, topic, event string, payload json.RawMessage, origin string) (_ realtime.Publication, err error) {
	if b.isClosed() {
		return realtime.Publication{}, realtime.ErrBrokerClosed
	}
	if len(topic)+len(event)+len(origin) > maxNames {
		return realtime.Publication{}, validate.New(pkg, "topic", "topic, event and origin must total at most %d bytes, got %d", maxNames, len(topic)+len(event)+len(origin))
	}
	// Postgres text refuses these: caught here, they cannot fail the
	// publishes that would share a transaction with them.
	for _, f := range [...]struct{ name, s string }{{"topic", topic}, {"event", event}, {"origin", origin}} {
		if !utf8.ValidString(f.s) || strings.ContainsRune(f.s, 0) {
			return realtime.Publication{}, validate.New(pkg, f.name, "must be valid UTF-8 without NUL bytes")
		}
	}
	ctx, span := b.met.startPublish(ctx, topic, event, len(payload))
	start := time.Now()
	defer func() {
		outcome := b.met.ok
		if err != nil {
			outcome = b.met.failed
			if errors.Is(err, ErrPublishOutcomeUnknown) {
				outcome = b.met.unknown
			}
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		b.met.publishes.Add(ctx, 1, outcome)
		b.met.publishDuration.Record(ctx, time.Since(start).Seconds(), outcome)
		span.End()
	}()
	if err := ctx.Err(); err != nil {
		return realtime.Publication{}, fmt.Errorf("pgbroker: publish to topic %q: %w (not published)", topic, err)
	}
	body := []byte(payload)
	if body == nil {
		body = []byte{} // NOT NULL: an empty payload is kept empty
	}
	r := &pubReq{event: event, origin: origin, payload: payload, body: body,
		parent: span.SpanContext(), done: make(chan struct{})}
	if err := b.enqueue(topic, r); err != nil {
		return realtime.Publication{}, err
	}
	select {
	case <-r.done:
	case <-ctx.Done():
		if r.state.CompareAndSwap(reqQueued, reqDropped) {
			return realtime.Publication{}, fmt.Errorf("pgbroker: publish to topic %q: %w (not published)", topic, ctx.Err())
		}
		select {
		case <-r.done: // its transaction ended as ctx did: the outcome is known
		default:
			return realtime.Publication{}, fmt.Errorf("pgbroker: publish to topic %q: %w: the caller gave up while its transaction ran: %w",
				topic, ErrPublishOutcomeUnknown, ctx.Err())
		}
	}
	span.SetAttributes(semconv.MessagingBatchMessageCount(r.size))
	if r.err != nil {
		return realtime.Publication{}, fmt.Errorf("pgbroker: publish to topic %q: %w", topic, r.err)
	}
	span.SetAttributes(semconv.MessagingMessageID(r.pub.ID()))
	return r.pub, nil
}

// enqueue queues r on its topic and, when the topic has no leader, starts
// one. Under b.mu, so that Close's wg.Wait never races a new leader.
func (b *Broker) enqueue(topic string, r *pubReq) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return realtime.ErrBrokerClosed
	}
	if q := b.queues[topic]; q != nil {
		q.pending = append(q.pending, r)
		if h := b.opts.hooks.queued; h != nil {
			h(topic, len(q.pending))
		}
		return nil
	}
	q := &topicQueue{pending: []*pubReq{r}}
	b.queues[topic] = q
	b.wg.Add(1)
	go b.lead(topic, q)
	return nil
}

// idle drops the topic's queue, failing what is still in it (the broker
// has closed); under b.mu.
func (b *Broker) idle(topic string, q *topicQueue) {
	for _, r := range q.pending {
		if r.state.CompareAndSwap(reqQueued, reqTaken) {
			r.err = fmt.Errorf("%w (not published)", realtime.ErrBrokerClosed)
			close(r.done)
		}
	}
	delete(b.queues, topic)
}

// lead writes the topic's queued publishes, a batch at a time, until the
// queue is empty or the broker closes. It takes a batch only once it holds
// a connection, so that publishes wait for the pool while still queued (a
// caller who gives up then is "not published").
func (b *Broker) lead(topic string, q *topicQueue) {
	defer b.wg.Done()
	limit := min(maxBatch, b.opts.historySize)
	for {
		b.mu.Lock()
		if b.closed || len(q.pending) == 0 {
			b.idle(topic, q)
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		ctx, cancel := context.WithTimeout(b.ctx, b.opts.writeTimeout)
		conn, err := b.pool.Acquire(ctx)
		b.mu.Lock()
		var reqs []*pubReq
		if err != nil {
			reqs = q.take(len(q.pending), math.MaxInt) // nothing was sent: fail them all
		} else {
			reqs = q.take(limit, maxBatchBytes)
		}
		b.mu.Unlock()
		if err != nil {
			err = fmt.Errorf("acquire a connection: %w (not published)", err)
			if b.ctx.Err() != nil {
				err = fmt.Errorf("%w: %w", realtime.ErrBrokerClosed, err)
			}
			for _, r := range reqs {
				r.err = err
				close(r.done)
			}
		} else {
			if len(reqs) > 0 {
				b.commit(trace.ContextWithSpanContext(ctx, reqs[0].parent), conn.Conn(), topic, reqs)
			}
			conn.Release()
		}
		cancel()
	}
}

// take moves the next batch out of the queue, at most limit publications
// and about maxBytes, skipping those whose callers gave up; under b.mu.
func (q *topicQueue) take(limit, maxBytes int) []*pubReq {
	var reqs []*pubReq
	used, bytes := 0, 0
	for _, r := range q.pending {
		if len(reqs) == limit || (len(reqs) > 0 && bytes+len(r.body) > maxBytes) {
			break
		}
		used++
		if !r.state.CompareAndSwap(reqQueued, reqTaken) {
			continue // dropped: its caller has gone
		}
		reqs = append(reqs, r)
		bytes += len(r.body) + len(r.event) + len(r.origin)
	}
	clear(q.pending[:used])
	q.pending = q.pending[used:]
	if len(q.pending) == 0 {
		q.pending = nil
	}
	return reqs
}

// commit writes reqs to the topic in one transaction on conn and completes
// each.
func (b *Broker) commit(ctx context.Context, conn *pgx.Conn, topic string, reqs []*pubReq) {
	n := len(reqs)
	if h := b.opts.hooks.batch; h != nil {
		h(topic, n)
	}
	events, payloads, origins := make([]string, n), make([][]byte, n), make([]string, n)
	for i, r := range reqs {
		events[i], payloads[i], origins[i] = r.event, r.body, r.origin
	}
	cutoff := b.opts.clock.Now().Add(-b.opts.historyTTL)
	batch := &pgx.Batch{}
	batch.Queue(b.lockSQL, topic, rand.Text()[:8], int64(n))
	batch.Queue(b.storeSQL, topic, events, payloads, origins, int64(b.opts.historySize), cutoff,
		b.opts.channel, b.opts.schema, int64(n))
	var (
		epoch string
		last  int64
		at    time.Time
	)
	// One implicit transaction: pgx pipelines both statements and one
	// Sync, at which Postgres commits.
	br := conn.SendBatch(ctx, batch)
	err := br.QueryRow().Scan(&epoch, &last, &at)
	if err == nil {
		_, err = br.Exec()
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		err = b.batchError(err)
	}
	for i, r := range reqs {
		r.size = n
		if err != nil {
			r.err = err
		} else {
			r.pub = realtime.Publication{Topic: topic, Event: r.event, Payload: r.payload, Origin: r.origin,
				Epoch: epoch, Offset: uint64(last) - uint64(n) + uint64(i) + 1, Time: at.UTC()}
		}
		close(r.done)
	}
}

// batchError says what a failed transaction means for its publishes. The
// transaction did not commit when Postgres answered with an error (an
// ErrorResponse before the batch's ReadyForQuery means the implicit
// transaction rolled back; after a commit Postgres sends none, even when
// it then ends the session) or when pgx sent nothing (pgconn.SafeToRetry).
// Anything else (the connection lost, or the context ended, while the
// database had the batch) leaves the outcome unknown: the backend may
// still commit.
func (b *Broker) batchError(err error) error {
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr):
		err = fmt.Errorf("%w (not published: its transaction rolled back)", err)
	case pgconn.SafeToRetry(err):
		err = fmt.Errorf("%w (not published: nothing was sent)", err)
	default:
		err = fmt.Errorf("%w: %w", ErrPublishOutcomeUnknown, err)
	}
	if b.ctx.Err() != nil {
		err = fmt.Errorf("%w: %w", realtime.ErrBrokerClosed, err)
	}
	return err
}

// History implements realtime.Broker with the memory broker's semantics,
// in one statement. A topic never published has Epoch "" and Latest 0: a
// Since query (at or after the store's creation) is Complete and empty, an
// After query is never Complete (there is no epoch to continue).
// Times have microsecond resolution, as in Postgres.
func (b *Broker) History(ctx context.Context, topic string, q realtime.HistoryQuery) (realtime.HistoryResult, error) {
	if b.isClosed() {
		return realtime.HistoryResult{}, realtime.ErrBrokerClosed
	}
	cutoff := b.opts.clock.Now().Add(-b.opts.historyTTL)
	afterMode := q.After > 0 || q.Epoch != ""
	var since any
	if !afterMode {
		// Postgres keeps microseconds: round Since up so that >= and > keep
		// their meaning for a Since between two microseconds.
		s := q.Since.Truncate(time.Microsecond)
		if s.Before(q.Since) {
			s = s.Add(time.Microsecond)
		}
		since = s
	}
	if q.After > 1<<63-1 {
		q.After = 1<<63 - 1
	}
	var limit any
	if q.Limit > 0 {
		limit = int64(q.Limit) + 1
	}
	rows, err := b.pool.Query(ctx, b.historySQL, topic, cutoff, afterMode, q.Epoch, int64(q.After), since, limit)
	if err != nil {
		return realtime.HistoryResult{}, fmt.Errorf("pgbroker: history of topic %q: %w", topic, err)
	}
	defer rows.Close()
	var res realtime.HistoryResult
	for rows.Next() {
		var (
			latest  int64
			off     *int64
			event   *string
			payload []byte
			origin  *string
			at      *time.Time
		)
		if err := rows.Scan(&res.Epoch, &latest, &res.Complete, &off, &event, &payload, &origin, &at); err != nil {
			return realtime.HistoryResult{}, fmt.Errorf("pgbroker: history of topic %q: %w", topic, err)
		}
		res.Latest = uint64(latest)
		if off == nil {
			continue
		}
		res.Publications = append(res.Publications, realtime.Publication{
			Topic: topic, Event: *event, Payload: json.RawMessage(payload), Epoch: res.Epoch,
			Offset: uint64(*off), Time: at.UTC(), Origin: *origin,
		})
	}
	if err := rows.Err(); err != nil {
		return realtime.HistoryResult{}, fmt.Errorf("pgbroker: history of topic %q: %w", topic, err)
	}
	if q.Limit > 0 && len(res.Publications) > q.Limit {
		res.Complete = false
	}
	if !res.Complete {
		res.Publications = nil
	}
	return res, nil
}

// listener returns the LISTEN connection's keeper (internal/pglisten): it
// hands each notification to the deliverer through the inbox, counts the
// reconnects, and after a loss tells the deliverer to resync, after what
// was received before the loss, in order.
func (b *Broker) listener() *pglisten.Listener {
	return &pglisten.Listener{
		Pool: b.pool, Channel: b.opts.channel, ApplicationName: ApplicationName, Name: "pgbroker", Logger: b.log,
		// Its waits run on the wall clock (pglisten's default): WithClock
		// ages history only.
		Backoff: backoff.Exponential{Base: b.opts.backoffMin, Max: b.opts.backoffMax},
		Notify: func(ctx context.Context, payload string) bool {
			h, ok := b.parse(payload)
			return !ok || b.post(ctx, note{h: h})
		},
		Lost: func(err error) { b.log.Warn("pgbroker: LISTEN connection lost; reconnecting", "err", err) },
		Tried: func(ctx context.Context, err error) {
			if err == nil {
				b.met.reconnects.Add(ctx, 1, b.met.ok)
			} else {
				b.met.reconnects.Add(ctx, 1, b.met.failed)
			}
		},
		Listening: func(ctx context.Context, conn *pgx.Conn) bool {
			b.listenPID.Store(conn.PgConn().PID())
			b.log.Info("pgbroker: LISTEN connection restored; resyncing")
			return b.post(ctx, note{resync: true})
		},
	}
}

// header is a notification: which publication (see storeSQL), or, with
// Kind "p", which presence members (see presence.go).
type header struct {
	Schema  string   `json:"s"`
	Topic   string   `json:"t"`
	Epoch   string   `json:"e"`
	Offset  uint64   `json:"o"`
	Kind    string   `json:"k"`
	Members []string `json:"m"`
}

// parse reads a notification; false means it is not this broker's.
func (b *Broker) parse(msg string) (header, bool) {
	var h header
	if err := json.Unmarshal([]byte(msg), &h); err != nil {
		b.met.notified(notifyMalformed)
		b.log.Warn("pgbroker: ignoring a malformed notification", "channel", b.opts.channel, "err", err)
		return h, false
	}
	if h.Schema != b.opts.schema {
		b.met.notified(notifyOtherSchema)
		return h, false // another schema's broker shares the channel
	}
	return h, true
}

// sweepLoop trims expired history every trim interval, on the clock.
func (b *Broker) sweepLoop() {
	defer b.wg.Done()
	loop.Every(b.ctx, b.opts.clock, b.opts.trimInterval, b.opts.trimInterval, func(ctx context.Context) {
		if _, err := b.sweep(ctx); err != nil && ctx.Err() == nil {
			b.log.Warn("pgbroker: history trim sweep failed", "err", err)
		}
	})
}

// sweep deletes history that has outlived the TTL in every topic and
// reports how many publications it deleted.
func (b *Broker) sweep(ctx context.Context) (int64, error) {
	tag, err := b.pool.Exec(ctx, b.sweepSQL, b.opts.clock.Now().Add(-b.opts.historyTTL), b.sweepKey)
	if err != nil {
		return 0, fmt.Errorf("pgbroker: trim sweep: %w", err)
	}
	b.met.trimmed.Add(ctx, tag.RowsAffected())
	return tag.RowsAffected(), nil
}
