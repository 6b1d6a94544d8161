// Package pgtest is the Postgres test harness every package shares.
//
// It reads WEDSYNC_TEST_DATABASE_URL. When the variable is empty the test is
// skipped with a reason, unless WEDSYNC_REQUIRE_POSTGRES=1, in which case it
// fails: CI sets both so that a missing database can never pass as a skip.
// Each call gives the test a fresh schema of its own, named after the package
// and dropped when the test ends, so packages and parallel tests never see
// each other's rows.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// EnvURL names the variable that holds the test database URL.
const EnvURL = "WEDSYNC_TEST_DATABASE_URL"

// EnvRequire names the variable that turns a missing database into a failure.
const EnvRequire = "WEDSYNC_REQUIRE_POSTGRES"

// URL returns the configured database URL, skipping or failing t when none is
// configured (see the package doc).
func URL(t testing.TB) string {
	t.Helper()
	url := os.Getenv(EnvURL)
	if url == "" {
		if os.Getenv(EnvRequire) == "1" {
			t.Fatalf("%s is empty but %s=1: Postgres tests must run", EnvURL, EnvRequire)
		}
		t.Skipf("Postgres test skipped: set %s (e.g. postgres://postgres@127.0.0.1:5432/test) to run it", EnvURL)
	}
	return url
}

// DB is a schema of its own on the test database.
type DB struct {
	// Pool is a pool whose search_path is Schema.
	Pool *pgxpool.Pool
	// Schema is the schema's name, unique to this test.
	Schema string
	// URL is the base database URL; ConnString adds the search path.
	URL string
}

// ConnString returns a connection string whose search_path is the schema,
// for a child process or a second pool.
func (d *DB) ConnString() string {
	sep := "?"
	if strings.Contains(d.URL, "?") {
		sep = "&"
	}
	return d.URL + sep + "search_path=" + d.Schema
}

var nonIdent = regexp.MustCompile(`[^a-z0-9_]+`)

// New creates a fresh schema for t, named after pkg, and returns a pool that
// uses it. The schema and pool are removed when t ends (unless
// WEDSYNC_TEST_KEEP_SCHEMA=1, for debugging).
func New(t testing.TB, pkg string) *DB {
	t.Helper()
	url := URL(t)
	var b [4]byte
	_, _ = rand.Read(b[:])
	schema := "t_" + nonIdent.ReplaceAllString(strings.ToLower(pkg), "_") + "_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("pgtest: connect to %s: %v", EnvURL, err)
	}
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		_ = admin.Close(ctx)
		t.Fatalf("pgtest: create schema: %v", err)
	}
	_ = admin.Close(ctx)

	d := &DB{Schema: schema, URL: url}
	cfg, err := pgxpool.ParseConfig(d.ConnString())
	if err != nil {
		t.Fatalf("pgtest: parse url: %v", err)
	}
	cfg.MaxConns = 20
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("pgtest: pool: %v", err)
	}
	d.Pool = pool
	t.Cleanup(func() {
		pool.Close()
		if os.Getenv("WEDSYNC_TEST_KEEP_SCHEMA") == "1" {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Errorf("pgtest: cleanup connect: %v", err)
			return
		}
		defer func() { _ = c.Close(ctx) }()
		if _, err := c.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("pgtest: drop schema %s: %v", schema, err)
		}
	})
	return d
}

// String describes the DB for test logs.
func (d *DB) String() string { return fmt.Sprintf("schema %s", d.Schema) }
