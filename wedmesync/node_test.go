package wedmesync_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/internal/idletest"
	"github.com/wedsync/integrations/internal/pgtest"
	"github.com/wedsync/integrations/wedmesync"
)

func newPair(t *testing.T, l links, share wedmesync.SharePolicy) (*wedmesync.Node, *wedmesync.Node) {
	t.Helper()
	wedme, err := wedmesync.NewNode(wedmesync.SideWedMe, "wedme1", wedmesync.WithAuthorizer(l), wedmesync.WithSharing(share))
	require.NoError(t, err)
	sup, err := wedmesync.NewNode(wedmesync.SideSupplier, "supplier1", wedmesync.WithAuthorizer(l), wedmesync.WithSharing(share))
	require.NoError(t, err)
	return wedme, sup
}

func dietary(vegetarian int) wedmesync.Edit {
	return wedmesync.Edit{Couple: "cpl_a", Type: wedmesync.TypeDietary, Record: "dietary",
		Set: map[string]json.RawMessage{"vegetarian": raw(vegetarian)}}
}

// down is a transport that fails while it is down.
type down struct {
	wedmesync.Transport
	down bool
}

var errDown = errors.New("network down")

func (d *down) Push(ctx context.Context, cs []wedmesync.Change) error {
	if d.down {
		return errDown
	}
	return d.Transport.Push(ctx, cs)
}

func (d *down) Pull(ctx context.Context, cursor string, limit int) ([]wedmesync.Change, string, error) {
	if d.down {
		return nil, "", errDown
	}
	return d.Transport.Pull(ctx, cursor, limit)
}

func TestTransportDownCatchesUpFromTheCursor(t *testing.T) {
	ctx := context.Background()
	wedme, sup := newPair(t, auth(), everything)
	tr := &down{Transport: wedmesync.MemoryTransport{Peer: sup, From: wedmesync.SideWedMe}}
	p := wedme.NewPeer("supplier-platform", tr)
	_, err := wedme.Record(ctx, dietary(3))
	require.NoError(t, err)
	require.NoError(t, p.SyncOnce(ctx))

	tr.down = true
	for v := 4; v <= 10; v++ {
		_, err := wedme.Record(ctx, dietary(v))
		require.NoError(t, err)
	}
	require.ErrorIs(t, p.SyncOnce(ctx), errDown)
	r, err := sup.Get(ctx, "sup_planner", "cpl_a", wedmesync.TypeDietary, "dietary")
	require.NoError(t, err)
	require.JSONEq(t, "3", string(r.Fields["vegetarian"].Value), "nothing arrives while the transport is down")

	tr.down = false
	require.NoError(t, p.SyncOnce(ctx))
	r, err = sup.Get(ctx, "sup_planner", "cpl_a", wedmesync.TypeDietary, "dietary")
	require.NoError(t, err)
	require.JSONEq(t, "10", string(r.Fields["vegetarian"].Value))
	require.Equal(t, int64(8), sup.Counts()[wedmesync.OutcomeApplied], "each change once, from the cursor on")
	require.Zero(t, sup.Counts()[wedmesync.OutcomeDuplicate], "nothing before the cursor was sent again")
}

func TestUnlinkedSupplierGetsNothingAndIsQuarantined(t *testing.T) {
	ctx := context.Background()
	wedme, sup := newPair(t, links{"sup_planner": {"cpl_b": "planner"}}, everything) // not linked to cpl_a
	p := wedme.NewPeer("supplier-platform", wedmesync.MemoryTransport{Peer: sup, From: wedmesync.SideWedMe})
	_, err := wedme.Record(ctx, dietary(3))
	require.NoError(t, err)
	require.NoError(t, p.SyncOnce(ctx))
	rs, err := sup.Records(ctx)
	require.NoError(t, err)
	require.Empty(t, rs, "WedMe sends cpl_a's changes to no supplier")

	// A change addressed to a supplier the supplier platform does not link
	// to the couple is quarantined there, with the reason.
	forged := wedmesync.Change{ID: "chg_forged~sup_planner", Origin: wedmesync.SideWedMe, Couple: "cpl_a", Supplier: "sup_planner",
		SupplierKind: "planner", Type: wedmesync.TypeDietary, Record: "dietary",
		Fields: map[string]wedmesync.FieldValue{"vegetarian": {Value: raw(9), At: wedmesync.Timestamp{Wall: time.Now().UnixMilli(), Node: "wedme1"}}}}
	out, err := sup.Apply(ctx, wedmesync.SideWedMe, []wedmesync.Change{forged})
	require.NoError(t, err)
	require.Equal(t, 1, out[wedmesync.OutcomeQuarantined])
	q, err := sup.Quarantine(ctx)
	require.NoError(t, err)
	require.Len(t, q, 1)
	require.Contains(t, q[0].Reason, "not linked")
	rs, err = sup.Records(ctx)
	require.NoError(t, err)
	require.Empty(t, rs)
}

func TestQuarantinedChangeIsReplayedAfterTheFix(t *testing.T) {
	ctx := context.Background()
	l := links{"sup_planner": {}}
	_, sup := newPair(t, l, everything)
	c := wedmesync.Change{ID: "chg_early~sup_planner", Origin: wedmesync.SideWedMe, Couple: "cpl_a", Supplier: "sup_planner",
		SupplierKind: "planner", Type: wedmesync.TypeDietary, Record: "dietary",
		Fields: map[string]wedmesync.FieldValue{"vegetarian": {Value: raw(5), At: wedmesync.Timestamp{Wall: time.Now().UnixMilli(), Node: "wedme1"}}}}
	out, err := sup.Apply(ctx, wedmesync.SideWedMe, []wedmesync.Change{c})
	require.NoError(t, err)
	require.Equal(t, 1, out[wedmesync.OutcomeQuarantined], "the link is not there yet")
	// Later changes keep flowing (another couple's).
	l["sup_planner"]["cpl_b"] = "planner"
	c2 := c
	c2.ID, c2.Couple = "chg_other~sup_planner", "cpl_b"
	out, err = sup.Apply(ctx, wedmesync.SideWedMe, []wedmesync.Change{c2})
	require.NoError(t, err)
	require.Equal(t, 1, out[wedmesync.OutcomeApplied])

	l["sup_planner"]["cpl_a"] = "planner" // the booking is confirmed: now linked
	o, err := sup.Replay(ctx, c.ID, nil)
	require.NoError(t, err)
	require.Equal(t, wedmesync.OutcomeApplied, o)
	q, err := sup.Quarantine(ctx)
	require.NoError(t, err)
	require.Empty(t, q)
	_, err = sup.Replay(ctx, c.ID, nil)
	require.ErrorIs(t, err, wedmesync.ErrNotFound)
}

func TestRecordTxRollsBackWithTheHostsTransaction(t *testing.T) {
	ctx := context.Background()
	db := pgtest.New(t, "wedmesync")
	require.NoError(t, wedmesync.Migrate(ctx, db.Pool, wedmesync.WithSchema(db.Schema)))
	n, err := wedmesync.NewNode(wedmesync.SideWedMe, "wedme1", wedmesync.WithAuthorizer(auth()), wedmesync.WithSharing(everything),
		wedmesync.WithPostgres(db.Pool), wedmesync.WithSchema(db.Schema))
	require.NoError(t, err)
	tx, err := db.Pool.Begin(ctx)
	require.NoError(t, err)
	_, err = n.RecordTx(ctx, tx, dietary(4))
	require.NoError(t, err)
	require.NoError(t, tx.Rollback(ctx))
	cs, _, err := n.Changes(ctx, "", 100)
	require.NoError(t, err)
	require.Empty(t, cs, "a rolled-back edit is not in the log")
	_, err = n.Get(ctx, "", "cpl_a", wedmesync.TypeDietary, "dietary")
	require.ErrorIs(t, err, wedmesync.ErrNotFound)

	require.NoError(t, pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		_, err := n.RecordTx(ctx, tx, dietary(5))
		return err
	}))
	cs, _, err = n.Changes(ctx, "", 100)
	require.NoError(t, err)
	require.Len(t, cs, 1)

	mem, _ := newPair(t, auth(), everything)
	_, err = mem.RecordTx(ctx, tx, dietary(1))
	require.ErrorIs(t, err, wedmesync.ErrNoDatabase)
}

// The peer on the wall clock: waiting costs nothing, a change recorded on
// this side is pushed without waiting for the interval, and Run returns
// when its context ends.
func TestPeerRunRealClock(t *testing.T) {
	ctx := context.Background()
	applied := make(chan wedmesync.Applied, 1)
	wedme, err := wedmesync.NewNode(wedmesync.SideWedMe, "wedme1", wedmesync.WithAuthorizer(auth()), wedmesync.WithSharing(everything))
	require.NoError(t, err)
	sup, err := wedmesync.NewNode(wedmesync.SideSupplier, "supplier1", wedmesync.WithAuthorizer(auth()), wedmesync.WithSharing(everything),
		wedmesync.WithAppliedHandler(func(_ context.Context, a wedmesync.Applied) { applied <- a }))
	require.NoError(t, err)
	rctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		wedme.NewPeer("supplier-platform", wedmesync.MemoryTransport{Peer: sup, From: wedmesync.SideWedMe}).Run(rctx, time.Hour)
	}()
	idletest.RequireIdle(t, "a peer waiting an hour for its next turn")
	_, err = wedme.Record(ctx, dietary(7))
	require.NoError(t, err)
	select {
	case a := <-applied:
		require.JSONEq(t, "7", string(a.Record.Fields["vegetarian"].Value))
	case <-time.After(10 * time.Second):
		t.Fatal("the recorded change was not pushed")
	}
	stop()
	<-done
}

// A new wedding date from WedMe does not overwrite the supplier's: a
// person accepts or rejects it.
func TestManualFieldWaitsForAPerson(t *testing.T) {
	modesNodes(t, func(t *testing.T, wedme, sup *wedmesync.Node) {
		ctx := context.Background()
		p := wedme.NewPeer("supplier-platform", wedmesync.MemoryTransport{Peer: sup, From: wedmesync.SideWedMe})
		date := func(d string) wedmesync.Edit {
			return wedmesync.Edit{Couple: "cpl_a", Type: wedmesync.TypeWeddingDetails, Record: "details",
				Set: map[string]json.RawMessage{"date": raw(d), "style": raw("garden")}}
		}
		get := func() wedmesync.Record {
			r, err := sup.Get(ctx, "sup_planner", "cpl_a", wedmesync.TypeWeddingDetails, "details")
			require.NoError(t, err)
			return r
		}
		_, err := wedme.Record(ctx, date("2027-06-05"))
		require.NoError(t, err)
		require.NoError(t, p.SyncOnce(ctx))
		require.JSONEq(t, `"2027-06-05"`, string(get().Fields["date"].Value), "the first date is taken")

		_, err = wedme.Record(ctx, date("2027-07-10"))
		require.NoError(t, err)
		require.NoError(t, p.SyncOnce(ctx))
		require.JSONEq(t, `"2027-06-05"`, string(get().Fields["date"].Value), "a new date waits for a person")
		cs, err := sup.Conflicts(ctx)
		require.NoError(t, err)
		require.Len(t, cs, 1)
		require.Equal(t, "date", cs[0].Field)
		require.JSONEq(t, `"2027-07-10"`, string(cs[0].Incoming.Value))
		require.Equal(t, int64(1), sup.Counts()[wedmesync.OutcomeConflicted])

		require.NoError(t, sup.Resolve(ctx, cs[0].ID, true))
		require.JSONEq(t, `"2027-07-10"`, string(get().Fields["date"].Value), "accepted")
		require.ErrorIs(t, sup.Resolve(ctx, cs[0].ID, true), wedmesync.ErrNotFound, "resolved once")
		cs, err = sup.Conflicts(ctx)
		require.NoError(t, err)
		require.Empty(t, cs)
	})
}

// A linked supplier receives only the fields the couple shares with its
// kind: the caterer sees dietary needs, the photographer does not.
func TestSupplierGetsOnlyItsSharedFields(t *testing.T) {
	ctx := context.Background()
	l := links{"sup_feast": {"cpl_a": "caterer"}, "sup_lens": {"cpl_a": "photographer"}}
	wedme, sup := newPair(t, l, wedmesync.DefaultSharing())
	p := wedme.NewPeer("supplier-platform", wedmesync.MemoryTransport{Peer: sup, From: wedmesync.SideWedMe})
	_, err := wedme.Record(ctx, dietary(6))
	require.NoError(t, err)
	_, err = wedme.Record(ctx, wedmesync.Edit{Couple: "cpl_a", Type: wedmesync.TypeCoupleProfile, Record: "profile",
		Set: map[string]json.RawMessage{"names": raw("Alex & Sam"), "email": raw("alex@example.com")}})
	require.NoError(t, err)
	require.NoError(t, p.SyncOnce(ctx))

	r, err := sup.Get(ctx, "sup_feast", "cpl_a", wedmesync.TypeDietary, "dietary")
	require.NoError(t, err)
	require.JSONEq(t, "6", string(r.Fields["vegetarian"].Value), "the caterer sees dietary needs")
	_, err = sup.Get(ctx, "sup_lens", "cpl_a", wedmesync.TypeDietary, "dietary")
	require.ErrorIs(t, err, wedmesync.ErrNotFound, "the photographer does not")
	prof, err := sup.Get(ctx, "sup_lens", "cpl_a", wedmesync.TypeCoupleProfile, "profile")
	require.NoError(t, err)
	require.Contains(t, prof.Fields, "names")
	require.NotContains(t, prof.Fields, "email", "the photographer sees the names only")
}

func modesNodes(t *testing.T, fn func(t *testing.T, wedme, sup *wedmesync.Node)) {
	t.Run("memory", func(t *testing.T) {
		wedme, sup := newPair(t, auth(), everything)
		fn(t, wedme, sup)
	})
	t.Run("postgres", func(t *testing.T) {
		ctx := context.Background()
		var nodes []*wedmesync.Node
		for _, side := range []wedmesync.Side{wedmesync.SideWedMe, wedmesync.SideSupplier} {
			db := pgtest.New(t, "wedmesync_"+string(side))
			require.NoError(t, wedmesync.Migrate(ctx, db.Pool, wedmesync.WithSchema(db.Schema)))
			n, err := wedmesync.NewNode(side, string(side)+"1", wedmesync.WithAuthorizer(auth()), wedmesync.WithSharing(everything),
				wedmesync.WithPostgres(db.Pool), wedmesync.WithSchema(db.Schema))
			require.NoError(t, err)
			nodes = append(nodes, n)
		}
		fn(t, nodes[0], nodes[1])
	})
}

// A bad payload is quarantined with its reason, and the batch's other
// changes still apply.
func TestBadPayloadIsQuarantinedWithItsReason(t *testing.T) {
	ctx := context.Background()
	_, sup := newPair(t, auth(), everything)
	at := wedmesync.Timestamp{Wall: time.Now().UnixMilli(), Node: "wedme1"}
	bad := wedmesync.Change{ID: "chg_bad~sup_planner", Origin: wedmesync.SideWedMe, Couple: "cpl_a", Supplier: "sup_planner",
		SupplierKind: "planner", Type: wedmesync.TypeGuestSummary, Record: "guests",
		Fields: map[string]wedmesync.FieldValue{"adults": {Value: raw("lots"), At: at}, "pets": {Value: raw(2), At: at}}}
	future := bad
	future.ID, future.Fields = "chg_future~sup_planner", map[string]wedmesync.FieldValue{"adults": {Value: raw(10),
		At: wedmesync.Timestamp{Wall: time.Now().Add(time.Hour).UnixMilli(), Node: "wedme1"}}}
	good := bad
	good.ID, good.Fields = "chg_good~sup_planner", map[string]wedmesync.FieldValue{"adults": {Value: raw(80), At: at}}
	out, err := sup.Apply(ctx, wedmesync.SideWedMe, []wedmesync.Change{bad, future, good})
	require.NoError(t, err)
	require.Equal(t, map[wedmesync.Outcome]int{wedmesync.OutcomeQuarantined: 2, wedmesync.OutcomeApplied: 1}, out)
	q, err := sup.Quarantine(ctx)
	require.NoError(t, err)
	require.Len(t, q, 2)
	reasons := q[0].Reason + "\n" + q[1].Reason
	require.Contains(t, reasons, `Change.Fields["adults"]`)
	require.Contains(t, reasons, `Change.Fields["pets"]`)
	require.Contains(t, reasons, "ahead of this node's clock", "a reading an hour in the future would drag the clock along")
	r, err := sup.Get(ctx, "sup_planner", "cpl_a", wedmesync.TypeGuestSummary, "guests")
	require.NoError(t, err)
	require.JSONEq(t, "80", string(r.Fields["adults"].Value))

	// Fixed by a person and replayed.
	fixed := bad
	fixed.Fields = map[string]wedmesync.FieldValue{"adults": {Value: raw(90), At: wedmesync.Timestamp{Wall: at.Wall + 1, Node: "wedme1"}}}
	o, err := sup.Replay(ctx, bad.ID, &fixed)
	require.NoError(t, err)
	require.Equal(t, wedmesync.OutcomeApplied, o)
	r, err = sup.Get(ctx, "sup_planner", "cpl_a", wedmesync.TypeGuestSummary, "guests")
	require.NoError(t, err)
	require.JSONEq(t, "90", string(r.Fields["adults"].Value))
	audit, err := sup.Audit(ctx, 10)
	require.NoError(t, err)
	require.Equal(t, wedmesync.OutcomeApplied, audit[0].Outcome)
}

// On one Postgres, the supplier side hears WedMe's commits through
// LISTEN/NOTIFY: with an hour between polls, a change still arrives at
// once. Closing the transport stops its listener.
func TestDBTransportWakesOnTheOtherSidesCommit(t *testing.T) {
	ctx := context.Background()
	applied := make(chan wedmesync.Applied, 1)
	var nodes []*wedmesync.Node
	for _, side := range []wedmesync.Side{wedmesync.SideWedMe, wedmesync.SideSupplier} {
		db := pgtest.New(t, "wedmesync_"+string(side))
		require.NoError(t, wedmesync.Migrate(ctx, db.Pool, wedmesync.WithSchema(db.Schema)))
		n, err := wedmesync.NewNode(side, string(side)+"1", wedmesync.WithAuthorizer(auth()), wedmesync.WithSharing(everything),
			wedmesync.WithPostgres(db.Pool), wedmesync.WithSchema(db.Schema),
			wedmesync.WithAppliedHandler(func(_ context.Context, a wedmesync.Applied) { applied <- a }))
		require.NoError(t, err)
		nodes = append(nodes, n)
	}
	wedme, sup := nodes[0], nodes[1]
	tr, err := wedmesync.NewDBTransport(ctx, wedme, wedmesync.SideSupplier)
	require.NoError(t, err)
	rctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); sup.NewPeer("wedme", tr).Run(rctx, time.Hour) }()
	defer func() {
		stop()
		<-done
		require.NoError(t, tr.Close(ctx))
	}()
	idletest.RequireIdle(t, "a peer listening for the other side's commits")
	_, err = wedme.Record(ctx, dietary(12))
	require.NoError(t, err)
	select {
	case a := <-applied:
		require.JSONEq(t, "12", string(a.Record.Fields["vegetarian"].Value))
	case <-time.After(10 * time.Second):
		t.Fatal("the commit did not wake the supplier side")
	}
	require.NoError(t, tr.Err())
}
