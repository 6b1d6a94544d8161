package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wedsync/integrations/realtime"
	"github.com/wedsync/integrations/webhook/delivery"
)

// demoSupplier is the sample supplier of the scripted demo.
const demoSupplier = "sup_demo_florist"

// script is what the sample supplier does: each event, which of the
// vendor's hooks subscribe to it, and the KPIs it changes on the
// supplier's dashboard (a kpi.updated broadcast; empty for none).
var script = []struct {
	event string
	to    []string
	data  string
	kpis  string
}{
	{"booking.confirmed", []string{"crm"}, `{"booking_id":"bk_1001","couple":"Alex & Sam","wedding_date":"2027-05-01","items":["bridal bouquet","8 centrepieces"]}`,
		`{"bookings":13,"enquiries":30}`},
	{"payment.received", []string{"crm", "accounting"}, `{"booking_id":"bk_1001","kind":"deposit","amount":{"currency":"GBP","value":"450.00"}}`,
		`{"revenue":{"currency":"GBP","value":"18900.00"}}`},
	{"client.updated", []string{"crm"}, `{"client_id":"cl_0077","changed":{"phone":"+44 20 7946 0000"}}`, ""},
	{"booking.confirmed", []string{"crm"}, `{"booking_id":"bk_1002","couple":"Priya & Jordan","wedding_date":"2027-06-12","items":["buttonholes"]}`,
		`{"bookings":14,"enquiries":29}`},
	{"payment.received", []string{"crm", "accounting"}, `{"booking_id":"bk_1002","kind":"full","amount":{"currency":"GBP","value":"120.00"}}`,
		`{"revenue":{"currency":"GBP","value":"19020.00"}}`},
	{"client.updated", []string{"crm"}, `{"client_id":"cl_0078","changed":{"email":"priya.jordan@example.com"}}`, ""},
}

// startKPIs are the sample supplier's KPIs before the script runs.
const startKPIs = `{"bookings":12,"enquiries":31,"revenue":{"currency":"GBP","value":"18450.00"}}`

// demoPace spaces the demo's events so that each one's story can be read.
const demoPace = 300 * time.Millisecond

// demo is the scripted tour run at start-up.
type demo struct {
	m         *delivery.Manager
	hub       *realtime.Hub
	book      *kpiBook
	pool      *pgxpool.Pool // nil in memory mode
	vendor    *vendor
	out       *console
	tracker   *tracker
	timeout   time.Duration
	apiURL    string
	token     string // the admin token as the curl lines show it
	exitAfter bool
	// kept are the endpoints of an earlier run (Postgres mode), by hook
	// name: the script reuses them, so that deliveries still due to them
	// carry on (keepEndpoints).
	kept map[string]*delivery.Endpoint
}

func (d *demo) run(ctx context.Context) error {
	defer d.tracker.stop()
	start := time.Now()
	deadline := time.NewTimer(d.timeout)
	defer deadline.Stop()

	d.out.plain("demo: supplier %s, a florist, connects two tools of its vendor to WedSync webhooks", demoSupplier)
	ids := map[string]string{} // hook name -> endpoint id
	for _, e := range []struct {
		name, desc string
		events     []string
		rate       float64
		fail       failScript
		behaviour  string
	}{
		{"crm", "Vendor CRM: bookings, clients and payments", []string{"booking.*", "client.*", "payment.*"}, 20, crmFailures,
			"fails the first try of every 3rd message with 503 and Retry-After: 1"},
		{"accounting", "Vendor accounting tool: payments only", []string{"payment.*"}, 0, accountingFailures,
			"fails its first message twice with 500 (mid-deploy)"},
	} {
		id, err := d.endpoint(ctx, e.name, e.desc, e.events, e.rate, e.fail, e.behaviour)
		if err != nil {
			return err
		}
		ids[e.name] = id
		d.out.plain("demo:   on purpose, %s %s", e.name, e.behaviour)
	}
	if err := d.forged(ctx, d.vendor.hookURL("crm")); err != nil {
		return err
	}
	if d.pool != nil {
		d.out.plain("demo: Postgres mode: each event is sent with SendTx inside a transaction, where the host writes its own change")
	}
	d.out.plain("demo: as the events happen, the supplier's dashboard gets kpi.updated broadcasts through the realtime hub")
	d.out.plain("")
	if err := d.kpis(ctx, startKPIs); err != nil {
		return err
	}

	run := strings.ToLower(rand.Text()[:8]) // idempotency keys must not collide with an earlier run's
	var first delivery.Message
	var firstID string
	pace := time.NewTicker(demoPace) // a person can follow one event at a time
	defer pace.Stop()
	for i, s := range script {
		if i > 0 {
			select {
			case <-pace.C:
			case <-ctx.Done():
				return ctx.Err()
			case <-deadline.C:
				return d.missing()
			}
		}
		payload := fmt.Sprintf(`{"type":%q,"timestamp":%q,"data":%s}`, s.event, time.Now().UTC().Format(time.RFC3339), s.data)
		msg := delivery.Message{
			SupplierID:     demoSupplier,
			EventType:      s.event,
			Payload:        json.RawMessage(payload),
			IdempotencyKey: fmt.Sprintf("demo-%s-%d", run, i+1),
		}
		id, err := d.send(ctx, msg)
		if err != nil {
			return fmt.Errorf("demo: send %s: %w", s.event, err)
		}
		eps := make([]string, len(s.to))
		for j, name := range s.to {
			eps[j] = ids[name]
		}
		d.tracker.expect(id, eps...)
		d.out.printf("SENT       %-17s %s -> %s", s.event, id, strings.Join(s.to, ", "))
		if s.kpis != "" {
			if err := d.kpis(ctx, s.kpis); err != nil {
				return err
			}
		}
		if i == 0 {
			first, firstID = msg, id
		}
	}
	again, err := d.send(ctx, first)
	if err != nil {
		return fmt.Errorf("demo: send again: %w", err)
	}
	if again != firstID {
		return fmt.Errorf("demo: the same idempotency key gave a new message id %s (want %s)", again, firstID)
	}
	d.out.printf("SENT AGAIN %-17s with the same idempotency key: same id %s back, nothing new is sent", first.EventType, again)
	d.tracker.seal()

	select {
	case <-d.tracker.done:
	case <-ctx.Done():
		return ctx.Err()
	case <-deadline.C:
		return d.missing()
	}
	total, retried := d.tracker.counts()
	d.out.plain("")
	d.out.plain("demo: all %d deliveries arrived with valid signatures in %s; %d of them needed a retry (the FAILED lines above)",
		total, time.Since(start).Round(100*time.Millisecond), retried)
	if d.exitAfter {
		return nil
	}
	tok := d.token
	d.out.plain("demo: the server keeps running; press Ctrl-C to stop it. Try:")
	d.out.plain(`  curl -s -H "Authorization: Bearer %s" '%s/api/attempts?status=failed'`, tok, d.apiURL)
	d.out.plain(`  curl -s -H "Authorization: Bearer %s" '%s/api/endpoints?supplier_id=%s'`, tok, d.apiURL, demoSupplier)
	d.out.plain(`  curl -s -H "Authorization: Bearer %s" -d '{"supplier_id":"%s","event_type":"booking.confirmed","payload":{"type":"booking.confirmed","data":{}}}' %s/api/messages`,
		tok, demoSupplier, d.apiURL)
	d.out.plain("  %s   (the dashboard's tiles change)", eventsCurl(tok, d.apiURL, `{"bookings":15,"enquiries":28}`))
	return nil
}

// kpis broadcasts kpi.updated with kpis to the sample supplier's dashboards.
func (d *demo) kpis(ctx context.Context, kpis string) error {
	if _, err := broadcast(ctx, d.hub, d.book, d.out, demoSupplier, eventKPIUpdated, json.RawMessage(kpis), ""); err != nil {
		return fmt.Errorf("demo: broadcast kpi.updated: %w", err)
	}
	return nil
}

// missing is the error of a demo that ran out of time.
func (d *demo) missing() error {
	pending := d.tracker.pending()
	lines := make([]string, len(pending))
	for i, p := range pending {
		lines[i] = p.msg + " -> " + d.out.endpointName(p.ep)
	}
	if len(pending) == 0 {
		return fmt.Errorf("demo: not every delivery arrived after %s: the script had not finished sending", d.timeout)
	}
	return fmt.Errorf("demo: not every delivery arrived after %s; %d still missing: %s", d.timeout, len(pending), strings.Join(lines, "; "))
}

// endpoint registers one of the vendor's hooks, or updates the one an
// earlier run registered, and gives the vendor its secret.
func (d *demo) endpoint(ctx context.Context, name, desc string, events []string, rate float64, fail failScript, behaviour string) (string, error) {
	ep, err := d.kept[name], error(nil)
	how := ""
	if ep != nil {
		ep, err = d.m.UpdateEndpoint(ctx, ep.ID, delivery.EndpointUpdate{Description: &desc, EventTypes: &events, RateLimit: &rate})
		if err == nil && ep.Status != delivery.EndpointEnabled {
			ep, err = d.m.ResumeEndpoint(ctx, ep.ID) // paused or disabled on the page: the script needs it
		}
		how = ", kept from an earlier run"
	} else {
		ep, err = d.m.CreateEndpoint(ctx, delivery.EndpointInput{
			SupplierID: demoSupplier, URL: d.vendor.hookURL(name), Description: desc, EventTypes: events, RateLimit: rate,
		})
	}
	if err != nil {
		return "", fmt.Errorf("demo: register endpoint %s: %w", name, err)
	}
	secret, err := d.m.EndpointSecret(ctx, ep.ID)
	if err != nil {
		return "", fmt.Errorf("demo: endpoint secret: %w", err)
	}
	if err := d.vendor.configure(name, secret, fail, behaviour); err != nil {
		return "", err
	}
	d.out.name(ep.ID, name)
	limit := "no rate limit"
	if rate > 0 {
		limit = fmt.Sprintf("at most %g/s", rate)
	}
	d.out.plain("demo: endpoint %-10s %s -> %s (events %s; %s%s)", name, ep.ID, ep.URL, strings.Join(events, ", "), limit, how)
	d.out.plain("demo:   the vendor pasted its secret (from Manager.EndpointSecret; never printed) into its webhook.Verifier")
	return ep.ID, nil
}

// forged shows the vendor refusing a request whose signature is made up.
func (d *demo) forged(ctx context.Context, url string) error {
	body := `{"type":"payment.received","data":{"booking_id":"bk_1001","amount":{"currency":"GBP","value":"-450.00"}}}`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", "msg_forged")
	req.Header.Set("webhook-timestamp", fmt.Sprint(time.Now().Unix()))
	req.Header.Set("webhook-signature", "v1,"+strings.Repeat("A", 43)+"=")
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("demo: forged request: %w", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		return fmt.Errorf("demo: the vendor accepted a forged request (HTTP %d)", resp.StatusCode)
	}
	d.out.plain("demo: a forged payment.received with a made-up signature got HTTP %d from the vendor, as it should", resp.StatusCode)
	return nil
}

// send is Send in memory mode, and SendTx inside a transaction in Postgres
// mode, which is how a host sends: with its own business write.
func (d *demo) send(ctx context.Context, msg delivery.Message) (string, error) {
	if d.pool == nil {
		return d.m.Send(ctx, msg)
	}
	var id string
	err := pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		// The host's own write goes here, e.g.
		// UPDATE bookings SET status = 'confirmed' WHERE id = $1.
		var err error
		id, err = d.m.SendTx(ctx, tx, msg)
		return err
	})
	return id, err
}

// pair is one message to one endpoint.
type pair struct{ msg, ep string }

// tracker follows the demo's deliveries through the attempt hook.
type tracker struct {
	mu        sync.Mutex
	expected  map[pair]bool
	delivered map[pair]bool
	failed    map[pair]bool
	sealed    bool // every expectation is in
	stopped   bool // the demo is over: record nothing more
	done      chan struct{}
}

func newTracker() *tracker {
	return &tracker{expected: map[pair]bool{}, delivered: map[pair]bool{}, failed: map[pair]bool{}, done: make(chan struct{})}
}

// observe records an attempt. Attempts can arrive before Send returns, so
// they are kept whether expected yet or not.
func (t *tracker) observe(a delivery.Attempt) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	p := pair{a.MessageID, a.EndpointID}
	if a.Status == delivery.AttemptSucceeded {
		t.delivered[p] = true
	} else {
		t.failed[p] = true
	}
	t.check()
}

func (t *tracker) expect(msg string, eps ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, ep := range eps {
		t.expected[pair{msg, ep}] = true
	}
}

func (t *tracker) seal() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sealed = true
	t.check()
}

func (t *tracker) stop() {
	t.mu.Lock()
	t.stopped = true
	t.mu.Unlock()
}

// check closes done once every expected delivery happened; t.mu held.
func (t *tracker) check() {
	if !t.sealed || t.stopped {
		return
	}
	for p := range t.expected {
		if !t.delivered[p] {
			return
		}
	}
	t.stopped = true
	close(t.done)
}

func (t *tracker) pending() []pair {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []pair
	for p := range t.expected {
		if !t.delivered[p] {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b pair) int { return strings.Compare(a.msg+a.ep, b.msg+b.ep) })
	return out
}

// counts returns how many deliveries the demo expected and how many of
// them failed at least once.
func (t *tracker) counts() (total, retried int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for p := range t.expected {
		if t.failed[p] {
			retried++
		}
	}
	return len(t.expected), retried
}
