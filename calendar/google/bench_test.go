package google_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/wedsync/integrations/calendar/google/googletest"
)

func putEvents(srv *googletest.Server, n int) {
	for i := range n {
		st := time.Date(2027, 1, 1, 9, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Hour)
		srv.Put(cal, map[string]any{"summary": fmt.Sprintf("E%d", i),
			"start": map[string]any{"dateTime": st.Format(time.RFC3339), "timeZone": "UTC"},
			"end":   map[string]any{"dateTime": st.Add(time.Hour).Format(time.RFC3339), "timeZone": "UTC"}})
	}
}

// One event changed in a calendar of 500: an incremental Changes call
// (one events.list request with the sync token). Reports p99.
func BenchmarkIncrementalSyncOneChange(b *testing.B) {
	ctx := context.Background()
	srv := googletest.Start(b)
	putEvents(srv, 500)
	p := newProvider(b, srv)
	creds := srv.Creds()
	cs, err := p.Changes(ctx, creds, cal, "")
	if err != nil {
		b.Fatal(err)
	}
	cursor := cs.Cursor
	ev := srv.Events(cal)[0]
	durs := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		ev["summary"] = fmt.Sprintf("changed %d", i)
		srv.Put(cal, ev)
		b.StartTimer()
		t0 := time.Now()
		cs, err := p.Changes(ctx, creds, cal, cursor)
		durs = append(durs, time.Since(t0))
		if err != nil || len(cs.Updated) != 1 {
			b.Fatalf("%v %d", err, len(cs.Updated))
		}
		cursor = cs.Cursor
	}
	slices.Sort(durs)
	b.ReportMetric(float64(durs[len(durs)*99/100].Microseconds())/1000, "p99-ms")
}

// A full listing of 2,000 events in pages of 250 (8 requests).
func BenchmarkFullSync2000Paged(b *testing.B) {
	ctx := context.Background()
	srv := googletest.Start(b)
	putEvents(srv, 2000)
	p := newProvider(b, srv)
	creds := srv.Creds()
	before := srv.Calls("list")
	n := 0
	for b.Loop() {
		cs, err := p.Changes(ctx, creds, cal, "")
		if err != nil || len(cs.Updated) != 2000 {
			b.Fatalf("%v", err)
		}
		n++
	}
	b.ReportMetric(float64(srv.Calls("list")-before)/float64(n), "pages/op")
}
