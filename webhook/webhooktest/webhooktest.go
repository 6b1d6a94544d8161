package webhooktest

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/wedsync/integrations/webhook"
)

// NewClock returns a fake clock (clockwork's) for delivery.WithClock and
// webhook.WithClock. Move it with Advance; BlockUntilContext waits until
// code under test is waiting on it, and Manager.WaitIdle until the manager
// has nothing due.
func NewClock(start time.Time) *clockwork.FakeClock { return clockwork.NewFakeClockAt(start) }

// Delivery is one request the receiver got.
type Delivery struct {
	// ID is the webhook-id header: the message id.
	ID     string
	Header http.Header
	Body   []byte
	// VerifyErr is the verifier's verdict (nil when valid or when the
	// receiver has no secret).
	VerifyErr error
	// Status is what the receiver answered.
	Status int
	// N counts requests to this receiver, from 1.
	N int
}

// Response is a scripted answer.
type Response struct {
	Status int
	Header http.Header
	Body   string
}

// Receiver is a loopback HTTP server that records deliveries.
type Receiver struct {
	// URL is the server's base URL (http://127.0.0.1:port).
	URL string

	srv     *httptest.Server
	mu      sync.Mutex
	log     []Delivery
	n       int
	respond func(n int, r *http.Request) Response
	verify  *webhook.Verifier
	notify  chan struct{}
}

// NewReceiver starts a receiver that answers 204 until told otherwise and
// closes when t ends.
func NewReceiver(t testing.TB) *Receiver {
	r := StartReceiver()
	t.Cleanup(r.Close)
	return r
}

// StartReceiver starts a receiver outside a test (in an Example, say);
// the caller closes it.
func StartReceiver() *Receiver {
	r := &Receiver{notify: make(chan struct{})}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	r.URL = r.srv.URL
	return r
}

// Close stops the server.
func (r *Receiver) Close() { r.srv.Close() }

// Verify makes the receiver check every request's signature with secret
// (and any older secrets still in use).
func (r *Receiver) Verify(secret string, more ...string) error {
	v, err := webhook.NewVerifier(secret, webhook.WithSecrets(more...))
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.verify = v
	r.mu.Unlock()
	return nil
}

// SetVerifier replaces the verifier (nil stops verifying), e.g. one built
// with webhook.WithClock for a test that runs on a fake clock.
func (r *Receiver) SetVerifier(v *webhook.Verifier) {
	r.mu.Lock()
	r.verify = v
	r.mu.Unlock()
}

// Respond scripts the answers: fn gets the request's number (from 1).
func (r *Receiver) Respond(fn func(n int, req *http.Request) Response) {
	r.mu.Lock()
	r.respond = fn
	r.mu.Unlock()
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.n++
	d := Delivery{ID: req.Header.Get("webhook-id"), Header: req.Header.Clone(), Body: body, N: r.n, Status: http.StatusNoContent}
	var resp Response
	if r.respond != nil {
		resp = r.respond(r.n, req)
		if resp.Status != 0 {
			d.Status = resp.Status
		}
	}
	if r.verify != nil {
		d.VerifyErr = r.verify.Verify(req.Header, body)
	}
	r.log = append(r.log, d)
	close(r.notify)
	r.notify = make(chan struct{})
	r.mu.Unlock()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(d.Status)
	_, _ = io.WriteString(w, resp.Body)
}

// Deliveries returns a copy of everything received so far.
func (r *Receiver) Deliveries() []Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Delivery(nil), r.log...)
}

// Count returns how many requests arrived.
func (r *Receiver) Count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.log)
}

// WaitFor blocks until at least n requests have arrived or ctx ends, and
// returns the first n.
func (r *Receiver) WaitFor(ctx context.Context, n int) ([]Delivery, error) {
	for {
		r.mu.Lock()
		if len(r.log) >= n {
			out := append([]Delivery(nil), r.log[:n]...)
			r.mu.Unlock()
			return out, nil
		}
		ch := r.notify
		r.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-ch:
		}
	}
}

// Wait is WaitFor for tests: it fails t after a generous minute.
func (r *Receiver) Wait(t testing.TB, n int) []Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d, err := r.WaitFor(ctx, n)
	if err != nil {
		t.Fatalf("webhooktest: waited for %d deliveries, got %d: %v", n, r.Count(), err)
	}
	return d
}
