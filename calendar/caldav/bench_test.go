package caldav_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/calendar"
	"github.com/wedsync/integrations/calendar/caldav"
	"github.com/wedsync/integrations/calendar/caldav/caldavtest"
)

// fill creates n events in cal, 8 at a time, and returns them.
func fill(b *testing.B, p *caldav.Provider, creds []byte, cal string, n int) []*calendar.Event {
	b.Helper()
	out := make([]*calendar.Event, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 8)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ev := timedEvent(b, fmt.Sprintf("event %d", i))
			ev.Start = ev.Start.Add(time.Duration(i) * time.Hour)
			ev.End = ev.Start.Add(time.Hour)
			c, err := p.Create(b.Context(), creds, cal, ev)
			if err != nil {
				errs <- err
				return
			}
			out[i] = c
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(b, err)
	}
	return out
}

func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q * float64(len(sorted)-1))
	return sorted[i]
}

func reportPercentiles(b *testing.B, prefix string, d []time.Duration) {
	slices.Sort(d)
	b.ReportMetric(float64(percentile(d, 0.50).Microseconds())/1000, prefix+"-p50-ms")
	b.ReportMetric(float64(percentile(d, 0.99).Microseconds())/1000, prefix+"-p99-ms")
}

// BenchmarkIncrementalChange measures what a periodic sync costs after a
// supplier edits one event: one Update, then one Changes(cursor) that must
// report it. The calendar holds 200 events. It reports the Changes call's
// p50 and p99 (changes-p50-ms, changes-p99-ms) and the Update's.
func BenchmarkIncrementalChange(b *testing.B) {
	for _, kind := range []string{caldavtest.KindRadicale, caldavtest.KindMemory} {
		b.Run(kind, func(b *testing.B) {
			srv := startKind(b, kind)
			p := newProvider(b, srv)
			creds := srv.Creds("alice")
			cal := srv.MakeCalendar(b, "alice", "work")
			evs := fill(b, p, creds, cal, 200)
			cs, err := p.Changes(b.Context(), creds, cal, "")
			require.NoError(b, err)
			cursor := cs.Cursor
			target := evs[100]
			var changes, updates []time.Duration
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				target.Summary = fmt.Sprintf("edit %d", i)
				t0 := time.Now()
				target, err = p.Update(b.Context(), creds, cal, target, target.ETag)
				t1 := time.Now()
				require.NoError(b, err)
				cs, err := p.Changes(b.Context(), creds, cal, cursor)
				t2 := time.Now()
				require.NoError(b, err)
				require.Len(b, cs.Updated, 1)
				cursor = cs.Cursor
				updates = append(updates, t1.Sub(t0))
				changes = append(changes, t2.Sub(t1))
			}
			reportPercentiles(b, "changes", changes)
			reportPercentiles(b, "update", updates)
		})
	}
}

// BenchmarkFullSync2000 measures a full listing, Changes(""), of a
// calendar of 2,000 events: a sync-collection REPORT with calendar-data on
// Radicale, a PROPFIND plus calendar-multiget (the etag scan) on the
// in-process server. cursor-bytes is the size of the cursor it returns.
func BenchmarkFullSync2000(b *testing.B) {
	for _, kind := range []string{caldavtest.KindRadicale, caldavtest.KindMemory} {
		b.Run(kind, func(b *testing.B) {
			srv := startKind(b, kind)
			p := newProvider(b, srv)
			creds := srv.Creds("alice")
			cal := srv.MakeCalendar(b, "alice", "work")
			fill(b, p, creds, cal, 2000)
			var cs *calendar.ChangeSet
			var err error
			b.ResetTimer()
			for b.Loop() {
				cs, err = p.Changes(b.Context(), creds, cal, "")
				require.NoError(b, err)
				require.Len(b, cs.Updated, 2000)
			}
			b.ReportMetric(float64(len(cs.Cursor)), "cursor-bytes")
		})
	}
}

func startKind(b *testing.B, kind string) *caldavtest.Server {
	if kind == caldavtest.KindMemory {
		return caldavtest.StartInProcess(b)
	}
	return caldavtest.StartRadicale(b)
}
