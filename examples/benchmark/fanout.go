package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"time"

	"github.com/wedsync/integrations/internal/hubwriter"
	"github.com/wedsync/integrations/realtime"
)

// The fan-out comparison (-fanout): the hub's batched writer (a drain
// writes every frame queued for a socket with one system call per 64 KiB)
// beside its per-frame writer (one system call per frame, the hub's writer
// before batching, kept for this comparison through internal/hubwriter),
// in the same run:
//
//   - CPU per delivered message at the first -subscribers count (1,000):
//     one publisher calls Broadcast as fast as the hub admits, for a fixed
//     number of broadcasts (-fanout-broadcasts), and the process's CPU time
//     (getrusage: the hub, the publisher and the clients, which live in
//     this process) is divided by the frames the clients read. Under that
//     load frames queue behind each socket's writer, which is where
//     batching pays; at a few broadcasts a second a drain finds one frame
//     and both writers do the same work.
//   - p99 latency at the last -subscribers count (5,000), with the
//     steady load of scenario (d) (-rate, -duration).

// fanoutWriters are the writers compared, in the order of odd runs.
var fanoutWriters = []string{"batched", "per-frame"}

// fanoutHubOptions returns the hub options of a writer.
func fanoutHubOptions(writer string) []realtime.Option {
	if writer == "per-frame" {
		return []realtime.Option{hubwriter.PerFrameWrites.(realtime.Option)}
	}
	return nil
}

// fanoutCPUResult is one writer's CPU measurement.
type fanoutCPUResult struct {
	writer     string
	n          int
	broadcasts int
	refused    int64 // Broadcasts the hub held back past their timeout (retried)
	delivered  int64
	wall       time.Duration
	cpu        time.Duration
	writes     int64 // write system calls of the process, -1 when unknown
	othersPct  float64
	busyBefore float64
}

func (r fanoutCPUResult) perMsg() time.Duration {
	if r.delivered == 0 {
		return 0
	}
	return r.cpu / time.Duration(r.delivered)
}

func (r fanoutCPUResult) writesPerMsg() string {
	if r.writes < 0 || r.delivered == 0 {
		return "-"
	}
	return fmt.Sprintf("%.3f", float64(r.writes)/float64(r.delivered))
}

func fanoutBench(ctx context.Context, rc rtConfig, broadcasts int) error {
	cpuN, latN := rc.subscribers[0], rc.subscribers[len(rc.subscribers)-1]
	if err := raiseFileLimit(uint64(2*max(cpuN, latN) + 1024)); err != nil {
		return err
	}
	fmt.Printf("fan-out writers: batched vs per-frame; CPU per delivered message at %d subscribers (%d broadcasts, as fast as the hub admits), p99 at %d subscribers (%d broadcasts/s for %s); payload %d B, vsn %s, %d run(s)\n",
		cpuN, broadcasts, latN, rc.rate, rc.duration, rc.payloadSize, rc.vsns[0], rc.repeat)
	fmt.Println("clients are in this process: its CPU time includes their reads (the same for both writers)")
	fmt.Println()
	var cpus []fanoutCPUResult
	var lats []rtResult
	vsn := rc.vsns[0]
	for r := 1; r <= rc.repeat; r++ {
		writers := slices.Clone(fanoutWriters)
		if r%2 == 0 {
			slices.Reverse(writers)
		}
		for _, wr := range writers {
			res, err := fanoutCPU(ctx, rc, cpuN, wr, broadcasts)
			if err != nil {
				return fmt.Errorf("fan-out CPU, %s writer: %w", wr, err)
			}
			fanoutCPURows(fmt.Sprintf("run %d: CPU, %s writer, %d subscribers", r, wr, cpuN), []fanoutCPUResult{res})
			cpus = append(cpus, res)
		}
		for _, wr := range writers {
			impl := "hub " + wr
			opts := fanoutHubOptions(wr)
			res, err := rtPhase(ctx, rc, latN, impl, vsn, func() (*rtServer, error) { return newHubServer(vsn, rc.payloadSize, opts...) }, "")
			if err != nil {
				return fmt.Errorf("fan-out latency, %s writer: %w", wr, err)
			}
			rtRows(fmt.Sprintf("run %d: latency, %s writer, %d subscribers", r, wr, latN), []rtResult{res})
			lats = append(lats, res)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	fanoutSummary(rc, cpus, lats)
	return nil
}

// fanoutCPU measures one writer's CPU per delivered message at n
// subscribers.
func fanoutCPU(ctx context.Context, rc rtConfig, n int, writer string, broadcasts int) (fanoutCPUResult, error) {
	res := fanoutCPUResult{writer: writer, n: n, broadcasts: broadcasts}
	settle()
	res.busyBefore = waitIdle(ctx, rc.idleWait)
	vsn := rc.vsns[0]
	srv, err := newHubServer(vsn, rc.payloadSize, fanoutHubOptions(writer)...)
	if err != nil {
		return res, err
	}
	defer srv.close()
	clients, got, err := dialCounters(ctx, srv, vsn, n)
	defer closeClients(clients)
	if err != nil {
		return res, err
	}
	if err := waitFor(ctx, 30*time.Second, func() bool { return srv.conns() == n }); err != nil {
		return res, fmt.Errorf("server side has %d of %d connections: %w", srv.conns(), n, err)
	}
	// Warm up: a few broadcasts, read by every client, before measuring.
	const warm = 10
	for seq := range warm {
		if err := srv.send(ctx, seq); err != nil {
			return res, err
		}
	}
	if err := waitFor(ctx, 30*time.Second, func() bool { return got.Load() == warm*int64(n) }); err != nil {
		return res, fmt.Errorf("warm-up: %d of %d frames read: %w", got.Load(), warm*n, err)
	}
	got.Store(0)
	settle()

	want := int64(broadcasts) * int64(n)
	span, others := begin(), beginOthers()
	cpu0 := processCPU()
	w0, wok := writeSyscalls()
	for seq := 0; seq < broadcasts; {
		bctx, cancel := context.WithTimeout(ctx, stormPublishTimeout)
		err := srv.send(bctx, warm+seq)
		cancel()
		switch {
		case err == nil:
			seq++
		case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
			res.refused++ // held back by the hub: publish it again
		default:
			return res, fmt.Errorf("broadcast %d: %w", seq, err)
		}
	}
	if err := waitFor(ctx, time.Minute, func() bool { return got.Load() >= want }); err != nil {
		return res, fmt.Errorf("%d of %d frames read (%d slow consumers cut): %w", got.Load(), want, srv.slow(), err)
	}
	res.cpu = processCPU() - cpu0
	res.wall = span.end().d
	res.othersPct = others.end()
	res.delivered = got.Load()
	res.writes = -1
	if w1, ok := writeSyscalls(); ok && wok {
		res.writes = w1 - w0
	}
	if s := srv.slow(); s > 0 {
		return res, fmt.Errorf("%d slow consumers cut", s)
	}
	return res, nil
}

// steadyCPUPerMsg is the process's CPU time per frame read during a
// latency phase (the broadcasts and the wait for the last receipt).
func steadyCPUPerMsg(r rtResult) time.Duration {
	if r.got == 0 {
		return 0
	}
	cpu := r.cpu.cpu / 100 * r.cpu.d.Seconds() * float64(runtime.NumCPU())
	return time.Duration(cpu * float64(time.Second) / float64(r.got))
}

// writeSyscalls returns the write system calls this process has made, from
// /proc/self/io (Linux); ok is false elsewhere.
func writeSyscalls() (int64, bool) {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0, false
	}
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("syscw: ")); ok {
			n, err := strconv.ParseInt(string(v), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

func usec(d time.Duration) string {
	return fmt.Sprintf("%.2f µs", float64(d)/float64(time.Microsecond))
}

func fanoutCPURows(title string, rs []fanoutCPUResult) {
	rows := make([][]string, 0, len(rs))
	for _, r := range rs {
		rows = append(rows, []string{r.writer, strconv.Itoa(r.n), pct(r.busyBefore), strconv.Itoa(r.broadcasts), strconv.FormatInt(r.refused, 10),
			strconv.FormatInt(r.delivered, 10), dur(r.wall), f0(float64(r.delivered) / r.wall.Seconds()), dur(r.cpu), usec(r.perMsg()), r.writesPerMsg(), f0(max(0, r.othersPct))})
	}
	table(title, []string{"writer", "N", "busy before", "broadcasts", "held back", "delivered", "wall", "msgs/s", "CPU", "CPU/msg", "writes/msg", "others"}, rows)
}

// fanoutSummary prints the medians over runs and the targets: the batched
// writer's CPU per delivered message at most half the per-frame writer's,
// and its p99 no worse.
func fanoutSummary(rc rtConfig, cpus []fanoutCPUResult, lats []rtResult) {
	medDur := func(v []time.Duration) time.Duration {
		slices.Sort(v)
		return v[len(v)/2]
	}
	cpuOf := map[string]time.Duration{}
	p99Of := map[string]time.Duration{}
	var rows [][]string
	for _, wr := range fanoutWriters {
		var per, p99s, p50s, steady []time.Duration
		var rates, writes []float64
		for _, r := range cpus {
			if r.writer == wr {
				per = append(per, r.perMsg())
				rates = append(rates, float64(r.delivered)/r.wall.Seconds())
				if r.writes >= 0 {
					writes = append(writes, float64(r.writes)/float64(r.delivered))
				}
			}
		}
		var lost int64
		for _, r := range lats {
			if r.impl == "hub "+wr {
				p99s = append(p99s, r.p99)
				steady = append(steady, steadyCPUPerMsg(r))
				p50s = append(p50s, r.p50)
				lost += r.want - r.got
			}
		}
		cpuOf[wr], p99Of[wr] = medDur(per), medDur(p99s)
		ws := "-"
		if len(writes) > 0 {
			ws = fmt.Sprintf("%.3f", medianFloat(writes))
		}
		rows = append(rows, []string{wr, usec(cpuOf[wr]), ws, f0(medianFloat(rates)), dur(medDur(p50s)), dur(p99Of[wr]), strconv.FormatInt(lost, 10), usec(medDur(steady))})
	}
	cpuN, latN := rc.subscribers[0], rc.subscribers[len(rc.subscribers)-1]
	table(fmt.Sprintf("fan-out writers%s: CPU/msg, writes/msg and msgs/s at %d subscribers as fast as admitted; p50, p99, lost (summed) and CPU/msg at %d, %d broadcasts/s", medianOf(rc.repeat), cpuN, latN, rc.rate),
		[]string{"writer", "CPU/msg", "writes/msg", "msgs/s", "p50", "p99", "lost", "steady CPU/msg"}, rows)
	cr := float64(cpuOf["batched"]) / float64(cpuOf["per-frame"])
	lr := float64(p99Of["batched"]) / float64(p99Of["per-frame"])
	table("targets: batched CPU/msg ≤ 0.5 × per-frame; batched p99 no worse than per-frame (≤ 1.0 ×)",
		[]string{"CPU/msg ratio", "p99 ratio"},
		[][]string{{f2(cr) + " " + target(cr <= 0.5), f2(lr) + " " + target(lr <= 1.0)}})
}
