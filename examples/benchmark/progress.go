package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"
)

// progress shows one line per scenario on stderr while the table runs.
// On a terminal the line is redrawn four times a second with the phase
// and its elapsed time (cut to $COLUMNS, else 80 columns), and finished
// with the scenario's summary; when
// stderr is a file or a pipe only the finished lines are written.
type progress struct {
	w     io.Writer
	tty   bool
	total int

	mu    sync.Mutex
	n     int    // scenarios begun
	name  string // the current scenario, "" between scenarios
	phase string
	start time.Time // of the scenario

	stop chan struct{}
	done chan struct{}
}

// newProgress returns a progress for total scenarios, writing to f.
func newProgress(f *os.File, total int) *progress {
	p := &progress{w: f, total: total, stop: make(chan struct{}), done: make(chan struct{})}
	if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		p.tty = true
		go p.redraw()
	} else {
		close(p.done)
	}
	return p
}

func (p *progress) redraw() {
	defer close(p.done)
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.mu.Lock()
			p.drawLocked()
			p.mu.Unlock()
		}
	}
}

func (p *progress) drawLocked() {
	if p.tty && p.name != "" {
		line := fmt.Sprintf("[%d/%d] %s %.1fs: %s", p.n, p.total, p.name, time.Since(p.start).Seconds(), p.phase)
		fmt.Fprint(p.w, "\r\033[K"+clip(line, termWidth()-1))
	}
}

// clip cuts s to n runes: a redrawn line must not wrap, or \r would not
// take the cursor back to its start.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:max(n-1, 0)]) + "…"
}

// termWidth is $COLUMNS, or 80.
func termWidth() int {
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 10 {
		return n
	}
	return 80
}

// begin starts a scenario's line.
func (p *progress) begin(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	p.name, p.phase, p.start = name, "starting", time.Now()
	p.drawLocked()
}

// set says what the scenario is doing now.
func (p *progress) set(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.phase = fmt.Sprintf(format, args...)
	p.drawLocked()
}

// end finishes the scenario's line with its summary.
func (p *progress) end(summary string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.name == "" {
		return
	}
	prefix := ""
	if p.tty {
		prefix = "\r\033[K"
	}
	fmt.Fprintf(p.w, "%s[%d/%d] %s: %s (%.1fs)\n", prefix, p.n, p.total, p.name, summary, time.Since(p.start).Seconds())
	p.name = ""
}

// close stops the redrawing; a scenario still open is ended as stopped.
func (p *progress) close() {
	p.end("stopped")
	if p.tty {
		close(p.stop)
	}
	<-p.done
}
