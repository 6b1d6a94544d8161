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
