package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	neturl "net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/goleak"
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
		skipped.Lock()
		skipped.names = append(skipped.names, t.Name())
		skipped.Unlock()
		t.Skipf("Postgres test skipped: set %s (e.g. postgres://postgres@127.0.0.1:5432/test) to run it", EnvURL)
	}
	return url
}

// skipped records the tests URL skipped, for Main's summary.
var skipped struct {
	sync.Mutex
	names []string
}

// ExampleURL is the database URL the summary suggests.
const ExampleURL = "postgres://postgres@127.0.0.1:5432/test"

// Option configures Main.
type Option func(*mainOptions)

type mainOptions struct {
	leak     []goleak.Option
	examples []string
}

// IgnoreGoroutines passes options to goleak's check (goleak.IgnoreTopFunction
// and the like). Defaults to none.
func IgnoreGoroutines(opts ...goleak.Option) Option {
	return func(o *mainOptions) { o.leak = append(o.leak, opts...) }
}

// ExamplesNeedPostgres names Example functions that run against the test
// database. Without one they are skipped (go test's -skip) and reported
// with the skipped tests, so that go test ./... passes on a machine with no
// database, as it does for tests. Defaults to none.
func ExamplesNeedPostgres(names ...string) Option {
	return func(o *mainOptions) { o.examples = append(o.examples, names...) }
}

// Main runs the package's tests (m.Run), then checks that they leaked no
// goroutine (goleak) and reports the tests skipped for want of a database
// in one line, then exits. Call it from TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
func Main(m *testing.M, opts ...Option) {
	var o mainOptions
	for _, opt := range opts {
		opt(&o)
	}
	if len(o.examples) > 0 && os.Getenv(EnvURL) == "" && os.Getenv(EnvRequire) != "1" {
		if !flag.Parsed() {
			flag.Parse()
		}
		pattern := "^(" + strings.Join(o.examples, "|") + ")$"
		if f := flag.Lookup("test.skip"); f != nil {
			if f.Value.String() != "" {
				pattern = f.Value.String() + "|" + pattern
			}
			_ = f.Value.Set(pattern)
			skipped.Lock()
			skipped.names = append(skipped.names, o.examples...)
			skipped.Unlock()
		}
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(o.leak...); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: errors on successful test run: %v\n", err)
			code = 1
		}
	}
	if line := Summary(); line != "" {
		fmt.Println(line)
		if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
			fmt.Fprintln(tty, line)
			_ = tty.Close()
		}
	}
	os.Exit(code)
}

// Pool connects to the test database for an Example function (one named
// with ExamplesNeedPostgres, which runs only when there is one), with a
// fresh schema of its own that the returned cleanup drops.
func Pool(name string) (pool *pgxpool.Pool, schema string, cleanup func()) {
	url := os.Getenv(EnvURL)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	schema = schemaName("x_", name)
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		panic(fmt.Sprintf("pgtest: %s: %v", EnvURL, err))
	}
	return pool, schema, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = dropSchemas(ctx, pool, schema) // an Example has no t to report to
		pool.Close()
	}
}

// Summary is the line Main prints: the package, how many tests skipped
// for want of a database and which, and how to run them; "" when none was.
func Summary() string {
	skipped.Lock()
	defer skipped.Unlock()
	if len(skipped.names) == 0 {
		return ""
	}
	pkg := "this package"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Path != "" {
		pkg = strings.TrimSuffix(bi.Path, ".test")
	} else if exe, err := os.Executable(); err == nil {
		pkg = strings.TrimSuffix(filepath.Base(exe), ".test")
	}
	// One name per top-level test: its subtests skip for the same reason.
	var names []string
	seen := map[string]bool{}
	for _, n := range skipped.names {
		top, _, _ := strings.Cut(n, "/")
		if !seen[top] {
			seen[top] = true
			names = append(names, top)
		}
	}
	list := strings.Join(names, ", ")
	if len(names) > 4 {
		list = strings.Join(names[:4], ", ") + fmt.Sprintf(" and %d more", len(names)-4)
	}
	return fmt.Sprintf("%s: %d Postgres test(s) skipped (%s): set %s=%s to run them",
		pkg, len(names), list, EnvURL, ExampleURL)
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
	schema := schemaName("t_", pkg)
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
	dropAfter(t, url, func(ctx context.Context, c *pgx.Conn) error { return dropSchemas(ctx, c, schema) })
	t.Cleanup(pool.Close) // before the drop: cleanups run last first
	return d
}

// dropAfter drops what a test created when it ends: drop runs on a
// connection of its own to url, unless WEDSYNC_TEST_KEEP_SCHEMA=1 (for
// debugging), and its error fails the test.
func dropAfter(t testing.TB, url string, drop func(ctx context.Context, c *pgx.Conn) error) {
	t.Cleanup(func() {
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
		if err := drop(ctx, c); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
}

// NewDatabase creates a database of its own for t on the test server,
// named after name, and returns its URL; the database is dropped when t
// ends (WITH (FORCE): connections a killed child process left behind do
// not hold it). It is for a program under test that names its own schemas,
// such as the demo, which keeps its tables in "wedsync": a fresh schema
// cannot isolate it, a fresh database can. The test database URL must be a
// postgres:// URL.
func NewDatabase(t testing.TB, name string) string {
	t.Helper()
	base := URL(t)
	u, err := neturl.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("pgtest: %s must be a postgres:// URL for NewDatabase (it is %q)", EnvURL, base)
	}
	db := schemaName("t_", name)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("pgtest: connect to %s: %v", EnvURL, err)
	}
	defer func() { _ = admin.Close(ctx) }()
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize()); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	dropAfter(t, base, func(ctx context.Context, c *pgx.Conn) error {
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{db}.Sanitize()+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("drop database %s: %w", db, err)
		}
		return nil
	})
	u.Path = "/" + db
	return u.String()
}

// String describes the DB for test logs.
func (d *DB) String() string { return fmt.Sprintf("schema %s", d.Schema) }

// schemaName returns a fresh schema name: prefix, name made an identifier,
// and 8 random hex digits.
func schemaName(prefix, name string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return prefix + nonIdent.ReplaceAllString(strings.ToLower(name), "_") + "_" + hex.EncodeToString(b[:])
}

// querier is what dropSchemas needs of a connection or a pool.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// dropSchemas drops schema and the schemas named after it (a package's
// River tables live in "<schema>_<package>_jobs").
func dropSchemas(ctx context.Context, db querier, schema string) error {
	rows, err := db.Query(ctx, `SELECT nspname FROM pg_namespace WHERE nspname = $1 OR starts_with(nspname, $1 || '_')`, schema)
	if err != nil {
		return fmt.Errorf("list schemas of %s: %w", schema, err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("list schemas of %s: %w", schema, err)
	}
	var errs []error
	for _, n := range names {
		if _, err := db.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{n}.Sanitize()+" CASCADE"); err != nil {
			errs = append(errs, fmt.Errorf("drop schema %s: %w", n, err))
		}
	}
	return errors.Join(errs...)
}
