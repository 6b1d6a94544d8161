package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"

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

	mu    sync.Mutex
	hooks map[string]*vendorHook
}

// failScript decides whether the try-th request for the ord-th distinct
// message fails: a status >= 300 fails it, with optional Retry-After and a
// reason for the console.
type failScript func(ord, try int) (status int, retryAfter, reason string)

type vendorHook struct {
	name string
	fail failScript

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
// for rotations.
func (v *vendor) configure(name, secret string, fail failScript) error {
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
		h.fail = fail
	}
	return nil
}

func (v *vendor) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /hooks/{name}", v.serveHook)
	return mux
}

func (v *vendor) serveHook(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	v.mu.Lock()
	h := v.hooks[name]
	v.mu.Unlock()
	if h == nil {
		http.Error(w, "vendor: no hook named "+name, http.StatusNotFound)
		return
	}
	h.mu.Lock()
	ver := h.verifier
	h.mu.Unlock()

	rec := &statusRecorder{ResponseWriter: w}
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.receive(w, r, v.out) })
	ver.Middleware(next).ServeHTTP(rec, r)
	if rec.rejected != "" {
		v.out.printf("VENDOR     %s <- rejected a request (webhook-id %q): HTTP %d %s", name, r.Header.Get("webhook-id"), rec.status, rec.rejected)
	}
}

// receive runs after the signature checked out; r.Body holds the exact
// bytes that were signed.
func (h *vendorHook) receive(w http.ResponseWriter, r *http.Request, out *console) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "cannot read body", http.StatusBadRequest)
		return
	}
	id := r.Header.Get("webhook-id")
	var envelope struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(body, &envelope)
	what := fmt.Sprintf("%-17s %s", envelope.Type, id)

	h.mu.Lock()
	if h.done[id] {
		h.mu.Unlock()
		// At-least-once delivery: a receiver dedupes on webhook-id.
		out.printf("VENDOR     %s <- %s: signature ok; already processed this webhook-id, answering 200 without doing it twice", h.name, what)
		_, _ = io.WriteString(w, "duplicate ignored\n")
		return
	}
	if len(h.tries) > 100_000 { // a long-running demo: bound memory
		clear(h.ordinal)
		clear(h.tries)
		clear(h.done)
	}
	ord := h.ordinal[id]
	if ord == 0 {
		h.n++
		ord = h.n
		h.ordinal[id] = ord
	}
	h.tries[id]++
	status, retryAfter, reason := http.StatusOK, "", ""
	if h.fail != nil {
		status, retryAfter, reason = h.fail(ord, h.tries[id])
	}
	if status < 300 {
		h.done[id] = true
	}
	h.mu.Unlock()

	if status < 300 {
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
