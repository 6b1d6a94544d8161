package migrate_test

import (
	"context"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/internal/migrate"
	"github.com/wedsync/integrations/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestValidateSchema(t *testing.T) {
	require.NoError(t, migrate.ValidateSchema("wedsync"))
	require.NoError(t, migrate.ValidateSchema("_tenant_42"))
	for _, bad := range []string{"", "1abc", "a-b", `x"; DROP TABLE y; --`, "ä"} {
		require.Error(t, migrate.ValidateSchema(bad), bad)
	}
	require.Equal(t, `CREATE TABLE "s".t`, migrate.Expand("s", "CREATE TABLE {{schema}}.t"))
}

func TestRunAppliesOnceInOrderAndRollsBackAFailure(t *testing.T) {
	db := pgtest.New(t, "migrate")
	ctx := context.Background()
	schema := db.Schema + "_m"
	t.Cleanup(func() {
		_, _ = db.Pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+migrate.Quote(schema)+" CASCADE")
	})
	fs := fstest.MapFS{
		"m/002_add.sql":  {Data: []byte(`INSERT INTO {{schema}}.t VALUES (2)`)},
		"m/001_init.sql": {Data: []byte(`CREATE TABLE {{schema}}.t (v int)`)},
		"m/README.md":    {Data: []byte(`ignored`)},
	}
	require.NoError(t, migrate.Run(ctx, db.Pool, schema, "c", fs, "m"))
	require.NoError(t, migrate.Run(ctx, db.Pool, schema, "c", fs, "m"), "a second run applies nothing")
	var n int
	require.NoError(t, db.Pool.QueryRow(ctx, "SELECT count(*) FROM "+migrate.Quote(schema)+".t").Scan(&n))
	require.Equal(t, 1, n)

	fs["m/003_bad.sql"] = &fstest.MapFile{Data: []byte(`INSERT INTO {{schema}}.t VALUES (3); SELECT nope`)}
	require.ErrorContains(t, migrate.Run(ctx, db.Pool, schema, "c", fs, "m"), "003_bad.sql")
	require.NoError(t, db.Pool.QueryRow(ctx, "SELECT count(*) FROM "+migrate.Quote(schema)+".t").Scan(&n))
	require.Equal(t, 1, n, "a failed migration leaves nothing behind")
	require.Error(t, migrate.Run(ctx, db.Pool, "bad-name", "c", fs, "m"))
}
