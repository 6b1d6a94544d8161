package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"
)

// The realistic shape (issue 13): suppliers with a laptop and a phone open,
// each pair on its own topic, and broadcasts spread over the topics.
const (
	shapeTopics   = 2500
	shapePerTopic = 2
	shapeRate     = 50 // broadcasts a second, over all topics
)

// shapeBench runs the realistic shape -repeat times: a hub, 2,500 topics
// of 2 subscribers, 50 broadcasts/s to topics drawn at random for the
// window (-duration, 10 s by default); it reports the latency from
// Broadcast to receipt, the memory per socket pair (idle, after GC) and
// the CPU this process (hub and clients) used during the window.
func shapeBench(ctx context.Context, rc rtConfig, window time.Duration) error {
	n := shapeTopics * shapePerTopic
	if err := raiseFileLimit(uint64(2*n + 1024)); err != nil {
		return err
	}
	fmt.Printf("realistic shape: %d topics x %d subscribers (%d sockets), %d broadcasts/s over random topics for %s, payload %d B, vsn %s, %d run(s)\n",
		shapeTopics, shapePerTopic, n, shapeRate, window, rc.payloadSize, rc.vsns[0], rc.repeat)
	fmt.Println("clients are in this process: memory is per socket pair (server end + client end), CPU is the hub's and the clients'")
	fmt.Println()
	fmt.Printf("%-5s %8s %9s %6s %9s %9s %9s %16s %14s\n", "run", "sent", "receipts", "lost", "p50", "p99", "max", "KiB/socket pair", "CPU (% core)")
	for r := 1; r <= rc.repeat; r++ {
		if err := shapeRun(ctx, rc, n, window, r); err != nil {
			return err
		}
	}
	return nil
}

func shapeRun(ctx context.Context, rc rtConfig, n int, window time.Duration, run int) error {
	settle()
	vsn := rc.vsns[0]
	srv, err := newHubServer(vsn, rc.payloadSize)
	if err != nil {
		return err
	}
	defer srv.close()
	topic := func(k int) string { return "supplier:1:" + strconv.Itoa(k) }
	srv.topicOf = func(i int) string { return topic(i / shapePerTopic) }
	baseHeap, baseStack := memInUse()
	var got atomic.Int64
	clients := make([]*rtClient, n)
	defer closeClients(clients)
	if err := dialAll(ctx, srv, vsn, clients, func() { got.Add(1) }); err != nil {
		return err
	}
	if err := waitFor(ctx, 30*time.Second, func() bool { return srv.conns() == n }); err != nil {
		return fmt.Errorf("%d of %d sockets connected: %w", srv.conns(), n, err)
	}
	settle()
	heap, stack := memInUse()
	perPair := (float64(heap+stack) - float64(baseHeap+baseStack)) / float64(n)
	for _, c := range clients {
		c.record.Store(true)
	}
	cpu0, t0 := processCPU(), time.Now()
	tick := time.NewTicker(time.Second / shapeRate)
	sent := 0
	for end := t0.Add(window); time.Now().Before(end); {
		select {
		case <-ctx.Done():
			tick.Stop()
			return ctx.Err()
		case <-tick.C:
		}
		if err := srv.broadcast(ctx, topic(rand.IntN(shapeTopics)), sent); err != nil {
			tick.Stop()
			return err
		}
		sent++
	}
	tick.Stop()
	_ = waitFor(ctx, 5*time.Second, func() bool { return got.Load() >= int64(sent*shapePerTopic) })
	cpu := float64(processCPU()-cpu0) / float64(time.Since(t0)) * 100
	receipts := got.Load()
	closeClients(clients)
	var lat []time.Duration
	for _, c := range clients {
		lat = append(lat, c.lat...)
	}
	lat = sortDurations(lat)
	fmt.Printf("%-5d %8d %9d %6d %9s %9s %9s %16s %14.1f\n", run, sent, receipts, int64(sent*shapePerTopic)-receipts,
		dur(percentile(lat, 0.5)), dur(percentile(lat, 0.99)), dur(percentile(lat, 1)), kib(perPair), cpu)
	if s := srv.slow(); s > 0 {
		fmt.Printf("      %d sockets cut as slow consumers\n", s)
	}
	return nil
}
