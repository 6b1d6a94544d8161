package calendar

import (
	"context"
	"embed"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wedsync/integrations/internal/migrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrateSchema creates or upgrades the calendar tables in schema. It is
// safe to call from several instances at once (migrate.Run holds a lock).
func migrateSchema(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	return migrate.Run(ctx, pool, schema, "calendar", migrations, "migrations")
}
