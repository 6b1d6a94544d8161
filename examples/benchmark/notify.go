package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	gomail "github.com/wneessen/go-mail"

	"github.com/wedsync/integrations/notify"
	"github.com/wedsync/integrations/notify/smtp"
	"github.com/wedsync/integrations/notify/smtp/smtptest"
)

// Scenario (e): notifications end to end to a local SMTP server.

const (
	notifyFrom     = "bookings@wedsync.example"
	notifyDomain   = "wedsync.example"
	notifySupplier = "sup_bench"
	notifyWarmup   = 100
)

// notifyResult is one phase of (e).
type notifyResult struct {
	latencyResult
	busyBefore float64 // the machine's busy share in the second before the phase
	others     float64 // other processes' share of the machine while sending (-1 unknown)
}

type notifyConfig struct {
	rate     int
	duration time.Duration
	pg       bool
}

// parseNotifyConfig reads (e)'s settings: -rate defaults to 200 there, and
// Postgres mode runs too when -database-url or WEDSYNC_DATABASE_URL names
// a database.
func parseNotifyConfig(c config, set map[string]bool) (notifyConfig, error) {
	nc := notifyConfig{rate: 200, duration: c.duration, pg: set["database-url"] || os.Getenv("WEDSYNC_DATABASE_URL") != ""}
	if set["rate"] {
		nc.rate = c.rate
	}
	if nc.rate <= 0 || nc.duration <= 0 || c.workers <= 0 {
		return nc, errors.New("-rate, -duration and -workers must be positive")
	}
	return nc, nil
}

// runNotify runs scenario (e) on its own.
func runNotify(c config, nc notifyConfig) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	printHeader("notify benchmark", "high")

	total := int(float64(nc.rate) * nc.duration.Seconds())
	srv, err := smtptest.Start(smtptest.WithInboxSize(total + notifyWarmup + 1000))
	if err != nil {
		return err
	}
	defer func() { _ = srv.Close() }()
	tp, err := notifyTemplates()
	if err != nil {
		return err
	}
	nt := notifyNotification()
	modes := "memory"
	if nc.pg {
		modes += " and Postgres"
	}
	fmt.Printf("(e) notify: email to a local SMTP server (%s), %d/s for %s, %s mode\n\n", srv.Addr(), nc.rate, nc.duration, modes)

	var db *notifyDB
	if nc.pg {
		if db, err = openNotifyDB(ctx, c); err != nil {
			return err
		}
		defer db.close()
	}
	var results []notifyResult
	phase := func(run func() (notifyResult, error)) error {
		busy := waitIdle(ctx, c.idleWait)
		r, err := run()
		if err != nil {
			return fmt.Errorf("%s: %w", r.mode, err)
		}
		r.busyBefore = busy
		fmt.Printf("  %s: p99 %s, %d missing; machine busy before %.0f%%, other processes during %.0f%%, load %s\n",
			r.mode, dur(percentile(r.e2e, 0.99)), r.missing, r.busyBefore, r.others, loadAverage())
		results = append(results, r)
		return nil
	}
	if err := phase(func() (notifyResult, error) { return plainMailLatency(ctx, nc, srv, tp, nt) }); err != nil {
		return err
	}
	if err := phase(func() (notifyResult, error) { return notifyLatency(ctx, c, nc, srv, tp, nt, nil) }); err != nil {
		return err
	}
	if db != nil {
		if err := phase(func() (notifyResult, error) { return notifyLatency(ctx, c, nc, srv, tp, nt, db) }); err != nil {
			return err
		}
	}
	fmt.Println()

	var rows [][]string
	for _, r := range results {
		rows = append(rows, []string{r.mode, strconv.Itoa(r.sent), f0(rateOf(r.sent, r.elapsed)), strconv.Itoa(r.missing),
			dur(percentile(r.sendCall, 0.5)), dur(percentile(r.sendCall, 0.99)),
			dur(percentile(r.e2e, 0.5)), dur(percentile(r.e2e, 0.95)), dur(percentile(r.e2e, 0.99)), dur(percentile(r.e2e, 1)),
			r.cpu.cpuShare(), pct(r.busyBefore), pct(r.others),
			target(percentile(r.e2e, 0.99) <= 100*time.Millisecond && r.missing == 0)})
	}
	table(fmt.Sprintf("(e) send -> arrival at the SMTP server, %d/s for %s", nc.rate, nc.duration),
		[]string{"sender", "sent", "msgs/s", "missing", "Send p50", "Send p99", "p50", "p95", "p99", "max", "CPU", "busy before", "others", "p99 <= 100ms"}, rows)
	fmt.Println("p50..max: Send (or DialAndSend) called -> the message accepted by the SMTP server (after DATA), matched by Message-ID.")
	fmt.Println("Send: how long the call took (the notifier returns once the notification is stored; go-mail once the server accepted it).")
	fmt.Println("CPU: this process's share of all cores / the whole machine's (Postgres included) while sending.")
	fmt.Println("busy before: the machine in the second before the phase (-idle-wait waits for under 15%). others: other processes")
	fmt.Println("while sending (Postgres's backends included, so in Postgres mode it holds the database's own work).")
	fmt.Printf("load average at the end: %s\n\n", loadAverage())
	return nil
}

// notifyTemplates registers the event the scenario sends: a booking
// confirmation with an email (subject, text and HTML parts).
func notifyTemplates() (*notify.Templates, error) {
	tp := notify.NewTemplates()
	if err := tp.AddEvent(notify.EventSpec{
		Name: "booking.confirmed", Category: notify.CategoryBooking,
		Variables: []string{"couple_name", "date", "venue", "package", "amount"},
		Channels:  []notify.Channel{notify.ChannelEmail},
	}); err != nil {
		return nil, err
	}
	err := tp.Add(notify.Template{Event: "booking.confirmed", Channel: notify.ChannelEmail,
		Subject: "Booking confirmed: {{.couple_name}} on {{.date}}",
		Text: `Hi {{.recipient_name}},

{{.couple_name}} confirmed their booking for {{.date}} at {{.venue}}.
Package: {{.package}} ({{.amount}}).

See the booking: {{.url}}`,
		HTML: `<p>Hi {{.recipient_name}},</p>
<p><strong>{{.couple_name}}</strong> confirmed their booking for <strong>{{.date}}</strong> at {{.venue}}.</p>
<table><tr><th>Package</th><td>{{.package}}</td></tr><tr><th>Amount</th><td>{{.amount}}</td></tr></table>
<p><a href="{{.url}}">See the booking</a></p>`})
	return tp, err
}

func notifyNotification() notify.Notification {
	return notify.Notification{
		Event: "booking.confirmed",
		Recipient: notify.Recipient{SupplierID: notifySupplier, VendorType: notify.VendorPhotographer, Name: "Zoë Ångström",
			Email: "zoe.angstrom@example.com", TimeZone: "Europe/London", Locale: "en-GB"},
		Data: map[string]any{"couple_name": "Sam & Alex Smith", "date": "14 June 2027", "venue": "Hengrave Hall",
			"package": "Full day", "amount": "£2,400"},
		URL:     "https://wedsync.example/bookings/bk_123",
		ReplyTo: "sam.smith@example.org",
	}
}

func unsubscribeURL(r notify.Recipient, _ notify.Category) string {
	return "https://wedsync.example/preferences/" + r.SupplierID
}

// notifyDB is (e)'s Postgres: a fresh schema for the notifier's tables and
// River's "<schema>_notify_jobs", dropped at exit.
type notifyDB struct {
	pool   *pgxpool.Pool
	schema string
	key    []byte
}

func openNotifyDB(ctx context.Context, c config) (*notifyDB, error) {
	pool, err := connectPool(ctx, c)
	if err != nil {
		return nil, err
	}
	db := &notifyDB{pool: pool, schema: "bench_" + randomHex(4), key: make([]byte, 32)}
	_, _ = rand.Read(db.key)
	if err := notify.Migrate(ctx, pool, notify.WithSchema(db.schema)); err != nil {
		db.close()
		return nil, err
	}
	fmt.Printf("Postgres: schemas %s and %s_notify_jobs (dropped at exit), pool MaxConns %d\n", db.schema, db.schema, pool.Config().MaxConns)
	return db, nil
}

func (db *notifyDB) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, s := range []string{db.schema, db.schema + "_notify_jobs"} {
		if _, err := db.pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{s}.Sanitize()+" CASCADE"); err != nil {
			fmt.Fprintf(os.Stderr, "benchmark: drop schema %s: %v\n", s, err)
		}
	}
	db.pool.Close()
}

// notifyLatency sends nt at nc.rate through a notifier (memory mode, or
// Postgres mode on db) with the SMTP provider, and times each notification
// from Send to its arrival at srv.
func notifyLatency(ctx context.Context, c config, nc notifyConfig, srv *smtptest.Server, tp *notify.Templates,
	nt notify.Notification, db *notifyDB) (notifyResult, error) {
	res := notifyResult{latencyResult: latencyResult{mode: fmt.Sprintf("notifier, memory, %d workers", c.workers)}}
	p, err := smtp.New(srv.Host(), srv.Port(), smtp.WithTLS(smtp.NoTLS), smtp.WithFrom(notifyFrom, "WedSync"), smtp.WithHelo("bench.local"))
	if err != nil {
		return res, err
	}
	opts := []notify.Option{notify.WithTemplates(tp), notify.WithProvider(p), notify.WithUnsubscribeURL(unsubscribeURL)}
	if db == nil {
		opts = append(opts, notify.WithMemoryWorkers(c.workers))
	} else {
		res.mode = fmt.Sprintf("notifier, postgres, %s, poll %s", riverConfig{c.maxWorkers, c.cooldown, c.poll}, c.poll)
		opts = append(opts, notify.WithPostgres(db.pool), notify.WithSchema(db.schema), notify.WithEncryptionKey(db.key),
			notify.WithQueueConfig(notify.QueueConfig{MaxWorkers: c.maxWorkers, FetchCooldown: c.cooldown, FetchPollInterval: c.poll}))
	}
	n, err := notify.NewNotifier(opts...)
	if err != nil {
		return res, err
	}
	// Email only, no quiet hours: the defaults' 22:00-07:00 would hold
	// the sends at night.
	prefs := notify.Preferences{Default: notify.CategoryPreferences{Channels: map[notify.Channel]bool{notify.ChannelEmail: true}}}
	if err := n.SetPreferences(ctx, notifySupplier, prefs); err != nil {
		return res, err
	}
	if err := n.Start(ctx); err != nil {
		return res, err
	}
	defer stopWithin(ctx, n.Stop)
	send := func(context.Context, int) (string, error) {
		r, err := n.Send(ctx, nt)
		return r.ID, err
	}
	if db != nil {
		_, _ = db.pool.Exec(ctx, "CHECKPOINT")
	}
	return mailLatency(ctx, nc, srv, res, send)
}

// plainMailLatency sends the same email with go-mail alone at nc.rate: a
// new client and connection per message (Client.DialAndSendWithContext),
// without the NOOP and RSET go-mail sends by default, as the provider does.
func plainMailLatency(ctx context.Context, nc notifyConfig, srv *smtptest.Server, tp *notify.Templates, nt notify.Notification) (notifyResult, error) {
	res := notifyResult{latencyResult: latencyResult{mode: "plain go-mail DialAndSend"}}
	data := map[string]any{"recipient_name": nt.Recipient.Name, "url": nt.URL}
	for k, v := range nt.Data {
		data[k] = v
	}
	r, err := tp.Render(nt.Event, notify.ChannelEmail, nt.Recipient.VendorType, nt.Recipient.Locale, data)
	if err != nil {
		return res, err
	}
	send := func(ctx context.Context, i int) (string, error) {
		id := "plain-" + strconv.Itoa(i)
		msg := gomail.NewMsg()
		if err := msg.FromFormat("WedSync", notifyFrom); err != nil {
			return "", err
		}
		if err := msg.AddToFormat(nt.Recipient.Name, nt.Recipient.Email); err != nil {
			return "", err
		}
		if err := msg.ReplyTo(nt.ReplyTo); err != nil {
			return "", err
		}
		if err := msg.SetListUnsubscribeOneClick(unsubscribeURL(nt.Recipient, nt.Category)); err != nil {
			return "", err
		}
		msg.Subject(r.Subject)
		msg.SetMessageIDWithValue(id + "@" + notifyDomain)
		msg.SetDate()
		msg.SetBodyString(gomail.TypeTextPlain, r.Text)
		msg.AddAlternativeString(gomail.TypeTextHTML, r.HTML)
		c, err := gomail.NewClient(srv.Host(), gomail.WithPort(srv.Port()), gomail.WithTLSPolicy(gomail.NoTLS),
			gomail.WithHELO("bench.local"), gomail.WithTimeout(30*time.Second), gomail.WithoutNoop(), gomail.WithoutRset())
		if err != nil {
			return "", err
		}
		return id, c.DialAndSendWithContext(ctx, msg)
	}
	return mailLatency(ctx, nc, srv, res, send)
}

// mailLatency sends notifyWarmup messages and waits for them, then sends
// at nc.rate for nc.duration on a ticker, each send in its own goroutine,
// and matches the messages srv received to the sends by Message-ID.
func mailLatency(ctx context.Context, nc notifyConfig, srv *smtptest.Server, res notifyResult,
	send func(ctx context.Context, i int) (string, error)) (notifyResult, error) {
	srv.Reset()
	for i := range notifyWarmup {
		if _, err := send(ctx, -1-i); err != nil {
			return res, fmt.Errorf("warm-up: %w", err)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	_, err := srv.Wait(wctx, notifyWarmup)
	cancel()
	if err != nil {
		return res, fmt.Errorf("warm-up: %w", err)
	}
	srv.Reset()

	total := int(float64(nc.rate) * nc.duration.Seconds())
	// 512 in flight bounds the sends if something stalls.
	p, err := pace(ctx, nc.rate, total, 512, send)
	res.cpu, res.others, res.elapsed, res.sendCall = p.cpu, p.others, p.cpu.d, p.sendCall
	if err != nil {
		return res, err
	}
	sentAt := p.sent
	res.sent = len(sentAt)
	wctx, cancel = context.WithTimeout(ctx, time.Minute)
	_, werr := srv.Wait(wctx, res.sent)
	cancel()
	arrived := map[string]time.Time{}
	for _, m := range srv.Messages() {
		id := strings.TrimSuffix(strings.Trim(m.Header.Get("Message-Id"), "<>"), "@"+notifyDomain)
		if _, ok := sentAt[id]; ok {
			arrived[id] = m.ReceivedAt
		}
	}
	collect(&res.latencyResult, sentAt, arrived)
	if werr != nil && res.missing == 0 {
		return res, werr
	}
	return res, nil
}

// loadAverage returns the 1-, 5- and 15-minute load averages.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
