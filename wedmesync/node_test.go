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
	wedme, sup := newPair(t, l, everything)
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
	_ = wedme
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
	wedme, sup := newPair(t, auth(), everything)
	rctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		wedme.NewPeer("supplier-platform", wedmesync.MemoryTransport{Peer: sup, From: wedmesync.SideWedMe}).Run(rctx, time.Hour)
	}()
	idletest.RequireIdle(t, "a peer waiting an hour for its next turn")
	_, err := wedme.Record(ctx, dietary(7))
	require.NoError(t, err)
	deadline, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		if r, err := sup.Get(ctx, "sup_planner", "cpl_a", wedmesync.TypeDietary, "dietary"); err == nil {
			require.JSONEq(t, "7", string(r.Fields["vegetarian"].Value))
			break
		}
		select {
		case <-deadline.Done():
			t.Fatal("the recorded change was not pushed")
		case <-time.After(time.Millisecond):
		}
	}
	stop()
	<-done
}
