package calendar

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
	"github.com/wedsync/integrations/internal/pgq"
)

// pgStore keeps the engine's state in the host's Postgres, in the tables
// migrations/*.sql create in the schema it names.
type pgStore struct {
	pool   *pgxpool.Pool
	schema string
}

func newPGStore(pool *pgxpool.Pool, schema string) *pgStore {
	return &pgStore{pool: pool, schema: schema}
}

var _ store = (*pgStore)(nil)

func (s *pgStore) t(q string) string { return migrate.Expand(s.schema, q) }

func (s *pgStore) db(tx pgx.Tx) pgq.Querier { return pgq.On(s.pool, tx) }

const connCols = `id, supplier_id, provider, calendar, time_zone, read_only, sharing, credentials, cursor,
	full_at, last_success, last_error, failures, next_run, seq,
	(SELECT count(*) FROM {{schema}}.calendar_mappings m WHERE m.connection_id = c.id),
	needs_reconnect, coalesce(watch_id, ''), watch, watch_expires`

func scanConn(row pgx.Row) (*connRow, error) {
	var c connRow
	var sharing []byte
	var fullAt, lastOK, next, watchExp *time.Time
	err := row.Scan(&c.ID, &c.Supplier, &c.Provider, &c.Calendar, &c.TimeZone, &c.ReadOnly, &sharing, &c.creds, &c.Cursor,
		&fullAt, &lastOK, &c.LastError, &c.Failures, &next, &c.seq, &c.Events,
		&c.NeedsReconnect, &c.watchID, &c.watch, &watchExp)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(sharing, &c.Sharing); err != nil {
		return nil, fmt.Errorf("calendar: connection %s: sharing: %w", c.ID, err)
	}
	c.fullAt, c.LastSuccess, c.NextRun, c.WatchExpires = deref(fullAt), deref(lastOK), deref(next), deref(watchExp)
	return &c, nil
}

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func (s *pgStore) insertConnection(ctx context.Context, tx pgx.Tx, c *connRow) error {
	sharing, err := json.Marshal(c.Sharing)
	if err != nil {
		return err
	}
	_, err = s.db(tx).Exec(ctx, s.t(`INSERT INTO {{schema}}.calendar_connections
		(id, supplier_id, provider, calendar, time_zone, read_only, sharing, credentials, next_run, seq, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`),
		c.ID, c.Supplier, c.Provider, c.Calendar, c.TimeZone, c.ReadOnly, sharing, c.creds, nullTime(c.NextRun), c.seq, time.Now())
	return err
}

func (s *pgStore) connection(ctx context.Context, tx pgx.Tx, id string, lock bool) (*connRow, error) {
	q := `SELECT ` + connCols + ` FROM {{schema}}.calendar_connections c WHERE id = $1`
	if lock && tx != nil {
		q += ` FOR UPDATE`
	}
	return scanConn(s.db(tx).QueryRow(ctx, s.t(q), id))
}

func (s *pgStore) connections(ctx context.Context, tx pgx.Tx, supplier string) ([]*connRow, error) {
	rows, err := s.db(tx).Query(ctx, s.t(`SELECT `+connCols+` FROM {{schema}}.calendar_connections c
		WHERE supplier_id = $1 ORDER BY id`), supplier)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*connRow
	for rows.Next() {
		c, err := scanConn(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func (s *pgStore) saveSync(ctx context.Context, tx pgx.Tx, c *connRow) error {
	tag, err := s.db(tx).Exec(ctx, s.t(`UPDATE {{schema}}.calendar_connections
		SET cursor = $2, full_at = $3, last_success = $4, last_error = $5, failures = $6, next_run = $7, seq = $8
		WHERE id = $1`), c.ID, c.Cursor, nullTime(c.fullAt), nullTime(c.LastSuccess), c.LastError, c.Failures, nullTime(c.NextRun), c.seq)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return err
}

func (s *pgStore) bumpSeq(ctx context.Context, tx pgx.Tx, id string, nextRun time.Time) (int64, error) {
	var seq int64
	err := s.db(tx).QueryRow(ctx, s.t(`UPDATE {{schema}}.calendar_connections SET seq = seq + 1, next_run = $2
		WHERE id = $1 RETURNING seq`), id, nextRun).Scan(&seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, ErrNotFound
	}
	return seq, err
}

func (s *pgStore) setCredentials(ctx context.Context, tx pgx.Tx, id string, sealed []byte, needsReconnect bool) error {
	tag, err := s.db(tx).Exec(ctx, s.t(`UPDATE {{schema}}.calendar_connections SET credentials = $2, needs_reconnect = $3 WHERE id = $1`),
		id, sealed, needsReconnect)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return err
}

func (s *pgStore) setWatch(ctx context.Context, id, watchID string, sealed []byte, expires time.Time) error {
	var wid *string
	if watchID != "" {
		wid = &watchID
	} else {
		sealed, expires = nil, time.Time{}
	}
	tag, err := s.pool.Exec(ctx, s.t(`UPDATE {{schema}}.calendar_connections SET watch_id = $2, watch = $3, watch_expires = $4 WHERE id = $1`),
		id, wid, sealed, nullTime(expires))
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return err
}

func (s *pgStore) connectionByWatch(ctx context.Context, watchID string) (*connRow, error) {
	return scanConn(s.pool.QueryRow(ctx, s.t(`SELECT `+connCols+` FROM {{schema}}.calendar_connections c WHERE watch_id = $1`), watchID))
}

func (s *pgStore) deleteConnection(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, s.t(`DELETE FROM {{schema}}.calendar_connections WHERE id = $1`), id)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return err
}

// bookingBody is a booking as stored in the body column, with the names of
// its zones, which JSON's offsets lose.
type bookingBody struct {
	Booking
	StartZone string `json:"start_zone,omitempty"`
	EndZone   string `json:"end_zone,omitempty"`
}

func encodeBooking(b *Booking) ([]byte, error) {
	return json.Marshal(bookingBody{Booking: *b, StartZone: b.Start.Location().String(), EndZone: b.End.Location().String()})
}

func decodeBooking(raw []byte) (*Booking, error) {
	var bb bookingBody
	if err := json.Unmarshal(raw, &bb); err != nil {
		return nil, fmt.Errorf("calendar: stored booking: %w", err)
	}
	b := bb.Booking
	if loc, err := time.LoadLocation(bb.StartZone); err == nil && bb.StartZone != "" {
		b.Start = b.Start.In(loc)
	}
	if loc, err := time.LoadLocation(bb.EndZone); err == nil && bb.EndZone != "" {
		b.End = b.End.In(loc)
	}
	return &b, nil
}

func (s *pgStore) putBooking(ctx context.Context, tx pgx.Tx, b *Booking, now time.Time) error {
	return pgq.InTx(ctx, s.pool, tx, func(tx pgx.Tx) error {
		// Two transactions inserting conflicting rows under an exclusion
		// constraint can each wait for the other: Postgres then aborts one
		// with a deadlock (40P01). The victim's savepoint is rolled back and
		// it tries again, and then meets the winner's row (23P01).
		for try := 1; ; try++ {
			err := s.putBookingOnce(ctx, tx, b, now)
			var pgErr *pgconn.PgError
			if try < 5 && errors.As(err, &pgErr) && (pgErr.Code == "40P01" || pgErr.Code == "40001") {
				continue
			}
			return err
		}
	})
}

// putBookingOnce is one try of putBooking, in a savepoint of tx, which
// keeps the host's transaction usable after a constraint violation.
func (s *pgStore) putBookingOnce(ctx context.Context, tx pgx.Tx, b *Booking, now time.Time) error {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = sp.Rollback(context.WithoutCancel(ctx)) }()
	var version int64
	var supplier string
	err = sp.QueryRow(ctx, s.t(`SELECT version, supplier_id FROM {{schema}}.calendar_bookings WHERE id = $1 FOR UPDATE`), b.ID).Scan(&version, &supplier)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return err
	case supplier != b.Supplier:
		return invalid("Booking.Supplier", "cannot change (booking %q belongs to another supplier)", b.ID)
	}
	b.Version, b.UpdatedAt = version+1, now
	body, err := encodeBooking(b)
	if err != nil {
		return err
	}
	blocked := b.Blocked()
	_, err = sp.Exec(ctx, s.t(`INSERT INTO {{schema}}.calendar_bookings (id, supplier_id, status, blocked, hold_until, version, body, updated_at)
		VALUES ($1, $2, $3, tstzrange($4, $5, '[)'), $6, $7, $8, $9)
		ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, blocked = EXCLUDED.blocked, hold_until = EXCLUDED.hold_until,
			version = EXCLUDED.version, body = EXCLUDED.body, updated_at = EXCLUDED.updated_at`),
		b.ID, b.Supplier, string(b.Status), blocked.Start, blocked.End, nullTime(holdUntil(b)), b.Version, body, now)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23P01" {
		if rerr := sp.Rollback(ctx); rerr != nil {
			return rerr
		}
		cs, cerr := s.overlapping(ctx, tx, b.Supplier, blocked, b.ID, now, false)
		if cerr != nil {
			cs = nil
		}
		return &ConflictError{Booking: b.ID, Conflicts: cs}
	}
	if err != nil {
		return err
	}
	return sp.Commit(ctx)
}

func holdUntil(b *Booking) time.Time {
	if b.Status == StatusHold {
		return b.HoldUntil
	}
	return time.Time{}
}

func (s *pgStore) booking(ctx context.Context, tx pgx.Tx, id string) (*Booking, error) {
	var raw []byte
	err := s.db(tx).QueryRow(ctx, s.t(`SELECT body FROM {{schema}}.calendar_bookings WHERE id = $1`), id).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return decodeBooking(raw)
}

func (s *pgStore) scanBookings(rows pgx.Rows, err error) ([]Booking, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Booking
	for rows.Next() {
		var raw []byte
		if err := rows.Scan(&raw); err != nil {
			return nil, err
		}
		b, err := decodeBooking(raw)
		if err != nil {
			return nil, err
		}
		out = append(out, *b)
	}
	return out, rows.Err()
}

func (s *pgStore) bookings(ctx context.Context, tx pgx.Tx, supplier string, iv Interval) ([]Booking, error) {
	return s.scanBookings(s.db(tx).Query(ctx, s.t(`SELECT body FROM {{schema}}.calendar_bookings
		WHERE supplier_id = $1 AND blocked && tstzrange($2, $3, '[)') ORDER BY lower(blocked), id`), supplier, iv.Start, iv.End))
}

func (s *pgStore) expireHolds(ctx context.Context, tx pgx.Tx, supplier string, now time.Time, limit int) ([]Booking, error) {
	return s.scanBookings(s.db(tx).Query(ctx, s.t(`UPDATE {{schema}}.calendar_bookings b
		SET status = 'expired', version = b.version + 1, updated_at = $2,
			body = b.body || jsonb_build_object('status', 'expired', 'version', b.version + 1, 'updated_at', $2::timestamptz)
		WHERE b.id IN (SELECT id FROM {{schema}}.calendar_bookings
			WHERE status = 'hold' AND hold_until <= $2 AND ($1 = '' OR supplier_id = $1)
			ORDER BY hold_until LIMIT $3 FOR UPDATE SKIP LOCKED)
		RETURNING b.body`), supplier, now, limit))
}

func (s *pgStore) mappings(ctx context.Context, tx pgx.Tx, conn string) (map[string]mapping, error) {
	rows, err := s.db(tx).Query(ctx, s.t(`SELECT event_id, origin, coalesce(booking_id, ''), booking_version, etag
		FROM {{schema}}.calendar_mappings WHERE connection_id = $1`), conn)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]mapping{}
	for rows.Next() {
		m := mapping{Conn: conn}
		if err := rows.Scan(&m.EventID, &m.Origin, &m.BookingID, &m.BookingVersion, &m.ETag); err != nil {
			return nil, err
		}
		out[m.EventID] = m
	}
	return out, rows.Err()
}

func (s *pgStore) mappingForBooking(ctx context.Context, tx pgx.Tx, conn, booking string) (*mapping, error) {
	m := mapping{Conn: conn, BookingID: booking}
	err := s.db(tx).QueryRow(ctx, s.t(`SELECT event_id, origin, booking_version, etag FROM {{schema}}.calendar_mappings
		WHERE connection_id = $1 AND booking_id = $2`), conn, booking).Scan(&m.EventID, &m.Origin, &m.BookingVersion, &m.ETag)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &m, nil
}

func (s *pgStore) putMapping(ctx context.Context, tx pgx.Tx, m mapping) error {
	upsert := func(q pgq.Querier) error {
		var booking *string
		if m.BookingID != "" {
			booking = &m.BookingID
		}
		_, err := q.Exec(ctx, s.t(`INSERT INTO {{schema}}.calendar_mappings
			(connection_id, event_id, origin, booking_id, booking_version, etag, updated_at) VALUES ($1, $2, $3, $4, $5, $6, now())
			ON CONFLICT (connection_id, event_id) DO UPDATE SET origin = EXCLUDED.origin, booking_id = EXCLUDED.booking_id,
				booking_version = EXCLUDED.booking_version, etag = EXCLUDED.etag, updated_at = now()`),
			m.Conn, m.EventID, m.Origin, booking, m.BookingVersion, m.ETag)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23503" {
			return ErrNotFound
		}
		return err
	}
	if m.BookingID == "" {
		return upsert(s.db(tx)) // one round trip: a full sync maps thousands of events
	}
	return pgq.InTx(ctx, s.pool, tx, func(tx pgx.Tx) error {
		// The booking's mapping under another event id (its event written
		// again after a delete) goes first: one event per booking.
		if _, err := tx.Exec(ctx, s.t(`DELETE FROM {{schema}}.calendar_mappings
			WHERE connection_id = $1 AND booking_id = $2 AND event_id <> $3`), m.Conn, m.BookingID, m.EventID); err != nil {
			return err
		}
		return upsert(tx)
	})
}

func (s *pgStore) deleteMapping(ctx context.Context, tx pgx.Tx, conn, eventID string) error {
	_, err := s.db(tx).Exec(ctx, s.t(`DELETE FROM {{schema}}.calendar_mappings WHERE connection_id = $1 AND event_id = $2`), conn, eventID)
	return err
}

func (s *pgStore) replaceBusy(ctx context.Context, tx pgx.Tx, conn, supplier, eventID string, rows []busyRow) error {
	starts := make([]time.Time, len(rows))
	ends := make([]time.Time, len(rows))
	sums := make([]string, len(rows))
	for i, r := range rows {
		starts[i], ends[i], sums[i] = r.Span.Start, r.Span.End, r.Summary
	}
	// One round trip: a full sync replaces the blocks of thousands of
	// events.
	_, err := s.db(tx).Exec(ctx, s.t(`WITH gone AS (
			DELETE FROM {{schema}}.calendar_busy WHERE connection_id = $1 AND event_id = $2
		)
		INSERT INTO {{schema}}.calendar_busy (connection_id, event_id, supplier_id, span, summary)
		SELECT $1, $2, $3, tstzrange(s, e, '[)'), m FROM unnest($4::timestamptz[], $5::timestamptz[], $6::text[]) AS u(s, e, m)`),
		conn, eventID, supplier, starts, ends, sums)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23503" {
		return ErrNotFound
	}
	return err
}

func (s *pgStore) overlapping(ctx context.Context, tx pgx.Tx, supplier string, iv Interval, exclude string, now time.Time, busy bool) ([]Conflict, error) {
	rows, err := s.db(tx).Query(ctx, s.t(`
		SELECT status, id, '', '', '', lower(blocked), upper(blocked) FROM {{schema}}.calendar_bookings
		WHERE supplier_id = $1 AND blocked && tstzrange($2, $3, '[)') AND id <> $4
			AND (status = 'confirmed' OR (status = 'hold' AND hold_until > $5))
		UNION ALL
		SELECT 'busy', '', connection_id, event_id, summary, lower(span), upper(span) FROM {{schema}}.calendar_busy
		WHERE $6 AND supplier_id = $1 AND span && tstzrange($2, $3, '[)')`), supplier, iv.Start, iv.End, exclude, now, busy)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Conflict
	for rows.Next() {
		var kind string
		var c Conflict
		if err := rows.Scan(&kind, &c.BookingID, &c.Connection, &c.EventID, &c.Summary, &c.Interval.Start, &c.Interval.End); err != nil {
			return nil, err
		}
		switch kind {
		case "confirmed":
			c.Kind = ConflictBooking
		case "hold":
			c.Kind = ConflictHold
		default:
			c.Kind = ConflictBusy
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	sortConflicts(out)
	return out, nil
}

func (s *pgStore) addAttempt(ctx context.Context, tx pgx.Tx, a *Attempt, jobID int64) error {
	var job *int64
	if jobID != 0 {
		job = &jobID
	}
	_, err := s.db(tx).Exec(ctx, s.t(`INSERT INTO {{schema}}.calendar_attempts
		(id, connection_id, op, booking_id, ok, error, duration_ms, at, job_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`),
		a.ID, a.Connection, a.Op, a.BookingID, a.OK, a.Error, float64(a.Duration)/float64(time.Millisecond), a.At, job)
	return err
}

func (s *pgStore) attempts(ctx context.Context, conn string, limit int) ([]Attempt, error) {
	rows, err := s.pool.Query(ctx, s.t(`SELECT id, connection_id, op, booking_id, ok, error, duration_ms, at
		FROM {{schema}}.calendar_attempts WHERE connection_id = $1 ORDER BY at DESC, id DESC LIMIT $2`), conn, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Attempt
	for rows.Next() {
		var a Attempt
		var ms float64
		if err := rows.Scan(&a.ID, &a.Connection, &a.Op, &a.BookingID, &a.OK, &a.Error, &ms, &a.At); err != nil {
			return nil, err
		}
		a.Duration = time.Duration(ms * float64(time.Millisecond))
		out = append(out, a)
	}
	return out, rows.Err()
}

func (s *pgStore) attemptRecorded(ctx context.Context, jobID int64) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, s.t(`SELECT EXISTS (SELECT 1 FROM {{schema}}.calendar_attempts WHERE job_id = $1)`), jobID).Scan(&ok)
	return ok, err
}

func (s *pgStore) prune(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, s.t(`DELETE FROM {{schema}}.calendar_attempts WHERE at < $1`), before)
	return tag.RowsAffected(), err
}
