package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"math"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/wedsync/integrations/realtime/client"
	"github.com/wedsync/integrations/webhook/delivery"
)

const defaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/test"

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

type config struct {
	run          string
	n            int
	payloadSize  int
	workers      int
	verify       bool
	dbURL        string
	poolConns    int
	insertMode   string
	insertConc   int
	batch        int
	maxWorkers   int
	cooldown     time.Duration
	poll         time.Duration
	sweep        string
	rate         int
	duration     time.Duration
	cpuprofile   string
	pgSide       string
	repeat       int
	timeout      time.Duration
	memprofile   string
	idleWait     time.Duration
	quietRetries int
}

func main() {
	var c config
	defURL := os.Getenv("WEDSYNC_DATABASE_URL")
	if defURL == "" {
		defURL = defaultDatabaseURL
	}
	flag.StringVar(&c.run, "run", "table", "table: the end-to-end table of every integration against its floor (the default); or scenarios, comma-separated: mem (a), pg (b), latency (c); or realtime (d) alone; or notify (e) alone")
	flag.IntVar(&c.n, "n", 20000, "messages per throughput measurement (a, b)")
	flag.IntVar(&c.payloadSize, "payload", 1024, "payload size in bytes (a JSON object); (d) defaults to 200")
	flag.IntVar(&c.workers, "workers", 64, "memory-mode workers (delivery.WithMemoryWorkers, notify.WithMemoryWorkers in (e) and the table) and plain-HTTP concurrency")
	flag.BoolVar(&c.verify, "verify", false, "receiver verifies Standard Webhooks signatures (plain POSTs are then signed too)")
	flag.StringVar(&c.dbURL, "database-url", defURL, "Postgres URL (env WEDSYNC_DATABASE_URL); the table and (e) run Postgres mode too only when this flag or the variable is set")
	flag.IntVar(&c.poolConns, "pool-conns", 0, "pgxpool MaxConns for the manager and for River (0: pgx default, max(4, cores); the table: 10)")
	flag.StringVar(&c.insertMode, "insert", "sendtx", "Postgres insert path: send (Send per message), sendtx (SendTx, -batch per transaction), batch (SendBatch of -batch)")
	flag.IntVar(&c.insertConc, "insert-conc", 4, "goroutines inserting messages in (b)")
	flag.IntVar(&c.batch, "batch", 100, "messages per transaction for -insert sendtx and batch")
	flag.IntVar(&c.maxWorkers, "max-workers", 500, "River MaxWorkers of the base configuration")
	flag.DurationVar(&c.cooldown, "fetch-cooldown", 10*time.Millisecond, "River FetchCooldown of the base configuration")
	flag.DurationVar(&c.poll, "fetch-poll", 250*time.Millisecond, "River FetchPollInterval (the SDK default)")
	flag.StringVar(&c.sweep, "sweep", "grid", "River configurations tried in (b): none, axes (5), grid (MaxWorkers 100/500/2000 x FetchCooldown 5/10/20ms)")
	flag.IntVar(&c.rate, "rate", 500, "messages per second in (c); broadcasts per second in (d), where it defaults to 10; notifications per second in (e), where it defaults to 200")
	flag.DurationVar(&c.duration, "duration", 20*time.Second, "length of the steady load in (c), (d) and (e), and of the table's load phases; (d) defaults to 10s, the table to 5s")
	flag.StringVar(&c.cpuprofile, "cpuprofile", "", "write a CPU profile of (b)'s manager delivery phase (base configuration), or of (d)'s first hub broadcast phase at the largest -subscribers, to this file")
	flag.StringVar(&c.pgSide, "pg-side", "river,post,manager", "what (b) measures, comma-separated: river (no-op jobs), post (River jobs that POST), manager")
	flag.IntVar(&c.repeat, "repeat", 1, "run each throughput measurement (a, b), or each (d) configuration, this many times and report the median")
	flag.DurationVar(&c.timeout, "timeout", 20*time.Minute, "give up after this long")
	rtOnly := flag.Bool("realtime", false, "run the realtime fan-out scenario (d) only; same as -run realtime")
	shape := flag.Bool("shape", false, "(d) run the realistic shape instead: 2,500 topics of 2 subscribers, 50 broadcasts/s over random topics for -duration (default 10s); reports p50/p99 latency, memory per socket pair and CPU")
	storm := flag.Bool("storm", false, "(d) run the publish storm instead: one publisher calling Broadcast in a tight loop for -duration (default 5s) to -subscribers (default 1000) readers; reports accepted publishes/s, deliveries/s and slow-consumer cuts")
	fanout := flag.Bool("fanout", false, "(d) compare the hub's writers instead: batched (one write per socket per drain) and per-frame (one write per frame, the writer before batching), in the same run; CPU per delivered message at the first -subscribers count with one publisher as fast as the hub admits, and p99 at the last with the steady load")
	fanoutN := flag.Int("fanout-broadcasts", 300, "(d) -fanout: broadcasts of the CPU measurement")
	subs := flag.String("subscribers", "1000,5000", "(d) WebSocket subscriber counts, comma-separated; the table takes the largest when this flag is given, else 1000")
	vsns := flag.String("vsn", "1.0.0", "(d) hub serializer versions, comma-separated: 1.0.0, 2.0.0 (the bare floor sends the first one's frame)")
	bares := flag.String("bare", "writer,loop", "(d) bare floors, comma-separated: writer (a goroutine per socket fed by a channel), loop (one loop writes every socket), none")
	flag.StringVar(&c.memprofile, "memprofile", "", "(d) write a heap profile of the hub with the largest -subscribers idle to this file")
	flag.DurationVar(&c.idleWait, "idle-wait", 0, "(d), (e): before each phase, wait up to this long for a second in which the machine is under 15% busy")
	flag.IntVar(&c.quietRetries, "quiet-retries", 2, "(d) run a phase again, up to this many times, when other processes used over 10% of the machine during it; the quietest attempt counts")
	tf := defaultTableConfig()
	flag.StringVar(&tf.out, "out", tf.out, "table: write "+resultsJSON+" and "+resultsSVG+" into this directory (\"\": neither)")
	flag.StringVar(&tf.caldav, "caldav", tf.caldav, "table: the CalDAV server of the calendar rows: radicale, memory (caldavtest's in-process server), or auto (radicale when installed)")
	flag.DurationVar(&tf.uptime, "uptime", tf.uptime, "table: length of the connection uptime run")
	flag.DurationVar(&tf.dropEvery, "drop-every", tf.dropEvery, "table: the uptime run's server drops the socket this often (first at half of it)")
	clientDefaults := flag.Bool("client-defaults", false, "table: the uptime row's realtime client keeps its default reconnect backoff (1s-30s) and heartbeat (25s) instead of 50ms-5s and 5s")
	render := flag.String("render", "", "table: run nothing; print the table of this "+resultsJSON+" and write its SVG into -out")
	metrics := flag.String("metrics", "all", "table: the scenarios to run, comma-separated: "+strings.Join(tableMetrics, ", "))
	quick := flag.Bool("quick", false, "table: every path once with tiny loads (a few seconds), to check that it all works; the figures mean little")
	flag.Parse()
	if *rtOnly || *fanout {
		c.run = "realtime"
	}
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })

	err := func() error {
		switch strings.TrimSpace(c.run) {
		case "table", "":
			if *render != "" {
				return renderSaved(*render, tf.out)
			}
			tc, err := parseTableConfig(c, set, *quick, *subs, *metrics, tf)
			if err != nil {
				return err
			}
			if *clientDefaults {
				tc.backoffMin, tc.backoffMax, tc.heartbeat = client.DefaultBackoffMin, client.DefaultBackoffMax, client.DefaultHeartbeatInterval
			}
			return runTableCommand(c, tc)
		case "realtime", "d":
		case "notify", "e":
			nc, err := parseNotifyConfig(c, set)
			if err != nil {
				return err
			}
			return runNotify(c, nc)
		default:
			return run(c)
		}
		if *storm && !set["subscribers"] {
			*subs = "1000"
		}
		rc, err := parseRealtimeConfig(c, set, *subs, *vsns, *bares)
		if err != nil {
			return err
		}
		if *shape {
			window := 10 * time.Second
			if set["duration"] {
				window = c.duration
			}
			return runShape(c, rc, window)
		}
		if *fanout {
			if *fanoutN <= 0 {
				return errors.New("-fanout-broadcasts must be positive")
			}
			return runAlone(c, "realtime fan-out writers", func(ctx context.Context) error { return fanoutBench(ctx, rc, *fanoutN) })
		}
		if *storm {
			window := 5 * time.Second
			if set["duration"] {
				window = c.duration
			}
			return runStorm(c, rc, window)
		}
		return runRealtime(c, rc)
	}()
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchmark:", err)
		os.Exit(1)
	}
}

// runRealtime runs scenario (d) on its own: -rate and -duration default to
// 10/s and 10s there unless given.
func runRealtime(c config, rc rtConfig) error {
	return runAlone(c, "realtime benchmark", func(ctx context.Context) error { return realtimeBench(ctx, rc) })
}

// runStorm runs the publish storm of scenario (d) on its own.
func runStorm(c config, rc rtConfig, window time.Duration) error {
	return runAlone(c, "realtime publish storm", func(ctx context.Context) error { return stormBench(ctx, rc, window) })
}

// runShape runs the realistic shape of scenario (d) on its own.
func runShape(c config, rc rtConfig, window time.Duration) error {
	return runAlone(c, "realtime realistic shape", func(ctx context.Context) error { return shapeBench(ctx, rc, window) })
}

// runAlone runs one scenario with a context that ends on an interrupt or
// after -timeout, under a header naming it.
func runAlone(c config, name string, bench func(context.Context) error) error {
	if c.repeat <= 0 {
		return errors.New("-repeat must be positive")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	printHeader(name, "high")
	return bench(ctx)
}

// printHeader names the run and the machine, and measures how busy the
// machine is for a second first: other work skews every figure (throughput
// figures come out low, latencies high), so say so.
func printHeader(name, skew string) {
	fmt.Printf("%s  %s  %s/%s, %d CPUs, GOMAXPROCS %d, %s\n", name, time.Now().Format("2006-01-02 15:04"),
		runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version())
	idle := begin()
	time.Sleep(time.Second) // a measuring window, not synchronisation
	if m := idle.end(); m.machine >= 0 {
		fmt.Printf("machine CPU busy before start: %.0f%%", m.machine)
		if m.machine > 15 {
			fmt.Printf("  WARNING: something else is running; figures will be %s and noisy", skew)
		}
		fmt.Println()
	}
}

func run(c config) error {
	if c.n <= 0 || c.workers <= 0 || c.rate <= 0 || c.payloadSize < 16 || c.batch <= 0 || c.insertConc <= 0 || c.repeat <= 0 {
		return errors.New("-n, -workers, -rate, -batch, -insert-conc and -repeat must be positive, -payload at least 16")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	want := map[string]bool{}
	for s := range strings.SplitSeq(c.run, ",") {
		switch s = strings.TrimSpace(s); s {
		case "a", "mem", "memory":
			want["mem"] = true
		case "b", "pg", "postgres":
			want["pg"] = true
		case "c", "latency":
			want["latency"] = true
		case "d", "realtime":
			return errors.New("-run: run the realtime scenario on its own: -realtime or -run realtime")
		case "e", "notify":
			return errors.New("-run: run the notify scenario on its own: -run notify")
		case "table":
			return errors.New("-run: run the table on its own: -run table (the default)")
		case "":
		default:
			return fmt.Errorf("-run: unknown scenario %q (table, mem, pg, latency, realtime, notify)", s)
		}
	}
	printHeader("webhook benchmark", "low")
	fmt.Printf("payload %d B JSON, receiver signature verification %s\n", c.payloadSize, onOff(c.verify))
	fmt.Println()

	recv, err := newReceiver()
	if err != nil {
		return err
	}
	defer recv.close()

	var db *benchDB
	if want["pg"] || want["latency"] {
		if db, err = openDB(ctx, c); err != nil {
			return err
		}
		defer db.close()
	}
	if want["mem"] {
		if err := memoryThroughput(ctx, c, recv); err != nil {
			return fmt.Errorf("(a) memory throughput: %w", err)
		}
	}
	if want["pg"] {
		if err := postgresThroughput(ctx, c, recv, db); err != nil {
			return fmt.Errorf("(b) Postgres throughput: %w", err)
		}
	}
	if want["latency"] {
		if err := latency(ctx, c, recv, db); err != nil {
			return fmt.Errorf("(c) latency: %w", err)
		}
	}
	return nil
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// payload returns a JSON object of exactly size bytes.
func payload(size int) []byte {
	const head, tail = `{"type":"booking.confirmed","pad":"`, `"}`
	pad := max(0, size-len(head)-len(tail))
	return []byte(head + strings.Repeat("x", pad) + tail)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// span measures wall time, this process's CPU time and the machine's.
type span struct {
	wall      time.Time
	cpu       time.Duration
	busy, tot int64
	machineOK bool
}

func begin() span {
	s := span{wall: time.Now(), cpu: processCPU()}
	s.busy, s.tot, s.machineOK = machineBusy()
	return s
}

// measured is a timed phase: its wall time, the share of the machine's CPU
// (all cores) this process used meanwhile, and the share the whole machine
// used (-1 when unknown); the difference is mostly Postgres.
type measured struct {
	d       time.Duration
	cpu     float64
	machine float64
}

func (s span) end() measured {
	d := time.Since(s.wall)
	cpu := processCPU() - s.cpu
	m := measured{d: d, cpu: 100 * cpu.Seconds() / (d.Seconds() * float64(runtime.NumCPU())), machine: -1}
	if busy, tot, ok := machineBusy(); ok && s.machineOK && tot > s.tot {
		m.machine = 100 * float64(busy-s.busy) / float64(tot-s.tot)
	}
	return m
}

// cpuShare formats "process/machine" CPU percentages.
func (m measured) cpuShare() string {
	if m.machine < 0 {
		return pct(m.cpu)
	}
	return fmt.Sprintf("%.0f/%.0f%%", m.cpu, m.machine)
}

// median returns the run whose wall time is the median of get over runs.
func median[T any](runs []T, get func(T) measured) measured {
	ms := make([]measured, len(runs))
	for i, r := range runs {
		ms[i] = get(r)
	}
	slices.SortFunc(ms, func(a, b measured) int { return cmp.Compare(a.d, b.d) })
	return ms[len(ms)/2]
}

// medianOf describes a median over n runs for a table title.
func medianOf(n int) string {
	if n <= 1 {
		return ""
	}
	return fmt.Sprintf(" (median of %d runs)", n)
}

func pct(v float64) string { return fmt.Sprintf("%.0f%%", v) }

func rateOf(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// wait blocks until t has seen all its attempts or ctx ends.
func wait(ctx context.Context, t *tracker, what string) error {
	select {
	case <-t.done:
	case <-ctx.Done():
		return fmt.Errorf("%s: %d of %d attempts seen: %w", what, t.ok.Load()+t.failed.Load(), t.want, ctx.Err())
	}
	if f := t.failed.Load(); f > 0 {
		first := t.first.Load()
		return fmt.Errorf("%s: %d attempts failed, e.g. status %d: %s", what, f, first.ResponseStatus, first.Error)
	}
	return nil
}

// table prints rows under a header with aligned columns.
func table(title string, header []string, rows [][]string) {
	fmt.Println(title)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, strings.Join(header, "\t")+"\t")
	seps := make([]string, len(header))
	for i, h := range header {
		seps[i] = strings.Repeat("-", len(h))
	}
	fmt.Fprintln(w, strings.Join(seps, "\t")+"\t")
	for _, r := range rows {
		fmt.Fprintln(w, strings.Join(r, "\t")+"\t")
	}
	_ = w.Flush()
	fmt.Println()
}

func f0(v float64) string { return fmt.Sprintf("%.0f", v) }
func f2(v float64) string { return fmt.Sprintf("%.2f", v) }
func dur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
}

// percentile returns the q-quantile of sorted (nearest rank).
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func sortDurations(d []time.Duration) []time.Duration {
	slices.Sort(d)
	return d
}

func target(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

// manager options shared by every scenario.
func baseOptions(sink *hookSink) []delivery.Option {
	return []delivery.Option{
		delivery.WithAllowedNetworks(loopback...), delivery.WithInsecureHTTP(true),
		delivery.WithAttemptHook(sink.hook),
	}
}
