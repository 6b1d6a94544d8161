package calendar_test

import (
	"context"
	"sync"
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
	t.Helper()
	s, err := calendar.NewSync(opts...)
	require.NoError(t, err)
	require.NoError(t, s.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, s.Stop(ctx))
	})
	return s
}

// changes collects what WithChangeHandler receives.
type changes struct {
	mu  sync.Mutex
	all []calendar.Change
}

func (c *changes) handler() calendar.Option {
	return calendar.WithChangeHandler(func(_ context.Context, ch calendar.Change) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.all = append(c.all, ch)
	})
}

func (c *changes) of(kind calendar.ChangeKind) []calendar.Change {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []calendar.Change
	for _, ch := range c.all {
		if ch.Kind == kind {
			out = append(out, ch)
		}
	}
	return out
}

// settle syncs the connection and waits until the engine is idle, twice:
// a sync can queue writes, whose echoes the second sync reads.
func settle(t *testing.T, s *calendar.Sync, conn string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for range 2 {
		require.NoError(t, s.WaitIdle(ctx))
		require.NoError(t, s.SyncNow(ctx, conn))
		require.NoError(t, s.WaitIdle(ctx))
	}
}

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
