package delivery

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wedsync/integrations/internal/attempt"
	"github.com/wedsync/integrations/internal/migrate"
)

// pgStore keeps state in the host's Postgres, in the schema it names.
type pgStore struct {
	pool   *pgxpool.Pool
	schema string
	t      func(string) string // expands {{schema}}

	// The hot path of concurrent deliveries, grouped into one round trip
	// each (attempt.Batcher): message reads, and the rows of attempts
	// that end their chain.
	reads  attempt.Batcher[string, *storedMessage]
	finals attempt.Batcher[*Attempt, struct{}]
	// hook, when not nil, is told of each batch before it runs, as
	// "read" or "final" and its size (an error from it fails the batch's
	// transaction before its commit), and of each item queued behind a
	// running batch, as "read queued" or "final queued" and how many wait
	// (tests).
	hook func(event string, n int) error
}

// batchMax bounds a batch: a few hundred rows are one round trip and a
// few milliseconds of the server's time.
const batchMax = 200

// batchTimeout bounds one batch round trip: its callers' cancellation does
// not reach it (one caller giving up must not fail the others).
const batchTimeout = 15 * time.Second

func newPGStore(pool *pgxpool.Pool, schema string, hook func(string, int) error) *pgStore {
	s := &pgStore{pool: pool, schema: schema, t: func(q string) string { return migrate.Expand(schema, q) }, hook: hook}
	s.reads = attempt.Batcher[string, *storedMessage]{Max: batchMax, Flush: s.readMessages}
	s.finals = attempt.Batcher[*Attempt, struct{}]{Max: batchMax, Flush: s.insertFinalAttempts}
	if hook != nil {
		s.reads.Queued = func(n int) { _ = hook("read queued", n) }
		s.finals.Queued = func(n int) { _ = hook("final queued", n) }
	}
	return s
}

const endpointCols = `id, supplier_id, url, description, event_types, status, disabled_reason, rate_limit, secrets, failing_since, created_at, updated_at`

func scanEndpoint(row pgx.Row) (*endpointRow, error) {
	var ep endpointRow
	var failing *time.Time
	var status string
	err := row.Scan(&ep.ID, &ep.SupplierID, &ep.URL, &ep.Description, &ep.EventTypes, &status,
		&ep.DisabledReason, &ep.RateLimit, &ep.Sealed, &failing, &ep.CreatedAt, &ep.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	ep.Status = EndpointStatus(status)
	if failing != nil {
		ep.FailingSince = *failing
	}
	return &ep, nil
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func (s *pgStore) insertEndpoint(ctx context.Context, ep *endpointRow) error {
	_, err := s.pool.Exec(ctx, s.t(`INSERT INTO {{schema}}.webhook_endpoints (`+endpointCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`),
		ep.ID, ep.SupplierID, ep.URL, ep.Description, ep.EventTypes, string(ep.Status), ep.DisabledReason,
		ep.RateLimit, ep.Sealed, nullTime(ep.FailingSince), ep.CreatedAt, ep.UpdatedAt)
	return err
}

func (s *pgStore) updateEndpoint(ctx context.Context, id string, fn func(*endpointRow) error) (*endpointRow, error) {
	var out *endpointRow
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		ep, err := scanEndpoint(tx.QueryRow(ctx, s.t(`SELECT `+endpointCols+` FROM {{schema}}.webhook_endpoints WHERE id = $1 FOR UPDATE`), id))
		if err != nil {
			return err
		}
		if err := fn(ep); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, s.t(`UPDATE {{schema}}.webhook_endpoints SET url = $2, description = $3, event_types = $4,
			status = $5, disabled_reason = $6, rate_limit = $7, secrets = $8, failing_since = $9, updated_at = $10 WHERE id = $1`),
			ep.ID, ep.URL, ep.Description, ep.EventTypes, string(ep.Status), ep.DisabledReason, ep.RateLimit, ep.Sealed,
			nullTime(ep.FailingSince), ep.UpdatedAt)
		out = ep
		return err
	})
	return out, err
}

func (s *pgStore) getEndpoint(ctx context.Context, id string) (*endpointRow, error) {
	return scanEndpoint(s.pool.QueryRow(ctx, s.t(`SELECT `+endpointCols+` FROM {{schema}}.webhook_endpoints WHERE id = $1`), id))
}

func (s *pgStore) listEndpoints(ctx context.Context, supplierID string) ([]*endpointRow, error) {
	rows, err := s.pool.Query(ctx, s.t(`SELECT `+endpointCols+` FROM {{schema}}.webhook_endpoints WHERE supplier_id = $1 ORDER BY id`), supplierID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*endpointRow
	for rows.Next() {
		ep, err := scanEndpoint(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, ep)
	}
	return out, rows.Err()
}

func (s *pgStore) deleteEndpoint(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, s.t(`DELETE FROM {{schema}}.webhook_endpoints WHERE id = $1`), id)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return err
}

func (s *pgStore) setFailing(ctx context.Context, id string, at time.Time) error {
	var err error
	if at.IsZero() {
		_, err = s.pool.Exec(ctx, s.t(`UPDATE {{schema}}.webhook_endpoints SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL`), id)
	} else {
		_, err = s.pool.Exec(ctx, s.t(`UPDATE {{schema}}.webhook_endpoints SET failing_since = $2 WHERE id = $1 AND failing_since IS NULL`), id, at)
	}
	return err
}

func (s *pgStore) insertMessage(ctx context.Context, tx pgx.Tx, msg *storedMessage, key string, idemSince time.Time) (string, bool, error) {
	if key == "" {
		_, err := tx.Exec(ctx, s.t(`INSERT INTO {{schema}}.webhook_messages (id, supplier_id, event_type, payload, created_at)
			VALUES ($1, $2, $3, $4, $5)`), msg.ID, msg.SupplierID, msg.EventType, msg.Payload, msg.CreatedAt)
		return msg.ID, err == nil, err
	}
	// A key older than the window is released before the insert claims it.
	if _, err := tx.Exec(ctx, s.t(`UPDATE {{schema}}.webhook_messages SET idempotency_key = NULL
		WHERE supplier_id = $1 AND idempotency_key = $2 AND created_at < $3`), msg.SupplierID, key, idemSince); err != nil {
		return "", false, err
	}
	var id string
	err := tx.QueryRow(ctx, s.t(`INSERT INTO {{schema}}.webhook_messages (id, supplier_id, event_type, payload, idempotency_key, created_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (supplier_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING RETURNING id`),
		msg.ID, msg.SupplierID, msg.EventType, msg.Payload, key, msg.CreatedAt).Scan(&id)
	if err == nil {
		return id, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return "", false, err
	}
	err = tx.QueryRow(ctx, s.t(`SELECT id FROM {{schema}}.webhook_messages WHERE supplier_id = $1 AND idempotency_key = $2`),
		msg.SupplierID, key).Scan(&id)
	return id, false, err
}

// copyMessages stores messages without idempotency keys with COPY.
func (s *pgStore) copyMessages(ctx context.Context, tx pgx.Tx, msgs []*storedMessage) error {
	_, err := tx.CopyFrom(ctx, pgx.Identifier{s.schema, "webhook_messages"},
		[]string{"id", "supplier_id", "event_type", "payload", "created_at"},
		pgx.CopyFromSlice(len(msgs), func(i int) ([]any, error) {
			m := msgs[i]
			return []any{m.ID, m.SupplierID, m.EventType, m.Payload, m.CreatedAt}, nil
		}))
	return err
}

func (s *pgStore) supplierEndpoints(ctx context.Context, tx pgx.Tx, supplierID string) ([]*Endpoint, error) {
	rows, err := tx.Query(ctx, s.t(`SELECT id, status, event_types FROM {{schema}}.webhook_endpoints WHERE supplier_id = $1`), supplierID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Endpoint
	for rows.Next() {
		ep := &Endpoint{SupplierID: supplierID}
		var status string
		if err := rows.Scan(&ep.ID, &status, &ep.EventTypes); err != nil {
			return nil, err
		}
		ep.Status = EndpointStatus(status)
		out = append(out, ep)
	}
	return out, rows.Err()
}

// getMessage reads a message, in one query with the reads of concurrent
// deliveries.
func (s *pgStore) getMessage(ctx context.Context, id string) (*storedMessage, error) {
	m, err := s.reads.Do(ctx, id)
	if err == nil && m == nil {
		return nil, ErrNotFound
	}
	return m, err
}

// readMessages reads a batch of messages; a message not found is nil.
func (s *pgStore) readMessages(ctx context.Context, ids []string) ([]*storedMessage, error) {
	if s.hook != nil {
		if err := s.hook("read", len(ids)); err != nil {
			return nil, err
		}
	}
	if len(ids) == 1 {
		m, err := s.readMessage(ctx, ids[0])
		if errors.Is(err, ErrNotFound) {
			err = nil
		}
		return []*storedMessage{m}, err
	}
	ctx, cancel := context.WithTimeout(ctx, batchTimeout)
	defer cancel()
	rows, err := s.pool.Query(ctx, s.t(`SELECT id, supplier_id, event_type, payload, created_at FROM {{schema}}.webhook_messages WHERE id = ANY($1)`), ids)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	byID := make(map[string]*storedMessage, len(ids))
	for rows.Next() {
		m := &storedMessage{}
		if err := rows.Scan(&m.ID, &m.SupplierID, &m.EventType, &m.Payload, &m.CreatedAt); err != nil {
			return nil, err
		}
		byID[m.ID] = m
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]*storedMessage, len(ids))
	for i, id := range ids {
		out[i] = byID[id] // two deliveries of one message share it: read-only
	}
	return out, nil
}

func (s *pgStore) readMessage(ctx context.Context, id string) (*storedMessage, error) {
	ctx, cancel := context.WithTimeout(ctx, batchTimeout)
	defer cancel()
	m := &storedMessage{ID: id}
	err := s.pool.QueryRow(ctx, s.t(`SELECT supplier_id, event_type, payload, created_at FROM {{schema}}.webhook_messages WHERE id = $1`), id).
		Scan(&m.SupplierID, &m.EventType, &m.Payload, &m.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	return m, err
}

const insertAttemptSQL = `INSERT INTO {{schema}}.webhook_attempts (message_id, endpoint_id, supplier_id, event_type, number, status,
		response_status, latency_us, response_body, error, at, next_attempt_at, job_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id`

// insertAttemptsSQL inserts a batch of attempts given as one array per
// column (attemptColumns), in their order.
const insertAttemptsSQL = `INSERT INTO {{schema}}.webhook_attempts (message_id, endpoint_id, supplier_id, event_type, number, status,
		response_status, latency_us, response_body, error, at, next_attempt_at, job_id)
		SELECT message_id, endpoint_id, supplier_id, event_type, number, status,
			response_status, latency_us, response_body, error, at, next_attempt_at, job_id
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::text[], $7::int[], $8::bigint[],
			$9::text[], $10::text[], $11::timestamptz[], $12::timestamptz[], $13::bigint[])
			WITH ORDINALITY AS u(message_id, endpoint_id, supplier_id, event_type, number, status,
				response_status, latency_us, response_body, error, at, next_attempt_at, job_id, ord)
		ORDER BY ord RETURNING id`

// attemptColumns is the arguments of insertAttemptsSQL.
func attemptColumns(as []*Attempt) []any {
	cols := make([][]any, 13)
	for i := range cols {
		cols[i] = make([]any, len(as))
	}
	for r, a := range as {
		for c, v := range attemptArgs(a) {
			cols[c][r] = v
		}
	}
	out := make([]any, len(cols))
	for i, c := range cols {
		out[i] = c
	}
	return out
}

func attemptArgs(a *Attempt) []any {
	var job *int64
	if a.jobID != 0 {
		job = &a.jobID
	}
	return []any{a.MessageID, a.EndpointID, a.SupplierID, a.EventType, a.Number, string(a.Status), a.ResponseStatus,
		a.Latency.Microseconds(), a.ResponseBody, a.Error, a.At, nullTime(a.NextAttemptAt), job}
}

func (s *pgStore) insertAttempt(ctx context.Context, tx pgx.Tx, a *Attempt) error {
	return tx.QueryRow(ctx, s.t(insertAttemptSQL), attemptArgs(a)...).Scan(&a.ID)
}

// insertFinalAttempt logs an attempt that ends its chain, in one
// transaction with those of concurrent deliveries. When that transaction
// fails, the row is written again in one of its own: a failed batch costs
// each of its entries a write, never a request (the Recorder retries this
// write, and only this write, with backoff when that fails too).
func (s *pgStore) insertFinalAttempt(ctx context.Context, a *Attempt) error {
	if _, err := s.finals.Do(ctx, a); err == nil {
		return nil
	}
	_, err := s.insertFinalAttempts(ctx, []*Attempt{a})
	return err
}

// insertFinalAttempts writes a batch of final attempt rows in one
// transaction, without waiting for its commit to reach the disk (the same
// trade as before batching: a crash can lose the last rows, whose jobs
// then run again and find no record; at least once).
func (s *pgStore) insertFinalAttempts(ctx context.Context, as []*Attempt) ([]struct{}, error) {
	var fail error
	if s.hook != nil {
		fail = s.hook("final", len(as))
	}
	ctx, cancel := context.WithTimeout(ctx, batchTimeout)
	defer cancel()
	ids := make([]int64, len(as))
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue("SET LOCAL synchronous_commit TO OFF")
	if len(as) == 1 {
		b.Queue(s.t(insertAttemptSQL), attemptArgs(as[0])...).QueryRow(func(row pgx.Row) error { return row.Scan(&ids[0]) })
	} else {
		// One statement for the batch: the server's cost per row is far
		// below a statement's.
		b.Queue(s.t(insertAttemptsSQL), attemptColumns(as)...).Query(func(rows pgx.Rows) error {
			got, err := pgx.CollectRows(rows, pgx.RowTo[int64])
			if err != nil {
				return err
			}
			if len(got) != len(as) {
				return fmt.Errorf("delivery: %d attempt rows inserted, want %d", len(got), len(as))
			}
			// The rows are inserted in ord order and take their ids from
			// one sequence in that order: the i-th smallest id is the
			// i-th row's, whatever order RETURNING gives them in.
			slices.Sort(got)
			copy(ids, got)
			return nil
		})
	}
	if fail != nil {
		b.Queue("SELECT 1/0") // aborts the transaction: its COMMIT rolls back
	}
	b.Queue("COMMIT")
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	if fail != nil {
		return nil, fail
	}
	for i, a := range as {
		a.ID = ids[i] // only once committed: a failed batch leaves no id behind
	}
	return make([]struct{}, len(as)), nil
}

func (s *pgStore) attemptRecorded(ctx context.Context, messageID, endpointID string, number int, jobID int64, since time.Time) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, s.t(`SELECT EXISTS (SELECT 1 FROM {{schema}}.webhook_attempts
		WHERE message_id = $1 AND endpoint_id = $2 AND number = $3 AND (job_id = $4 OR (job_id IS NULL AND at >= $5)))`),
		messageID, endpointID, number, jobID, since).Scan(&ok)
	return ok, err
}

func (s *pgStore) listAttempts(ctx context.Context, q AttemptQuery) ([]Attempt, error) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if q.MessageID != "" {
		add("message_id = $%d", q.MessageID)
	}
	if q.EndpointID != "" {
		add("endpoint_id = $%d", q.EndpointID)
	}
	if q.SupplierID != "" {
		add("supplier_id = $%d", q.SupplierID)
	}
	if q.Status != "" {
		add("status = $%d", string(q.Status))
	}
	if !q.Since.IsZero() {
		add("at >= $%d", q.Since)
	}
	if q.BeforeID != 0 {
		add("id < $%d", q.BeforeID)
	}
	sql := `SELECT id, message_id, endpoint_id, supplier_id, event_type, number, status, response_status, latency_us,
		response_body, error, at, next_attempt_at FROM {{schema}}.webhook_attempts`
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, q.Limit)
	sql += fmt.Sprintf(" ORDER BY id DESC LIMIT $%d", len(args))
	rows, err := s.pool.Query(ctx, s.t(sql), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Attempt
	for rows.Next() {
		var a Attempt
		var status string
		var lat int64
		var next *time.Time
		if err := rows.Scan(&a.ID, &a.MessageID, &a.EndpointID, &a.SupplierID, &a.EventType, &a.Number, &status,
			&a.ResponseStatus, &lat, &a.ResponseBody, &a.Error, &a.At, &next); err != nil {
			return nil, err
		}
		a.Status = AttemptStatus(status)
		a.Latency = time.Duration(lat) * time.Microsecond
		if next != nil {
			a.NextAttemptAt = *next
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

func (s *pgStore) failedMessages(ctx context.Context, endpointID string, since time.Time) ([]string, error) {
	rows, err := s.pool.Query(ctx, s.t(`SELECT message_id FROM (
			SELECT DISTINCT ON (message_id) message_id, status, next_attempt_at, id
			FROM {{schema}}.webhook_attempts WHERE endpoint_id = $1 AND at >= $2
			ORDER BY message_id, id DESC) latest
		WHERE status = 'failed' AND next_attempt_at IS NULL ORDER BY id`), endpointID, since)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

func (s *pgStore) stats(ctx context.Context, endpointID string, since time.Time) (EndpointStats, error) {
	var st EndpointStats
	var p50, p90, p99 *int64
	err := s.pool.QueryRow(ctx, s.t(`SELECT count(*), count(*) FILTER (WHERE status = 'succeeded'),
			percentile_disc(0.5) WITHIN GROUP (ORDER BY latency_us),
			percentile_disc(0.9) WITHIN GROUP (ORDER BY latency_us),
			percentile_disc(0.99) WITHIN GROUP (ORDER BY latency_us)
		FROM {{schema}}.webhook_attempts WHERE endpoint_id = $1 AND at >= $2`), endpointID, since).
		Scan(&st.Attempts, &st.Succeeded, &p50, &p90, &p99)
	if err != nil {
		return st, err
	}
	st.Failed = st.Attempts - st.Succeeded
	us := func(v *int64) time.Duration {
		if v == nil {
			return 0
		}
		return time.Duration(*v) * time.Microsecond
	}
	finishStats(&st, func(p float64) time.Duration {
		switch p {
		case 0.5:
			return us(p50)
		case 0.9:
			return us(p90)
		}
		return us(p99)
	})
	return st, nil
}

func (s *pgStore) prune(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, s.t(`DELETE FROM {{schema}}.webhook_attempts WHERE at < $1`), before)
	if err != nil {
		return 0, err
	}
	if _, err := s.pool.Exec(ctx, s.t(`DELETE FROM {{schema}}.webhook_messages WHERE created_at < $1`), before); err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}
