package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// sampleReport has a latency row that met its target, one that missed it
// (p99 over), one that lost a message, and the uptime row.
func sampleReport() report {
	lat := func(p50, p99 float64, missing int) measure {
		return measure{Path: "a -> b", Samples: 100, Missing: missing, P50MS: p50, P99MS: p99, MaxMS: p99 * 1.2}
	}
	return report{
		Started: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC),
		Machine: machineInfo{OS: "linux", Arch: "amd64", CPUs: 2, GOMAXPROCS: 2, Go: "go1.26"},
		CalDAV:  "memory",
		Rows: []tableRow{
			latencyRow("realtime", "memory", targetRealtimeMS, lat(12, 20, 0), lat(10, 18, 0)),
			latencyRow("webhook", "postgres", targetWebhookMS, lat(30, 250, 0), lat(0.2, 0.5, 0)),
			latencyRow("notification", "memory", targetNotifyMS, lat(1, 3, 1), lat(0.9, 2, 0)),
			uptimeRow("memory", targetUptimePct,
				measure{Path: "client", Samples: 600, UptimePct: 99.81, Drops: 3},
				measure{Path: "bare", Samples: 600, Missing: 12, UptimePct: 99.97, Drops: 3}),
		},
	}
}

func TestRowsMeetTheirTargetOnlyUnderTheTargetAndWithNothingMissing(t *testing.T) {
	r := sampleReport()
	require.True(t, r.Rows[0].Met, "p99 20 ms < 100 ms, nothing missing")
	require.False(t, r.Rows[1].Met, "p99 250 ms over 200 ms")
	require.False(t, r.Rows[2].Met, "a notification went missing")
	require.True(t, r.Rows[3].Met, "99.81% > 99.5%, nothing missed by the SDK's client")
	require.False(t, latencyRow("x", "memory", 100, measure{Samples: 10, P99MS: 100}, measure{}).Met, "the target is strict")
	require.False(t, latencyRow("x", "memory", 100, measure{}, measure{}).Met, "no samples meets nothing")
	require.False(t, uptimeRow("memory", 99.5, measure{UptimePct: 99.9, Missing: 1}, measure{}).Met, "a missed broadcast")
	require.False(t, uptimeRow("memory", 99.5, measure{UptimePct: 99.4}, measure{}).Met)
}

func TestRenderTableShowsEveryRowWithItsFloorAndResult(t *testing.T) {
	var b bytes.Buffer
	renderTable(&b, sampleReport())
	out := b.String()
	lines := strings.Split(out, "\n")
	require.Contains(t, lines[0], "floor p50")
	row := func(prefix string) string {
		for _, l := range lines {
			if strings.HasPrefix(l, prefix) {
				return strings.Join(strings.Fields(l), " ")
			}
		}
		t.Fatalf("no line starts with %q in\n%s", prefix, out)
		return ""
	}
	require.Equal(t, "realtime memory p99 < 100 ms 12 ms 20 ms 10 ms 18 ms 100 0 met", row("realtime "))
	require.Equal(t, "webhook postgres p99 < 200 ms 30 ms 250 ms 0.20 ms 0.50 ms 100 0 MISSED", row("webhook "))
	require.Equal(t, "notification memory p99 < 100 ms 1.0 ms 3.0 ms 0.90 ms 2.0 ms 100 1 MISSED", row("notification "))
	require.Equal(t, "connection uptime memory > 99.5% 99.81% up 3 drops 99.97% up 600 0 (floor 12) met", row("connection uptime "))
	require.Contains(t, out, "realtime, memory: a -> b\n    floor: a -> b\n")
}

func TestWriteJSONRoundTrips(t *testing.T) {
	r := sampleReport()
	var b bytes.Buffer
	require.NoError(t, writeJSON(&b, r))
	require.Contains(t, b.String(), `"target": "p99 < 100 ms"`, "readable, not HTML-escaped")
	back, err := readJSON(&b)
	require.NoError(t, err)
	require.Equal(t, r, back)
}

func TestRenderSVGIsWellFormedWithOneGroupPerRow(t *testing.T) {
	r := sampleReport()
	r.Rows[0].Metric = `a <tricky> & "quoted" metric`
	var b bytes.Buffer
	require.NoError(t, renderSVG(&b, r))

	dec := xml.NewDecoder(&b)
	var groups []string
	depth, rootSeen, bars := 0, false, 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err, "the SVG must be well-formed XML")
		switch el := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				require.Equal(t, "svg", el.Name.Local)
				require.Equal(t, "http://www.w3.org/2000/svg", el.Name.Space)
				rootSeen = true
			}
			depth++
			attr := map[string]string{}
			for _, a := range el.Attr {
				attr[a.Name.Local] = a.Value
			}
			if el.Name.Local == "g" && attr["class"] == "metric" {
				groups = append(groups, attr["data-metric"]+"/"+attr["data-mode"])
			}
			if el.Name.Local == "rect" && attr["height"] == "9" {
				bars++
			}
		case xml.EndElement:
			depth--
		}
	}
	require.True(t, rootSeen)
	require.Zero(t, depth)
	require.Equal(t, []string{`a <tricky> & "quoted" metric/memory`, "webhook/postgres", "notification/memory", "connection uptime/memory"}, groups)
	require.Equal(t, 3*4+2, bars, "four bars per latency row (SDK and floor, p50 and p99), two for uptime")
}

func TestProgressWritesOneFinishedLinePerScenarioWhenNotATerminal(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "progress")
	require.NoError(t, err)
	defer f.Close()
	p := newProgress(f, 2)
	p.begin("webhook, memory")
	p.set("sending %d/s", 200)
	p.end("p50 1 ms")
	p.begin("notification, memory")
	p.close()
	b, err := os.ReadFile(f.Name())
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	require.Len(t, lines, 2, "%q", b)
	require.Regexp(t, `^\[1/2\] webhook, memory: p50 1 ms \(\d+\.\ds\)$`, lines[0])
	require.Regexp(t, `^\[2/2\] notification, memory: stopped \(\d+\.\ds\)$`, lines[1])

	require.Equal(t, "abc…", clip("abcdef", 4), "a redrawn line is cut so that it does not wrap")
	require.Equal(t, "abcd", clip("abcd", 4))
}

// TestTableQuick runs the whole table with -quick's tiny loads, in memory
// mode and, with a database, in Postgres mode too: every path works end
// to end and nothing sent is lost (the figures are not asserted: targets
// are for the benchmark itself, on a quiet machine).
func TestTableQuick(t *testing.T) {
	for _, pg := range []bool{false, true} {
		t.Run(modeName(pg), func(t *testing.T) {
			c := config{workers: 16, maxWorkers: 100, cooldown: 10 * time.Millisecond, poll: 250 * time.Millisecond}
			tc := quickTableConfig()
			tc.out = ""
			if pg {
				if testing.Short() {
					t.Skip("-short: the Postgres rows take a while")
				}
				c.dbURL = pgtest.URL(t)
				tc.pg = true
			}
			f, err := os.CreateTemp(t.TempDir(), "progress")
			require.NoError(t, err)
			defer f.Close()
			prog := newProgress(f, tableScenarios(tc))
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
			defer cancel()
			var out bytes.Buffer
			r, err := runTable(ctx, c, tc, &out, prog)
			prog.close()
			require.NoError(t, err, out.String())

			want := []string{"realtime", "webhook", "notification", "calendar sync (push)", "calendar sync (pull)", "cross-platform", "connection uptime"}
			var got []string
			for _, row := range r.Rows {
				if row.Mode == "memory" {
					got = append(got, row.Metric)
				}
				require.Positive(t, row.SDK.Samples, row.Metric)
				require.Zero(t, row.SDK.Missing, "%s, %s: nothing the SDK sent may be lost", row.Metric, row.Mode)
				require.Zero(t, row.SDK.Duplicates, row.Metric)
				if !row.uptime() {
					require.Positive(t, row.SDK.P50MS, row.Metric)
					require.Positive(t, row.Floor.Samples, "%s: the floor was measured", row.Metric)
				}
			}
			require.Equal(t, want, got)
			if pg {
				require.Len(t, r.Rows, 2*len(want))
			}
			var svg bytes.Buffer
			require.NoError(t, renderSVG(&svg, r))
			require.Contains(t, out.String(), "metric ")
			progress, err := os.ReadFile(f.Name())
			require.NoError(t, err)
			require.Equal(t, tableScenarios(tc), strings.Count(string(progress), "\n"), string(progress))
		})
	}
}
