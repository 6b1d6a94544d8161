package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/wedsync/integrations/webhook/delivery"
)

// queueName is the River queue the webhook manager works (see NewManager).
const queueName = "wedsync_webhook"

// benchDB is this run's schemas: the manager's tables, the manager's River
// tables (its default: "<schema>_webhook_jobs"), and the bare River
// client's.
type benchDB struct {
	pool         *pgxpool.Pool
	schema       string
	managerRiver string
	riverSchema  string
	key          []byte
}

// connectPool opens the benchmark's pool on -database-url, with -pool-conns
// connections when set, and checks that the database answers.
func connectPool(ctx context.Context, c config) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(c.dbURL)
	if err != nil {
		return nil, fmt.Errorf("database URL: %w", err)
	}
	if c.poolConns > 0 {
		pc.MaxConns = int32(c.poolConns)
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, err
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to %s: %w", c.dbURL, err)
	}
	return pool, nil
}

func openDB(ctx context.Context, c config) (*benchDB, error) {
	pool, err := connectPool(ctx, c)
	if err != nil {
		return nil, err
	}
	db := &benchDB{pool: pool, schema: "bench_" + randomHex(4), key: make([]byte, 32)}
	db.riverSchema = db.schema + "_river"
	db.managerRiver = db.schema + "_webhook_jobs"
	_, _ = rand.Read(db.key)
	if err := delivery.Migrate(ctx, pool, delivery.WithSchema(db.schema)); err != nil {
		db.close()
		return nil, err
	}
	if _, err := pool.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{db.riverSchema}.Sanitize()); err != nil {
		db.close()
		return nil, err
	}
	mig, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Schema: db.riverSchema, Logger: slog.New(slog.DiscardHandler)})
	if err == nil {
		_, err = mig.Migrate(ctx, rivermigrate.DirectionUp, nil)
	}
	if err != nil {
		db.close()
		return nil, fmt.Errorf("river migrate: %w", err)
	}
	fmt.Printf("Postgres: schemas %s, %s and %s (dropped at exit), pool MaxConns %d\n\n", db.schema, db.managerRiver, db.riverSchema, pool.Config().MaxConns)
	return db, nil
}

func (db *benchDB) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, s := range []string{db.schema, db.managerRiver, db.riverSchema} {
		if _, err := db.pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{s}.Sanitize()+" CASCADE"); err != nil {
			fmt.Fprintf(os.Stderr, "benchmark: drop schema %s: %v\n", s, err)
		}
	}
	db.pool.Close()
}

// reset empties the tables between measurements.
func (db *benchDB) reset(ctx context.Context) error {
	s, r := pgx.Identifier{db.schema}.Sanitize(), pgx.Identifier{db.riverSchema}.Sanitize()
	m := pgx.Identifier{db.managerRiver}.Sanitize()
	_, err := db.pool.Exec(ctx, fmt.Sprintf(`TRUNCATE %[1]s.webhook_attempts, %[1]s.webhook_messages, %[1]s.webhook_endpoints,
		%[3]s.river_job, %[2]s.river_job`, s, r, m))
	if err != nil {
		return err
	}
	db.checkpoint(ctx)
	return nil
}

// checkpoint flushes dirty buffers so that a checkpoint started by the
// previous measurement does not land in the next one. It needs superuser
// (or pg_checkpoint); without it the measurement is only noisier.
func (db *benchDB) checkpoint(ctx context.Context) {
	_, _ = db.pool.Exec(ctx, "CHECKPOINT")
}

// riverConfig is one River configuration under test.
type riverConfig struct {
	maxWorkers int
	cooldown   time.Duration
	poll       time.Duration
}

func (rc riverConfig) String() string {
	return fmt.Sprintf("MaxWorkers %d, FetchCooldown %s", rc.maxWorkers, rc.cooldown)
}

func sweepConfigs(c config) ([]riverConfig, error) {
	base := riverConfig{c.maxWorkers, c.cooldown, c.poll}
	out := []riverConfig{base}
	add := func(w int, cd time.Duration) {
		rc := riverConfig{w, cd, c.poll}
		for _, o := range out {
			if o == rc {
				return
			}
		}
		out = append(out, rc)
	}
	workers := []int{100, 500, 2000}
	cooldowns := []time.Duration{5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond}
	switch c.sweep {
	case "none", "":
	case "axes":
		for _, w := range workers {
			add(w, c.cooldown)
		}
		for _, cd := range cooldowns {
			add(c.maxWorkers, cd)
		}
	case "grid":
		for _, w := range workers {
			for _, cd := range cooldowns {
				add(w, cd)
			}
		}
	default:
		return nil, fmt.Errorf("-sweep: want none, axes or grid, got %q", c.sweep)
	}
	return out, nil
}

type pgResult struct {
	rc          riverConfig
	riverInsert measured
	river       measured
	post        measured
	insert      measured
	deliver     measured
}

// postgresThroughput is scenario (b).
func postgresThroughput(ctx context.Context, c config, recv *receiver, db *benchDB) error {
	cfgs, err := sweepConfigs(c)
	if err != nil {
		return err
	}
	side := map[string]bool{}
	for s := range strings.SplitSeq(c.pgSide, ",") {
		switch s = strings.TrimSpace(s); s {
		case "river", "post", "manager":
			side[s] = true
		default:
			return fmt.Errorf("-pg-side: want river, post or manager, got %q", s)
		}
	}
	fmt.Printf("(b) Postgres-mode throughput: %d messages per configuration, %d configuration(s), insert path %s\n", c.n, len(cfgs), insertPath(c))
	body := payload(c.payloadSize)
	if err := recv.verify(""); err != nil {
		return err
	}

	// Warm-up: the pool's connections, their prepared statements, caches.
	warm := c
	warm.n = max(1000, c.n/10)
	if err := db.reset(ctx); err != nil {
		return err
	}
	if side["river"] || side["post"] {
		if _, _, err := riverNoop(ctx, warm, db, cfgs[0], nil); err != nil {
			return fmt.Errorf("River no-op warm-up: %w", err)
		}
	}
	if side["manager"] {
		if _, _, err := managerPostgres(ctx, warm, recv, db, cfgs[0], body, ""); err != nil {
			return fmt.Errorf("manager warm-up: %w", err)
		}
	}

	var results []pgResult
	for i, rc := range cfgs {
		var runs []pgResult
		for rep := range c.repeat {
			res := pgResult{rc: rc}
			if side["river"] {
				if err := db.reset(ctx); err != nil {
					return err
				}
				if res.riverInsert, res.river, err = riverNoop(ctx, c, db, rc, nil); err != nil {
					return fmt.Errorf("River no-op (%s): %w", rc, err)
				}
			}
			if side["post"] {
				if err := db.reset(ctx); err != nil {
					return err
				}
				post, closeIdle := poster(recv, body, rc.maxWorkers)
				_, res.post, err = riverNoop(ctx, c, db, rc, post)
				closeIdle()
				if err != nil {
					return fmt.Errorf("River + POST (%s): %w", rc, err)
				}
			}
			if side["manager"] {
				if err := db.reset(ctx); err != nil {
					return err
				}
				profile := ""
				if i == 0 && rep == 0 {
					profile = c.cpuprofile
				}
				if res.insert, res.deliver, err = managerPostgres(ctx, c, recv, db, rc, body, profile); err != nil {
					return fmt.Errorf("manager (%s): %w", rc, err)
				}
			}
			runs = append(runs, res)
		}
		res := pgResult{rc: rc,
			riverInsert: median(runs, func(r pgResult) measured { return r.riverInsert }),
			river:       median(runs, func(r pgResult) measured { return r.river }),
			post:        median(runs, func(r pgResult) measured { return r.post }),
			insert:      median(runs, func(r pgResult) measured { return r.insert }),
			deliver:     median(runs, func(r pgResult) measured { return r.deliver }),
		}
		fmt.Printf("  %-36s River no-op %6.0f/s   River+POST %6.0f/s   manager insert %6.0f/s, deliver %6.0f/s\n", rc.String(),
			rateOf(c.n, res.river.d), rateOf(c.n, res.post.d), rateOf(c.n, res.insert.d), rateOf(c.n, res.deliver.d))
		results = append(results, res)
	}
	fmt.Println()

	dash := func(ok bool, v string) string {
		if !ok {
			return "-"
		}
		return v
	}
	var rows [][]string
	bestM, bestR, bestP := 0, 0, 0
	for i, r := range results {
		rr, pr, mr := rateOf(c.n, r.river.d), rateOf(c.n, r.post.d), rateOf(c.n, r.deliver.d)
		rows = append(rows, []string{strconv.Itoa(r.rc.maxWorkers), r.rc.cooldown.String(),
			dash(side["river"], f0(rateOf(c.n, r.riverInsert.d))),
			dash(side["river"], f0(rr)), dash(side["river"], r.river.cpuShare()),
			dash(side["post"], f0(pr)), dash(side["post"], r.post.cpuShare()),
			dash(side["manager"], f0(rateOf(c.n, r.insert.d))),
			dash(side["manager"], f0(mr)), dash(side["manager"], r.deliver.cpuShare()),
			dash(side["manager"] && side["river"], f2(mr/rr)), dash(side["manager"] && side["post"], f2(mr/pr)),
		})
		if mr > rateOf(c.n, results[bestM].deliver.d) {
			bestM = i
		}
		if rr > rateOf(c.n, results[bestR].river.d) {
			bestR = i
		}
		if pr > rateOf(c.n, results[bestP].post.d) {
			bestP = i
		}
	}
	table(fmt.Sprintf("(b) Postgres mode, %d messages/jobs each%s, pool MaxConns %d, FetchPollInterval %s, manager inserts by %s (first row: base configuration)",
		c.n, medianOf(c.repeat), db.pool.Config().MaxConns, c.poll, insertPath(c)),
		[]string{"MaxWorkers", "FetchCooldown", "River insert/s", "River no-op/s", "CPU", "River+POST/s", "CPU",
			"mgr insert/s", "mgr deliver/s", "CPU", "x River", "x River+POST"},
		rows)
	fmt.Println("River+POST: River jobs that each POST the payload with plain net/http (no signing, no attempt log):")
	fmt.Println("  the ceiling for any sender built on River here.")
	fmt.Println("CPU: this process's share of all cores / the whole machine's (the difference is mostly Postgres).")
	base := results[0]
	if side["manager"] && side["river"] {
		ratio := rateOf(c.n, base.deliver.d) / rateOf(c.n, base.river.d)
		fmt.Printf("target manager >= 0.5 x River no-op (base configuration): %.2f, %s\n", ratio, target(ratio >= 0.5))
	}
	if len(results) > 1 {
		if side["manager"] {
			fmt.Printf("best for the manager: %s (%.0f msgs/s)\n", results[bestM].rc, rateOf(c.n, results[bestM].deliver.d))
		}
		if side["river"] {
			fmt.Printf("best for River no-op: %s (%.0f jobs/s)\n", results[bestR].rc, rateOf(c.n, results[bestR].river.d))
		}
		if side["post"] {
			fmt.Printf("best for River+POST: %s (%.0f jobs/s)\n", results[bestP].rc, rateOf(c.n, results[bestP].post.d))
		}
	}
	fmt.Println()
	if c.cpuprofile != "" && side["manager"] {
		fmt.Printf("CPU profile of the base configuration's delivery phase: %s (go tool pprof -top %s)\n\n", c.cpuprofile, c.cpuprofile)
	}
	return nil
}

func insertPath(c config) string {
	switch c.insertMode {
	case "send":
		return fmt.Sprintf("Send x %d goroutines", c.insertConc)
	case "batch":
		return fmt.Sprintf("SendBatch of %d x %d goroutines", c.batch, c.insertConc)
	}
	return fmt.Sprintf("SendTx, %d per tx x %d goroutines", c.batch, c.insertConc)
}

// managerPostgres inserts n messages with the manager stopped, then starts
// it and times until every delivery has been logged.
func managerPostgres(ctx context.Context, c config, recv *receiver, db *benchDB, rc riverConfig, body []byte, profile string) (insert, deliver measured, err error) {
	sink := &hookSink{}
	m, err := delivery.NewManager(append(baseOptions(sink),
		delivery.WithPostgres(db.pool), delivery.WithSchema(db.schema), delivery.WithEncryptionKey(db.key),
		delivery.WithQueueConfig(delivery.QueueConfig{MaxWorkers: rc.maxWorkers, FetchCooldown: rc.cooldown, FetchPollInterval: rc.poll}),
	)...)
	if err != nil {
		return insert, deliver, err
	}
	ep, err := m.CreateEndpoint(ctx, delivery.EndpointInput{SupplierID: "sup_bench", URL: recv.URL})
	if err != nil {
		return insert, deliver, err
	}
	if err := setVerify(ctx, c, recv, m, ep.ID); err != nil {
		return insert, deliver, err
	}
	msg := delivery.Message{SupplierID: "sup_bench", EventType: "booking.confirmed", Payload: body}

	sp := begin()
	if err := insertMessages(ctx, c, db, m, msg); err != nil {
		return insert, deliver, err
	}
	insert = sp.end()
	db.checkpoint(ctx)

	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			return insert, deliver, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return insert, deliver, err
		}
		defer pprof.StopCPUProfile()
	}
	before := recv.count.Load()
	t := sink.expect(c.n)
	sp = begin()
	if err := m.Start(ctx); err != nil {
		return insert, deliver, err
	}
	defer stopWithin(ctx, m.Stop)
	if err := wait(ctx, t, "manager"); err != nil {
		return insert, deliver, err
	}
	deliver = sp.end()
	if got := recv.count.Load() - before; got < int64(c.n) {
		return insert, deliver, fmt.Errorf("receiver counted %d of %d requests", got, c.n)
	}
	return insert, deliver, nil
}

// insertMessages stores n messages (with their delivery jobs) by the
// configured path from c.insertConc goroutines.
func insertMessages(ctx context.Context, c config, db *benchDB, m *delivery.Manager, msg delivery.Message) error {
	per := c.batch
	if c.insertMode == "send" {
		per = 1
	}
	var next atomic.Int64 // messages claimed
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	fail := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
		}
		mu.Unlock()
	}
	batch := make([]delivery.Message, per)
	for i := range batch {
		batch[i] = msg
	}
	for range c.insertConc {
		wg.Go(func() {
			for {
				end := int(next.Add(int64(per)))
				k := per - max(0, end-c.n)
				if k <= 0 {
					return
				}
				var err error
				switch c.insertMode {
				case "send":
					_, err = m.Send(ctx, msg)
				case "batch":
					_, err = m.SendBatch(ctx, batch[:k])
				case "sendtx":
					err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
						for range k {
							if _, err := m.SendTx(ctx, tx, msg); err != nil {
								return err
							}
						}
						return nil
					})
				default:
					err = fmt.Errorf("-insert: want send, sendtx or batch, got %q", c.insertMode)
				}
				if err != nil {
					fail(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

// noopArgs is the bare River job.
type noopArgs struct {
	I int `json:"i"`
}

func (noopArgs) Kind() string { return "bench_noop" }

type noopWorker struct {
	river.WorkerDefaults[noopArgs]
	// post, when set, makes the job POST the payload instead of nothing:
	// the least any River-based sender must do per message.
	post func(ctx context.Context) error
}

func (w noopWorker) Work(ctx context.Context, _ *river.Job[noopArgs]) error {
	if w.post != nil {
		return w.post(ctx)
	}
	return nil
}

// poster returns a function that POSTs body to recv with a client whose
// idle pool holds conns connections.
func poster(recv *receiver, body []byte, conns int) (func(context.Context) error, func()) {
	client := &http.Client{Transport: plainTransport(conns), Timeout: 30 * time.Second}
	return func(ctx context.Context) error {
		return plainPost(ctx, client, recv.URL, body, nil)
	}, client.CloseIdleConnections
}

// riverNoop inserts n no-op jobs with InsertManyFast, then starts a River
// client configured as internal/jobs configures it and times until n
// completions were reported.
func riverNoop(ctx context.Context, c config, db *benchDB, rc riverConfig, post func(context.Context) error) (insert, work measured, err error) {
	ws := river.NewWorkers()
	river.AddWorker(ws, noopWorker{post: post})
	jobTimeout := 30*time.Second + 30*time.Second // the manager's: delivery timeout + 30s
	client, err := river.NewClient(riverpgxv5.New(db.pool), &river.Config{
		Schema:                      db.riverSchema,
		Queues:                      map[string]river.QueueConfig{queueName: {MaxWorkers: rc.maxWorkers}},
		Workers:                     ws,
		FetchCooldown:               rc.cooldown,
		FetchPollInterval:           rc.poll,
		JobTimeout:                  jobTimeout,
		RescueStuckJobsAfter:        jobTimeout + time.Minute,
		Logger:                      slog.New(slog.DiscardHandler),
		DiscardedJobRetentionPeriod: 7 * 24 * time.Hour,
	})
	if err != nil {
		return insert, work, err
	}
	sp := begin()
	const chunk = 5000
	params := make([]river.InsertManyParams, 0, chunk)
	for i := 0; i < c.n; i += chunk {
		params = params[:0]
		for j := i; j < min(i+chunk, c.n); j++ {
			params = append(params, river.InsertManyParams{Args: noopArgs{I: j}, InsertOpts: &river.InsertOpts{Queue: queueName}})
		}
		if _, err := client.InsertManyFast(ctx, params); err != nil {
			return insert, work, err
		}
	}
	insert = sp.end()
	db.checkpoint(ctx)

	events, unsubscribe := client.SubscribeConfig(&river.SubscribeConfig{
		Kinds: []river.EventKind{river.EventKindJobCompleted, river.EventKindJobFailed}, ChanSize: c.n + 1000})
	defer unsubscribe()
	sp = begin()
	if err := client.Start(ctx); err != nil {
		return insert, work, err
	}
	defer stopWithin(ctx, client.Stop)
	for done := 0; done < c.n; {
		select {
		case ev := <-events:
			if ev.Kind != river.EventKindJobCompleted {
				return insert, work, fmt.Errorf("a job failed: %v", ev.Job.Errors)
			}
			done++
		case <-ctx.Done():
			return insert, work, fmt.Errorf("%d of %d jobs completed: %w", done, c.n, ctx.Err())
		}
	}
	return insert, sp.end(), nil
}
