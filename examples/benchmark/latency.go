package main

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/wedsync/integrations/webhook/delivery"
)

type latencyResult struct {
	mode     string
	sent     int
	elapsed  time.Duration
	missing  int
	sendCall []time.Duration // how long Send took
	e2e      []time.Duration // Send called -> request arrived at the receiver
	queued   []time.Duration // Send returned (committed) -> request arrived
	cpu      measured
}

// latency is scenario (c): a steady c.rate messages/s for c.duration,
// in memory mode and in Postgres mode.
func latency(ctx context.Context, c config, recv *receiver, db *benchDB) error {
	fmt.Printf("(c) latency at %d messages/s for %s\n", c.rate, c.duration)
	body := payload(c.payloadSize)
	var results []latencyResult
	modes := []string{"memory"}
	if db != nil {
		modes = append(modes, "postgres")
	}
	for _, mode := range modes {
		sink := &hookSink{}
		opts := baseOptions(sink)
		name := fmt.Sprintf("memory, %d workers", c.workers)
		if mode == "memory" {
			opts = append(opts, delivery.WithMemoryWorkers(c.workers))
		} else {
			if err := db.reset(ctx); err != nil {
				return err
			}
			opts = append(opts, delivery.WithPostgres(db.pool), delivery.WithSchema(db.schema), delivery.WithEncryptionKey(db.key),
				delivery.WithQueueConfig(delivery.QueueConfig{MaxWorkers: c.maxWorkers, FetchCooldown: c.cooldown, FetchPollInterval: c.poll}))
			name = fmt.Sprintf("postgres, %s, poll %s", riverConfig{c.maxWorkers, c.cooldown, c.poll}, c.poll)
		}
		m, err := delivery.NewManager(opts...)
		if err != nil {
			return err
		}
		res, err := latencyRun(ctx, c, recv, sink, m, body)
		if err != nil {
			return fmt.Errorf("%s: %w", mode, err)
		}
		res.mode = name
		fmt.Printf("  %s: p99 %s\n", name, dur(percentile(res.e2e, 0.99)))
		results = append(results, res)
	}
	if db != nil {
		if err := db.reset(ctx); err != nil {
			return err
		}
		res, err := riverLatency(ctx, c, db)
		if err != nil {
			return fmt.Errorf("River no-op: %w", err)
		}
		fmt.Printf("  %s: p99 %s\n", res.mode, dur(percentile(res.e2e, 0.99)))
		results = append(results, res)
	}
	fmt.Println()

	var rows [][]string
	for _, r := range results {
		rows = append(rows, []string{r.mode, strconv.Itoa(r.sent), f0(rateOf(r.sent, r.elapsed)), strconv.Itoa(r.missing),
			dur(percentile(r.sendCall, 0.5)), dur(percentile(r.sendCall, 0.99)),
			dur(percentile(r.e2e, 0.5)), dur(percentile(r.e2e, 0.9)), dur(percentile(r.e2e, 0.99)), dur(percentile(r.e2e, 1)),
			dur(percentile(r.queued, 0.5)), dur(percentile(r.queued, 0.99)), r.cpu.cpuShare(),
			target(percentile(r.e2e, 0.99) <= 50*time.Millisecond && r.missing == 0)})
	}
	table(fmt.Sprintf("(c) send -> arrival at the receiver, %d msgs/s for %s, payload %d B", c.rate, c.duration, c.payloadSize),
		[]string{"mode", "sent", "msgs/s", "missing", "Send p50", "Send p99", "p50", "p90", "p99", "max", "commit->arrival p50", "commit->arrival p99", "CPU", "p99 <= 50ms"}, rows)
	fmt.Println("p50..max: Send called -> request at the receiver. commit->arrival: Send returned -> request at the receiver.")
	fmt.Println("River no-op: a job inserted in a transaction of its own (Insert) -> its Work called, same River configuration.")
	fmt.Println("CPU: this process's share of all cores / the whole machine's while sending.")
	fmt.Println()
	return nil
}

func latencyRun(ctx context.Context, c config, recv *receiver, sink *hookSink, m *delivery.Manager, body []byte) (latencyResult, error) {
	var res latencyResult
	ep, err := m.CreateEndpoint(ctx, delivery.EndpointInput{SupplierID: "sup_bench", URL: recv.URL})
	if err != nil {
		return res, err
	}
	if err := setVerify(ctx, c, recv, m, ep.ID); err != nil {
		return res, err
	}
	if err := m.Start(ctx); err != nil {
		return res, err
	}
	defer stopWithin(ctx, m.Stop)
	msg := delivery.Message{SupplierID: "sup_bench", EventType: "booking.confirmed", Payload: body}

	// Warm-up: connections to the receiver and to Postgres.
	t := sink.expect(100)
	for range 100 {
		if _, err := m.Send(ctx, msg); err != nil {
			return res, err
		}
	}
	if err := wait(ctx, t, "warm-up"); err != nil {
		return res, err
	}

	total := int(float64(c.rate) * c.duration.Seconds())
	t = sink.expect(total)
	recv.startRecording()
	// 256 in flight bounds the Sends if the database stalls.
	p, err := pace(ctx, c.rate, total, 256, func(ctx context.Context, _ int) (string, error) { return m.Send(ctx, msg) })
	res.cpu, res.elapsed, res.sendCall = p.cpu, p.cpu.d, p.sendCall
	if err != nil {
		return res, err
	}
	sentAt := p.sent
	res.sent = len(sentAt)
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	werr := wait(wctx, t, "deliveries")
	arrivals := recv.stopRecording()
	collect(&res, sentAt, arrivals)
	return res, werr
}

// collect fills the latencies from when each message was sent (call and
// return) and when it arrived, counts the ones that never did, and sorts.
func collect[K comparable](res *latencyResult, sent map[K][2]time.Time, arrived map[K]time.Time) {
	res.e2e = make([]time.Duration, 0, len(sent))
	for id, t := range sent {
		if a, ok := arrived[id]; ok {
			res.e2e = append(res.e2e, a.Sub(t[0]))
			res.queued = append(res.queued, max(0, a.Sub(t[1])))
		} else {
			res.missing++
		}
	}
	sortDurations(res.e2e)
	sortDurations(res.queued)
	sortDurations(res.sendCall)
}

// riverLatency is the River floor for (c): no-op jobs inserted one per
// transaction at the same rate, timed from Insert to the start of Work.
func riverLatency(ctx context.Context, c config, db *benchDB) (latencyResult, error) {
	res := latencyResult{mode: fmt.Sprintf("River no-op, %s, poll %s", riverConfig{c.maxWorkers, c.cooldown, c.poll}, c.poll)}
	var mu sync.Mutex
	started := map[int64]time.Time{}
	progress := make(chan struct{}, 1)
	ws := river.NewWorkers()
	river.AddWorker(ws, river.WorkFunc(func(_ context.Context, j *river.Job[noopArgs]) error {
		at := time.Now()
		mu.Lock()
		started[j.ID] = at
		mu.Unlock()
		select {
		case progress <- struct{}{}:
		default:
		}
		return nil
	}))
	jobTimeout := time.Minute
	client, err := river.NewClient(riverpgxv5.New(db.pool), &river.Config{
		Schema:               db.riverSchema,
		Queues:               map[string]river.QueueConfig{queueName: {MaxWorkers: c.maxWorkers}},
		Workers:              ws,
		FetchCooldown:        c.cooldown,
		FetchPollInterval:    c.poll,
		JobTimeout:           jobTimeout,
		RescueStuckJobsAfter: jobTimeout + time.Minute,
		Logger:               slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return res, err
	}
	if err := client.Start(ctx); err != nil {
		return res, err
	}
	defer stopWithin(ctx, client.Stop)
	opts := &river.InsertOpts{Queue: queueName}
	total := int(float64(c.rate) * c.duration.Seconds())
	p, err := pace(ctx, c.rate, total, 256, func(ctx context.Context, i int) (int64, error) {
		r, err := client.Insert(ctx, noopArgs{I: i}, opts)
		if err != nil {
			return 0, err
		}
		return r.Job.ID, nil
	})
	res.cpu, res.elapsed, res.sendCall = p.cpu, p.cpu.d, p.sendCall
	if err != nil {
		return res, err
	}
	inserted := p.sent
	res.sent = len(inserted)
	deadline := time.NewTimer(60 * time.Second)
	defer deadline.Stop()
drain:
	for {
		mu.Lock()
		n := len(started)
		mu.Unlock()
		if n >= res.sent {
			break
		}
		select {
		case <-progress:
		case <-deadline.C:
			break drain
		case <-ctx.Done():
			break drain
		}
	}
	mu.Lock()
	defer mu.Unlock()
	collect(&res, inserted, started)
	return res, nil
}

// paced is what pace did: when each call began and returned, by the id it
// returned; how long each took; and the CPU used meanwhile.
type paced[K comparable] struct {
	sent     map[K][2]time.Time // called, returned
	sendCall []time.Duration
	cpu      measured
	others   float64 // other processes' share of the machine meanwhile, -1 when unknown
}

// pace calls send total times at rate a second, paced by a ticker, each
// call in its own goroutine with at most inflight of them at once (so that
// a stalled receiver cannot pile up goroutines), and records each call's
// start and return under the id it returned. It stops early when ctx ends,
// and returns the first error a call returned.
func pace[K comparable](ctx context.Context, rate, total, inflight int, send func(ctx context.Context, i int) (K, error)) (paced[K], error) {
	p := paced[K]{sent: make(map[K][2]time.Time, total), sendCall: make([]time.Duration, 0, total)}
	var mu sync.Mutex
	var firstErr error
	sem := make(chan struct{}, inflight)
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	sp, others := begin(), beginOthers()
loop:
	for i := 0; i < total; i++ {
		if i > 0 {
			select {
			case <-tick.C:
			case <-ctx.Done():
				break loop
			}
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break loop
		}
		wg.Go(func() {
			defer func() { <-sem }()
			t0 := time.Now()
			id, err := send(ctx, i)
			t1 := time.Now()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			p.sent[id] = [2]time.Time{t0, t1}
			p.sendCall = append(p.sendCall, t1.Sub(t0))
		})
	}
	wg.Wait()
	p.cpu, p.others = sp.end(), others.end()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return p, firstErr
}
