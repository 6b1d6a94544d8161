package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wedsync/integrations/calendar"
	"github.com/wedsync/integrations/notify"
	"github.com/wedsync/integrations/webhook/delivery"
	"github.com/wedsync/integrations/wedmesync"
)

// Environment variables the server reads.
const (
	envDatabaseURL   = "WEDSYNC_DATABASE_URL"
	envEncryptionKey = "WEDSYNC_ENCRYPTION_KEY"
	envAdminToken    = "WEDSYNC_ADMIN_TOKEN"
	envJWTSecret     = "WEDSYNC_JWT_SECRET"
	envCoupleToken   = "WEDSYNC_COUPLE_TOKEN"
)

// demoSchedule is the retry schedule of the demo: short, so that retries
// show within seconds. Production uses the package default (at once, 5s,
// 5m, 30m, 2h, 5h, 10h, 10h).
var demoSchedule = []time.Duration{0, time.Second, 2 * time.Second, 5 * time.Second}

// config is what run needs; main fills it from flags and the environment.
type config struct {
	// Addr is where the API and the page listen.
	Addr string
	// VendorAddr is where the in-process vendor CRM listens.
	VendorAddr string
	// DatabaseURL switches to Postgres mode when set.
	DatabaseURL string
	// EncryptionKey encrypts endpoint secrets at rest: 32 bytes, hex or
	// base64. Required in Postgres mode.
	EncryptionKey string
	// AdminToken guards /api; empty means generate one and print it.
	AdminToken string
	// JWTSecret signs and checks the realtime hub's HS256 dashboard tokens:
	// at least 32 bytes. Empty means generate one for this run.
	JWTSecret string
	// CoupleToken guards the couple's WedMe page's API (/api/wedme/couple
	// and /api/wedme/edit); empty means generate one and print it.
	CoupleToken string
	// Demo runs the scripted demo at start-up.
	Demo bool
	// ExitAfterDemo returns once the demo saw every message delivered, or
	// with an error after DemoTimeout.
	ExitAfterDemo bool
	// DemoTimeout bounds the demo. Defaults to 60s.
	DemoTimeout time.Duration

	// Test hooks.
	onReady   func(apiURL, vendorURL string)
	onAttempt func(delivery.Attempt)
	onNotify  func(notify.NotificationStatus)
	onChange  func(calendar.Change)
	onWedMe   func(wedmesync.Applied)
	// onAPI gets the API's parts (the SMTP server, the CalDAV calendar, the
	// vendor) before onReady.
	onAPI func(*api)
}

func main() {
	cfg, err := parseConfig(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "supplier-platform:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "supplier-platform:", err)
		stop()
		os.Exit(1)
	}
}

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("supplier-platform", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, `Usage: supplier-platform [flags]

The WedSync demo server: webhooks, and a live dashboard over the realtime hub.
Memory mode unless a database URL is given.

Environment:
  %-24s Postgres URL (same as -database-url)
  %-24s 32-byte key, hex or base64, for endpoint secrets at rest (required in Postgres mode)
  %-24s bearer token for /api (default: generated and printed)
  %-24s HS256 secret of the dashboard tokens, at least 32 bytes (default: random for this run)
  %-24s bearer token of the couple's WedMe page, /wedme (default: generated and printed)

Flags:
`, envDatabaseURL, envEncryptionKey, envAdminToken, envJWTSecret, envCoupleToken)
		fs.PrintDefaults()
	}
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:8080", "listen address of the API and the dashboard page")
	fs.StringVar(&c.VendorAddr, "vendor-addr", "127.0.0.1:0", "listen address of the in-process vendor CRM that receives the webhooks (port 0: any free port)")
	fs.StringVar(&c.DatabaseURL, "database-url", "", "Postgres URL; switches to Postgres mode (default $"+envDatabaseURL+")")
	fs.BoolVar(&c.Demo, "demo", true, "run the scripted demo at start-up")
	fs.BoolVar(&c.ExitAfterDemo, "exit-after-demo", false, "exit 0 once the demo has seen every message delivered, non-zero if that takes over 60s")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q (see -help)", fs.Arg(0))
	}
	if c.ExitAfterDemo && !c.Demo {
		return c, errors.New("-exit-after-demo needs the demo (-demo=true)")
	}
	if c.DatabaseURL == "" {
		c.DatabaseURL = getenv(envDatabaseURL)
	}
	c.EncryptionKey = getenv(envEncryptionKey)
	c.AdminToken = getenv(envAdminToken)
	c.JWTSecret = getenv(envJWTSecret)
	c.CoupleToken = getenv(envCoupleToken)
	return c, nil
}

// parseEncryptionKey decodes a 32-byte key written as 64 hex characters or
// as base64 (standard or URL alphabet, padded or not).
func parseEncryptionKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("%s is required in Postgres mode: 32 random bytes as 64 hex characters or base64, e.g. export %s=$(openssl rand -hex 32)",
			envEncryptionKey, envEncryptionKey)
	}
	if len(s) == 64 {
		if b, err := hex.DecodeString(s); err == nil {
			return b, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == 32 {
			return b, nil
		}
	}
	return nil, fmt.Errorf("%s must be 32 bytes written as 64 hex characters or as base64 (e.g. openssl rand -hex 32)", envEncryptionKey)
}

// run serves until ctx ends, or, with ExitAfterDemo, until the demo is over.
func run(ctx context.Context, cfg config, stdout io.Writer) error {
	if cfg.DemoTimeout <= 0 {
		cfg.DemoTimeout = 60 * time.Second
	}
	if cfg.ExitAfterDemo && !cfg.Demo {
		return errors.New("-exit-after-demo needs the demo (-demo=true)")
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:8080"
	}
	if cfg.VendorAddr == "" {
		cfg.VendorAddr = "127.0.0.1:0"
	}
	var encKey []byte
	if cfg.DatabaseURL != "" {
		var err error
		if encKey, err = parseEncryptionKey(cfg.EncryptionKey); err != nil {
			return err
		}
	}
	// What is not set is random in memory mode, and derived from the
	// encryption key in Postgres mode, so that it survives a restart
	// (restart.go).
	jwtIn, jwtDerived := cfg.JWTSecret, false
	if jwtIn == "" && encKey != nil {
		jwtIn, jwtDerived = derivedJWTSecret(encKey), true
	}
	secret, secretGenerated, err := jwtSecret(jwtIn)
	if err != nil {
		return err
	}
	newToken := func(purpose string) string {
		if encKey != nil {
			return derivedToken(encKey, purpose)
		}
		return rand.Text()
	}
	token, generated := cfg.AdminToken, false
	if token == "" {
		token, generated = newToken("admin token"), true
	}
	coupleToken, coupleGenerated := cfg.CoupleToken, false
	if coupleToken == "" {
		coupleToken, coupleGenerated = newToken("couple token"), true
	}

	out := newConsole(stdout)
	tracker := newTracker()
	feed := &attemptFeed{out: out}

	// Listen first, so a busy port fails before anything else starts.
	apiLn, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on -addr %s: %w", cfg.Addr, err)
	}
	defer apiLn.Close()
	vendorLn, err := net.Listen("tcp", cfg.VendorAddr)
	if err != nil {
		return fmt.Errorf("listen on -vendor-addr %s: %w", cfg.VendorAddr, err)
	}
	defer vendorLn.Close()
	apiURL := "http://" + apiLn.Addr().String()
	hubURL := "ws://" + apiLn.Addr().String() + hubPath
	vend := newVendor("http://"+vendorLn.Addr().String(), out)

	logger := slog.New(skipAttemptLogs{slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelInfo})})
	opts := []delivery.Option{
		// The vendor CRM listens on loopback over plain http, which the
		// default SSRF rules refuse: a demo allows exactly that.
		delivery.WithAllowedNetworks(netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")),
		delivery.WithInsecureHTTP(true),
		delivery.WithRetrySchedule(demoSchedule...),
		delivery.WithLogger(logger),
		delivery.WithAttemptHook(func(a delivery.Attempt) {
			out.attempt(a)
			tracker.observe(a)
			feed.attempt(a)
			if cfg.onAttempt != nil {
				cfg.onAttempt(a)
			}
		}),
	}
	mode := "memory mode: nothing is kept after exit"
	var pool *pgxpool.Pool
	if cfg.DatabaseURL != "" {
		if pool, err = pgxpool.New(ctx, cfg.DatabaseURL); err != nil {
			return fmt.Errorf("database URL: %w", err)
		}
		defer pool.Close()
		if err := pool.Ping(ctx); err != nil {
			return fmt.Errorf("connect to Postgres: %w", err)
		}
		if err := delivery.Migrate(ctx, pool); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		cc := pool.Config().ConnConfig
		mode = fmt.Sprintf("Postgres mode: database %q on %s:%d, schema wedsync", cc.Database, cc.Host, cc.Port)
		opts = append(opts, delivery.WithPostgres(pool), delivery.WithEncryptionKey(encKey))
	}
	hs, err := newHub(ctx, pool, secret, logger)
	if err != nil {
		return err
	}
	hub, closeHub := hs.hub, hs.close
	feed.hub = hub // before the manager starts
	kpis := newKPIBook(hs.broker)
	ns, err := startNotify(ctx, pool, encKey, hub, out, logger, apiURL+"/#notifications", cfg.onNotify)
	if err != nil {
		return errors.Join(fmt.Errorf("notifications: %w", err), closeHub(context.WithoutCancel(ctx)))
	}
	cs, err := startCalendar(ctx, pool, encKey, hub, out, cfg.onChange)
	if err != nil {
		return errors.Join(fmt.Errorf("calendar: %w", err), ns.stop(context.WithoutCancel(ctx)), closeHub(context.WithoutCancel(ctx)))
	}
	ws, err := startWedMe(ctx, pool, hub, out, cfg.onWedMe)
	if err != nil {
		return errors.Join(fmt.Errorf("wedme: %w", err), cs.stop(context.WithoutCancel(ctx)), ns.stop(context.WithoutCancel(ctx)),
			closeHub(context.WithoutCancel(ctx)))
	}
	m, err := delivery.NewManager(opts...)
	if err != nil {
		ws.stop()
		return errors.Join(err, cs.stop(context.WithoutCancel(ctx)), ns.stop(context.WithoutCancel(ctx)), closeHub(context.WithoutCancel(ctx)))
	}
	var kept map[string]*delivery.Endpoint
	if pool != nil {
		if kept, err = keepEndpoints(ctx, m, vend, out); err != nil {
			ws.stop()
			return errors.Join(err, cs.stop(context.WithoutCancel(ctx)), ns.stop(context.WithoutCancel(ctx)), closeHub(context.WithoutCancel(ctx)))
		}
	}
	if err := m.Start(ctx); err != nil {
		ws.stop()
		return errors.Join(err, cs.stop(context.WithoutCancel(ctx)), ns.stop(context.WithoutCancel(ctx)), closeHub(context.WithoutCancel(ctx)))
	}
	dashExpires := time.Now().Add(dashboardTokenTTL)
	dashToken, err := dashboardToken(secret, demoSupplier, dashExpires)
	var catererToken string
	if err == nil {
		catererToken, err = dashboardToken(secret, demoCaterer, dashExpires)
	}
	if err != nil {
		ws.stop()
		return errors.Join(err, m.Stop(context.WithoutCancel(ctx)), cs.stop(context.WithoutCancel(ctx)), ns.stop(context.WithoutCancel(ctx)),
			closeHub(context.WithoutCancel(ctx)))
	}

	a := &api{m: m, hub: hub, kpis: kpis, dashAuth: hs.auth, sockets: newSockets(hs.auth), vendor: vend, ns: ns, cal: cs, wedme: ws, out: out, token: token, coupleToken: coupleToken}
	apiSrv := newServer(a.routes())
	vendorSrv := newServer(vend.routes())
	errc := make(chan error, 2)
	go func() { errc <- serve("API", apiSrv, apiLn) }()
	go func() { errc <- serve("vendor CRM", vendorSrv, vendorLn) }()

	shownToken := "$" + envAdminToken
	out.plain("WedSync supplier platform demo (%s)", mode)
	if generated {
		shownToken = token
		out.plain("  dashboard:    %s/?token=%s#token=%s", apiURL, dashToken, token)
		out.plain("                (the supplier platform of %s: live KPIs with its dashboard token; integrations, notifications,", demoSupplier)
		out.plain("                calendar and couple details with the admin token)")
		how := "generated"
		if encKey != nil {
			how = "derived from " + envEncryptionKey + ", the same after a restart"
		}
		out.plain("  admin token:  %s  (%s; set %s to choose one)", token, how, envAdminToken)
	} else {
		out.plain("  dashboard:    %s/?token=%s", apiURL, dashToken)
		out.plain("                (live KPIs of %s; paste %s under Tokens on the page for the other views)", demoSupplier, envAdminToken)
	}
	out.plain("  JSON API:     %s/api/...  (header Authorization: Bearer <admin token>)", apiURL)
	out.plain("  realtime hub: %s  (Supabase Realtime protocol; apikey=<dashboard token>)", hubURL)
	out.plain("  dashboard token of %s (topic supplier:%s, valid until %s):", demoSupplier, demoSupplier, dashExpires.Format("2006-01-02 15:04 MST"))
	out.plain("                %s", dashToken)
	switch {
	case secretGenerated:
		out.plain("  JWT secret:   random, for this run only: tokens die with the process (set %s, 32+ bytes, to keep them)", envJWTSecret)
	case jwtDerived:
		out.plain("  JWT secret:   derived from %s: dashboard tokens outlive a restart (set %s to choose one)", envEncryptionKey, envJWTSecret)
	default:
		out.plain("  JWT secret:   from %s", envJWTSecret)
	}
	out.plain("  vendor CRM:   %s/hooks/{name}  (in-process receiver, verifies every signature)", vend.base)
	out.plain("  retries:      at once, then %s (the demo's short schedule)", scheduleText(demoSchedule[1:]))
	out.plain("  push a KPI:   %s", eventsCurl(shownToken, apiURL, `{"bookings":15,"enquiries":28}`))
	out.plain("  email:        the demo's own SMTP server on %s receives every notification email (GET /api/notify/mail)", ns.mail.Addr())
	out.plain("  SMS:          a fake Twilio on %s receives the text messages (GET /api/notify/sms); push has no subscriber", ns.sms.base)
	out.plain("  notify:       %s", notifyCurl(shownToken, apiURL, "booking.confirmed", "normal"))
	out.plain("  calendar:     an in-process CalDAV server on %s holds the sample supplier's calendar %s (synced every %s)",
		cs.ln.Addr(), cs.cal, calendarSyncInterval)
	out.plain(`                curl -s -H "Authorization: Bearer %s" %s/api/calendar/week   (the page's Calendar view shows it)`, shownToken, apiURL)
	shownCouple := "$" + envCoupleToken
	if coupleGenerated {
		shownCouple = coupleToken
	}
	out.plain("  wedme: the couple's page is %s/wedme?token=%s", apiURL, shownCouple)
	out.plain("                (%s edit their dietary needs, guests and wedding details; couple token, generated unless %s is set)",
		demoCoupleNames, envCoupleToken)
	out.plain("                the supplier side gets each change at once, filtered by wedmesync.DefaultSharing: the florist %s sees",
		demoSupplier)
	out.plain("                the wedding details only; the caterer %s sees the dietary needs and guests too. Its dashboard:", demoCaterer)
	if generated {
		out.plain("                %s/?token=%s#token=%s", apiURL, catererToken, token)
	} else {
		out.plain("                %s/?token=%s", apiURL, catererToken)
	}
	out.plain("                %s", wedmeCurl(shownCouple, apiURL))
	out.plain("")
	if cfg.onAPI != nil {
		cfg.onAPI(a)
	}
	if cfg.onReady != nil {
		cfg.onReady(apiURL, vend.base)
	}

	demoCtx, cancelDemo := context.WithCancel(ctx)
	defer cancelDemo()
	demoDone := make(chan error, 1)
	if cfg.Demo {
		d := &demo{m: m, hub: hub, book: kpis, pool: pool, vendor: vend, out: out, tracker: tracker, timeout: cfg.DemoTimeout, kept: kept,
			apiURL: apiURL, token: shownToken, exitAfter: cfg.ExitAfterDemo}
		go func() { demoDone <- d.run(demoCtx) }()
	}

	var result error
	select {
	case <-ctx.Done():
		out.plain("")
		out.plain("Shutting down (signal received)...")
	case err := <-errc:
		result = err
	case err := <-demoDone:
		demoDone <- err // seen again below
		if cfg.ExitAfterDemo {
			result = err
			break
		}
		if err != nil && ctx.Err() == nil {
			out.plain("%v (the server keeps running)", err)
		}
		select {
		case <-ctx.Done():
			out.plain("")
			out.plain("Shutting down (signal received)...")
		case err := <-errc:
			result = err
		}
	}

	// Stop taking API calls, end the demo, disconnect the dashboards, let
	// running deliveries finish, then close the vendor they were talking to.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	cancelDemo()
	if cfg.Demo {
		<-demoDone
	}
	errs := []error{result}
	if err := apiSrv.Shutdown(sctx); err != nil {
		errs = append(errs, fmt.Errorf("API shutdown: %w", err))
	}
	// The WedMe peers, whose applied changes broadcast through the hub.
	ws.stop()
	// Shutdown does not wait for WebSockets (hijacked connections): the
	// hub closes them, with close code 1001, and cuts those still open
	// when sctx ends.
	if err := closeHub(sctx); err != nil {
		errs = append(errs, fmt.Errorf("realtime hub: %w", err))
	}
	if err := m.Stop(sctx); err != nil {
		errs = append(errs, fmt.Errorf("stop deliveries: %w", err))
	}
	// The calendar engine, then the CalDAV server it syncs with.
	if err := cs.stop(sctx); err != nil {
		errs = append(errs, err)
	}
	// Then the notifier, and the SMTP server and fake Twilio it sends to.
	if err := ns.stop(sctx); err != nil {
		errs = append(errs, err)
	}
	if err := vendorSrv.Shutdown(sctx); err != nil {
		errs = append(errs, fmt.Errorf("vendor CRM shutdown: %w", err))
	}
	out.plain("Stopped.")
	return errors.Join(errs...)
}

func newServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
}

func serve(name string, srv *http.Server, ln net.Listener) error {
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s server: %w", name, err)
	}
	return nil
}

// eventsCurl is a curl line that broadcasts kpi.updated to the demo
// supplier's dashboards.
func eventsCurl(token, apiURL, kpis string) string {
	return fmt.Sprintf(`curl -s -H "Authorization: Bearer %s" -d '{"supplier_id":"%s","type":"kpi.updated","payload":%s}' %s/api/events`,
		token, demoSupplier, kpis, apiURL)
}

// notifyCurl is a curl line that sends a test notification to the sample
// supplier.
func notifyCurl(token, apiURL, event, priority string) string {
	return fmt.Sprintf(`curl -s -H "Authorization: Bearer %s" -d '{"event":"%s","priority":"%s"}' %s/api/notify/test`,
		token, event, priority, apiURL)
}

func scheduleText(ds []time.Duration) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = d.String()
	}
	return strings.Join(s, ", ") + " (±20%)"
}
