package wedmesync_test

// The convergence property: two platforms, each editing at random, changes
// delivered in random order with duplicates and drops; after a final
// catch-up from the cursors, both hold the same records. In memory, and as
// two schemas in the real Postgres. The seed is logged;
// WEDSYNC_WEDMESYNC_SEEDS=n runs n seeds (default 5 in memory, 2 on
// Postgres).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/internal/pgtest"
	"github.com/wedsync/integrations/wedmesync"
)

// links is a static Authorizer: supplier -> couple -> kind.
type links map[string]map[string]string

func (l links) Linked(_ context.Context, supplier, couple string) (string, bool, error) {
	k, ok := l[supplier][couple]
	return k, ok, nil
}

func (l links) Suppliers(_ context.Context, couple string) ([]wedmesync.Link, error) {
	var out []wedmesync.Link
	for s, cs := range l {
		if k, ok := cs[couple]; ok {
			out = append(out, wedmesync.Link{Supplier: s, Kind: k})
		}
	}
	return out, nil
}

var everything = wedmesync.SharePolicy{"planner": {
	wedmesync.TypeCoupleProfile: {"*"}, wedmesync.TypeWeddingDetails: {"*"}, wedmesync.TypeGuestSummary: {"*"},
	wedmesync.TypeDietary: {"*"}, wedmesync.TypeTimelineItem: {"*"}, wedmesync.TypeSupplierBooking: {"*"},
}}

// chaos delivers pushes late, twice, or not at all.
type chaos struct {
	rnd     *rand.Rand
	to      *wedmesync.Node
	from    wedmesync.Side
	delayed [][]wedmesync.Change
	stats   map[string]int
}

func (c *chaos) Push(ctx context.Context, cs []wedmesync.Change) error {
	switch r := c.rnd.IntN(10); {
	case r < 2:
		c.stats["dropped"] += len(cs)
		return nil // lost on the way; the sender believes it arrived
	case r < 4:
		c.stats["delayed"] += len(cs)
		c.delayed = append(c.delayed, cs)
		return nil
	case r < 5:
		c.stats["duplicated"] += len(cs)
		if _, err := c.to.Apply(ctx, c.from, cs); err != nil {
			return err
		}
	}
	_, err := c.to.Apply(ctx, c.from, cs)
	return err
}

func (c *chaos) Pull(ctx context.Context, cursor string, limit int) ([]wedmesync.Change, string, error) {
	return c.to.Changes(ctx, cursor, limit)
}

// flush delivers the delayed batches in random order.
func (c *chaos) flush(ctx context.Context) error {
	c.rnd.Shuffle(len(c.delayed), func(i, j int) { c.delayed[i], c.delayed[j] = c.delayed[j], c.delayed[i] })
	for _, cs := range c.delayed {
		if _, err := c.to.Apply(ctx, c.from, cs); err != nil {
			return err
		}
	}
	c.delayed = nil
	return nil
}

func raw(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// randomEdit is one valid edit of one side.
func randomEdit(rnd *rand.Rand, side wedmesync.Side) wedmesync.Edit {
	couple := []string{"cpl_a", "cpl_b"}[rnd.IntN(2)]
	hhmm := func() string { return fmt.Sprintf("%02d:%02d", 8+rnd.IntN(14), rnd.IntN(4)*15) }
	if side == wedmesync.SideSupplier {
		e := wedmesync.Edit{Couple: couple, Supplier: "sup_planner"}
		if rnd.IntN(2) == 0 {
			e.Type, e.Record = wedmesync.TypeSupplierBooking, fmt.Sprint("bk_", rnd.IntN(3))
			e.Set = map[string]json.RawMessage{}
			if rnd.IntN(2) == 0 {
				e.Set["status"] = raw([]string{"enquiry", "held", "confirmed", "cancelled"}[rnd.IntN(4)])
			}
			e.Set["notes"] = raw(fmt.Sprint("supplier note ", rnd.IntN(1000)))
			return e
		}
		e.Type, e.Record = wedmesync.TypeTimelineItem, fmt.Sprint("sup_t", rnd.IntN(3))
		e.Set = map[string]json.RawMessage{"title": raw(fmt.Sprint("Supplier item ", rnd.IntN(1000))), "at": raw(hhmm())}
		return e
	}
	e := wedmesync.Edit{Couple: couple}
	switch rnd.IntN(4) {
	case 0:
		e.Type, e.Record = wedmesync.TypeGuestSummary, "guests"
		e.Set = map[string]json.RawMessage{[]string{"adults", "children", "infants"}[rnd.IntN(3)]: raw(rnd.IntN(300))}
	case 1:
		e.Type, e.Record = wedmesync.TypeDietary, "dietary"
		e.Set = map[string]json.RawMessage{[]string{"vegetarian", "vegan", "gluten_free"}[rnd.IntN(3)]: raw(rnd.IntN(50))}
		if rnd.IntN(3) == 0 {
			e.Set["notes"] = raw(fmt.Sprint("couple note ", rnd.IntN(1000)))
		}
	case 2:
		e.Type, e.Record = wedmesync.TypeTimelineItem, fmt.Sprint("t", rnd.IntN(4))
		if rnd.IntN(6) == 0 {
			e.Delete = true
			return e
		}
		e.Set = map[string]json.RawMessage{"title": raw(fmt.Sprint("Item ", rnd.IntN(1000))), "at": raw(hhmm())}
	default:
		e.Type, e.Record = wedmesync.TypeCoupleProfile, "profile"
		e.Set = map[string]json.RawMessage{"names": raw(fmt.Sprint("Couple ", rnd.IntN(1000)))}
	}
	return e
}

func seeds(t *testing.T, def int) int {
	if v, err := strconv.Atoi(os.Getenv("WEDSYNC_WEDMESYNC_SEEDS")); err == nil && v > 0 {
		return v
	}
	return def
}

func runConvergence(t *testing.T, seed uint64, newNode func(side wedmesync.Side, id string) *wedmesync.Node, edits int) {
	ctx := context.Background()
	rnd := rand.New(rand.NewPCG(seed, seed^0x5eed))
	wedme := newNode(wedmesync.SideWedMe, "wedme1")
	sup := newNode(wedmesync.SideSupplier, "supplier1")
	stats := map[string]int{}
	toSup := &chaos{rnd: rnd, to: sup, from: wedmesync.SideWedMe, stats: stats}
	toWedMe := &chaos{rnd: rnd, to: wedme, from: wedmesync.SideSupplier, stats: stats}
	wedmePeer := wedme.NewPeer("supplier-platform", toSup)
	supPeer := sup.NewPeer("wedme", toWedMe)
	for i := 0; i < edits; i++ {
		side, node := wedmesync.SideWedMe, wedme
		if rnd.IntN(2) == 0 {
			side, node = wedmesync.SideSupplier, sup
		}
		_, err := node.Record(ctx, randomEdit(rnd, side))
		require.NoError(t, err, "seed %d edit %d", seed, i)
		switch rnd.IntN(8) {
		case 0:
			require.NoError(t, wedmePeer.SyncOnce(ctx))
		case 1:
			require.NoError(t, supPeer.SyncOnce(ctx))
		case 2:
			require.NoError(t, toSup.flush(ctx))
			require.NoError(t, toWedMe.flush(ctx))
		}
	}
	require.NoError(t, toSup.flush(ctx))
	require.NoError(t, toWedMe.flush(ctx))
	// Catch-up: each side pulls what it missed from its cursor.
	require.NoError(t, wedmePeer.SyncOnce(ctx))
	require.NoError(t, supPeer.SyncOnce(ctx))

	a, err := wedme.Records(ctx)
	require.NoError(t, err)
	b, err := sup.Records(ctx)
	require.NoError(t, err)
	require.Equal(t, len(a), len(b), "seed %d: as many records on both sides", seed)
	for i := range a {
		ra, rb := a[i], b[i]
		require.Equal(t, "sup_planner", rb.Supplier, "seed %d", seed)
		require.Equal(t, []string{ra.Couple, string(ra.Type), ra.ID}, []string{rb.Couple, string(rb.Type), rb.ID}, "seed %d", seed)
		require.Equal(t, ra.IsDeleted(), rb.IsDeleted(), "seed %d: %s/%s deleted on one side only", seed, ra.Type, ra.ID)
		require.Equal(t, len(ra.Fields), len(rb.Fields), "seed %d: %s/%s", seed, ra.Type, ra.ID)
		for name, fa := range ra.Fields {
			fb := rb.Fields[name]
			require.True(t, bytes.Equal(fa.Value, fb.Value) && fa.At == fb.At, "seed %d: %s/%s.%s: %s@%s vs %s@%s", seed, ra.Type, ra.ID, name, fa.Value, fa.At, fb.Value, fb.At)
		}
	}
	ca, cb := wedme.Counts(), sup.Counts()
	t.Logf("seed %d: %d edits, %d records; pushes dropped %d, delayed %d, duplicated %d changes; WedMe applied %d (dup %d), supplier applied %d (dup %d); nothing quarantined",
		seed, edits, len(a), stats["dropped"], stats["delayed"], stats["duplicated"], ca[wedmesync.OutcomeApplied], ca[wedmesync.OutcomeDuplicate],
		cb[wedmesync.OutcomeApplied], cb[wedmesync.OutcomeDuplicate])
	require.Zero(t, ca[wedmesync.OutcomeQuarantined]+cb[wedmesync.OutcomeQuarantined])
	require.Positive(t, stats["dropped"], "the run dropped something")
	require.Positive(t, ca[wedmesync.OutcomeDuplicate]+cb[wedmesync.OutcomeDuplicate], "the run duplicated something")
}

func auth() links {
	return links{"sup_planner": {"cpl_a": "planner", "cpl_b": "planner"}}
}

func TestConvergenceMemory(t *testing.T) {
	for range seeds(t, 5) {
		seed := rand.Uint64()
		runConvergence(t, seed, func(side wedmesync.Side, id string) *wedmesync.Node {
			n, err := wedmesync.NewNode(side, id, wedmesync.WithAuthorizer(auth()), wedmesync.WithSharing(everything))
			require.NoError(t, err)
			return n
		}, 1000)
	}
}

func TestConvergencePostgresTwoSchemas(t *testing.T) {
	for range seeds(t, 2) {
		seed := rand.Uint64()
		runConvergence(t, seed, func(side wedmesync.Side, id string) *wedmesync.Node {
			db := pgtest.New(t, "wedmesync_"+string(side))
			require.NoError(t, wedmesync.Migrate(context.Background(), db.Pool, wedmesync.WithSchema(db.Schema)))
			n, err := wedmesync.NewNode(side, id, wedmesync.WithAuthorizer(auth()), wedmesync.WithSharing(everything),
				wedmesync.WithPostgres(db.Pool), wedmesync.WithSchema(db.Schema))
			require.NoError(t, err)
			return n
		}, 1000)
	}
}
