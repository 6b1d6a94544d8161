package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/time/rate"

	"github.com/wedsync/integrations/webhook"
	"github.com/wedsync/integrations/wedmesync"
)

// The cross-platform rows: a change recorded on the WedMe node until it
// is applied on the supplier platform's node. Memory mode: the nodes are
// apart, WedMe's peer pushes each change over HTTP (signed) to the
// supplier node's handler; the floor is a plain POST of the same bytes.
// Postgres mode: both platforms on one database in two schemas, the
// in-database transport (the supplier's peer is woken by LISTEN/NOTIFY and
// pulls WedMe's log); the floor is a row written with a NOTIFY in one
// transaction and read back by a LISTEN connection.

const wedmeSupplier = "sup_bench"

// wedmeLinks links the benchmark's caterer to every couple.
type wedmeLinks struct{}

func (wedmeLinks) Linked(_ context.Context, supplier, _ string) (string, bool, error) {
	return "caterer", supplier == wedmeSupplier, nil
}

func (wedmeLinks) Suppliers(context.Context, string) ([]wedmesync.Link, error) {
	return []wedmesync.Link{{Supplier: wedmeSupplier, Kind: "caterer"}}, nil
}

// wedmeEdit is the i-th couple edit: guest numbers and dietary needs of
// ten couples, which the default sharing shows a caterer.
func wedmeEdit(i int) wedmesync.Edit {
	couple := "cpl_" + strconv.Itoa(i%10)
	if i%2 == 0 {
		return wedmesync.Edit{Couple: couple, Type: wedmesync.TypeGuestSummary, Record: "guests",
			Set: map[string]json.RawMessage{"adults": json.RawMessage(strconv.Itoa(40 + i%100))}}
	}
	return wedmesync.Edit{Couple: couple, Type: wedmesync.TypeDietary, Record: "dietary",
		Set: map[string]json.RawMessage{"vegetarian": json.RawMessage(strconv.Itoa(i % 20))}}
}

// appliedLog records when each WedMe change was applied on the supplier
// side, and says when a given number have been.
type appliedLog struct {
	mu   sync.Mutex
	at   map[string]time.Time
	want int
	done chan struct{}
}

func (a *appliedLog) expect(n int) <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.at, a.want, a.done = map[string]time.Time{}, n, make(chan struct{})
	return a.done
}

func (a *appliedLog) handler(_ context.Context, ap wedmesync.Applied) {
	at := time.Now()
	id, _, _ := strings.Cut(ap.Change.ID, "~") // WedMe's id, before the supplier's suffix
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.done == nil {
		return
	}
	if _, dup := a.at[id]; !dup {
		a.at[id] = at
		if len(a.at) == a.want {
			close(a.done)
		}
	}
}

func (a *appliedLog) times() map[string]time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.at
}

// crossPlatform runs the cross-platform row in one mode.
func (e *tableEnv) crossPlatform(ctx context.Context, pg bool) ([]tableRow, error) {
	tc := e.tc
	applied := &appliedLog{}
	wopts := []wedmesync.NodeOption{wedmesync.WithAuthorizer(wedmeLinks{})}
	sopts := []wedmesync.NodeOption{wedmesync.WithAuthorizer(wedmeLinks{}), wedmesync.WithAppliedHandler(applied.handler)}
	if pg {
		// Two platforms, two backends: each has a pool of its own on the
		// one database (so that WedMe's writers do not queue the supplier
		// platform's applies behind them for a connection).
		supPool, err := connectPool(ctx, e.pg.cfg)
		if err != nil {
			return nil, err
		}
		defer supPool.Close()
		sw, ss := e.pg.schema(), e.pg.schema()
		if err := wedmesync.Migrate(ctx, e.pg.pool, wedmesync.WithSchema(sw)); err != nil {
			return nil, err
		}
		if err := wedmesync.Migrate(ctx, supPool, wedmesync.WithSchema(ss)); err != nil {
			return nil, err
		}
		wopts = append(wopts, wedmesync.WithPostgres(e.pg.pool), wedmesync.WithSchema(sw))
		sopts = append(sopts, wedmesync.WithPostgres(supPool), wedmesync.WithSchema(ss))
	}
	wedme, err := wedmesync.NewNode(wedmesync.SideWedMe, "wedme-1", wopts...)
	if err != nil {
		return nil, err
	}
	sup, err := wedmesync.NewNode(wedmesync.SideSupplier, "wedsync-1", sopts...)
	if err != nil {
		return nil, err
	}

	var floor measure
	var path string
	rctx, stopPeer := context.WithCancel(ctx)
	peerDone := make(chan struct{})
	defer func() { stopPeer(); <-peerDone }()
	if !pg {
		secret, err := webhook.GenerateSecret()
		if err != nil {
			return nil, err
		}
		// The supplier platform serves WedMe's pushes; the limit is raised
		// for this one known peer (the default, 50/s, is for strangers).
		h, err := sup.Handler(secret, wedmesync.WithRateLimit(rate.Limit(10*tc.wedmeRate), 10*tc.wedmeRate))
		if err != nil {
			return nil, err
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = hs.Serve(ln) }()
		defer func() { _ = hs.Close() }()
		tr, err := wedmesync.NewHTTPTransport("http://"+ln.Addr().String(), secret, wedmesync.WithAllowedNetworks(loopback...), wedmesync.WithInsecureHTTP(true))
		if err != nil {
			return nil, err
		}
		defer tr.CloseIdleConnections()
		go func() { defer close(peerDone); wedme.NewPeer("supplier-platform", tr).Run(rctx, time.Hour) }()
		path = "wedmesync.Node.Record on WedMe (memory) -> pushed over HTTP, signed -> applied on the supplier node (WithAppliedHandler)"
	} else {
		t, err := wedmesync.NewDBTransport(ctx, wedme, wedmesync.SideSupplier)
		if err != nil {
			close(peerDone)
			return nil, err
		}
		defer func() { _ = t.Close(context.WithoutCancel(ctx)) }()
		go func() { defer close(peerDone); sup.NewPeer("wedme", t).Run(rctx, time.Second) }()
		path = "wedmesync.Node.Record on WedMe (Postgres) -> in-database transport (LISTEN/NOTIFY wakes the supplier's pull) -> applied in the supplier's schema"
	}

	// Warm-up: the connections, and a change to size the floor's body by.
	e.prog.set("warm-up")
	done := applied.expect(50)
	var sample wedmesync.Change
	for i := range 50 {
		if sample, err = wedme.Record(ctx, wedmeEdit(i)); err != nil {
			return nil, err
		}
	}
	if err := waitDone(ctx, done, time.Minute, "warm-up changes applied"); err != nil {
		return nil, err
	}

	if pg {
		if floor, err = e.floor("cross-platform (postgres)", func() (measure, error) {
			e.prog.set("floor: a row + NOTIFY read back by a LISTEN connection, %d/s for %s", tc.wedmeRate, tc.load)
			return pgNotifyLatency(ctx, e.pg, tc.wedmeRate, tc.load)
		}); err != nil {
			return nil, err
		}
	} else {
		body, err := wedmesync.EncodeBatch([]wedmesync.Change{sample})
		if err != nil {
			return nil, err
		}
		if floor, err = e.floor("cross-platform", func() (measure, error) {
			e.prog.set("floor: plain net/http POST of the same change, %d/s for %s", tc.wedmeRate, tc.load)
			res, err := plainPostLatency(ctx, e.recv, tc.wedmeRate, tc.load, body)
			return latencyMeasure(fmt.Sprintf("plain net/http POST of the same change (%d B of JSON) -> arrival at a loopback handler", len(body)), res.e2e, res.missing), err
		}); err != nil {
			return nil, err
		}
	}
	if pg {
		e.pg.checkpoint(ctx)
	}

	e.prog.set("SDK: %d changes/s for %s", tc.wedmeRate, tc.load)
	total := max(1, int(float64(tc.wedmeRate)*tc.load.Seconds()))
	done = applied.expect(total)
	p, err := pace(ctx, tc.wedmeRate, total, 256, func(ctx context.Context, i int) (string, error) {
		c, err := wedme.Record(ctx, wedmeEdit(i))
		return c.ID, err
	})
	if err != nil {
		return nil, err
	}
	werr := waitDone(ctx, done, time.Minute, "changes applied")
	var res latencyResult
	collect(&res, p.sent, applied.times())
	if werr != nil && res.missing == 0 {
		return nil, werr
	}
	return []tableRow{latencyRow("cross-platform", modeName(pg), targetCrossPlatMS, latencyMeasure(path, res.e2e, res.missing), floor)}, nil
}

// waitDone waits for done, up to d.
func waitDone(ctx context.Context, done <-chan struct{}, d time.Duration, what string) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-t.C:
		return fmt.Errorf("%s: not all within %s", what, d)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// pgNotifyLatency is the in-database floor: at r a second for d, a row is
// inserted and a NOTIFY sent in one transaction; a LISTEN connection
// reads the row when notified. Each is timed from the transaction's start
// to the row read.
func pgNotifyLatency(ctx context.Context, db *pgScratch, r int, d time.Duration) (measure, error) {
	schema := db.schema()
	table := pgx.Identifier{schema, "floor"}.Sanitize()
	if _, err := db.pool.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()+"; CREATE TABLE "+table+" (id text PRIMARY KEY, body jsonb NOT NULL)"); err != nil {
		return measure{}, err
	}
	channel := schema + "_floor"
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return measure{}, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		conn.Release()
		return measure{}, err
	}
	var mu sync.Mutex
	read := map[string]time.Time{}
	lctx, stop := context.WithCancel(ctx)
	lerr := make(chan error, 1)
	go func() {
		defer func() {
			_ = conn.Conn().Close(context.Background()) // it holds a LISTEN: do not return it to the pool
			conn.Release()
		}()
		for {
			n, err := conn.Conn().WaitForNotification(lctx)
			if err != nil {
				if lctx.Err() != nil {
					err = nil
				}
				lerr <- err
				return
			}
			var body []byte
			if err := conn.QueryRow(lctx, "SELECT body FROM "+table+" WHERE id = $1", n.Payload).Scan(&body); err != nil {
				lerr <- err
				return
			}
			at := time.Now()
			mu.Lock()
			read[n.Payload] = at
			mu.Unlock()
		}
	}()
	send := func(ctx context.Context, i int) (string, error) {
		id := "floor-" + strconv.Itoa(i)
		return id, pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "INSERT INTO "+table+" (id, body) VALUES ($1, $2)", id, `{"adults":42}`); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", channel, id)
			return err
		})
	}
	p, err := pace(ctx, r, max(1, int(float64(r)*d.Seconds())), 64, send)
	if err == nil {
		// Wait for the last notifications to be read.
		err = waitFor(ctx, 30*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(read) >= len(p.sent) })
	}
	stop()
	if lerrV := <-lerr; err == nil && lerrV != nil {
		err = lerrV
	}
	if err != nil {
		return measure{}, err
	}
	var res latencyResult
	mu.Lock()
	collect(&res, p.sent, read)
	mu.Unlock()
	return latencyMeasure("INSERT of a row + pg_notify in one transaction -> the row read by a LISTEN connection when notified", res.e2e, res.missing), nil
}
