package pgtest_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestNewGivesEachTestItsOwnSchemaAndDropsIt(t *testing.T) {
	var schema, url string
	t.Run("inner", func(t *testing.T) {
		a := pgtest.New(t, "Pg-Test")
		b := pgtest.New(t, "pg-test")
		require.NotEqual(t, a.Schema, b.Schema)
		require.True(t, strings.HasPrefix(a.Schema, "t_pg_test_"), a.Schema)
		var path string
		require.NoError(t, a.Pool.QueryRow(context.Background(), "SHOW search_path").Scan(&path))
		require.Equal(t, a.Schema, path)
		schema, url = a.Schema, a.URL
	})
	conn, err := pgx.Connect(context.Background(), url)
	require.NoError(t, err)
	defer func() { _ = conn.Close(context.Background()) }()
	var n int
	require.NoError(t, conn.QueryRow(context.Background(), "SELECT count(*) FROM pg_namespace WHERE nspname = $1", schema).Scan(&n))
	require.Zero(t, n, "the schema is dropped when its test ends")
}

func TestNewDatabaseGivesATestItsOwnDatabaseAndDropsIt(t *testing.T) {
	ctx := context.Background()
	var name string
	var left *pgx.Conn
	t.Run("inner", func(t *testing.T) {
		url := pgtest.NewDatabase(t, "Demo")
		conn, err := pgx.Connect(ctx, url)
		require.NoError(t, err)
		require.NoError(t, conn.QueryRow(ctx, "SELECT current_database()").Scan(&name))
		require.True(t, strings.HasPrefix(name, "t_demo_"), name)
		_, err = conn.Exec(ctx, "CREATE SCHEMA wedsync")
		require.NoError(t, err, "the program under test names its own schemas")
		// Left open until after the drop, as a killed child process
		// leaves its connections: the drop must not wait for it.
		left = conn
	})
	defer func() {
		if left != nil {
			_ = left.Close(ctx)
		}
	}()
	conn, err := pgx.Connect(ctx, pgtest.URL(t))
	require.NoError(t, err)
	defer func() { _ = conn.Close(ctx) }()
	var n int
	require.NoError(t, conn.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n))
	require.Zero(t, n, "the database is dropped when its test ends")
}
