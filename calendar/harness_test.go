package calendar_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/calendar"
	"github.com/wedsync/integrations/calendar/calendartest"
	"github.com/wedsync/integrations/internal/pgtest"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

// modes runs fn in memory mode and, when the test database is there, in
// Postgres mode.
func modes(t *testing.T, fn func(t *testing.T, newSync func(opts ...calendar.Option) *calendar.Sync)) {
	t.Run("memory", func(t *testing.T) {
		fn(t, func(opts ...calendar.Option) *calendar.Sync { return start(t, opts...) })
	})
	t.Run("postgres", func(t *testing.T) {
		db := pgtest.New(t, "calendar")
		require.NoError(t, calendar.Migrate(context.Background(), db.Pool, calendar.WithSchema(db.Schema)))
		fn(t, func(opts ...calendar.Option) *calendar.Sync {
			return start(t, append([]calendar.Option{calendar.WithPostgres(db.Pool), calendar.WithSchema(db.Schema),
				calendar.WithEncryptionKey(testKey)}, opts...)...)
		})
	})
}

func start(t *testing.T, opts ...calendar.Option) *calendar.Sync {
	return calendartest.StartSync(t, opts...)
}

// changes collects what WithChangeHandler receives.
type changes = calendartest.Changes

// settle syncs the connection and waits until the engine is idle.
func settle(t *testing.T, s *calendar.Sync, conn string) { calendartest.Settle(t, s, conn) }

func connect(t *testing.T, s *calendar.Sync, p *calendartest.Provider, supplier, cal string) calendar.ConnectionStatus {
	t.Helper()
	p.AddCalendar(cal)
	c, err := s.Connect(context.Background(), calendar.Connection{Supplier: supplier, Provider: p.Name(), Calendar: cal, TimeZone: "Europe/London"}, []byte(`{"token":"x"}`))
	require.NoError(t, err)
	return c
}

var london = func() *time.Location {
	l, err := time.LoadLocation("Europe/London")
	if err != nil {
		panic(err)
	}
	return l
}()

func at(day, hour int) time.Time { return time.Date(2027, time.June, day, hour, 0, 0, 0, london) }
