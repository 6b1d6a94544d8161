package wedmesync_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/internal/crashtest"
	"github.com/wedsync/integrations/internal/pgtest"
	"github.com/wedsync/integrations/wedmesync"
)

const (
	crashChildEnv   = "WEDSYNC_WEDMESYNC_CRASH_CHILD_DB"
	crashWedMeEnv   = "WEDSYNC_WEDMESYNC_CRASH_CHILD_WEDME"
	crashSupplierEn = "WEDSYNC_WEDMESYNC_CRASH_CHILD_SUPPLIER"
)

func crashNodes(wedmePool, supPool *pgxpool.Pool, wedmeSchema, supSchema string) (*wedmesync.Node, *wedmesync.Node, error) {
	wedme, err := wedmesync.NewNode(wedmesync.SideWedMe, "wedme1", wedmesync.WithAuthorizer(auth()), wedmesync.WithSharing(everything),
		wedmesync.WithPostgres(wedmePool), wedmesync.WithSchema(wedmeSchema))
	if err != nil {
		return nil, nil, err
	}
	sup, err := wedmesync.NewNode(wedmesync.SideSupplier, "supplier1", wedmesync.WithAuthorizer(auth()), wedmesync.WithSharing(everything),
		wedmesync.WithPostgres(supPool), wedmesync.WithSchema(supSchema))
	return wedme, sup, err
}

// crashChild is the worker: the supplier platform pulling WedMe's changes
// through the database and applying them, until it is killed.
func crashChild() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	pool, err := pgxpool.New(ctx, os.Getenv(crashChildEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		return 2
	}
	defer pool.Close()
	wedme, sup, err := crashNodes(pool, pool, os.Getenv(crashWedMeEnv), os.Getenv(crashSupplierEn))
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		return 2
	}
	t, err := wedmesync.NewDBTransport(ctx, wedme, wedmesync.SideSupplier)
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		return 2
	}
	sup.NewPeer("wedme", t).Run(ctx, 200*time.Millisecond)
	_ = t.Close(context.Background())
	return 0
}

// TestPostgresCrashAppliesEachChangeOnce: WedMe records 2,000 edits; the
// supplier platform, a worker process killed with SIGKILL at random
// points and restarted, pulls and applies them through the database. Every
// change is applied, none twice, and the records end identical.
func TestPostgresCrashAppliesEachChangeOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts worker processes")
	}
	const total, kills = 2000, 5
	ctx := context.Background()
	a := pgtest.New(t, "wedmesync_wedme")
	b := pgtest.New(t, "wedmesync_supplier")
	require.NoError(t, wedmesync.Migrate(ctx, a.Pool, wedmesync.WithSchema(a.Schema)))
	require.NoError(t, wedmesync.Migrate(ctx, b.Pool, wedmesync.WithSchema(b.Schema)))
	wedme, sup, err := crashNodes(a.Pool, b.Pool, a.Schema, b.Schema)
	require.NoError(t, err)
	rnd := rand.New(rand.NewPCG(1, 2))
	for range total {
		_, err := wedme.Record(ctx, randomEdit(rnd, wedmesync.SideWedMe))
		require.NoError(t, err)
	}
	applied := func() int {
		var n int
		if err := b.Pool.QueryRow(ctx, fmt.Sprintf(`SELECT count(*) FROM %q.wedmesync_applied`, b.Schema)).Scan(&n); err != nil {
			return 0
		}
		return n
	}
	crashtest.Run(t, crashtest.Config{
		Env:   []string{crashChildEnv + "=" + a.URL, crashWedMeEnv + "=" + a.Schema, crashSupplierEn + "=" + b.Schema},
		Total: total, Kills: kills,
		Wait: func(ctx context.Context, n int) error {
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for applied() < n {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-tick.C:
				}
			}
			return nil
		},
		Count: applied,
		Done:  func() bool { return applied() >= total },
	})

	require.Equal(t, total, applied(), "every change applied")
	var twice int
	require.NoError(t, b.Pool.QueryRow(ctx, fmt.Sprintf(`SELECT count(*) FROM (SELECT change_id FROM %q.wedmesync_audit
		WHERE outcome IN ('applied', 'conflicted') GROUP BY change_id HAVING count(*) > 1) x`, b.Schema)).Scan(&twice))
	require.Zero(t, twice, "no change applied twice")
	var dups int
	require.NoError(t, b.Pool.QueryRow(ctx, fmt.Sprintf(`SELECT count(*) FROM %q.wedmesync_audit WHERE outcome = 'duplicate'`, b.Schema)).Scan(&dups))
	ra, err := wedme.Records(ctx)
	require.NoError(t, err)
	rb, err := sup.Records(ctx)
	require.NoError(t, err)
	require.Len(t, rb, len(ra))
	for i := range ra {
		require.Equal(t, ra[i].Fields, rb[i].Fields, "%s/%s", ra[i].Type, ra[i].ID)
		require.Equal(t, ra[i].IsDeleted(), rb[i].IsDeleted())
	}
	t.Logf("%d changes, %d SIGKILLs: %d applied once each, %d redelivered after a kill and recognised as duplicates, records identical", total, kills, applied(), dups)
}
