package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wedsync/integrations/webhook"
	"github.com/wedsync/integrations/webhook/delivery"
)

// receiver is a loopback HTTP server that answers 204 and counts requests.
// It can verify signatures and record the arrival time of each webhook-id.
type receiver struct {
	URL string

	srv      *http.Server
	ln       net.Listener
	count    atomic.Int64
	rejected atomic.Int64
	verifier atomic.Pointer[webhook.Verifier]
	record   atomic.Bool
	bufs     sync.Pool

	mu       sync.Mutex
	arrivals map[string]time.Time
}

func newReceiver() (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &receiver{ln: ln, URL: "http://" + ln.Addr().String() + "/hook", arrivals: map[string]time.Time{}}
	r.bufs.New = func() any { return new(bytes.Buffer) }
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	at := time.Now()
	v := r.verifier.Load()
	if v == nil {
		_, _ = io.Copy(io.Discard, req.Body)
	} else {
		buf := r.bufs.Get().(*bytes.Buffer)
		buf.Reset()
		_, _ = buf.ReadFrom(req.Body)
		err := v.Verify(req.Header, buf.Bytes())
		r.bufs.Put(buf)
		if err != nil {
			r.rejected.Add(1)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
	}
	if r.record.Load() {
		if id := req.Header.Get(webhook.HeaderWebhookID); id != "" {
			r.mu.Lock()
			if _, dup := r.arrivals[id]; !dup {
				r.arrivals[id] = at
			}
			r.mu.Unlock()
		}
	}
	r.count.Add(1)
	w.WriteHeader(http.StatusNoContent)
}

// verify turns signature checking on with secret, or off with "".
func (r *receiver) verify(secret string) error {
	if secret == "" {
		r.verifier.Store(nil)
		return nil
	}
	v, err := webhook.NewVerifier(secret)
	if err != nil {
		return err
	}
	r.verifier.Store(v)
	return nil
}

// startRecording clears the arrival log and records from now on.
func (r *receiver) startRecording() {
	r.mu.Lock()
	r.arrivals = map[string]time.Time{}
	r.mu.Unlock()
	r.record.Store(true)
}

// stopRecording returns the arrival log.
func (r *receiver) stopRecording() map[string]time.Time {
	r.record.Store(false)
	r.mu.Lock()
	defer r.mu.Unlock()
	a := r.arrivals
	r.arrivals = map[string]time.Time{}
	return a
}

func (r *receiver) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = r.srv.Shutdown(ctx)
}

// tracker counts attempts reported by delivery.WithAttemptHook and closes
// done when want of them have been seen.
type tracker struct {
	want   int64
	ok     atomic.Int64
	failed atomic.Int64
	done   chan struct{}
	once   sync.Once
	first  atomic.Pointer[delivery.Attempt]
}

func newTracker(want int) *tracker {
	t := &tracker{want: int64(want), done: make(chan struct{})}
	if want <= 0 {
		close(t.done)
	}
	return t
}

func (t *tracker) add(a delivery.Attempt) {
	var n int64
	if a.Status == delivery.AttemptSucceeded {
		n = t.ok.Add(1) + t.failed.Load()
	} else {
		t.first.CompareAndSwap(nil, &a)
		n = t.failed.Add(1) + t.ok.Load()
	}
	if n >= t.want {
		t.once.Do(func() { close(t.done) })
	}
}

// hookSink lets one manager report to a tracker that is replaced between
// phases (warm-up, measurement).
type hookSink struct{ cur atomic.Pointer[tracker] }

func (s *hookSink) hook(a delivery.Attempt) {
	if t := s.cur.Load(); t != nil {
		t.add(a)
	}
}

// expect installs a tracker for the next want attempts.
func (s *hookSink) expect(want int) *tracker {
	t := newTracker(want)
	s.cur.Store(t)
	return t
}
