package pgbroker

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.opentelemetry.io/otel/metric"

	"github.com/wedsync/integrations/internal/loop"
	"github.com/wedsync/integrations/internal/migrate"
	"github.com/wedsync/integrations/internal/telemetry"
	"github.com/wedsync/integrations/internal/validate"
	"github.com/wedsync/integrations/realtime"
)

// Presence shared by every instance on the schema (realtime.PresenceBroker).
//
// Each member is a row of realtime_presence owned by the broker that
// tracked it (its instance id, random per New). Track and Untrack write the
// row and, in the same statement, NOTIFY a hint naming the member; hubs
// read members back (Presence), never from the notification. Every third
// of the TTL each broker runs one round trip: an UPDATE that pushes its
// own rows' expires_at a TTL ahead, and a DELETE of every row that has
// expired (an instance that stopped refreshing: crashed, or cut off from
// the database for a TTL), with a hint for each. Expiry times come from
// the brokers' clocks (WithClock): keep the instances' clocks in step
// (NTP) to well within the TTL.
//
// The broker also keeps its own members in memory, so that it can repair
// the table: a refresh that finds one of them gone (deleted as expired
// while this instance could not reach the database) writes it again, and
// one that finds a row of this instance it does not know (an untrack whose
// DELETE failed) deletes it. Either shows within a refresh; the races
// between a refresh and a concurrent Track or Untrack of the same member
// converge by the next one.

// kindPresence marks a presence hint: header.Kind "p".
const kindPresence = "p"

// notifyPresence is the notifications outcome of a presence hint handed
// to the hub.
const notifyPresence = "presence"

// Bounds on a member, so that its hint (the topic and the id, JSON-escaped)
// fits a notification (Postgres caps one below 8000 bytes).
const (
	maxPresenceTopic = 1024
	maxPresenceID    = 256
	maxPresenceKey   = 1024
	maxPresenceMeta  = 64 << 10
)

// metricPresenceExpired counts members swept for having expired.
const metricPresenceExpired = "wedsync.realtime.pgbroker.presence.expired"

var _ realtime.PresenceBroker = (*Broker)(nil)

// WithPresenceTTL sets how long a member tracked through this broker
// outlives the broker's last refresh: each broker refreshes its members
// every third of the TTL (one UPDATE, with the sweep of expired members
// in the same round trip), so an instance that stops (crashes, or cannot
// reach the database) has its members leave, on every other instance,
// between one and about one and a third TTLs later. Brokers on one schema
// should share the setting. Defaults to 30s; at least 1s.
func WithPresenceTTL(d time.Duration) Option { return func(o *options) { o.presenceTTL = d } }

// defaultPresenceTTL is WithPresenceTTL's default.
const defaultPresenceTTL = 30 * time.Second

// validatePresence checks the presence options into c.
func (o *options) validatePresence(c *validate.Checker) {
	c.Check(o.presenceTTL >= time.Second, "WithPresenceTTL", "must be at least 1s, got %s", o.presenceTTL)
}

// memberKey names a member: its topic and id.
type memberKey struct{ topic, id string }

// ownMember is a member this broker tracked; live once its row is written.
type ownMember struct {
	m    realtime.PresenceMember
	live bool
}

// presence is a broker's presence state.
type presence struct {
	instance string
	used     atomic.Bool // a Track was made: Close deletes the instance's rows

	trackSQL, untrackSQL, allSQL, someSQL, refreshSQL, sweepSQL, forgetSQL, repairSQL, dropSQL string

	expired metric.Int64Counter

	mu      sync.Mutex
	members map[memberKey]*ownMember
}

// hintSQL is the NOTIFY of a presence hint for each row of the CTE named
// rows: which member may have changed. $ch the channel, $sch the schema.
func hintSQL(rows, ch, sch string) string {
	return `SELECT pg_notify(` + ch + `::text, json_build_object('s', ` + sch + `::text, 'k', 'p', 't', topic, 'm', json_build_array(id))::text) FROM ` + rows
}

// initPresence prepares the broker's presence (New has checked its table).
func (b *Broker) initPresence() {
	x := func(q string) string { return migrate.Expand(b.opts.schema, q) }
	p := &presence{
		instance: rand.Text()[:12],
		members:  map[memberKey]*ownMember{},
		// $1 topic, $2 id, $3 key, $4 meta, $5 instance, $6 expires, $7 channel, $8 schema.
		// A row of another instance with the id is left alone (no row:
		// Track fails).
		trackSQL: x(`WITH up AS (
    INSERT INTO {{schema}}.realtime_presence AS p (topic, id, key, meta, instance, expires_at)
    VALUES ($1::text, $2::text, $3::text, $4::bytea, $5::text, $6::timestamptz)
    ON CONFLICT (topic, id) DO UPDATE
       SET key = EXCLUDED.key, meta = EXCLUDED.meta, expires_at = EXCLUDED.expires_at
     WHERE p.instance = EXCLUDED.instance
    RETURNING p.topic, p.id
) ` + hintSQL("up", "$7", "$8")),
		// $1 topic, $2 id, $3 instance, $4 channel, $5 schema.
		untrackSQL: x(`WITH d AS (
    DELETE FROM {{schema}}.realtime_presence
     WHERE topic = $1::text AND id = $2::text AND instance = $3::text
    RETURNING topic, id
) ` + hintSQL("d", "$4", "$5")),
		allSQL:  x(`SELECT id, key, meta FROM {{schema}}.realtime_presence WHERE topic = $1::text`),
		someSQL: x(`SELECT id, key, meta FROM {{schema}}.realtime_presence WHERE topic = $1::text AND id = ANY($2::text[])`),
		// $1 instance, $2 new expiry.
		refreshSQL: x(`UPDATE {{schema}}.realtime_presence SET expires_at = $2::timestamptz
 WHERE instance = $1::text RETURNING topic, id`),
		// $1 now, $2 channel, $3 schema. Rows another sweep (or their
		// owner's refresh) holds are skipped, so no member leaves twice.
		sweepSQL: x(`WITH gone AS (
    DELETE FROM {{schema}}.realtime_presence
     WHERE (topic, id) IN (SELECT topic, id FROM {{schema}}.realtime_presence
                            WHERE expires_at < $1::timestamptz
                            FOR UPDATE SKIP LOCKED)
    RETURNING topic, id
) ` + hintSQL("gone", "$2", "$3")),
		// $1 instance, $2 topics, $3 ids, $4 channel, $5 schema.
		forgetSQL: x(`WITH d AS (
    DELETE FROM {{schema}}.realtime_presence
     WHERE instance = $1::text
       AND (topic, id) IN (SELECT * FROM unnest($2::text[], $3::text[]))
    RETURNING topic, id
) ` + hintSQL("d", "$4", "$5")),
		// $1 instance, $2 expiry, $3 topics, $4 ids, $5 keys, $6 metas,
		// $7 channel, $8 schema. A row written meanwhile (a Track of the
		// member) wins.
		repairSQL: x(`WITH ins AS (
    INSERT INTO {{schema}}.realtime_presence (topic, id, key, meta, instance, expires_at)
    SELECT u.topic, u.id, u.key, u.meta, $1::text, $2::timestamptz
      FROM unnest($3::text[], $4::text[], $5::text[], $6::bytea[]) AS u(topic, id, key, meta)
    ON CONFLICT (topic, id) DO NOTHING
    RETURNING topic, id
) ` + hintSQL("ins", "$7", "$8")),
		// $1 instance, $2 channel, $3 schema.
		dropSQL: x(`WITH d AS (
    DELETE FROM {{schema}}.realtime_presence WHERE instance = $1::text RETURNING topic, id
) ` + hintSQL("d", "$2", "$3")),
	}
	tel := telemetry.New("realtime/pgbroker", b.opts.meterProvider, b.opts.tracerProvider)
	p.expired = tel.Counter(metricPresenceExpired, "{member}",
		"Presence members the sweep deleted for having expired: their instance stopped refreshing them (it crashed, or lost the database for a TTL).")
	telemetry.Handle(tel.Err())
	b.pres = p
}

// checkMember validates a member for Track.
func checkMember(m realtime.PresenceMember) error {
	c := validate.NewChecker(pkg)
	name := func(field, v string, maxLen int) {
		c.Check(v != "" && len(v) <= maxLen && !strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }),
			field, "must be 1 to %d bytes without control characters, got %d bytes", maxLen, len(v))
	}
	name("member.Topic", m.Topic, maxPresenceTopic)
	name("member.ID", m.ID, maxPresenceID)
	c.Check(len(m.Key) <= maxPresenceKey, "member.Key", "must be at most %d bytes, got %d", maxPresenceKey, len(m.Key))
	c.Check(len(m.Meta) <= maxPresenceMeta, "member.Meta", "must be at most %d bytes, got %d", maxPresenceMeta, len(m.Meta))
	if len(m.Meta) <= maxPresenceMeta {
		trimmed := bytes.TrimSpace(m.Meta)
		c.Check(json.Valid(trimmed) && bytes.HasPrefix(trimmed, []byte("{")), "member.Meta", "must be a JSON object")
	}
	return c.Err()
}

// Track implements realtime.PresenceBroker: one statement writes the
// member, owned by this broker and expiring a TTL from now, and notifies
// the hint. A member of another instance with the same topic and id is
// left alone, and Track fails.
func (b *Broker) Track(ctx context.Context, m realtime.PresenceMember) error {
	if b.isClosed() {
		return realtime.ErrBrokerClosed
	}
	if err := checkMember(m); err != nil {
		return err
	}
	m.Meta = bytes.Clone(m.Meta)
	p, k := b.pres, memberKey{m.Topic, m.ID}
	p.used.Store(true)
	p.mu.Lock()
	if p.members[k] == nil {
		// Known before its row is written, so that a refresh that sees
		// the row does not take it for a stray.
		p.members[k] = &ownMember{m: m}
	}
	p.mu.Unlock()
	tag, err := b.pool.Exec(ctx, p.trackSQL, m.Topic, m.ID, m.Key, []byte(m.Meta), p.instance,
		b.opts.clock.Now().Add(b.opts.presenceTTL), b.opts.channel, b.opts.schema)
	if err == nil && tag.RowsAffected() == 0 {
		err = errors.New("the member id belongs to another instance")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		if e := p.members[k]; e != nil && !e.live {
			delete(p.members, k)
		}
		return fmt.Errorf("pgbroker: track presence in topic %q: %w", m.Topic, err)
	}
	p.members[k] = &ownMember{m: m, live: true}
	return nil
}

// Untrack implements realtime.PresenceBroker. The broker forgets the
// member first: when the DELETE fails, the next refresh that reaches the
// database deletes the row (and the other instances see the leave then).
func (b *Broker) Untrack(ctx context.Context, topic, id string) error {
	if b.isClosed() {
		return realtime.ErrBrokerClosed
	}
	p := b.pres
	p.mu.Lock()
	delete(p.members, memberKey{topic, id})
	p.mu.Unlock()
	if _, err := b.pool.Exec(ctx, p.untrackSQL, topic, id, p.instance, b.opts.channel, b.opts.schema); err != nil {
		return fmt.Errorf("pgbroker: untrack presence in topic %q (the next refresh removes it): %w", topic, err)
	}
	return nil
}

// Presence implements realtime.PresenceBroker in one statement. Members
// of a stopped instance are returned until a sweep deletes them (a TTL
// after their last refresh, and at most a third of one more).
func (b *Broker) Presence(ctx context.Context, topic string, ids ...string) ([]realtime.PresenceMember, error) {
	if b.isClosed() {
		return nil, realtime.ErrBrokerClosed
	}
	var (
		rows pgx.Rows
		err  error
	)
	if len(ids) == 0 {
		rows, err = b.pool.Query(ctx, b.pres.allSQL, topic)
	} else {
		rows, err = b.pool.Query(ctx, b.pres.someSQL, topic, ids)
	}
	if err != nil {
		return nil, fmt.Errorf("pgbroker: presence of topic %q: %w", topic, err)
	}
	defer rows.Close()
	var out []realtime.PresenceMember
	for rows.Next() {
		m := realtime.PresenceMember{Topic: topic}
		var meta []byte
		if err := rows.Scan(&m.ID, &m.Key, &meta); err != nil {
			return nil, fmt.Errorf("pgbroker: presence of topic %q: %w", topic, err)
		}
		m.Meta = json.RawMessage(meta)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pgbroker: presence of topic %q: %w", topic, err)
	}
	return out, nil
}

// dispatchPresence hands a presence hint to the hub.
func (b *Broker) dispatchPresence(h header) {
	handler := b.currentHandler()
	if handler == nil {
		b.met.notified(notifyUnattached)
		return
	}
	b.met.notified(notifyPresence)
	if ph, ok := handler.(realtime.PresenceHandler); ok && h.Topic != "" {
		ph.OnPresence(h.Topic, h.Members)
	}
}

// presenceLoop refreshes and sweeps every third of the TTL, on the clock.
func (b *Broker) presenceLoop() {
	defer b.wg.Done()
	every := b.opts.presenceTTL / 3
	loop.Every(b.ctx, b.opts.clock, every, every, func(ctx context.Context) {
		if _, err := b.refreshPresence(ctx); err != nil && ctx.Err() == nil {
			b.log.Warn("pgbroker: presence refresh failed; members expire if it keeps failing", "err", err, "ttl", b.opts.presenceTTL)
		}
	})
}

// refreshPresence runs one refresh: in one round trip, this broker's rows
// get a new expiry and expired rows are deleted, with their hints; then
// the table is repaired where it and the broker disagree. It reports how
// many expired members it deleted.
func (b *Broker) refreshPresence(ctx context.Context) (int64, error) {
	p := b.pres
	now := b.opts.clock.Now()
	batch := &pgx.Batch{}
	batch.Queue(p.refreshSQL, p.instance, now.Add(b.opts.presenceTTL))
	batch.Queue(p.sweepSQL, now, b.opts.channel, b.opts.schema)
	br := b.pool.SendBatch(ctx, batch)
	rows, err := br.Query()
	found := map[memberKey]struct{}{}
	if err == nil {
		for rows.Next() {
			var k memberKey
			if err = rows.Scan(&k.topic, &k.id); err != nil {
				break
			}
			found[k] = struct{}{}
		}
		rows.Close()
		if err == nil {
			err = rows.Err()
		}
	}
	var swept int64
	if err == nil {
		var tag pgconn.CommandTag
		tag, err = br.Exec()
		swept = tag.RowsAffected()
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("pgbroker: presence refresh: %w", err)
	}
	if swept > 0 {
		p.expired.Add(ctx, swept)
		b.log.Info("pgbroker: removed presence members whose instance stopped refreshing them", "members", swept)
	}

	var strays []memberKey
	var lost []realtime.PresenceMember
	p.mu.Lock()
	for k := range found {
		if p.members[k] == nil {
			strays = append(strays, k)
		}
	}
	for k, e := range p.members {
		if _, ok := found[k]; !ok && e.live {
			lost = append(lost, e.m)
		}
	}
	p.mu.Unlock()
	if len(strays) > 0 {
		topics, ids := make([]string, len(strays)), make([]string, len(strays))
		for i, k := range strays {
			topics[i], ids[i] = k.topic, k.id
		}
		if _, err := b.pool.Exec(ctx, p.forgetSQL, p.instance, topics, ids, b.opts.channel, b.opts.schema); err != nil {
			return swept, fmt.Errorf("pgbroker: presence refresh: delete untracked members: %w", err)
		}
	}
	if len(lost) > 0 {
		b.log.Warn("pgbroker: presence members of this instance had expired (it could not refresh them for a TTL); tracking them again", "members", len(lost))
		topics, ids, keys, metas := make([]string, len(lost)), make([]string, len(lost)), make([]string, len(lost)), make([][]byte, len(lost))
		for i, m := range lost {
			topics[i], ids[i], keys[i], metas[i] = m.Topic, m.ID, m.Key, m.Meta
		}
		if _, err := b.pool.Exec(ctx, p.repairSQL, p.instance, now.Add(b.opts.presenceTTL), topics, ids, keys, metas,
			b.opts.channel, b.opts.schema); err != nil {
			return swept, fmt.Errorf("pgbroker: presence refresh: track expired members again: %w", err)
		}
	}
	return swept, nil
}

// dropPresenceTimeout bounds Close's deletion of the broker's members.
const dropPresenceTimeout = time.Second

// dropPresence deletes this broker's members, with their hints, when it
// ever tracked one: Close's last act. Members it cannot delete within
// dropPresenceTimeout expire after the TTL.
func (b *Broker) dropPresence() {
	p := b.pres
	p.mu.Lock()
	clear(p.members)
	p.mu.Unlock()
	if !p.used.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), dropPresenceTimeout)
	defer cancel()
	if _, err := b.pool.Exec(ctx, p.dropSQL, p.instance, b.opts.channel, b.opts.schema); err != nil {
		b.log.Warn("pgbroker: removing this instance's presence members on close failed; they expire after the TTL", "err", err, "ttl", b.opts.presenceTTL)
	}
}
