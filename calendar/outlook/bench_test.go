package outlook_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/wedsync/integrations/calendar"
)

// BenchmarkIncrementalOneChange: one event changed by the user, then one
// Changes call from the previous cursor, against the fake (loopback HTTP,
// JSON both ways). Reports p50 and p99 of the Changes call.
func BenchmarkIncrementalOneChange(b *testing.B) {
	w := newWorld(b)
	ev := w.srv.Put(w.cal, *timedEvent(b, "A"))
	cs := w.changes(b, "")
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		ev.Summary = fmt.Sprint("A", i)
		ev = w.srv.Put(w.cal, ev)
		b.StartTimer()
		t0 := time.Now()
		next, err := w.p.Changes(ctx, w.creds, w.cal, cs.Cursor)
		lat = append(lat, time.Since(t0))
		if err != nil || len(next.Updated) != 1 {
			b.Fatalf("%v %d", err, len(next.Updated))
		}
		cs = next
	}
	b.StopTimer()
	report(b, lat)
}

// BenchmarkFullSync2000: a full listing of 2,000 events in pages of 50.
func BenchmarkFullSync2000(b *testing.B) {
	w := newWorld(b)
	base := time.Date(2027, 1, 1, 9, 0, 0, 0, time.UTC)
	for i := range 2000 {
		st := base.Add(time.Duration(i) * 3 * time.Hour)
		w.srv.Put(w.cal, calendar.Event{Summary: fmt.Sprint("E", i), Start: st, End: st.Add(time.Hour)})
	}
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		cs, err := w.p.Changes(ctx, w.creds, w.cal, "")
		lat = append(lat, time.Since(t0))
		if err != nil || len(cs.Updated) != 2000 {
			b.Fatalf("%v %d", err, len(cs.Updated))
		}
	}
	b.StopTimer()
	report(b, lat)
}

func report(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	q := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
}
