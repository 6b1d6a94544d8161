package wedmesync

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wedsync/integrations/internal/migrate"
	"github.com/wedsync/integrations/internal/pgq"
)

// pgStore keeps a side's state in the host's Postgres, in the tables
// migrations/*.sql create in the schema it names.
type pgStore struct {
	pool   *pgxpool.Pool
	schema string
}

var _ store = (*pgStore)(nil)

func (s *pgStore) t(q string) string { return migrate.Expand(s.schema, q) }

type pgWriter struct {
	s  *pgStore
	tx pgx.Tx
}

func (s *pgStore) inTx(ctx context.Context, tx pgx.Tx, fn func(w writer) error) error {
	return pgq.InTx(ctx, s.pool, tx, func(tx pgx.Tx) error { return fn(pgWriter{s, tx}) })
}

func scanRecord(row pgx.Row) (*Record, error) {
	var r Record
	var fields []byte
	var deleted string
	err := row.Scan(&r.Supplier, &r.Couple, &r.Type, &r.ID, &fields, &deleted)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(fields, &r.Fields); err != nil {
		return nil, fmt.Errorf("wedmesync: stored record %s/%s: %w", r.Type, r.ID, err)
	}
	if r.Fields == nil {
		r.Fields = map[string]FieldValue{}
	}
	if deleted != "" {
		if r.Deleted, err = ParseTimestamp(deleted); err != nil {
			return nil, fmt.Errorf("wedmesync: stored record %s/%s: %w", r.Type, r.ID, err)
		}
	}
	return &r, nil
}

const recordCols = `supplier_id, couple_id, type, id, fields, deleted`

func (w pgWriter) lockRecord(ctx context.Context, k recordKey) (*Record, error) {
	if _, err := w.tx.Exec(ctx, w.s.t(`INSERT INTO {{schema}}.wedmesync_records (supplier_id, couple_id, type, id, fields, updated_at)
		VALUES ($1, $2, $3, $4, '{}', now()) ON CONFLICT DO NOTHING`), k.supplier, k.couple, string(k.typ), k.id); err != nil {
		return nil, err
	}
	return scanRecord(w.tx.QueryRow(ctx, w.s.t(`SELECT `+recordCols+` FROM {{schema}}.wedmesync_records
		WHERE supplier_id = $1 AND couple_id = $2 AND type = $3 AND id = $4 FOR UPDATE`), k.supplier, k.couple, string(k.typ), k.id))
}

func (w pgWriter) putRecord(ctx context.Context, r *Record) error {
	fields, err := json.Marshal(r.Fields)
	if err != nil {
		return err
	}
	deleted := ""
	if !r.Deleted.IsZero() {
		deleted = r.Deleted.String()
	}
	_, err = w.tx.Exec(ctx, w.s.t(`UPDATE {{schema}}.wedmesync_records SET fields = $5, deleted = $6, updated_at = now()
		WHERE supplier_id = $1 AND couple_id = $2 AND type = $3 AND id = $4`), r.Supplier, r.Couple, string(r.Type), r.ID, fields, deleted)
	return err
}

func (w pgWriter) markApplied(ctx context.Context, id string, at time.Time) (bool, error) {
	tag, err := w.tx.Exec(ctx, w.s.t(`INSERT INTO {{schema}}.wedmesync_applied (change_id, applied_at) VALUES ($1, $2) ON CONFLICT DO NOTHING`), id, at)
	return tag.RowsAffected() == 1, err
}

func (w pgWriter) appendLog(ctx context.Context, c *Change, at time.Time) error {
	body, err := json.Marshal(c)
	if err != nil {
		return err
	}
	// The log's seq must follow commit order, or a reader after seq N
	// could miss an N-1 that commits later: appends take a lock held until
	// their transaction ends, so seqs are handed out in commit order.
	if _, err := w.tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "wedsync_wedmesync_log:"+w.s.schema); err != nil {
		return err
	}
	if _, err = w.tx.Exec(ctx, w.s.t(`INSERT INTO {{schema}}.wedmesync_log (change_id, couple_id, body, at) VALUES ($1, $2, $3, $4)`),
		c.ID, c.Couple, body, at); err != nil {
		return err
	}
	// Delivered at commit: wakes a DBTransport reading this log.
	_, err = w.tx.Exec(ctx, `SELECT pg_notify($1, '')`, logChannel(w.s.schema))
	return err
}

// logChannel is the LISTEN/NOTIFY channel of a schema's change log.
func logChannel(schema string) string {
	ch := "wedsync_wedmesync_" + schema
	if len(ch) > 63 {
		ch = fmt.Sprintf("wedsync_wedmesync_%x", sha256.Sum256([]byte(schema)))[:63]
	}
	return ch
}

func (w pgWriter) addConflicts(ctx context.Context, cs []Conflict) error {
	for _, c := range cs {
		body, err := json.Marshal(c)
		if err != nil {
			return err
		}
		if _, err := w.tx.Exec(ctx, w.s.t(`INSERT INTO {{schema}}.wedmesync_conflicts (id, change_id, body, at) VALUES ($1, $2, $3, $4)`),
			c.ID, c.Change, body, c.At); err != nil {
			return err
		}
	}
	return nil
}

func (w pgWriter) takeConflict(ctx context.Context, id string) (*Conflict, error) {
	var body []byte
	err := w.tx.QueryRow(ctx, w.s.t(`UPDATE {{schema}}.wedmesync_conflicts SET resolved = true WHERE id = $1 AND NOT resolved RETURNING body`), id).Scan(&body)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	var c Conflict
	if err := json.Unmarshal(body, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

func (w pgWriter) quarantine(ctx context.Context, q *Quarantined) error {
	body, err := json.Marshal(q.Change)
	if err != nil {
		return err
	}
	_, err = w.tx.Exec(ctx, w.s.t(`INSERT INTO {{schema}}.wedmesync_quarantine (change_id, id, from_side, body, reason, at)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`), q.Change.ID, q.ID, string(q.From), body, q.Reason, q.At)
	return err
}

func (w pgWriter) unquarantine(ctx context.Context, id string) error {
	_, err := w.tx.Exec(ctx, w.s.t(`DELETE FROM {{schema}}.wedmesync_quarantine WHERE change_id = $1`), id)
	return err
}

func (w pgWriter) audit(ctx context.Context, e AuditEntry) error {
	_, err := w.tx.Exec(ctx, w.s.t(`INSERT INTO {{schema}}.wedmesync_audit (at, change_id, outcome, detail) VALUES ($1, $2, $3, $4)`),
		e.At, e.Change, string(e.Outcome), e.Detail)
	return err
}

func (s *pgStore) record(ctx context.Context, k recordKey) (*Record, error) {
	return scanRecord(s.pool.QueryRow(ctx, s.t(`SELECT `+recordCols+` FROM {{schema}}.wedmesync_records
		WHERE supplier_id = $1 AND couple_id = $2 AND type = $3 AND id = $4`), k.supplier, k.couple, string(k.typ), k.id))
}

func (s *pgStore) records(ctx context.Context) ([]Record, error) {
	rows, err := s.pool.Query(ctx, s.t(`SELECT `+recordCols+` FROM {{schema}}.wedmesync_records ORDER BY supplier_id, couple_id, type, id`))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *r)
	}
	return out, rows.Err()
}

func (s *pgStore) logAfter(ctx context.Context, after int64, limit int) ([]Change, int64, error) {
	rows, err := s.pool.Query(ctx, s.t(`SELECT seq, body FROM {{schema}}.wedmesync_log WHERE seq > $1 ORDER BY seq LIMIT $2`), after, limit)
	if err != nil {
		return nil, after, err
	}
	defer rows.Close()
	var out []Change
	last := after
	for rows.Next() {
		var body []byte
		if err := rows.Scan(&last, &body); err != nil {
			return nil, after, err
		}
		var c Change
		if err := json.Unmarshal(body, &c); err != nil {
			return nil, after, fmt.Errorf("wedmesync: log entry %d: %w", last, err)
		}
		out = append(out, c)
	}
	return out, last, rows.Err()
}

func (s *pgStore) wasApplied(ctx context.Context, id string) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, s.t(`SELECT EXISTS (SELECT 1 FROM {{schema}}.wedmesync_applied WHERE change_id = $1)`), id).Scan(&ok)
	return ok, err
}

func (s *pgStore) scanQuarantine(rows pgx.Rows, err error) ([]Quarantined, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Quarantined
	for rows.Next() {
		var q Quarantined
		var body []byte
		var from string
		if err := rows.Scan(&q.ID, &from, &body, &q.Reason, &q.At); err != nil {
			return nil, err
		}
		q.From = Side(from)
		if err := json.Unmarshal(body, &q.Change); err != nil {
			return nil, err
		}
		out = append(out, q)
	}
	return out, rows.Err()
}

func (s *pgStore) quarantined(ctx context.Context) ([]Quarantined, error) {
	return s.scanQuarantine(s.pool.Query(ctx, s.t(`SELECT id, from_side, body, reason, at FROM {{schema}}.wedmesync_quarantine ORDER BY at, id`)))
}

func (s *pgStore) quarantinedOne(ctx context.Context, changeID string) (*Quarantined, error) {
	qs, err := s.scanQuarantine(s.pool.Query(ctx, s.t(`SELECT id, from_side, body, reason, at FROM {{schema}}.wedmesync_quarantine WHERE change_id = $1`), changeID))
	if err != nil {
		return nil, err
	}
	if len(qs) == 0 {
		return nil, ErrNotFound
	}
	return &qs[0], nil
}

func (s *pgStore) conflicts(ctx context.Context) ([]Conflict, error) {
	rows, err := s.pool.Query(ctx, s.t(`SELECT body FROM {{schema}}.wedmesync_conflicts WHERE NOT resolved ORDER BY at, id`))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Conflict
	for rows.Next() {
		var body []byte
		var c Conflict
		if err := rows.Scan(&body); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(body, &c); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func (s *pgStore) cursors(ctx context.Context, peer string) (string, string, error) {
	var push, pull string
	err := s.pool.QueryRow(ctx, s.t(`SELECT push_cursor, pull_cursor FROM {{schema}}.wedmesync_cursors WHERE peer = $1`), peer).Scan(&push, &pull)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", nil
	}
	return push, pull, err
}

func (s *pgStore) setCursors(ctx context.Context, peer, push, pull string, ok time.Time) error {
	_, err := s.pool.Exec(ctx, s.t(`INSERT INTO {{schema}}.wedmesync_cursors (peer, push_cursor, pull_cursor, last_ok) VALUES ($1, $2, $3, $4)
		ON CONFLICT (peer) DO UPDATE SET push_cursor = EXCLUDED.push_cursor, pull_cursor = EXCLUDED.pull_cursor, last_ok = EXCLUDED.last_ok`),
		peer, push, pull, ok)
	return err
}

func (s *pgStore) auditLog(ctx context.Context, limit int) ([]AuditEntry, error) {
	rows, err := s.pool.Query(ctx, s.t(`SELECT at, change_id, outcome, detail FROM {{schema}}.wedmesync_audit ORDER BY id DESC LIMIT $1`), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var o string
		if err := rows.Scan(&e.At, &e.Change, &o, &e.Detail); err != nil {
			return nil, err
		}
		e.Outcome = Outcome(o)
		out = append(out, e)
	}
	return out, rows.Err()
}
