package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wedsync/integrations/notify"
	"github.com/wedsync/integrations/notify/smtp/smtptest"
	"github.com/wedsync/integrations/realtime"
	"github.com/wedsync/integrations/realtime/pgbroker"
	"github.com/wedsync/integrations/realtime/protocol"
	"github.com/wedsync/integrations/webhook"
	"github.com/wedsync/integrations/webhook/delivery"
)

// The benchmark table (the default, -run table): each integration end to
// end, as a host wires it, beside the same path without the SDK (its
// floor), measured in the same run; memory mode, and Postgres mode too
// when a database is named.

// Targets of issue 12, in milliseconds (latency rows: p99) and percent.
const (
	targetRealtimeMS     = 100
	targetWebhookMS      = 200
	targetNotifyMS       = 100
	targetCalendarMS     = 300
	targetCrossPlatMS    = 150
	targetUptimePct      = 99.5
	resultsJSON          = "benchmark-results.json"
	resultsSVG           = "benchmark-latency.svg"
	tableDefaultDuration = 5 * time.Second
)

// tableConfig is what the table runs; the defaults take 1–2 minutes in
// memory mode.
type tableConfig struct {
	load        time.Duration // each steady-load phase (realtime, webhook, notification, cross-platform)
	subscribers int           // realtime: WebSocket subscribers on the topic
	rtRate      int           // realtime broadcasts a second
	webhookRate int           // webhook messages a second
	notifyRate  int           // notifications a second
	wedmeRate   int           // WedMe changes a second
	calRounds   int           // calendar: changes synced each way, one at a time
	calEvents   int           // calendar: the supplier's other events in the calendar
	uptime      time.Duration // the uptime run
	dropEvery   time.Duration // the server drops the socket this often, first at half of it
	uptimeRate  int           // broadcasts a second during the uptime run
	backoffMin  time.Duration // the realtime client's reconnect backoff
	backoffMax  time.Duration
	heartbeat   time.Duration // the realtime client's heartbeat interval
	caldav      string        // auto, radicale or memory
	pg          bool          // run the Postgres mode rows too
	out         string        // directory for the JSON and SVG; "" writes neither
	metrics     []string      // which scenarios run (tableMetrics' names); all when empty
}

// tableMetrics names the scenarios, in the order they run (-metrics).
var tableMetrics = []string{"realtime", "webhook", "notification", "calendar", "cross-platform", "uptime"}

// runs reports whether the table runs scenario name.
func (tc tableConfig) runs(name string) bool {
	return len(tc.metrics) == 0 || slices.Contains(tc.metrics, name)
}

func defaultTableConfig() tableConfig {
	return tableConfig{
		load: tableDefaultDuration, subscribers: 1000, rtRate: 10, webhookRate: 200, notifyRate: 100, wedmeRate: 200,
		calRounds: 60, calEvents: 100, uptime: 30 * time.Second, dropEvery: 10 * time.Second, uptimeRate: 20,
		backoffMin: 50 * time.Millisecond, backoffMax: 5 * time.Second, heartbeat: 5 * time.Second,
		caldav: "auto", out: ".",
	}
}

// quickTableConfig is -quick: every path once, in a few seconds; the
// figures mean little.
func quickTableConfig() tableConfig {
	tc := defaultTableConfig()
	tc.load, tc.subscribers, tc.calRounds, tc.calEvents = 500*time.Millisecond, 20, 5, 10
	tc.uptime, tc.dropEvery = 3*time.Second, 2*time.Second
	return tc
}

// parseTableConfig reads the table's settings from the flags: -duration
// and -subscribers (the largest) apply when given; Postgres mode runs only
// when -database-url or WEDSYNC_DATABASE_URL names a database.
func parseTableConfig(c config, set map[string]bool, quick bool, subs, metrics string, flags tableConfig) (tableConfig, error) {
	tc := defaultTableConfig()
	if quick {
		tc = quickTableConfig()
	}
	tc.caldav, tc.out = flags.caldav, flags.out
	for m := range strings.SplitSeq(metrics, ",") {
		switch m = strings.TrimSpace(m); {
		case m == "" || m == "all":
		case slices.Contains(tableMetrics, m):
			tc.metrics = append(tc.metrics, m)
		default:
			return tc, fmt.Errorf("-metrics: %q is not one of %s", m, strings.Join(tableMetrics, ", "))
		}
	}
	if set["uptime"] {
		tc.uptime = flags.uptime
	}
	if set["drop-every"] {
		tc.dropEvery = flags.dropEvery
	}
	if set["duration"] {
		tc.load = c.duration
	}
	if set["subscribers"] {
		rc, err := parseRealtimeConfig(c, set, subs, protocol.VSN1, "none")
		if err != nil {
			return tc, err
		}
		tc.subscribers = slices.Max(rc.subscribers)
	}
	tc.pg = set["database-url"] || os.Getenv("WEDSYNC_DATABASE_URL") != ""
	switch {
	case tc.load <= 0 || tc.uptime <= 0 || tc.dropEvery <= 0:
		return tc, errors.New("-duration, -uptime and -drop-every must be positive")
	case tc.caldav != "auto" && tc.caldav != "radicale" && tc.caldav != "memory":
		return tc, fmt.Errorf("-caldav: %q is not auto, radicale or memory", tc.caldav)
	case c.workers <= 0:
		return tc, errors.New("-workers must be positive")
	}
	return tc, nil
}

// tableEnv is what the scenarios share during one run.
type tableEnv struct {
	c    config
	tc   tableConfig
	prog *progress
	pg   *pgScratch // nil in memory mode only

	recv   *receiver          // the loopback HTTP receiver (webhook, cross-platform floors)
	floors map[string]measure // floors measured once, by metric
}

// runTableCommand is the table from the command line: Ctrl-C and -timeout
// end it, the table goes to stdout, the progress to stderr.
func runTableCommand(c config, tc tableConfig) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	prog := newProgress(os.Stderr, tableScenarios(tc))
	defer prog.close()
	r, err := runTable(ctx, c, tc, os.Stdout, prog)
	if err != nil {
		return err
	}
	if tc.out == "" {
		return nil
	}
	if err := writeResults(tc.out, r); err != nil {
		return err
	}
	fmt.Printf("\nwrote %s and %s\n", filepath.Join(tc.out, resultsJSON), filepath.Join(tc.out, resultsSVG))
	return nil
}

// tableScenarios counts the progress lines: six scenarios a mode.
func tableScenarios(tc tableConfig) int {
	n := 0
	for _, m := range tableMetrics {
		if tc.runs(m) {
			n++
		}
	}
	if tc.pg {
		return 2 * n
	}
	return n
}

// renderSaved prints the table of a saved run and writes its SVG into
// dir: for a chart drawn anew from the JSON.
func renderSaved(path, dir string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := readJSON(f)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	renderTable(os.Stdout, r)
	if dir == "" {
		return nil
	}
	var s bytes.Buffer
	if err := renderSVG(&s, r); err != nil {
		return err
	}
	out := filepath.Join(dir, resultsSVG)
	fmt.Printf("\nwrote %s\n", out)
	return os.WriteFile(out, s.Bytes(), 0o644)
}

// writeResults writes the JSON and the SVG into dir.
func writeResults(dir string, r report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var j, s bytes.Buffer
	if err := writeJSON(&j, r); err != nil {
		return err
	}
	if err := renderSVG(&s, r); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, resultsJSON), j.Bytes(), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, resultsSVG), s.Bytes(), 0o644)
}

// runTable runs every scenario and prints the table to out.
func runTable(ctx context.Context, c config, tc tableConfig, out io.Writer, prog *progress) (report, error) {
	r := report{Started: time.Now(), Machine: machineInfo{OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0), Go: runtime.Version(), BusyBefore: -1, LoadBefore: loadAverage(), Postgres: tc.pg}}
	idle := begin()
	select { // a measuring window, not synchronisation
	case <-time.After(time.Second):
	case <-ctx.Done():
		return r, ctx.Err()
	}
	if m := idle.end(); m.machine >= 0 {
		r.Machine.BusyBefore = math.Round(m.machine*10) / 10
	}
	modes := "memory mode"
	if tc.pg {
		modes = "memory and Postgres mode"
	}
	fmt.Fprintf(out, "benchmark table  %s  %s/%s, %d CPUs, GOMAXPROCS %d, %s, %s\n", r.Started.Format("2006-01-02 15:04"),
		r.Machine.OS, r.Machine.Arch, r.Machine.CPUs, r.Machine.GOMAXPROCS, r.Machine.Go, modes)
	if r.Machine.BusyBefore >= 0 {
		fmt.Fprintf(out, "machine CPU busy before start: %.0f%%, load average %s", r.Machine.BusyBefore, r.Machine.LoadBefore)
		if r.Machine.BusyBefore > 15 {
			fmt.Fprint(out, "  WARNING: something else is running; figures will be high and noisy")
		}
		fmt.Fprintln(out)
	}

	env := &tableEnv{c: c, tc: tc, prog: prog, floors: map[string]measure{}}
	recv, err := newReceiver()
	if err != nil {
		return r, err
	}
	defer recv.close()
	env.recv = recv
	if tc.pg {
		if env.pg, err = openScratch(ctx, c); err != nil {
			return r, err
		}
		defer env.pg.close()
	}
	var dav *davServer
	if tc.runs("calendar") {
		if dav, err = startDAV(ctx, tc.caldav); err != nil {
			return r, err
		}
		defer dav.close()
		r.CalDAV = dav.kind
	}

	type scenario struct {
		metric, name string
		run          func(ctx context.Context, pg bool) ([]tableRow, error)
	}
	scenarios := []scenario{
		{"realtime", "realtime", env.realtime},
		{"webhook", "webhook", env.webhook},
		{"notification", "notification", env.notification},
		{"calendar", "calendar sync", func(ctx context.Context, pg bool) ([]tableRow, error) { return env.calendar(ctx, pg, dav) }},
		{"cross-platform", "cross-platform", env.crossPlatform},
		{"uptime", "connection uptime", env.uptime},
	}
	for _, s := range scenarios {
		if !tc.runs(s.metric) {
			continue
		}
		for _, pg := range []bool{false, true} {
			if pg && !tc.pg {
				continue
			}
			prog.begin(s.name + ", " + modeName(pg))
			rows, err := s.run(ctx, pg)
			if err != nil {
				if ctx.Err() != nil {
					prog.end("stopped")
				} else {
					prog.end("failed")
				}
				return r, fmt.Errorf("%s, %s: %w", s.name, modeName(pg), err)
			}
			prog.end(summary(rows))
			r.Rows = append(r.Rows, rows...)
		}
	}
	r.Elapsed = time.Since(r.Started).Seconds()
	r.Machine.LoadAfter = loadAverage()
	fmt.Fprintln(out)
	renderTable(out, r)
	fmt.Fprintf(out, "\nfloor: the same path without the SDK, measured in the same run. Latency targets are on p99;\n")
	fmt.Fprintf(out, "missing: sent but never arrived. The machine is shared: figures are noisy; compare a row with its floor.\n")
	fmt.Fprintf(out, "took %.0fs; load average %s before, %s after\n", r.Elapsed, r.Machine.LoadBefore, r.Machine.LoadAfter)
	return r, nil
}

func modeName(pg bool) string {
	if pg {
		return "postgres"
	}
	return "memory"
}

// summary is a scenario's progress line when done.
func summary(rows []tableRow) string {
	var s string
	for i, r := range rows {
		if i > 0 {
			s += "; "
		}
		res := "met"
		if !r.Met {
			res = "MISSED"
		}
		if r.uptime() {
			s += fmt.Sprintf("%s up, %d missed, floor %s up, %s", fmtPct(r.SDK.UptimePct), r.SDK.Missing, fmtPct(r.Floor.UptimePct), res)
			continue
		}
		if len(rows) > 1 {
			s += r.Metric + " "
		}
		s += fmt.Sprintf("p50 %s p99 %s (floor %s / %s), %s", fmtMS(r.SDK.P50MS), fmtMS(r.SDK.P99MS), fmtMS(r.Floor.P50MS), fmtMS(r.Floor.P99MS), res)
	}
	return s
}

// floor returns the floor of metric measured earlier in the run, or
// measures it with run.
func (e *tableEnv) floor(metric string, run func() (measure, error)) (measure, error) {
	if m, ok := e.floors[metric]; ok {
		return m, nil
	}
	m, err := run()
	if err != nil {
		return m, fmt.Errorf("floor: %w", err)
	}
	e.floors[metric] = m
	return m, nil
}

// pgScratch is the table's Postgres: one pool, as a host has, and the
// schemas the scenarios create in it, dropped at exit.
type pgScratch struct {
	pool    *pgxpool.Pool
	cfg     config // how pool was opened, for a second pool
	key     []byte // the encryption key of every component
	schemas []string
}

func openScratch(ctx context.Context, c config) (*pgScratch, error) {
	if c.poolConns == 0 {
		// River's clients, the LISTEN connections (realtime broker,
		// WedMe's in-database transport) and the host's calls share it.
		c.poolConns = 10
	}
	pool, err := connectPool(ctx, c)
	if err != nil {
		return nil, err
	}
	s := &pgScratch{pool: pool, cfg: c, key: make([]byte, 32)}
	_, _ = rand.Read(s.key)
	return s, nil
}

// schema returns a new schema name and registers it, with the schemas
// named after it with each suffix (River's "<schema>_webhook_jobs"), to
// be dropped at exit.
func (s *pgScratch) schema(suffixes ...string) string {
	name := "bench_" + randomHex(4)
	s.schemas = append(s.schemas, name)
	for _, suf := range suffixes {
		s.schemas = append(s.schemas, name+suf)
	}
	return name
}

// checkpoint flushes dirty buffers so that a checkpoint started by the
// previous scenario does not land in the next (needs superuser; without
// it the figures are only noisier).
func (s *pgScratch) checkpoint(ctx context.Context) { _, _ = s.pool.Exec(ctx, "CHECKPOINT") }

func (s *pgScratch) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, name := range s.schemas {
		if _, err := s.pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			fmt.Fprintf(os.Stderr, "benchmark: drop schema %s: %v\n", name, err)
		}
	}
	s.pool.Close()
}

// realtime: hub.Broadcast to tc.subscribers WebSocket subscribers of one
// topic, against a bare coder/websocket server writing the same frame to
// the same sockets (scenario (d)'s "bare writer").
func (e *tableEnv) realtime(ctx context.Context, pg bool) ([]tableRow, error) {
	tc := e.tc
	n := tc.subscribers
	if err := raiseFileLimit(uint64(2*n + 1024)); err != nil {
		return nil, err
	}
	rc := rtConfig{rate: tc.rtRate, duration: tc.load, payloadSize: 200}
	const vsn = protocol.VSN1
	toMeasure := func(path string, r rtResult) measure {
		return measure{Path: path, Samples: int(r.got), Missing: int(r.want - r.got), P50MS: ms(r.p50), P99MS: ms(r.p99), MaxMS: ms(r.max)}
	}
	floor, err := e.floor("realtime", func() (measure, error) {
		e.prog.set("floor: bare WebSocket writer, %d subscribers, %d/s for %s", n, tc.rtRate, tc.load)
		r, err := rtPhase(ctx, rc, n, "bare writer", vsn, func() (*rtServer, error) { return newBareServer("writer", vsn, rc.payloadSize) }, "")
		return toMeasure(fmt.Sprintf("bare coder/websocket server: one writer goroutine per socket writes the hub's frame (%d subscribers)", n), r), err
	})
	if err != nil {
		return nil, err
	}
	var opts []realtime.Option
	path := fmt.Sprintf("hub.Broadcast (memory broker) -> frame read by each of %d WebSocket subscribers, %d/s", n, tc.rtRate)
	if pg {
		schema := e.pg.schema()
		if err := pgbroker.Migrate(ctx, e.pg.pool, pgbroker.WithSchema(schema)); err != nil {
			return nil, err
		}
		b, err := pgbroker.New(ctx, e.pg.pool, pgbroker.WithSchema(schema))
		if err != nil {
			return nil, err
		}
		defer func() { _ = b.Close() }() // after the hub, which rtPhase closes
		opts = append(opts, realtime.WithBroker(b))
		path = fmt.Sprintf("hub.Broadcast (Postgres broker: history row + NOTIFY) -> frame read by each of %d WebSocket subscribers, %d/s", n, tc.rtRate)
		e.pg.checkpoint(ctx)
	}
	e.prog.set("SDK: realtime hub, %d subscribers, %d/s for %s", n, tc.rtRate, tc.load)
	r, err := rtPhase(ctx, rc, n, "hub", vsn, func() (*rtServer, error) { return newHubServer(vsn, rc.payloadSize, opts...) }, "")
	if err != nil {
		return nil, err
	}
	return []tableRow{latencyRow("realtime", modeName(pg), targetRealtimeMS, toMeasure(path, r), floor)}, nil
}

// webhook: Manager.Send to the request's arrival at a loopback receiver,
// against plain net/http POSTs of the same body at the same rate.
func (e *tableEnv) webhook(ctx context.Context, pg bool) ([]tableRow, error) {
	tc := e.tc
	body := payload(1024)
	floor, err := e.floor("webhook", func() (measure, error) {
		e.prog.set("floor: plain net/http POST, %d/s for %s", tc.webhookRate, tc.load)
		res, err := plainPostLatency(ctx, e.recv, tc.webhookRate, tc.load, body)
		return latencyMeasure("plain net/http POST of the same 1 KiB body -> arrival at the receiver", res.e2e, res.missing), err
	})
	if err != nil {
		return nil, err
	}
	sink := &hookSink{}
	opts := baseOptions(sink)
	path := "delivery.Manager.Send (memory mode) -> signed POST arrives at a loopback receiver, 1 KiB JSON"
	if pg {
		schema := e.pg.schema("_webhook_jobs")
		if err := delivery.Migrate(ctx, e.pg.pool, delivery.WithSchema(schema)); err != nil {
			return nil, err
		}
		opts = append(opts, delivery.WithPostgres(e.pg.pool), delivery.WithSchema(schema), delivery.WithEncryptionKey(e.pg.key))
		path = "delivery.Manager.Send (Postgres mode: message and River job committed) -> signed POST arrives at a loopback receiver, 1 KiB JSON"
		e.pg.checkpoint(ctx)
	}
	m, err := delivery.NewManager(opts...)
	if err != nil {
		return nil, err
	}
	e.prog.set("SDK: delivery.Manager, %d/s for %s", tc.webhookRate, tc.load)
	cc := e.c
	cc.rate, cc.duration, cc.verify = tc.webhookRate, tc.load, false
	res, err := latencyRun(ctx, cc, e.recv, sink, m, body)
	if err != nil {
		return nil, err
	}
	return []tableRow{latencyRow("webhook", modeName(pg), targetWebhookMS, latencyMeasure(path, res.e2e, res.missing), floor)}, nil
}

// plainPostLatency POSTs body to recv at rate for d, each POST with its
// own webhook-id, and times each from the call to its arrival.
func plainPostLatency(ctx context.Context, recv *receiver, rate int, d time.Duration, body []byte) (latencyResult, error) {
	var res latencyResult
	client := &http.Client{Transport: plainTransport(64), Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	if err := recv.verify(""); err != nil {
		return res, err
	}
	post := func(ctx context.Context, i int) (string, error) {
		id := "plain-" + strconv.Itoa(i)
		return id, plainPost(ctx, client, recv.URL, body, http.Header{webhook.HeaderWebhookID: {id}})
	}
	for i := range 100 { // warm-up: connections
		if _, err := post(ctx, -1-i); err != nil {
			return res, fmt.Errorf("warm-up: %w", err)
		}
	}
	recv.startRecording()
	p, err := pace(ctx, rate, max(1, int(float64(rate)*d.Seconds())), 256, post)
	arrivals := recv.stopRecording() // every POST returned, so every one that arrived is in
	res.cpu, res.elapsed, res.sendCall, res.sent = p.cpu, p.cpu.d, p.sendCall, len(p.sent)
	if err != nil {
		return res, err
	}
	collect(&res, p.sent, arrivals)
	return res, nil
}

// plainPost POSTs a JSON body with header, and wants a 2xx answer.
func plainPost(ctx context.Context, client *http.Client, url string, body []byte, header http.Header) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "bench-plain")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("receiver answered %d", resp.StatusCode)
	}
	return nil
}

// notification: Notifier.Send (SMTP provider) to the message's acceptance
// by a local SMTP server, against go-mail sending the same email (scenario
// (e)'s phases).
func (e *tableEnv) notification(ctx context.Context, pg bool) ([]tableRow, error) {
	tc := e.tc
	nc := notifyConfig{rate: tc.notifyRate, duration: tc.load, pg: pg}
	total := int(float64(nc.rate) * nc.duration.Seconds())
	srv, err := smtptest.Start(smtptest.WithInboxSize(total + notifyWarmup + 1000))
	if err != nil {
		return nil, err
	}
	defer func() { _ = srv.Close() }()
	tp, err := notifyTemplates()
	if err != nil {
		return nil, err
	}
	nt := notifyNotification()
	floor, err := e.floor("notification", func() (measure, error) {
		e.prog.set("floor: go-mail DialAndSend, %d/s for %s", nc.rate, nc.duration)
		r, err := plainMailLatency(ctx, nc, srv, tp, nt)
		return latencyMeasure("go-mail DialAndSend of the same rendered email -> accepted by the SMTP server", r.e2e, r.missing), err
	})
	if err != nil {
		return nil, err
	}
	var db *notifyDB
	path := "notify.Notifier.Send (memory mode: route and send jobs, SMTP provider) -> accepted by a local SMTP server"
	if pg {
		db = &notifyDB{pool: e.pg.pool, schema: e.pg.schema("_notify_jobs"), key: e.pg.key}
		if err := notify.Migrate(ctx, db.pool, notify.WithSchema(db.schema)); err != nil {
			return nil, err
		}
		path = "notify.Notifier.Send (Postgres mode: stored, route and send jobs on River) -> accepted by a local SMTP server"
	}
	e.prog.set("SDK: notify.Notifier, %d/s for %s", nc.rate, nc.duration)
	r, err := notifyLatency(ctx, e.c, nc, srv, tp, nt, db)
	if err != nil {
		return nil, err
	}
	return []tableRow{latencyRow("notification", modeName(pg), targetNotifyMS, latencyMeasure(path, r.e2e, r.missing), floor)}, nil
}
