package migrate

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultSchema is the schema used when the host names none.
const DefaultSchema = "wedsync"

var (
	fileName  = regexp.MustCompile(`^(\d+)_[a-z0-9_]+\.sql$`)
	validName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)
)

// ValidateSchema checks that name is a plain Postgres identifier.
func ValidateSchema(name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("schema %q: must match %s", name, validName)
	}
	return nil
}

// Quote returns the schema as a quoted identifier.
func Quote(schema string) string { return pgx.Identifier{schema}.Sanitize() }

// Expand replaces {{schema}} in sql with the quoted schema.
func Expand(schema, sql string) string {
	return strings.ReplaceAll(sql, "{{schema}}", Quote(schema))
}

type file struct {
	version int
	name    string
	sql     string
}

// Run applies the component's migrations found in dir of fsys that the schema
// has not seen yet, in version order.
func Run(ctx context.Context, pool *pgxpool.Pool, schema, component string, fsys fs.FS, dir string) error {
	if err := ValidateSchema(schema); err != nil {
		return err
	}
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return fmt.Errorf("migrate %s: read migrations: %w", component, err)
	}
	var files []file
	for _, e := range entries {
		m := fileName.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		v, _ := strconv.Atoi(m[1])
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return fmt.Errorf("migrate %s: %w", component, err)
		}
		files = append(files, file{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].version < files[j].version })

	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", component, err)
	}
	defer conn.Release()
	// A session lock held across the per-file transactions.
	const lockKey = "wedsync_migrate"
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(hashtext($1))", lockKey); err != nil {
		return fmt.Errorf("migrate %s: lock: %w", component, err)
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(hashtext($1))", lockKey)
	}()

	q := Quote(schema)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+q); err != nil {
		return fmt.Errorf("migrate %s: create schema: %w", component, err)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+q+`.wedsync_migrations (
		component text NOT NULL,
		version int NOT NULL,
		name text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now(),
		PRIMARY KEY (component, version))`); err != nil {
		return fmt.Errorf("migrate %s: create migrations table: %w", component, err)
	}
	applied := map[int]bool{}
	rows, err := conn.Query(ctx, `SELECT version FROM `+q+`.wedsync_migrations WHERE component = $1`, component)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", component, err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return err
		}
		applied[v] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, f := range files {
		if applied[f.version] {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SET LOCAL search_path TO "+q); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, Expand(schema, f.sql)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO `+q+`.wedsync_migrations (component, version, name) VALUES ($1, $2, $3)`, component, f.version, f.name)
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate %s: %s: %w", component, f.name, err)
		}
	}
	return nil
}
