package calendar_test

// The double-booking race on Postgres: two enquiries for overlapping
// slots, confirmed at the same moment from two host instances. The
// exclusion constraint, not a check-then-write, decides: exactly one wins,
// every round.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/calendar"
	"github.com/wedsync/integrations/calendar/calendartest"
	"github.com/wedsync/integrations/internal/pgtest"
)

const raceRounds = 200

func TestConcurrentOverlappingBookingsExactlyOneWinsPostgres(t *testing.T) {
	db := pgtest.New(t, "calendar")
	ctx := context.Background()
	require.NoError(t, calendar.Migrate(ctx, db.Pool, calendar.WithSchema(db.Schema)))
	opts := []calendar.Option{calendar.WithPostgres(db.Pool), calendar.WithSchema(db.Schema), calendar.WithEncryptionKey(testKey),
		calendar.WithProvider(calendartest.NewProvider(""))}
	// Two host instances on one database, as two web servers would be.
	a, err := calendar.NewSync(opts...)
	require.NoError(t, err)
	b, err := calendar.NewSync(opts...)
	require.NoError(t, err)
	hosts := []*calendar.Sync{a, b}

	base := time.Date(2027, 6, 5, 12, 0, 0, 0, time.UTC)
	wins := 0
	for round := range raceRounds {
		supplier := fmt.Sprintf("sup_race_%d", round)
		var wg sync.WaitGroup
		results := make([]error, 2)
		gate := make(chan struct{})
		for i := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-gate
				// Overlapping, not identical: 12:00-20:00 and 19:00-23:00,
				// the second with an hour's set-up buffer too. Odd rounds
				// race two holds (two enquiries), even rounds two
				// confirmed bookings.
				bk := calendar.Booking{ID: fmt.Sprintf("%s_%d", supplier, i), Supplier: supplier, Title: "Wedding",
					Start: base.Add(time.Duration(i*7) * time.Hour), End: base.Add(time.Duration(8+i*3) * time.Hour), SetupBuffer: time.Duration(i) * time.Hour}
				if round%2 == 1 {
					_, results[i] = hosts[i].Hold(ctx, bk)
				} else {
					_, results[i] = hosts[i].Book(ctx, bk)
				}
			}()
		}
		close(gate)
		wg.Wait()
		won := 0
		for _, err := range results {
			if err == nil {
				won++
				continue
			}
			require.ErrorIs(t, err, calendar.ErrConflict, "round %d", round)
		}
		require.Equal(t, 1, won, "round %d: exactly one of two overlapping bookings wins (results %v)", round, results)
		wins += won
		live, err := a.Bookings(ctx, supplier, calendar.Interval{Start: base.Add(-24 * time.Hour), End: base.Add(48 * time.Hour)})
		require.NoError(t, err)
		require.Len(t, live, 1, "round %d", round)
	}
	t.Logf("%d rounds of two concurrent overlapping bookings from two instances: exactly one won each round (%d wins)", raceRounds, wins)
}

func TestBookTxRollsBackWithTheHostsTransaction(t *testing.T) {
	db := pgtest.New(t, "calendar")
	ctx := context.Background()
	require.NoError(t, calendar.Migrate(ctx, db.Pool, calendar.WithSchema(db.Schema)))
	p := calendartest.NewProvider("")
	s := start(t, calendar.WithPostgres(db.Pool), calendar.WithSchema(db.Schema), calendar.WithEncryptionKey(testKey), calendar.WithProvider(p))
	c := connect(t, s, p, "sup_1", "work")
	settle(t, s, c.ID)

	bk := calendar.Booking{ID: "bk_tx", Supplier: "sup_1", Start: at(5, 11), End: at(5, 23), Title: "Wedding"}
	tx, err := db.Pool.Begin(ctx)
	require.NoError(t, err)
	_, err = s.BookTx(ctx, tx, bk)
	require.NoError(t, err)
	require.NoError(t, tx.Rollback(ctx))
	settle(t, s, c.ID)
	_, err = s.Booking(ctx, "bk_tx")
	require.ErrorIs(t, err, calendar.ErrNotFound)
	require.Empty(t, p.Events("work"), "a rolled-back booking reaches no calendar")

	// A refused booking leaves the host's transaction usable.
	_, err = s.Book(ctx, bk)
	require.NoError(t, err)
	err = pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		_, err := s.BookTx(ctx, tx, calendar.Booking{ID: "bk_clash", Supplier: "sup_1", Start: at(5, 20), End: at(5, 22), Title: "Clash"})
		require.ErrorIs(t, err, calendar.ErrConflict)
		var one int
		return tx.QueryRow(ctx, "SELECT 1").Scan(&one)
	})
	require.NoError(t, err)
	settle(t, s, c.ID)
	require.Len(t, p.Events("work"), 1)

	_, err = start(t, calendar.WithProvider(p)).BookTx(ctx, nil, bk)
	require.True(t, errors.Is(err, calendar.ErrNoDatabase))
}
