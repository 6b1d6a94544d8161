package realtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/wedsync/integrations/internal/validate"
	"github.com/wedsync/integrations/realtime/client"
	"github.com/wedsync/integrations/realtime/protocol"
)

// Broadcaster is what a Bridge forwards to; *Hub implements it.
type Broadcaster interface {
	Broadcast(ctx context.Context, topic, event string, payload any) (Publication, error)
}

// BridgeConfig configures a Bridge.
type BridgeConfig struct {
	// Client is connected to the Supabase Realtime server. Required.
	Client *client.Client
	// Hub receives the forwarded changes. Required.
	Hub Broadcaster
	// Schema of the table. Defaults to "public".
	Schema string
	// Table to follow, such as "supplier_kpis". Required.
	Table string
	// SupplierColumn holds the supplier id in each row. Defaults to
	// "supplier_id".
	SupplierColumn string
	// Suppliers, when set, limits the subscription to these suppliers (one
	// filter supplier_column=eq.<id> each, so Supabase sends nothing else)
	// and refuses a change for any other. Empty: every row.
	Suppliers []string
	// Event is the broadcast event. Defaults to "<table>.changed".
	Event string
	// Validate checks a change before it is forwarded and returns the
	// payload to broadcast. Defaults to forwarding
	// {"type","table","commit_timestamp","record","old_record"} when the
	// record is a JSON object with a supplier id.
	Validate func(protocol.PostgresChange) (any, error)
	// OnInvalid is told about each change that was not forwarded: refused
	// (ErrInvalidChange, or Validate's error) or whose Broadcast failed
	// (ErrHubBusy, a broker error; with ErrPublishOutcomeUnknown it may
	// have been published after all). Stats counts them all as Rejected.
	// Defaults to a warning in Logger.
	OnInvalid func(protocol.PostgresChange, error)
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// Bridge follows a Supabase table through a Client and re-broadcasts each
// valid change to the topic of the supplier it belongs to ("supplier:<id>")
// in a Hub, so dashboards get database changes with the hub's history and
// replay. Supabase replays nothing after a reconnect: pair the Client's
// OnResync with a reload of what the dashboards show.
type Bridge struct {
	cfg       BridgeConfig
	ch        *client.Channel
	forwarded atomic.Int64
	rejected  atomic.Int64
	mu        sync.Mutex
	started   bool
	// ctx is the context of the forwarded broadcasts: Start's (its values
	// kept), ended by Stop.
	ctx    context.Context
	cancel context.CancelFunc
	// busy is held while a change is handled, so that Stop can wait for
	// the one in flight.
	busy chan struct{}
}

// BridgeStats counts a bridge's work.
type BridgeStats struct {
	Forwarded int64
	Rejected  int64
}

// ErrInvalidChange wraps every reason a Bridge refuses a change.
var ErrInvalidChange = errors.New("realtime: invalid change")

// NewBridge checks the configuration and fills defaults.
func NewBridge(cfg BridgeConfig) (*Bridge, error) {
	c := validate.NewChecker(pkg)
	c.Check(cfg.Client != nil, "BridgeConfig.Client", "is required")
	c.Check(cfg.Hub != nil, "BridgeConfig.Hub", "is required")
	c.Check(cfg.Table != "", "BridgeConfig.Table", "is required")
	if cfg.Schema == "" {
		cfg.Schema = "public"
	}
	if cfg.SupplierColumn == "" {
		cfg.SupplierColumn = "supplier_id"
	}
	if cfg.Event == "" {
		cfg.Event = cfg.Table + ".changed"
	}
	c.Add(validateName("BridgeConfig.Event", cfg.Event))
	for i, s := range cfg.Suppliers {
		c.Check(s != "" && !strings.ContainsAny(s, ",()"), fmt.Sprintf("BridgeConfig.Suppliers[%d]", i),
			"must be a non-empty id without commas or parentheses, got %q", s)
	}
	if err := c.Err(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	b := &Bridge{cfg: cfg, busy: make(chan struct{}, 1)}
	if cfg.Validate == nil {
		b.cfg.Validate = b.defaultValidate
	}
	if cfg.OnInvalid == nil {
		b.cfg.OnInvalid = func(c protocol.PostgresChange, err error) {
			b.cfg.Logger.Warn("realtime: bridge refused a change", "table", c.Table, "type", c.Type, "err", err)
		}
	}
	return b, nil
}

// Start joins the table's changes on the client. It returns once the
// subscription is confirmed. The broadcasts it forwards carry ctx's values
// but not its end: Stop ends them.
func (b *Bridge) Start(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.started {
		return errors.New("realtime: bridge already started")
	}
	bctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	ch := b.cfg.Client.Channel("bridge:"+b.cfg.Schema+"."+b.cfg.Table, client.ChannelConfig{})
	filters := []string{""}
	if len(b.cfg.Suppliers) > 0 {
		filters = filters[:0]
		for _, s := range b.cfg.Suppliers {
			filters = append(filters, b.cfg.SupplierColumn+"=eq."+s)
		}
	}
	for _, f := range filters {
		ch.OnPostgresChanges(protocol.PostgresChangeFilter{Event: "*", Schema: b.cfg.Schema, Table: b.cfg.Table, Filter: f}, func(c protocol.PostgresChange) {
			b.handle(bctx, c)
		})
	}
	if err := ch.Subscribe(ctx); err != nil {
		cancel()
		return fmt.Errorf("realtime: bridge subscribe to %s.%s: %w", b.cfg.Schema, b.cfg.Table, err)
	}
	b.ch, b.started, b.ctx, b.cancel = ch, true, bctx, cancel
	return nil
}

// Stop ends the bridge: it cancels the broadcast in flight, if any (a
// hub whose broker's database is slow, say), leaves the subscription, and
// waits for the change being handled to finish; or for ctx to end, and then
// returns ctx.Err(). Changes that arrive after Stop are dropped. It must
// not be called from Validate or OnInvalid, which run while a change is
// handled.
func (b *Bridge) Stop(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.started {
		return nil
	}
	b.started = false
	b.cancel()
	err := b.ch.Unsubscribe(ctx)
	select {
	case b.busy <- struct{}{}:
		<-b.busy
	case <-ctx.Done():
		return errors.Join(err, ctx.Err())
	}
	return err
}

// Stats returns how many changes were forwarded and refused.
func (b *Bridge) Stats() BridgeStats {
	return BridgeStats{Forwarded: b.forwarded.Load(), Rejected: b.rejected.Load()}
}

func (b *Bridge) handle(ctx context.Context, c protocol.PostgresChange) {
	b.busy <- struct{}{}
	defer func() { <-b.busy }()
	if ctx.Err() != nil {
		return // stopped
	}
	supplier, err := b.supplierOf(c)
	if err == nil {
		var payload any
		if payload, err = b.cfg.Validate(c); err == nil {
			_, err = b.cfg.Hub.Broadcast(ctx, SupplierTopic(supplier), b.cfg.Event, payload)
		}
	}
	if err != nil && ctx.Err() != nil {
		return // stopped while broadcasting: not the change's fault
	}
	if err != nil {
		b.rejected.Add(1)
		b.cfg.OnInvalid(c, err)
		return
	}
	b.forwarded.Add(1)
}

// supplierOf reads the supplier id from the row (the old row for a
// delete) and checks it against the configured suppliers.
func (b *Bridge) supplierOf(c protocol.PostgresChange) (string, error) {
	if c.Schema != b.cfg.Schema || c.Table != b.cfg.Table {
		return "", fmt.Errorf("%w: change of %s.%s, want %s.%s", ErrInvalidChange, c.Schema, c.Table, b.cfg.Schema, b.cfg.Table)
	}
	row := c.Record
	switch c.Type {
	case "INSERT", "UPDATE":
	case "DELETE":
		row = c.OldRecord
	default:
		return "", fmt.Errorf("%w: type %q must be INSERT, UPDATE or DELETE", ErrInvalidChange, c.Type)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(row, &fields); err != nil || fields == nil {
		return "", fmt.Errorf("%w: the row is not a JSON object", ErrInvalidChange)
	}
	raw, ok := fields[b.cfg.SupplierColumn]
	if !ok {
		return "", fmt.Errorf("%w: the row has no %s", ErrInvalidChange, b.cfg.SupplierColumn)
	}
	id, isNull := scalarString(raw)
	raw = bytes.TrimSpace(raw)
	if isNull || id == "" || raw[0] == '{' || raw[0] == '[' || validateTopic(SupplierTopic(id)) != nil || strings.Contains(id, ":") {
		return "", fmt.Errorf("%w: %s must be a non-empty id without ':'", ErrInvalidChange, b.cfg.SupplierColumn)
	}
	if len(b.cfg.Suppliers) > 0 {
		for _, s := range b.cfg.Suppliers {
			if s == id {
				return id, nil
			}
		}
		return "", fmt.Errorf("%w: supplier %s is not followed", ErrInvalidChange, id)
	}
	return id, nil
}

func (b *Bridge) defaultValidate(c protocol.PostgresChange) (any, error) {
	out := map[string]any{"type": c.Type, "table": c.Table, "commit_timestamp": c.CommitTimestamp}
	if len(c.Record) > 0 {
		out["record"] = c.Record
	}
	if len(c.OldRecord) > 0 {
		out["old_record"] = c.OldRecord
	}
	return out, nil
}
