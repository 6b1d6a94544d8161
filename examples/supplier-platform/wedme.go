package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wedsync/integrations/realtime"
	"github.com/wedsync/integrations/wedmesync"
)

// The demo's WedMe sync (package wedmesync): two nodes in this process, the
// couples' app (WedMe) and the supplier platform, kept in step by a
// wedmesync.Peer on each side over the memory transport. The sample couple,
// Alex & Sam, edits their dietary requirements, guest numbers and wedding
// details on the page at /wedme; the supplier platform receives each change
// filtered by the default sharing policy, for each supplier linked to the
// couple: the sample supplier, a florist, sees the wedding details but not
// the guests' dietary needs or numbers; a second supplier, a caterer, sees
// those. Each change the supplier side applies is a plain console line and
// a wedme.changed broadcast to that supplier's dashboards.

// demoCouple is the sample couple of the WedMe page.
const demoCouple = "cpl_demo_alex_sam"

// demoCoupleNames is how the page addresses them.
const demoCoupleNames = "Alex & Sam"

// demoCaterer is the second supplier linked to the couple: a caterer, which
// the default sharing policy shows the dietary needs and guest numbers.
const demoCaterer = "sup_demo_caterer"

// wedmeRecord is the id of the couple's one record of each type that the
// page edits.
const wedmeRecord = "main"

// wedmeSyncInterval is how often each peer looks for the other side's
// changes when nothing wakes it sooner (a change recorded on its own side
// syncs at once).
const wedmeSyncInterval = 2 * time.Second

// eventWedMeChanged is the realtime event that tells a supplier's
// dashboards to reload their "Couple details (from WedMe)" panel.
const eventWedMeChanged = "wedme.changed"

// The WedMe node's schema in Postgres mode; the supplier platform's node
// uses the demo's own schema (wedmesync's default, "wedsync"). Two
// schemas stand for two platforms' databases.
const wedmeSchema = "wedsync_wedme"

// wedmeLinks are the suppliers the demo couple booked, with their kinds.
var wedmeLinks = []wedmesync.Link{
	{Supplier: demoSupplier, Kind: "florist"},
	{Supplier: demoCaterer, Kind: "caterer"},
}

// wedmeTypes are the record types the couple's page edits, in page order,
// with the fields it shows (the json names of wedmesync's record structs).
var wedmeTypes = []struct {
	Type   wedmesync.RecordType
	Title  string
	Fields []string
}{
	{wedmesync.TypeDietary, "Dietary requirements", []string{"vegetarian", "vegan", "gluten_free", "halal", "kosher", "allergies", "notes"}},
	{wedmesync.TypeGuestSummary, "Guests", []string{"adults", "children", "infants"}},
	{wedmesync.TypeWeddingDetails, "Wedding details", []string{"venue", "style"}},
}

// wedmeSeed is what the couple's side holds before anyone edits it.
var wedmeSeed = map[wedmesync.RecordType]string{
	wedmesync.TypeDietary: `{"vegetarian":3,"vegan":1,"gluten_free":2,"halal":0,"kosher":0,"allergies":["peanuts"],` +
		`"notes":"Sam's grandmother cannot eat shellfish"}`,
	wedmesync.TypeGuestSummary:   `{"adults":96,"children":8,"infants":2}`,
	wedmesync.TypeWeddingDetails: `{"venue":"Kew Gardens","style":"Wildflower meadow, white and blush"}`,
}

// links is the demo's Authorizer: the demo couple booked the sample florist
// and the caterer. A real supplier platform answers from its bookings,
// WedMe from the couple's links.
type links struct{}

// Linked implements wedmesync.Authorizer.
func (links) Linked(_ context.Context, supplier, couple string) (string, bool, error) {
	if couple != demoCouple {
		return "", false, nil
	}
	for _, l := range wedmeLinks {
		if l.Supplier == supplier {
			return l.Kind, true, nil
		}
	}
	return "", false, nil
}

// Suppliers implements wedmesync.Authorizer.
func (links) Suppliers(_ context.Context, couple string) ([]wedmesync.Link, error) {
	if couple != demoCouple {
		return nil, nil
	}
	return slices.Clone(wedmeLinks), nil
}

// wedmeSide is the two nodes, their peers and what the console has shown.
type wedmeSide struct {
	wedme, supplier *wedmesync.Node
	hub             *realtime.Hub
	out             *console
	share           wedmesync.SharePolicy
	hook            func(wedmesync.Applied) // test hook

	cancel context.CancelFunc
	done   sync.WaitGroup

	// seeded is set once the seed reached the supplier side: the seed's
	// own changes are printed but not broadcast (no dashboard is open
	// yet, and the hub's offsets of the supplier's topic start with the
	// demo's KPIs).
	seeded atomic.Bool

	mu   sync.Mutex
	seen map[string]json.RawMessage // supplier/type/record/field -> last value printed
}

// startWedMe makes the two nodes (in Postgres mode with a pool: the WedMe
// node in schema wedsync_wedme, the supplier platform's in the demo's
// schema), seeds the couple's records when they have none, syncs them to
// the supplier side, and starts a peer on each side.
func startWedMe(ctx context.Context, pool *pgxpool.Pool, hub *realtime.Hub, out *console, hook func(wedmesync.Applied)) (*wedmeSide, error) {
	w := &wedmeSide{hub: hub, out: out, hook: hook, share: wedmesync.DefaultSharing(), seen: map[string]json.RawMessage{}}
	// The nodes' warnings (a failed sync, a quarantined change) show; their
	// applied changes print through the applied handler.
	logger := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelWarn}))
	wopts := []wedmesync.NodeOption{wedmesync.WithLogger(logger)}
	sopts := []wedmesync.NodeOption{wedmesync.WithLogger(logger)}
	if pool != nil {
		if err := wedmesync.Migrate(ctx, pool, wedmesync.WithSchema(wedmeSchema)); err != nil {
			return nil, fmt.Errorf("migrate the WedMe side: %w", err)
		}
		if err := wedmesync.Migrate(ctx, pool); err != nil {
			return nil, fmt.Errorf("migrate the supplier side: %w", err)
		}
		wopts = append(wopts, wedmesync.WithPostgres(pool), wedmesync.WithSchema(wedmeSchema))
		sopts = append(sopts, wedmesync.WithPostgres(pool))
	}
	var err error
	w.wedme, err = wedmesync.NewNode(wedmesync.SideWedMe, "wedme-demo", append(wopts, wedmesync.WithAuthorizer(links{}))...)
	if err != nil {
		return nil, err
	}
	w.supplier, err = wedmesync.NewNode(wedmesync.SideSupplier, "supplier-demo",
		append(sopts, wedmesync.WithAuthorizer(links{}), wedmesync.WithAppliedHandler(w.applied))...)
	if err != nil {
		return nil, err
	}
	toSupplier := w.wedme.NewPeer("supplier-platform", wedmesync.MemoryTransport{Peer: w.supplier, From: wedmesync.SideWedMe})
	toWedMe := w.supplier.NewPeer("wedme", wedmesync.MemoryTransport{Peer: w.wedme, From: wedmesync.SideSupplier})
	if err := w.seed(ctx); err != nil {
		return nil, err
	}
	// The seed reaches the supplier side before the banner, so that its
	// lines come first and nothing of it is broadcast.
	if err := toSupplier.SyncOnce(ctx); err != nil {
		return nil, fmt.Errorf("first sync of the WedMe side: %w", err)
	}
	w.seeded.Store(true)
	// The peers live until stop, not until ctx (a signal) ends: shutdown
	// stops them in its order.
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	w.cancel = cancel
	for _, p := range []*wedmesync.Peer{toSupplier, toWedMe} {
		w.done.Go(func() { p.Run(rctx, wedmeSyncInterval) })
	}
	return w, nil
}

// stop stops both peers and waits for them.
func (w *wedmeSide) stop() {
	w.cancel()
	w.done.Wait()
}

// seed writes the couple's records that do not exist yet (Postgres mode
// keeps the couple's edits across runs).
func (w *wedmeSide) seed(ctx context.Context) error {
	n := 0
	for _, t := range wedmeTypes {
		_, err := w.wedme.Get(ctx, "", demoCouple, t.Type, wedmeRecord)
		if err == nil {
			continue
		}
		if !errors.Is(err, wedmesync.ErrNotFound) {
			return err
		}
		var set map[string]json.RawMessage
		if err := json.Unmarshal([]byte(wedmeSeed[t.Type]), &set); err != nil {
			return err
		}
		if _, err := w.wedme.Record(ctx, wedmesync.Edit{Couple: demoCouple, Type: t.Type, Record: wedmeRecord, Set: set}); err != nil {
			return fmt.Errorf("seed the couple's %s: %w", t.Type, err)
		}
		n++
	}
	if n == 0 {
		w.out.plain("wedme: the couple's records are kept from an earlier run (Postgres mode)")
	}
	return nil
}

// shares lists the record types of the page that a supplier of kind sees.
func (w *wedmeSide) shares(kind string) []wedmesync.RecordType {
	out := []wedmesync.RecordType{}
	for _, t := range wedmeTypes {
		probe := wedmesync.Change{Type: t.Type, Fields: map[string]wedmesync.FieldValue{}}
		for _, f := range t.Fields {
			probe.Fields[f] = wedmesync.FieldValue{Value: json.RawMessage("null")}
		}
		if _, ok := w.share.Filter(kind, probe); ok {
			out = append(out, t.Type)
		}
	}
	return out
}

// applied is the supplier node's applied handler: a plain console line
// naming the fields whose value changed, and a wedme.changed broadcast to
// the supplier's dashboards.
func (w *wedmeSide) applied(ctx context.Context, a wedmesync.Applied) {
	c, r := a.Change, a.Record
	var changed []string
	w.mu.Lock()
	for _, name := range slices.Sorted(maps.Keys(c.Fields)) {
		fv, ok := r.Fields[name]
		if !ok {
			continue
		}
		key := strings.Join([]string{r.Supplier, string(r.Type), r.ID, name}, "/")
		old, had := w.seen[key]
		if had && bytes.Equal(old, fv.Value) {
			continue
		}
		w.seen[key] = bytes.Clone(fv.Value)
		if had {
			changed = append(changed, fmt.Sprintf("%s %s → %s", name, compact(old), compact(fv.Value)))
		} else {
			changed = append(changed, fmt.Sprintf("%s %s", name, compact(fv.Value)))
		}
	}
	w.mu.Unlock()
	what := strings.Join(changed, ", ")
	switch {
	case c.Deleted != nil && r.IsDeleted():
		what = "deleted"
	case what == "":
		what = "nothing new (an older write)"
	}
	for _, cf := range a.Conflicts {
		what += fmt.Sprintf("; %s kept for a person to decide", cf.Field)
	}
	verb := "changed"
	if !w.seeded.Load() {
		verb = "shared"
	}
	w.out.printf("wedme: couple %s %s %s, seen by %s (%s): %s", c.Couple, verb, c.Type, r.Supplier, c.SupplierKind, what)
	if w.seeded.Load() {
		// changes says in words what the supplier now sees differently.
		payload := map[string]any{"couple": c.Couple, "type": c.Type, "record": c.Record, "fields": slices.Sorted(maps.Keys(c.Fields)),
			"changes": what}
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := w.hub.Broadcast(bctx, realtime.SupplierTopic(r.Supplier), eventWedMeChanged, payload); err != nil &&
			!errors.Is(err, realtime.ErrHubClosed) {
			w.out.printf("wedme: could not broadcast to the dashboards of %s: %v", r.Supplier, err)
		}
	}
	if w.hook != nil {
		w.hook(a)
	}
}

// compact writes a JSON value on one line.
func compact(v json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, v) != nil {
		return string(v)
	}
	return truncate(b.String(), 80)
}
