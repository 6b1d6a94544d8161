package wedmesync

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jonboulle/clockwork"
	"go.opentelemetry.io/otel/metric"

	"github.com/wedsync/integrations/internal/ids"
	"github.com/wedsync/integrations/internal/migrate"
)

// Authorizer is the host's word on who works for whom. The supplier
// platform answers from its bookings; WedMe from the couple's links.
type Authorizer interface {
	// Linked reports whether supplier works for couple, and the
	// supplier's kind ("caterer", "photographer"), which decides the
	// fields it sees.
	Linked(ctx context.Context, supplier, couple string) (kind string, ok bool, err error)
	// Suppliers lists the suppliers linked to couple: WedMe sends each of
	// them the couple's changes, filtered by its kind.
	Suppliers(ctx context.Context, couple string) ([]Link, error)
}

// Link is one supplier linked to a couple.
type Link struct {
	Supplier string `json:"supplier"`
	Kind     string `json:"kind"`
}

// Edit is a write the host makes on its own side: fields of one record
// set (a JSON null clears one), or the record deleted.
type Edit struct {
	Couple string
	// Supplier is the supplier making the edit (supplier side; required
	// there), empty on WedMe.
	Supplier string
	Type     RecordType
	Record   string
	// Set holds the fields to write, as JSON values.
	Set map[string]json.RawMessage
	// Delete deletes the record.
	Delete bool
}

// Record is one record as a side holds it.
type Record struct {
	// Supplier scopes the record on the supplier side (each supplier keeps
	// its own view of its couples); empty on WedMe.
	Supplier string                `json:"supplier,omitempty"`
	Couple   string                `json:"couple"`
	Type     RecordType            `json:"type"`
	ID       string                `json:"id"`
	Fields   map[string]FieldValue `json:"fields"`
	// Deleted is the tombstone's time; the record is deleted while no
	// field was written after it.
	Deleted Timestamp `json:"deleted,omitzero"`
}

// IsDeleted reports whether the tombstone is newer than every field.
func (r *Record) IsDeleted() bool {
	if r.Deleted.IsZero() {
		return false
	}
	for _, f := range r.Fields {
		if f.At.Compare(r.Deleted) > 0 {
			return false
		}
	}
	return true
}

type recordKey struct {
	supplier, couple string
	typ              RecordType
	id               string
}

// Outcome says what applying a change did.
type Outcome string

// Outcomes of Apply.
const (
	OutcomeApplied     Outcome = "applied"
	OutcomeDuplicate   Outcome = "duplicate"
	OutcomeConflicted  Outcome = "conflicted"
	OutcomeQuarantined Outcome = "quarantined"
)

// Conflict is a manual field that two sides wrote differently: the value
// here was kept, the incoming one waits for a person.
type Conflict struct {
	ID       string     `json:"id"`
	Change   string     `json:"change"`
	Supplier string     `json:"supplier,omitempty"`
	Couple   string     `json:"couple"`
	Type     RecordType `json:"type"`
	Record   string     `json:"record"`
	Field    string     `json:"field"`
	Kept     FieldValue `json:"kept"`
	Incoming FieldValue `json:"incoming"`
	At       time.Time  `json:"at"`
}

// Quarantined is a change that was not applied, with the reason.
type Quarantined struct {
	ID     string    `json:"id"`
	From   Side      `json:"from"`
	Change Change    `json:"change"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// Applied is what WithAppliedHandler receives after a change is applied.
type Applied struct {
	Change Change
	Record Record
	// Conflicts are manual fields kept for a person.
	Conflicts []Conflict
}

// ErrNotFound: no such record or quarantined change.
var ErrNotFound = errors.New("wedmesync: not found")

// Node is one side's end of the sync. All methods are safe for concurrent
// use.
type Node struct {
	side   Side
	id     string
	clock  *Clock
	auth   Authorizer
	share  SharePolicy
	logger *slog.Logger
	wall   clockwork.Clock
	onApp  func(context.Context, Applied)

	pool   *pgxpool.Pool
	schema string
	store  store
	mp     metric.MeterProvider
	tel    *metrics

	mu     sync.Mutex
	counts map[Outcome]int64
	wake   chan struct{}
}

// AuditEntry is one line of the audit log.
type AuditEntry struct {
	At      time.Time `json:"at"`
	Change  string    `json:"change"`
	Outcome Outcome   `json:"outcome"`
	Detail  string    `json:"detail,omitempty"`
}

// NodeOption configures a Node.
type NodeOption func(*Node)

// WithAuthorizer sets who works for whom. Required.
func WithAuthorizer(a Authorizer) NodeOption { return func(n *Node) { n.auth = a } }

// WithSharing sets the fields each kind of supplier sees. Default
// DefaultSharing().
func WithSharing(p SharePolicy) NodeOption { return func(n *Node) { n.share = p } }

// WithAppliedHandler is called after each applied change (to broadcast it
// to dashboards through realtime). Default none.
func WithAppliedHandler(fn func(context.Context, Applied)) NodeOption {
	return func(n *Node) { n.onApp = fn }
}

// WithPostgres keeps the node's records, change log, applied ids,
// quarantine, conflicts, cursors and audit in the host's Postgres (run
// Migrate first), and lets RecordTx write in the host's transaction.
// Default: memory mode, which loses everything on exit.
func WithPostgres(pool *pgxpool.Pool) NodeOption { return func(n *Node) { n.pool = pool } }

// WithSchema names the Postgres schema of the tables. Default "wedsync".
func WithSchema(name string) NodeOption { return func(n *Node) { n.schema = name } }

// WithMeterProvider sets where the node's metrics go (docs/telemetry.md).
// Default: the global provider.
func WithMeterProvider(mp metric.MeterProvider) NodeOption { return func(n *Node) { n.mp = mp } }

// WithLogger receives the node's logs. Default: discarded.
func WithLogger(l *slog.Logger) NodeOption { return func(n *Node) { n.logger = l } }

// WithClock sets the wall clock under the HLC. Default: the real clock.
func WithClock(c clockwork.Clock) NodeOption { return func(n *Node) { n.wall = c } }

// NewNode returns side's node, whose HLC readings carry nodeID (letters,
// digits, '-' and '_'; unique per side and process that writes).
func NewNode(side Side, nodeID string, opts ...NodeOption) (*Node, error) {
	n := &Node{side: side, id: nodeID, share: DefaultSharing(), logger: slog.New(slog.DiscardHandler), wall: clockwork.NewRealClock(),
		schema: migrate.DefaultSchema, counts: map[Outcome]int64{}, wake: make(chan struct{}, 1)}
	for _, opt := range opts {
		opt(n)
	}
	var errs []error
	if side != SideWedMe && side != SideSupplier {
		errs = append(errs, invalid("side", "must be %q or %q, got %q", SideWedMe, SideSupplier, side))
	}
	if err := validNode(nodeID); err != nil {
		errs = append(errs, invalid("nodeID", "%v", err))
	}
	if n.auth == nil {
		errs = append(errs, invalid("WithAuthorizer", "is required"))
	}
	if err := migrate.ValidateSchema(n.schema); err != nil {
		errs = append(errs, invalid("WithSchema", "%v", err))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	n.clock = NewClock(nodeID, n.wall.Now)
	n.tel = newMetrics(n.mp, side)
	if n.pool != nil {
		n.store = &pgStore{pool: n.pool, schema: n.schema}
	} else {
		n.store = newMemStore()
	}
	return n, nil
}

// Migrate creates or upgrades the wedmesync tables in the schema (default
// "wedsync"; pass WithSchema as to NewNode). Safe to call from several
// instances at once.
func Migrate(ctx context.Context, pool *pgxpool.Pool, opts ...NodeOption) error {
	n := &Node{schema: migrate.DefaultSchema}
	for _, opt := range opts {
		opt(n)
	}
	if err := migrate.ValidateSchema(n.schema); err != nil {
		return invalid("WithSchema", "%v", err)
	}
	return migrate.Run(ctx, pool, n.schema, "wedmesync", migrations, "migrations")
}

// Side is the node's side.
func (n *Node) Side() Side { return n.side }

// Record writes an edit on this side: it is applied here at once and
// logged for the other side. It returns the change.
func (n *Node) Record(ctx context.Context, e Edit) (Change, error) { return n.RecordTx(ctx, nil, e) }

// RecordTx is Record inside the host's transaction (Postgres mode; nil:
// one of its own): the edit and its log entry exist only if tx commits.
// Log appends are serialised until their transaction ends (so that the
// log's order is commit order): keep the host's transaction short. A
// running Peer hears the commit (Postgres delivers the log's notification
// then) and pushes the change; nothing needs nudging after it.
func (n *Node) RecordTx(ctx context.Context, tx pgx.Tx, e Edit) (Change, error) {
	if tx != nil && n.pool == nil {
		return Change{}, ErrNoDatabase
	}
	at := n.clock.Now()
	c := Change{ID: ids.New("chg_"), Origin: n.side, Couple: e.Couple, Supplier: e.Supplier, Type: e.Type, Record: e.Record}
	if len(e.Set) > 0 {
		c.Fields = make(map[string]FieldValue, len(e.Set))
		for k, v := range e.Set {
			c.Fields[k] = FieldValue{Value: v, At: at}
		}
	}
	if e.Delete {
		c.Deleted = &at
	}
	if n.side == SideSupplier {
		if e.Supplier == "" {
			return Change{}, invalid("Edit.Supplier", "is required on the supplier side")
		}
		kind, ok, err := n.auth.Linked(ctx, e.Supplier, e.Couple)
		if err != nil {
			return Change{}, err
		}
		if !ok {
			return Change{}, invalid("Edit.Supplier", "supplier %q is not linked to couple %q", e.Supplier, e.Couple)
		}
		c.SupplierKind = kind
	}
	if err := c.Validate(n.side); err != nil {
		return Change{}, err
	}
	now := n.wall.Now()
	err := n.store.inTx(ctx, tx, func(w writer) error {
		r, err := w.lockRecord(ctx, n.key(&c))
		if err != nil {
			return err
		}
		n.merge(r, &c)
		if err := w.putRecord(ctx, r); err != nil {
			return err
		}
		if _, err := w.markApplied(ctx, c.ID, now); err != nil {
			return err
		}
		return w.appendLog(ctx, &c, now)
	})
	if err != nil {
		return Change{}, err
	}
	n.tel.recorded.Add(ctx, 1, metric.WithAttributes(attrSide.String(string(n.side))))
	if tx == nil {
		// Committed: wake the peer now. A host's transaction has not
		// committed yet, so a sync now would find nothing; the peer's
		// LISTEN hears it when it does (Peer.Run).
		n.poke()
	}
	return c, nil
}

// poke wakes a Peer's Run to sync now.
func (n *Node) poke() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// key is where c's record lives on this side.
func (n *Node) key(c *Change) recordKey {
	k := recordKey{couple: c.Couple, typ: c.Type, id: c.Record}
	if n.side == SideSupplier {
		k.supplier = c.Supplier
	}
	return k
}

// merge applies c's fields to r by last-writer-wins, field by field: the
// later HLC reading wins, ties broken by node id, so that both sides end
// the same whatever the order of arrival. A manual field (the wedding
// date, the venue) that already has a value is not overwritten from the
// other side: a new date may mean this supplier cannot serve, so a person
// decides (Resolve). It returns those conflicts.
func (n *Node) merge(r *Record, c *Change) []Conflict {
	spec, _ := Schema(c.Type)
	var out []Conflict
	for name, in := range c.Fields {
		cur, ok := r.Fields[name]
		if ok && cur.At.Compare(in.At) >= 0 {
			continue // ours is as new or newer
		}
		if ok && c.Origin != n.side && spec != nil && spec.Fields[name].Manual && !bytes.Equal(cur.Value, in.Value) {
			out = append(out, Conflict{ID: ids.New("cfl_"), Change: c.ID, Supplier: r.Supplier, Couple: r.Couple, Type: r.Type,
				Record: r.ID, Field: name, Kept: cur, Incoming: in, At: n.wall.Now()})
			continue
		}
		r.Fields[name] = in
	}
	if c.Deleted != nil && c.Deleted.Compare(r.Deleted) > 0 {
		r.Deleted = *c.Deleted
	}
	return out
}

// Apply applies changes from the other side, each at most once: a change
// already applied counts as a duplicate; one that fails validation or
// authorisation is quarantined with the reason (and the others go on).
func (n *Node) Apply(ctx context.Context, from Side, changes []Change) (map[Outcome]int, error) {
	out := map[Outcome]int{}
	for i := range changes {
		o, err := n.applyOne(ctx, from, changes[i])
		if err != nil {
			return out, err
		}
		out[o]++
	}
	return out, nil
}

func (n *Node) applyOne(ctx context.Context, from Side, c Change) (Outcome, error) {
	dup, err := n.store.wasApplied(ctx, c.ID)
	if err != nil {
		return "", err
	}
	if dup {
		n.count(OutcomeDuplicate)
		return OutcomeDuplicate, n.store.inTx(ctx, nil, func(w writer) error {
			return w.audit(ctx, AuditEntry{At: n.wall.Now(), Change: c.ID, Outcome: OutcomeDuplicate})
		})
	}
	reason, err := n.check(ctx, from, &c)
	if err != nil {
		return "", err // the Authorizer failed: try again later
	}
	now := n.wall.Now()
	if reason != "" {
		err := n.store.inTx(ctx, nil, func(w writer) error {
			if err := w.quarantine(ctx, &Quarantined{ID: ids.New("qua_"), From: from, Change: c, Reason: reason, At: now}); err != nil {
				return err
			}
			return w.audit(ctx, AuditEntry{At: now, Change: c.ID, Outcome: OutcomeQuarantined, Detail: reason})
		})
		if err != nil {
			return "", err
		}
		n.count(OutcomeQuarantined)
		n.logger.Warn("wedmesync: change quarantined", "change", c.ID, "reason", reason)
		return OutcomeQuarantined, nil
	}
	var rec Record
	var cs []Conflict
	o := OutcomeApplied
	err = n.store.inTx(ctx, nil, func(w writer) error {
		cs = nil
		first, err := w.markApplied(ctx, c.ID, now)
		if err != nil {
			return err
		}
		if !first { // a concurrent Apply of the same change won
			o = OutcomeDuplicate
			return w.audit(ctx, AuditEntry{At: now, Change: c.ID, Outcome: OutcomeDuplicate})
		}
		r, err := w.lockRecord(ctx, n.key(&c))
		if err != nil {
			return err
		}
		cs = n.merge(r, &c)
		if err := w.putRecord(ctx, r); err != nil {
			return err
		}
		if err := w.addConflicts(ctx, cs); err != nil {
			return err
		}
		if err := w.unquarantine(ctx, c.ID); err != nil {
			return err
		}
		if len(cs) > 0 {
			o = OutcomeConflicted
		}
		rec = cloneRecord(r)
		return w.audit(ctx, AuditEntry{At: now, Change: c.ID, Outcome: o})
	})
	if err != nil {
		return "", err
	}
	n.count(o)
	if o != OutcomeDuplicate && n.onApp != nil {
		n.onApp(ctx, Applied{Change: c, Record: rec, Conflicts: cs})
	}
	return o, nil
}

// check returns why c may not be applied here ("" when it may).
func (n *Node) check(ctx context.Context, from Side, c *Change) (string, error) {
	if from == n.side {
		return fmt.Sprintf("change comes from this node's own side %q", from), nil
	}
	if err := c.Validate(from); err != nil {
		return err.Error(), nil
	}
	kind, ok, err := n.auth.Linked(ctx, c.Supplier, c.Couple)
	if err != nil {
		return "", fmt.Errorf("wedmesync: authorizer: %w", err)
	}
	if !ok {
		return fmt.Sprintf("supplier %q is not linked to couple %q", c.Supplier, c.Couple), nil
	}
	if n.side == SideSupplier {
		// Defence in depth: WedMe filtered the change for this supplier's
		// kind; fields it should not have sent are not kept.
		filtered, keep := n.share.Filter(kind, *c)
		if !keep {
			return fmt.Sprintf("no field of this change is shared with a %q", kind), nil
		}
		*c = filtered
	}
	for _, f := range c.Fields {
		if err := n.clock.Observe(f.At); err != nil {
			return err.Error(), nil
		}
	}
	if c.Deleted != nil {
		if err := n.clock.Observe(*c.Deleted); err != nil {
			return err.Error(), nil
		}
	}
	return "", nil
}

func (n *Node) count(o Outcome) {
	n.tel.changes.Add(context.Background(), 1, metric.WithAttributes(attrSide.String(string(n.side)), attrOutcome.String(string(o))))
	n.mu.Lock()
	defer n.mu.Unlock()
	n.counts[o]++
}

// Changes returns this side's changes after cursor (for the other side's
// pull), at most limit, and the cursor after them. WedMe sends a couple's
// change to each linked supplier, filtered by the supplier's kind: one
// change per supplier, with its own id.
func (n *Node) Changes(ctx context.Context, cursor string, limit int) ([]Change, string, error) {
	var from int64
	if cursor != "" {
		v, err := strconv.ParseInt(cursor, 10, 64)
		if err != nil || v < 0 {
			return nil, "", invalid("cursor", "is not a cursor this node gave, got %q", cursor)
		}
		from = v
	}
	if limit < 1 || limit > MaxBatch {
		return nil, "", invalid("limit", "must be 1 to %d, got %d", MaxBatch, limit)
	}
	batch, last, err := n.store.logAfter(ctx, from, limit)
	if err != nil {
		return nil, "", err
	}
	out, err := n.outgoing(ctx, batch)
	return out, strconv.FormatInt(last, 10), err
}

// outgoing is what the other side receives of this side's changes.
func (n *Node) outgoing(ctx context.Context, cs []Change) ([]Change, error) {
	if n.side == SideSupplier {
		return cs, nil
	}
	var out []Change
	asked := map[string][]Link{} // one question per couple per batch
	for _, c := range cs {
		links, ok := asked[c.Couple]
		if !ok {
			var err error
			if links, err = n.auth.Suppliers(ctx, c.Couple); err != nil {
				return nil, fmt.Errorf("wedmesync: authorizer: %w", err)
			}
			asked[c.Couple] = links
		}
		for _, l := range links {
			f, ok := n.share.Filter(l.Kind, c)
			if !ok {
				continue
			}
			f.ID = c.ID + "~" + l.Supplier
			f.Supplier, f.SupplierKind = l.Supplier, l.Kind
			out = append(out, f)
		}
	}
	return out, nil
}

// Get returns a record as this side holds it (supplier "" on WedMe).
func (n *Node) Get(ctx context.Context, supplier, couple string, t RecordType, id string) (Record, error) {
	r, err := n.store.record(ctx, recordKey{supplier: supplier, couple: couple, typ: t, id: id})
	if err != nil {
		return Record{}, err
	}
	return *r, nil
}

// Records returns every record this side holds, ordered by supplier,
// couple, type and id.
func (n *Node) Records(ctx context.Context) ([]Record, error) { return n.store.records(ctx) }

// Conflicts returns the manual-field conflicts waiting for a person.
func (n *Node) Conflicts(ctx context.Context) ([]Conflict, error) { return n.store.conflicts(ctx) }

// Resolve settles a manual-field conflict: accept writes the incoming value
// (unless the field was written again since), reject keeps this side's.
// ErrNotFound when there is no such open conflict.
func (n *Node) Resolve(ctx context.Context, conflictID string, accept bool) error {
	return n.store.inTx(ctx, nil, func(w writer) error {
		c, err := w.takeConflict(ctx, conflictID)
		if err != nil {
			return err
		}
		detail := "rejected " + c.Field
		if accept {
			detail = "accepted " + c.Field
			r, err := w.lockRecord(ctx, recordKey{supplier: c.Supplier, couple: c.Couple, typ: c.Type, id: c.Record})
			if err != nil {
				return err
			}
			if cur, ok := r.Fields[c.Field]; !ok || cur.At.Compare(c.Kept.At) <= 0 {
				r.Fields[c.Field] = c.Incoming
				if err := w.putRecord(ctx, r); err != nil {
					return err
				}
			}
		}
		return w.audit(ctx, AuditEntry{At: n.wall.Now(), Change: c.Change, Outcome: "resolved", Detail: detail})
	})
}

// Quarantine lists the changes not applied, with their reasons, oldest
// first.
func (n *Node) Quarantine(ctx context.Context) ([]Quarantined, error) {
	return n.store.quarantined(ctx)
}

// Audit returns the newest entries of the audit log, newest first.
func (n *Node) Audit(ctx context.Context, limit int) ([]AuditEntry, error) {
	return n.store.auditLog(ctx, limit)
}

// Replay applies a quarantined change again, replaced by fixed when it is
// not nil (a person corrected it; its id must stay the same). A change
// that fails again stays quarantined with the new reason.
func (n *Node) Replay(ctx context.Context, changeID string, fixed *Change) (Outcome, error) {
	q, err := n.store.quarantinedOne(ctx, changeID)
	if err != nil {
		return "", err
	}
	c := q.Change
	if fixed != nil {
		if fixed.ID != changeID {
			return "", invalid("fixed.ID", "must stay %q, got %q", changeID, fixed.ID)
		}
		c = *fixed
	}
	if err := n.store.inTx(ctx, nil, func(w writer) error { return w.unquarantine(ctx, changeID) }); err != nil {
		return "", err
	}
	return n.applyOne(ctx, q.From, c)
}

// Counts returns how many changes this process applied, found duplicate,
// applied with conflicts and quarantined.
func (n *Node) Counts() map[Outcome]int64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return maps.Clone(n.counts)
}
