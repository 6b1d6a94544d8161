package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wedsync/integrations/webhook"
)

// vendor is the "vendor CRM": a receiver in this process, on its own
// loopback port, that plays the part of a third party's system. Each hook
// (POST /hooks/{name}) verifies signatures with webhook.Verifier's
// middleware, using the secret the vendor was given for that endpoint, and
// may fail on purpose to show retries.
type vendor struct {
	base string // http://127.0.0.1:port
	out  *console

	mu       sync.Mutex
	hooks    map[string]*vendorHook
	received []vendorReceipt // the newest maxReceipts requests, oldest first
	count    int             // requests received in all
}

// maxReceipts is how many requests the vendor remembers for the page.
const maxReceipts = 200

// maxReceiptBody is how much of a request's body a receipt keeps.
const maxReceiptBody = 2 << 10

// vendorReceipt is one request as the vendor saw it: what the integrations
// page shows as "what the vendor CRM received".
type vendorReceipt struct {
	At        time.Time `json:"at"`
	Hook      string    `json:"hook"`
	WebhookID string    `json:"webhook_id"`
	EventType string    `json:"event_type,omitempty"`
	// Try counts the requests for this webhook-id, from 1.
	Try int `json:"try,omitempty"`
	// SignatureOK is false for a request the verifier refused.
	SignatureOK bool   `json:"signature_ok"`
	Answered    int    `json:"answered"`
	RetryAfter  string `json:"retry_after,omitempty"`
	// Outcome says in words what the vendor did with it.
	Outcome string `json:"outcome"`
	// Body is the payload as received, cut at 2 KiB.
	Body string `json:"body,omitempty"`
}

// failScript decides whether the try-th request for the ord-th distinct
// message fails: a status >= 300 fails it, with optional Retry-After and a
// reason for the console.
type failScript func(ord, try int) (status int, retryAfter, reason string)

type vendorHook struct {
	name string
	fail failScript
	// behaviour says in words how fail behaves.
	behaviour string
	// failNext more requests fail with failStatus (and Retry-After:
	// failRetryAfter when set), whatever fail says: the page's and the
	// API's scripted failures (POST /api/vendor/hooks/{name}/fail).
	failNext       int
	failStatus     int
	failRetryAfter string

	mu       sync.Mutex
	secrets  []string // newest first
	verifier *webhook.Verifier
	n        int            // distinct messages seen
	ordinal  map[string]int // webhook-id -> arrival order, from 1
	tries    map[string]int // webhook-id -> requests
	done     map[string]bool
}

var hookNameRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func newVendor(base string, out *console) *vendor {
	return &vendor{base: base, out: out, hooks: map[string]*vendorHook{}}
}

// hookURL is where the vendor receives the webhooks of hook name.
func (v *vendor) hookURL(name string) string { return v.base + "/hooks/" + name }

// hookName reports whether url is one of the vendor's hook URLs.
func (v *vendor) hookName(url string) (string, bool) {
	name, ok := strings.CutPrefix(url, v.base+"/hooks/")
	return name, ok && hookNameRe.MatchString(name)
}

// configure gives hook name a new signing secret, as a vendor does when it
// pastes the secret into its settings. The previous secret stays accepted,
// for rotations. A non-nil fail (described by behaviour) makes requests
// fail on purpose.
func (v *vendor) configure(name, secret string, fail failScript, behaviour string) error {
	v.mu.Lock()
	h := v.hooks[name]
	if h == nil {
		h = &vendorHook{name: name, ordinal: map[string]int{}, tries: map[string]int{}, done: map[string]bool{}}
		v.hooks[name] = h
	}
	v.mu.Unlock()

	h.mu.Lock()
	defer h.mu.Unlock()
	secrets := append([]string{secret}, h.secrets...)
	secrets = secrets[:min(len(secrets), 2)]
	ver, err := webhook.NewVerifier(secrets[0], webhook.WithSecrets(secrets[1:]...), webhook.WithMaxBodyBytes(512<<10))
	if err != nil {
		return err
	}
	h.secrets, h.verifier = secrets, ver
	if fail != nil {
		h.fail, h.behaviour = fail, behaviour
	}
	return nil
}

// failNextRequests makes hook name answer its next n requests with status
// (and Retry-After: retryAfter when set). It reports false when the vendor
// has no such hook.
func (v *vendor) failNextRequests(name string, n, status int, retryAfter string) bool {
	v.mu.Lock()
	h := v.hooks[name]
	v.mu.Unlock()
	if h == nil {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failNext, h.failStatus, h.failRetryAfter = n, status, retryAfter
	return true
}

// vendorHookView is a hook as GET /api/vendor shows it.
type vendorHookView struct {
	Name      string `json:"name"`
	URL       string `json:"url"`
	Behaviour string `json:"behaviour"`
	// FailNext is how many more requests fail on purpose.
	FailNext   int    `json:"fail_next"`
	FailStatus int    `json:"fail_status,omitempty"`
	Messages   int    `json:"messages"`
	Secrets    int    `json:"secrets"`
	RetryAfter string `json:"fail_retry_after,omitempty"`
}

// view returns the vendor's hooks (by name) and the requests it received,
// newest first, at most limit.
func (v *vendor) view(limit int) (hooks []vendorHookView, received []vendorReceipt, total int) {
	v.mu.Lock()
	hs := make([]*vendorHook, 0, len(v.hooks))
	for _, h := range v.hooks {
		hs = append(hs, h)
	}
	for i := len(v.received) - 1; i >= 0 && len(received) < limit; i-- {
		received = append(received, v.received[i])
	}
	total = v.count
	v.mu.Unlock()
	slices.SortFunc(hs, func(a, b *vendorHook) int { return strings.Compare(a.name, b.name) })
	hooks = make([]vendorHookView, len(hs))
	for i, h := range hs {
		h.mu.Lock()
		b := h.behaviour
		if b == "" {
			b = "answers 200 to every request it can verify"
		}
		hooks[i] = vendorHookView{Name: h.name, URL: v.hookURL(h.name), Behaviour: b, FailNext: h.failNext, Messages: h.n,
			Secrets: len(h.secrets)}
		if h.failNext > 0 {
			hooks[i].FailStatus, hooks[i].RetryAfter = h.failStatus, h.failRetryAfter
		}
		h.mu.Unlock()
	}
	if received == nil {
		received = []vendorReceipt{}
	}
	return hooks, received, total
}

// keep adds a receipt to the vendor's log.
func (v *vendor) keep(r vendorReceipt) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.count++
	if len(v.received) >= maxReceipts {
		v.received = slices.Delete(v.received, 0, len(v.received)-maxReceipts+1)
	}
	v.received = append(v.received, r)
}

func (v *vendor) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /hooks/{name}", v.serveHook)
	return mux
}

func (v *vendor) serveHook(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	rc := &vendorReceipt{At: time.Now(), Hook: name, WebhookID: r.Header.Get("webhook-id")}
	defer func() { v.keep(*rc) }()
	v.mu.Lock()
	h := v.hooks[name]
	v.mu.Unlock()
	if h == nil {
		rc.Answered, rc.Outcome = http.StatusNotFound, "no hook of that name: nobody gave the vendor this endpoint's secret"
		http.Error(w, "vendor: no hook named "+name, http.StatusNotFound)
		return
	}
	h.mu.Lock()
	ver := h.verifier
	h.mu.Unlock()

	rec := &statusRecorder{ResponseWriter: w}
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.receive(w, r, v.out, rc) })
	ver.Middleware(next).ServeHTTP(rec, r)
	rc.Answered = rec.status
	if rec.rejected != "" {
		rc.Outcome = "refused before reading it: " + rec.rejected
		v.out.printf("VENDOR     %s <- rejected a request (webhook-id %q): HTTP %d %s", name, r.Header.Get("webhook-id"), rec.status, rec.rejected)
	}
}

// receive runs after the signature checked out; r.Body holds the exact
// bytes that were signed. It fills in rc.
func (h *vendorHook) receive(w http.ResponseWriter, r *http.Request, out *console, rc *vendorReceipt) {
	rc.SignatureOK = true
	body, err := io.ReadAll(r.Body)
	if err != nil {
		rc.Outcome = "could not read the body"
		http.Error(w, "cannot read body", http.StatusBadRequest)
		return
	}
	rc.Body = truncate(string(body), maxReceiptBody)
	id := r.Header.Get("webhook-id")
	var envelope struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(body, &envelope)
	rc.EventType = envelope.Type
	what := fmt.Sprintf("%-17s %s", envelope.Type, id)

	h.mu.Lock()
	if len(h.tries) > 100_000 { // a long-running demo: bound memory
		clear(h.ordinal)
		clear(h.tries)
		clear(h.done)
	}
	h.tries[id]++
	rc.Try = h.tries[id]
	if h.done[id] {
		h.mu.Unlock()
		// At-least-once delivery: a receiver dedupes on webhook-id.
		rc.Outcome = "already processed this webhook-id: answered 200 without doing it twice"
		out.printf("VENDOR     %s <- %s: signature ok; already processed this webhook-id, answering 200 without doing it twice", h.name, what)
		_, _ = io.WriteString(w, "duplicate ignored\n")
		return
	}
	ord := h.ordinal[id]
	if ord == 0 {
		h.n++
		ord = h.n
		h.ordinal[id] = ord
	}
	status, retryAfter, reason := http.StatusOK, "", ""
	switch {
	case h.failNext > 0:
		h.failNext--
		status, retryAfter = h.failStatus, h.failRetryAfter
		reason = fmt.Sprintf("scripted through the API; %d more to fail", h.failNext)
	case h.fail != nil:
		status, retryAfter, reason = h.fail(ord, h.tries[id])
	}
	if status < 300 {
		h.done[id] = true
	}
	h.mu.Unlock()

	rc.RetryAfter = retryAfter
	if status < 300 {
		rc.Outcome = "processed"
		out.printf("VENDOR     %s <- %s: signature ok; answering %d", h.name, what, status)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, "ok\n")
		return
	}
	extra := ""
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
		extra = ", Retry-After: " + retryAfter
	}
	rc.Outcome = "failed on purpose: " + reason
	out.printf("VENDOR     %s <- %s: signature ok; answering %d%s on purpose (%s)", h.name, what, status, extra, reason)
	http.Error(w, "temporarily unavailable", status)
}

// statusRecorder notes the status the middleware answered with, and the
// reason when it refused the request before the hook saw it.
type statusRecorder struct {
	http.ResponseWriter
	status   int
	rejected string
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	if s.status == http.StatusUnauthorized || s.status == http.StatusRequestEntityTooLarge {
		s.rejected += strings.TrimSpace(string(p))
	}
	return s.ResponseWriter.Write(p)
}

// crmFailures fails the first try of every third message with 503 and
// Retry-After: 1.
func crmFailures(ord, try int) (int, string, string) {
	if ord%3 == 0 && try == 1 {
		return http.StatusServiceUnavailable, "1", "every 3rd message fails its first try"
	}
	return http.StatusOK, "", ""
}

// accountingFailures fails the first message twice, as a tool in the middle
// of a deploy would.
func accountingFailures(ord, try int) (int, string, string) {
	if ord == 1 && try <= 2 {
		return http.StatusInternalServerError, "", "a deploy is in progress: the first message fails twice"
	}
	return http.StatusOK, "", ""
}
