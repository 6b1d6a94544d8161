// Package pgq is the few lines every Postgres store of the SDK needs to run
// a statement in the host's transaction when there is one and on the pool
// when there is not.
package pgq

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Querier is what a store needs of a transaction or a pool.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
	CopyFrom(ctx context.Context, table pgx.Identifier, cols []string, src pgx.CopyFromSource) (int64, error)
}

// On is tx, or pool when tx is nil.
func On(pool *pgxpool.Pool, tx pgx.Tx) Querier {
	if tx != nil {
		return tx
	}
	return pool
}

// InTx runs fn in tx, or in a transaction of its own on pool when tx is
// nil (committed when fn returns nil).
func InTx(ctx context.Context, pool *pgxpool.Pool, tx pgx.Tx, fn func(tx pgx.Tx) error) error {
	if tx != nil {
		return fn(tx)
	}
	return pgx.BeginFunc(ctx, pool, fn)
}
