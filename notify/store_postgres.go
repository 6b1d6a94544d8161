package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wedsync/integrations/internal/migrate"
)

// pgStore keeps the notifier's state in the host's Postgres, in the tables
// migrations/*.sql create in the schema it names. A method that takes a
// pgx.Tx runs in it when it is non-nil, else on the pool (a statement, a
// batch or a transaction of its own).
type pgStore struct {
	pool   *pgxpool.Pool
	schema string
	// pruneBatch is how many notifications one prune statement deletes.
	pruneBatch int
}

func newPGStore(pool *pgxpool.Pool, schema string) *pgStore {
	return &pgStore{pool: pool, schema: schema, pruneBatch: 10000}
}

var _ store = (*pgStore)(nil)

// t expands {{schema}} in q.
func (s *pgStore) t(q string) string { return migrate.Expand(s.schema, q) }

// querier is what the methods need of a transaction or the pool.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// db is tx, or the pool when tx is nil.
func (s *pgStore) db(tx pgx.Tx) querier {
	if tx != nil {
		return tx
	}
	return s.pool
}

// inTx runs fn in tx, or in a transaction of its own when tx is nil.
func (s *pgStore) inTx(ctx context.Context, tx pgx.Tx, fn func(tx pgx.Tx) error) error {
	if tx != nil {
		return fn(tx)
	}
	return pgx.BeginFunc(ctx, s.pool, fn)
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// timeOf reads a nullable timestamptz, in UTC (zero for NULL).
func timeOf(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// jsonArg passes raw JSON to a jsonb column (NULL when empty).
func jsonArg(b json.RawMessage) any {
	if len(b) == 0 {
		return nil
	}
	return []byte(b)
}

func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

const notificationCols = `id, supplier_id, event, category, priority, recipient, data, wedding_date, url, reply_to,
	idempotency_key, created_at, acknowledged_at, routed`

func scanNotification(row pgx.Row) (*storedNotification, error) {
	var n storedNotification
	var category, priority string
	var recipient, data []byte
	var acked *time.Time
	err := row.Scan(&n.ID, &n.SupplierID, &n.Event, &category, &priority, &recipient, &data, &n.WeddingDate,
		&n.URL, &n.ReplyTo, &n.IdempotencyKey, &n.CreatedAt, &acked, &n.Routed)
	if err != nil {
		return nil, notFound(err)
	}
	if err := json.Unmarshal(recipient, &n.Recipient); err != nil {
		return nil, fmt.Errorf("notify: notification %s: recipient: %w", n.ID, err)
	}
	n.Category, n.Priority = Category(category), Priority(priority)
	n.Data = data
	n.CreatedAt = n.CreatedAt.UTC()
	n.AcknowledgedAt = timeOf(acked)
	return &n, nil
}

// insertNotification claims the idempotency key in two steps, pipelined in
// one round trip: release the key if the row holding it is older than
// idemSince, then insert, leaving the row alone on a conflict with the row
// that holds the key (the unique index makes a concurrent insert of the
// same key wait for this one's transaction, then conflict or not). On a
// conflict a second statement, with a snapshot taken after the wait, reads
// the holder's id. Should the holder vanish between the two (released by a
// later insert, or pruned), it tries again.
func (s *pgStore) insertNotification(ctx context.Context, tx pgx.Tx, n *storedNotification, idemSince time.Time) (string, bool, error) {
	recipient, err := json.Marshal(n.Recipient)
	if err != nil {
		return "", false, err
	}
	q := s.db(tx)
	insert := s.t(`INSERT INTO {{schema}}.notify_notifications (` + notificationCols + `, idem_held)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`)
	args := []any{n.ID, n.SupplierID, n.Event, string(n.Category), string(n.Priority), recipient, jsonArg(n.Data),
		n.WeddingDate, n.URL, n.ReplyTo, n.IdempotencyKey, n.CreatedAt, nullTime(n.AcknowledgedAt), n.Routed,
		n.IdempotencyKey != ""}
	if n.IdempotencyKey == "" {
		if _, err := q.Exec(ctx, insert, args...); err != nil {
			return "", false, err
		}
		return n.ID, true, nil
	}
	for range 3 {
		var inserted bool
		b := &pgx.Batch{}
		b.Queue(s.t(`UPDATE {{schema}}.notify_notifications SET idem_held = false
			WHERE supplier_id = $1 AND idempotency_key = $2 AND idem_held AND created_at < $3`),
			n.SupplierID, n.IdempotencyKey, idemSince)
		b.Queue(insert+` ON CONFLICT (supplier_id, idempotency_key) WHERE idem_held DO NOTHING`, args...).
			Exec(func(tag pgconn.CommandTag) error {
				inserted = tag.RowsAffected() == 1
				return nil
			})
		if err := q.SendBatch(ctx, b).Close(); err != nil {
			return "", false, err
		}
		if inserted {
			return n.ID, true, nil
		}
		var id string
		err := q.QueryRow(ctx, s.t(`SELECT id FROM {{schema}}.notify_notifications
			WHERE supplier_id = $1 AND idempotency_key = $2 AND idem_held`), n.SupplierID, n.IdempotencyKey).Scan(&id)
		if err == nil {
			return id, false, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return "", false, err
		}
	}
	return "", false, fmt.Errorf("notify: idempotency key of supplier %s changed hands three times during one insert", n.SupplierID)
}

func (s *pgStore) getNotification(ctx context.Context, id string) (*storedNotification, error) {
	return scanNotification(s.pool.QueryRow(ctx, s.t(`SELECT `+notificationCols+` FROM {{schema}}.notify_notifications WHERE id = $1`), id))
}

// collect scans every row with scan.
func collect[T any](rows pgx.Rows, err error, scan func(pgx.Row) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// Listings page by (created_at, id) of the row named by before, which must
// be the supplier's: an unknown id, or another supplier's, lists nothing
// (a pruned cursor had only pruned rows after it).

func (s *pgStore) listNotifications(ctx context.Context, supplierID, before string, limit int) ([]*storedNotification, error) {
	const sel = `SELECT ` + notificationCols + ` FROM {{schema}}.notify_notifications WHERE supplier_id = $1`
	const order = ` ORDER BY created_at DESC, id DESC LIMIT $2`
	if before == "" {
		rows, err := s.pool.Query(ctx, s.t(sel+order), supplierID, clampLimit(limit))
		return collect(rows, err, scanNotification)
	}
	rows, err := s.pool.Query(ctx, s.t(sel+` AND (created_at, id) < (SELECT c.created_at, c.id FROM {{schema}}.notify_notifications c
		WHERE c.id = $3 AND c.supplier_id = $1)`+order), supplierID, clampLimit(limit), before)
	return collect(rows, err, scanNotification)
}

func (s *pgStore) setRouted(ctx context.Context, tx pgx.Tx, id string, round int) error {
	tag, err := s.db(tx).Exec(ctx, s.t(`UPDATE {{schema}}.notify_notifications SET routed = GREATEST(routed, $2) WHERE id = $1`), id, round)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return err
}

func (s *pgStore) acknowledge(ctx context.Context, id string, at time.Time) (bool, error) {
	var set, exists bool
	err := s.pool.QueryRow(ctx, s.t(`WITH u AS (
			UPDATE {{schema}}.notify_notifications SET acknowledged_at = $2 WHERE id = $1 AND acknowledged_at IS NULL RETURNING 1)
		SELECT EXISTS (SELECT 1 FROM u), EXISTS (SELECT 1 FROM {{schema}}.notify_notifications WHERE id = $1)`), id, at).Scan(&set, &exists)
	if err != nil {
		return false, err
	}
	if !set && !exists {
		return false, ErrNotFound
	}
	return set, nil
}

const channelCols = `notification_id, channel, status, provider, error, attempts, not_before, external_id, updated_at`

func scanChannel(row pgx.Row) (*channelRow, error) {
	var r channelRow
	var ch, status string
	var notBefore *time.Time
	if err := row.Scan(&r.NotificationID, &ch, &status, &r.Provider, &r.Error, &r.Attempts, &notBefore, &r.ExternalID, &r.UpdatedAt); err != nil {
		return nil, notFound(err)
	}
	r.Channel, r.Status = Channel(ch), Status(status)
	r.NotBefore = timeOf(notBefore)
	r.UpdatedAt = r.UpdatedAt.UTC()
	return &r, nil
}

func channelArgs(r *channelRow) []any {
	return []any{r.NotificationID, string(r.Channel), string(r.Status), r.Provider, r.Error, r.Attempts,
		nullTime(r.NotBefore), r.ExternalID, r.UpdatedAt}
}

// setChannels sends one upsert per row, in one batch (one round trip; a
// batch on the pool runs in one implicit transaction).
func (s *pgStore) setChannels(ctx context.Context, tx pgx.Tx, rows ...*channelRow) error {
	if len(rows) == 0 {
		return nil
	}
	upsert := s.t(`INSERT INTO {{schema}}.notify_channels (` + channelCols + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (notification_id, channel) DO UPDATE SET status = EXCLUDED.status, provider = EXCLUDED.provider,
		error = EXCLUDED.error, attempts = EXCLUDED.attempts, not_before = EXCLUDED.not_before,
		external_id = EXCLUDED.external_id, updated_at = EXCLUDED.updated_at`)
	b := &pgx.Batch{}
	for _, r := range rows {
		b.Queue(upsert, channelArgs(r)...)
	}
	return s.db(tx).SendBatch(ctx, b).Close()
}

func (s *pgStore) updateChannel(ctx context.Context, tx pgx.Tx, id string, ch Channel, fn func(r *channelRow) error) error {
	return s.inTx(ctx, tx, func(tx pgx.Tx) error {
		r, err := scanChannel(tx.QueryRow(ctx, s.t(`SELECT `+channelCols+` FROM {{schema}}.notify_channels
			WHERE notification_id = $1 AND channel = $2 FOR UPDATE`), id, string(ch)))
		if err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
		r.NotificationID, r.Channel = id, ch // the keys are not fn's to change
		_, err = tx.Exec(ctx, s.t(`UPDATE {{schema}}.notify_channels SET status = $3, provider = $4, error = $5,
			attempts = $6, not_before = $7, external_id = $8, updated_at = $9 WHERE notification_id = $1 AND channel = $2`),
			channelArgs(r)...)
		return err
	})
}

// channelOrderSQL orders channels as AllChannels does.
const channelOrderSQL = `COALESCE(array_position(ARRAY['push', 'sms', 'email', 'in_app'], channel), 5), channel`

func (s *pgStore) channels(ctx context.Context, id string) ([]*channelRow, error) {
	rows, err := s.pool.Query(ctx, s.t(`SELECT `+channelCols+` FROM {{schema}}.notify_channels WHERE notification_id = $1
		ORDER BY `+channelOrderSQL), id)
	return collect(rows, err, scanChannel)
}

func (s *pgStore) channelByExternalID(ctx context.Context, provider, externalID string) (*channelRow, error) {
	if externalID == "" {
		return nil, ErrNotFound
	}
	return scanChannel(s.pool.QueryRow(ctx, s.t(`SELECT `+channelCols+` FROM {{schema}}.notify_channels
		WHERE provider = $1 AND external_id = $2 AND external_id <> '' ORDER BY updated_at DESC LIMIT 1`), provider, externalID))
}

// insertAttempts sends one insert per row, in one batch. A JobID of 0
// is stored as NULL: attemptRecorded never finds it.
func (s *pgStore) insertAttempts(ctx context.Context, tx pgx.Tx, rows ...*attemptRow) error {
	if len(rows) == 0 {
		return nil
	}
	insert := s.t(`INSERT INTO {{schema}}.notify_attempts (notification_id, supplier_id, channel, provider, recipient,
		number, ok, error, external_id, latency_us, at, job_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`)
	b := &pgx.Batch{}
	for _, r := range rows {
		var job *int64
		if r.JobID != 0 {
			job = &r.JobID
		}
		b.Queue(insert, r.NotificationID, r.SupplierID, string(r.Channel), r.Provider, r.Recipient, r.Number, r.OK,
			r.Error, r.ExternalID, r.Latency.Microseconds(), r.At, job)
	}
	return s.db(tx).SendBatch(ctx, b).Close()
}

func (s *pgStore) attemptRecorded(ctx context.Context, id string, ch Channel, jobID int64) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, s.t(`SELECT EXISTS (SELECT 1 FROM {{schema}}.notify_attempts
		WHERE notification_id = $1 AND channel = $2 AND job_id = $3)`), id, string(ch), jobID).Scan(&ok)
	return ok, err
}

func (s *pgStore) listAttempts(ctx context.Context, id string) ([]Attempt, error) {
	rows, err := s.pool.Query(ctx, s.t(`SELECT notification_id, channel, provider, recipient, number, ok, error,
		external_id, latency_us, at FROM {{schema}}.notify_attempts WHERE notification_id = $1 ORDER BY id`), id)
	return collect(rows, err, func(row pgx.Row) (Attempt, error) {
		var a Attempt
		var ch string
		var us int64
		err := row.Scan(&a.NotificationID, &ch, &a.Provider, &a.Recipient, &a.Number, &a.OK, &a.Error, &a.ExternalID, &us, &a.At)
		a.Channel, a.Latency, a.At = Channel(ch), time.Duration(us)*time.Microsecond, a.At.UTC()
		return a, err
	})
}

func (s *pgStore) getPreferences(ctx context.Context, supplierID string) (*Preferences, error) {
	var b []byte
	err := s.pool.QueryRow(ctx, s.t(`SELECT prefs FROM {{schema}}.notify_preferences WHERE supplier_id = $1`), supplierID).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var p Preferences
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("notify: preferences of supplier %s: %w", supplierID, err)
	}
	return &p, nil
}

func (s *pgStore) setPreferences(ctx context.Context, supplierID string, p *Preferences, at time.Time) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, s.t(`INSERT INTO {{schema}}.notify_preferences (supplier_id, prefs, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (supplier_id) DO UPDATE SET prefs = EXCLUDED.prefs, updated_at = EXCLUDED.updated_at`), supplierID, b, at)
	return err
}

func (s *pgStore) deletePreferences(ctx context.Context, supplierID string) error {
	tag, err := s.pool.Exec(ctx, s.t(`DELETE FROM {{schema}}.notify_preferences WHERE supplier_id = $1`), supplierID)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return err
}

// insertSubscription inserts the subscription, or, when the supplier has
// registered the same device before (same kind and device key: the Web Push
// endpoint, the FCM token), updates that row in the same statement: the new
// endpoint and sealed secrets replace the old, DeadAt is cleared (set to
// the new row's), and the row keeps its id and creation time, which are
// written back to sub.ID and sub.CreatedAt. The secrets themselves (P256DH,
// Auth, Token) are never stored; the token is read only to hash it.
func (s *pgStore) insertSubscription(ctx context.Context, sub *subscriptionRow) error {
	var key *string
	if k := deviceKey(sub); k != "" {
		key = &k
	}
	var id string
	var created time.Time
	err := s.pool.QueryRow(ctx, s.t(`INSERT INTO {{schema}}.notify_push_subscriptions
			(id, supplier_id, kind, endpoint, device_key, sealed, created_at, dead_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (supplier_id, kind, device_key) WHERE device_key IS NOT NULL DO UPDATE SET endpoint = EXCLUDED.endpoint,
			sealed = EXCLUDED.sealed, dead_at = EXCLUDED.dead_at
		RETURNING id, created_at`),
		sub.ID, sub.SupplierID, string(sub.Kind), sub.Endpoint, key, sub.Sealed, sub.CreatedAt, nullTime(sub.DeadAt)).Scan(&id, &created)
	if err != nil {
		return err
	}
	sub.ID, sub.CreatedAt = id, created.UTC()
	return nil
}

func (s *pgStore) subscriptions(ctx context.Context, supplierID string, liveOnly bool) ([]*subscriptionRow, error) {
	q := `SELECT id, supplier_id, kind, endpoint, sealed, created_at, dead_at FROM {{schema}}.notify_push_subscriptions
		WHERE supplier_id = $1`
	if liveOnly {
		q += ` AND dead_at IS NULL`
	}
	rows, err := s.pool.Query(ctx, s.t(q+` ORDER BY created_at, id`), supplierID)
	return collect(rows, err, func(row pgx.Row) (*subscriptionRow, error) {
		var r subscriptionRow
		var kind string
		var dead *time.Time
		if err := row.Scan(&r.ID, &r.SupplierID, &kind, &r.Endpoint, &r.Sealed, &r.CreatedAt, &dead); err != nil {
			return nil, err
		}
		r.Kind, r.CreatedAt, r.DeadAt = PushKind(kind), r.CreatedAt.UTC(), timeOf(dead)
		return &r, nil
	})
}

func (s *pgStore) markSubscriptionDead(ctx context.Context, id string, at time.Time) error {
	tag, err := s.pool.Exec(ctx, s.t(`UPDATE {{schema}}.notify_push_subscriptions SET dead_at = COALESCE(dead_at, $2) WHERE id = $1`), id, at)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return err
}

func (s *pgStore) deleteSubscription(ctx context.Context, supplierID, id string) error {
	tag, err := s.pool.Exec(ctx, s.t(`DELETE FROM {{schema}}.notify_push_subscriptions WHERE id = $1 AND supplier_id = $2`), id, supplierID)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return err
}

func scanDigest(row pgx.Row) (*digestRow, error) {
	var d digestRow
	var c string
	if err := row.Scan(&d.ID, &d.SupplierID, &c, &d.WindowEnd, &d.Items); err != nil {
		return nil, notFound(err)
	}
	d.Category, d.WindowEnd = Category(c), d.WindowEnd.UTC()
	return &d, nil
}

// addToDigest is one upsert on the (supplier, category) key: concurrent
// adds meet there and append to the same row (a notification already in
// it is not added twice). It opened the digest when the row has newID.
func (s *pgStore) addToDigest(ctx context.Context, tx pgx.Tx, supplierID string, c Category, notificationID string, newID string, windowEnd time.Time) (*digestRow, bool, error) {
	d, err := scanDigest(s.db(tx).QueryRow(ctx, s.t(`INSERT INTO {{schema}}.notify_digests AS d (id, supplier_id, category, window_end, items)
		VALUES ($1, $2, $3, $4, ARRAY[$5::text])
		ON CONFLICT (supplier_id, category) DO UPDATE SET items = CASE WHEN $5::text = ANY (d.items) THEN d.items
			ELSE array_append(d.items, $5::text) END
		RETURNING id, supplier_id, category, window_end, items`), newID, supplierID, string(c), windowEnd, notificationID))
	if err != nil {
		return nil, false, err
	}
	return d, d.ID == newID, nil
}

func (s *pgStore) closeDigest(ctx context.Context, tx pgx.Tx, digestID string) (*digestRow, error) {
	return scanDigest(s.db(tx).QueryRow(ctx, s.t(`DELETE FROM {{schema}}.notify_digests WHERE id = $1
		RETURNING id, supplier_id, category, window_end, items`), digestID))
}

const inAppCols = `id, supplier_id, notification_id, event, category, priority, title, body, url, data, created_at, read_at`

func scanInApp(row pgx.Row) (InAppMessage, error) {
	var m InAppMessage
	var category, priority string
	var data []byte
	var read *time.Time
	if err := row.Scan(&m.ID, &m.SupplierID, &m.NotificationID, &m.Event, &category, &priority, &m.Title, &m.Body,
		&m.URL, &data, &m.CreatedAt, &read); err != nil {
		return m, err
	}
	m.Category, m.Priority, m.Data = Category(category), Priority(priority), data
	m.CreatedAt, m.ReadAt = m.CreatedAt.UTC(), timeOf(read)
	return m, nil
}

func (s *pgStore) insertInApp(ctx context.Context, tx pgx.Tx, m *InAppMessage) error {
	_, err := s.db(tx).Exec(ctx, s.t(`INSERT INTO {{schema}}.notify_inapp (`+inAppCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`),
		m.ID, m.SupplierID, m.NotificationID, m.Event, string(m.Category), string(m.Priority), m.Title, m.Body, m.URL,
		jsonArg(m.Data), m.CreatedAt, nullTime(m.ReadAt))
	return err
}

func (s *pgStore) listInApp(ctx context.Context, supplierID string, q InAppQuery) ([]InAppMessage, error) {
	sql := `SELECT ` + inAppCols + ` FROM {{schema}}.notify_inapp WHERE supplier_id = $1`
	args := []any{supplierID, clampLimit(q.Limit)}
	if q.UnreadOnly {
		sql += ` AND read_at IS NULL`
	}
	if q.Before != "" {
		sql += ` AND (created_at, id) < (SELECT c.created_at, c.id FROM {{schema}}.notify_inapp c WHERE c.id = $3 AND c.supplier_id = $1)`
		args = append(args, q.Before)
	}
	rows, err := s.pool.Query(ctx, s.t(sql+` ORDER BY created_at DESC, id DESC LIMIT $2`), args...)
	return collect(rows, err, scanInApp)
}

func (s *pgStore) unreadInApp(ctx context.Context, supplierID string) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, s.t(`SELECT count(*) FROM {{schema}}.notify_inapp WHERE supplier_id = $1 AND read_at IS NULL`), supplierID).Scan(&n)
	return n, err
}

// markRead is one UPDATE; it returns the distinct notification ids of the
// messages it marked, sorted.
func (s *pgStore) markRead(ctx context.Context, supplierID string, ids []string, at time.Time) ([]string, error) {
	sql := `WITH m AS (UPDATE {{schema}}.notify_inapp SET read_at = $2 WHERE supplier_id = $1 AND read_at IS NULL`
	args := []any{supplierID, at}
	if len(ids) > 0 {
		sql += ` AND id = ANY ($3)`
		args = append(args, ids)
	}
	rows, err := s.pool.Query(ctx, s.t(sql+` RETURNING notification_id) SELECT DISTINCT notification_id FROM m ORDER BY 1`), args...)
	return collect(rows, err, func(row pgx.Row) (string, error) {
		var id string
		err := row.Scan(&id)
		return id, err
	})
}

// prune deletes in batches of pruneBatch notifications, each with its
// channels, attempts and in-app messages in one statement (one
// transaction), so no batch holds many locks or leaves a notification's
// rows half deleted.
func (s *pgStore) prune(ctx context.Context, before time.Time) (int64, error) {
	sql := s.t(`WITH n AS (
			DELETE FROM {{schema}}.notify_notifications WHERE id IN (
				SELECT id FROM {{schema}}.notify_notifications WHERE created_at < $1 ORDER BY created_at LIMIT $2)
			RETURNING id),
		c AS (DELETE FROM {{schema}}.notify_channels WHERE notification_id IN (SELECT id FROM n)),
		a AS (DELETE FROM {{schema}}.notify_attempts WHERE notification_id IN (SELECT id FROM n)),
		i AS (DELETE FROM {{schema}}.notify_inapp WHERE notification_id IN (SELECT id FROM n))
		SELECT count(*) FROM n`)
	var total int64
	for {
		var n int64
		if err := s.pool.QueryRow(ctx, sql, before, s.pruneBatch).Scan(&n); err != nil {
			return total, err
		}
		total += n
		if n < int64(s.pruneBatch) {
			return total, nil
		}
	}
}
