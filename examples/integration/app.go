package integration

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/wedsync/integrations/calendar"
	"github.com/wedsync/integrations/notify"
	"github.com/wedsync/integrations/realtime"
	"github.com/wedsync/integrations/realtime/pgbroker"
	"github.com/wedsync/integrations/webhook/delivery"
	"github.com/wedsync/integrations/wedmesync"
)

// HubPath is where Mount serves the realtime hub: the path Supabase serves
// it at, so @supabase/realtime-js, given <base>/realtime/v1, connects
// unchanged.
const HubPath = "/realtime/v1/websocket"

// WedMePath is where Mount serves the WedMe sync handler when
// Config.WedMeSecret is set: the WedMe platform pushes and pulls at
// WedMePath+"/push" and WedMePath+"/pull".
const WedMePath = "/wedmesync"

// Config is what the host hands the SDK. Pool and the keys come from the
// host's configuration; the providers and transports are the outside world.
type Config struct {
	// Pool is the host's own pool, shared by every package. Nil means
	// memory mode: nothing survives a restart, and the ...Tx calls are
	// unavailable (ConfirmBooking then calls the plain ones).
	Pool *pgxpool.Pool
	// Schema holds every package's tables (River's go to
	// "<Schema>_<package>_jobs"). Defaults to "wedsync", as in every
	// package. Migrate must be given the same.
	Schema string
	// EncryptionKey (32 bytes) seals webhook endpoint secrets, calendar
	// credentials and push subscriptions at rest; PreviousKeys still open
	// what older keys sealed (rotation). Required in Postgres mode; memory
	// mode uses a random key.
	EncryptionKey []byte
	PreviousKeys  [][]byte
	// JWTSecret is the Supabase project's JWT secret (HS256, at least 32
	// bytes): the hub accepts the dashboards' Supabase access tokens, whose
	// app_metadata.supplier_id names the supplier. Required.
	JWTSecret []byte
	// Recipient returns the supplier's contact details for notifications:
	// the host owns supplier profiles. Required.
	Recipient func(ctx context.Context, supplierID string) (notify.Recipient, error)
	// WedMeAuthorizer answers which couple a supplier works for, from the
	// host's bookings. Required.
	WedMeAuthorizer wedmesync.Authorizer
	// NodeID names this process in WedMe sync's clock readings: unique per
	// running instance (the pod name). Required.
	NodeID string
	// WedMe reaches the WedMe platform (wedmesync.NewHTTPTransport in
	// production). Nil: no peer runs, and changes wait in the log.
	WedMe wedmesync.Transport
	// WedMeInterval is how often the peer pulls when nothing wakes it.
	// Defaults to 30s.
	WedMeInterval time.Duration
	// WedMeSecret, when set, makes Mount serve this node to the WedMe
	// platform's peer at WedMePath, verifying its signatures with it.
	WedMeSecret string
	// CalendarProviders are the calendar services suppliers connect
	// (caldav.New, google.New, outlook.New).
	CalendarProviders []calendar.Provider
	// NotifyProviders send email, SMS and push (smtp.New, twilio.New, ...).
	NotifyProviders []notify.Provider
	// Logger receives every package's logs. Defaults to slog.Default().
	Logger *slog.Logger
	// MeterProvider and TracerProvider receive every package's metrics and
	// spans. Nil keeps each package's default: the global providers.
	MeterProvider  metric.MeterProvider
	TracerProvider trace.TracerProvider

	// Extra options, applied after New's own: tests and demos use them to
	// reach loopback servers and shorten schedules.
	WebhookOptions  []delivery.Option
	NotifyOptions   []notify.Option
	CalendarOptions []calendar.Option
	HubOptions      []realtime.Option
}

// App is the SDK wired into the host: one of each component, sharing one
// pool. Create it with New, Start it, Mount it, and Stop it on shutdown.
type App struct {
	Webhooks *delivery.Manager
	Notifier *notify.Notifier
	Calendar *calendar.Sync
	WedMe    *wedmesync.Node
	Hub      *realtime.Hub

	pool      *pgxpool.Pool
	broker    *pgbroker.Broker // Postgres mode only
	log       *slog.Logger
	recipient func(context.Context, string) (notify.Recipient, error)
	wedmeT    wedmesync.Transport
	interval  time.Duration
	secret    string

	stopPeer context.CancelFunc
	peerDone sync.WaitGroup
	stopOnce sync.Once
}

// Migrate creates or upgrades every package's tables in schema (""
// means "wedsync"), then the host's own bookings table. Each package's
// Migrate holds an advisory lock, so every instance may run it at start-up;
// the packages do not depend on each other, so the order is free.
func Migrate(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	if schema == "" {
		schema = "wedsync"
	}
	steps := []struct {
		name string
		run  func() error
	}{
		{"webhook/delivery", func() error { return delivery.Migrate(ctx, pool, delivery.WithSchema(schema)) }},
		{"notify", func() error { return notify.Migrate(ctx, pool, notify.WithSchema(schema)) }},
		// calendar installs btree_gist when missing: the role needs the
		// right to CREATE EXTENSION once, or a DBA installs it first.
		{"calendar", func() error { return calendar.Migrate(ctx, pool, calendar.WithSchema(schema)) }},
		{"wedmesync", func() error { return wedmesync.Migrate(ctx, pool, wedmesync.WithSchema(schema)) }},
		{"realtime/pgbroker", func() error { return pgbroker.Migrate(ctx, pool, pgbroker.WithSchema(schema)) }},
		{"host", func() error { _, err := pool.Exec(ctx, hostSchema); return err }},
	}
	for _, s := range steps {
		if err := s.run(); err != nil {
			return fmt.Errorf("migrate %s: %w", s.name, err)
		}
	}
	return nil
}

// hostSchema is the host's own table, in the host's search_path: the
// business row the SDK's writes ride along with.
const hostSchema = `CREATE TABLE IF NOT EXISTS bookings (
	id          text PRIMARY KEY,
	supplier_id text NOT NULL,
	couple_id   text NOT NULL,
	title       text NOT NULL,
	starts_at   timestamptz NOT NULL,
	ends_at     timestamptz NOT NULL,
	status      text NOT NULL
)`

// New builds every component; nothing runs until Start. In Postgres mode
// Migrate must have run. On error, what was built is closed again.
func New(ctx context.Context, cfg Config) (_ *App, err error) {
	switch {
	case len(cfg.JWTSecret) == 0:
		return nil, errors.New("integration: Config.JWTSecret is required: the Supabase project's JWT secret")
	case cfg.Recipient == nil:
		return nil, errors.New("integration: Config.Recipient is required: the suppliers' contact details")
	case cfg.WedMeAuthorizer == nil:
		return nil, errors.New("integration: Config.WedMeAuthorizer is required: which supplier works for which couple")
	case cfg.NodeID == "":
		return nil, errors.New("integration: Config.NodeID is required: unique per instance, such as the pod name")
	}
	if cfg.Schema == "" {
		cfg.Schema = "wedsync"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.WedMeInterval <= 0 {
		cfg.WedMeInterval = 30 * time.Second
	}
	a := &App{pool: cfg.Pool, log: cfg.Logger, recipient: cfg.Recipient, wedmeT: cfg.WedMe,
		interval: cfg.WedMeInterval, secret: cfg.WedMeSecret}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	pg := cfg.Pool != nil

	// Realtime first: the other components' handlers broadcast through it.
	auth, err := realtime.NewJWTAuthenticator(realtime.WithHS256Secret(cfg.JWTSecret))
	if err != nil {
		return nil, fmt.Errorf("integration: JWTSecret: %w", err)
	}
	hubOpts := []realtime.Option{realtime.WithAuthenticator(auth), realtime.WithLogger(cfg.Logger)}
	if cfg.MeterProvider != nil {
		hubOpts = append(hubOpts, realtime.WithMeterProvider(cfg.MeterProvider))
	}
	if cfg.TracerProvider != nil {
		hubOpts = append(hubOpts, realtime.WithTracerProvider(cfg.TracerProvider))
	}
	if pg {
		// Every instance's dashboards see every broadcast, and replay
		// survives a restart. The broker keeps one LISTEN connection.
		bopts := []pgbroker.Option{pgbroker.WithSchema(cfg.Schema), pgbroker.WithLogger(cfg.Logger)}
		if cfg.MeterProvider != nil {
			bopts = append(bopts, pgbroker.WithMeterProvider(cfg.MeterProvider))
		}
		if cfg.TracerProvider != nil {
			bopts = append(bopts, pgbroker.WithTracerProvider(cfg.TracerProvider))
		}
		if a.broker, err = pgbroker.New(ctx, cfg.Pool, bopts...); err != nil {
			return nil, fmt.Errorf("integration: realtime broker: %w", err)
		}
		hubOpts = append(hubOpts, realtime.WithBroker(a.broker))
	}
	if a.Hub, err = realtime.NewHub(append(hubOpts, cfg.HubOptions...)...); err != nil {
		return nil, fmt.Errorf("integration: realtime hub: %w", err)
	}

	// Webhooks.
	wopts := []delivery.Option{delivery.WithSchema(cfg.Schema), delivery.WithLogger(cfg.Logger)}
	if pg {
		wopts = append(wopts, delivery.WithPostgres(cfg.Pool), delivery.WithEncryptionKey(cfg.EncryptionKey, cfg.PreviousKeys...))
	}
	if cfg.MeterProvider != nil {
		wopts = append(wopts, delivery.WithMeterProvider(cfg.MeterProvider))
	}
	if cfg.TracerProvider != nil {
		wopts = append(wopts, delivery.WithTracerProvider(cfg.TracerProvider))
	}
	if a.Webhooks, err = delivery.NewManager(append(wopts, cfg.WebhookOptions...)...); err != nil {
		return nil, fmt.Errorf("integration: webhooks: %w", err)
	}

	// Notifications: in-app messages show live on the dashboard.
	templates, err := hostTemplates()
	if err != nil {
		return nil, err
	}
	nopts := []notify.Option{notify.WithSchema(cfg.Schema), notify.WithLogger(cfg.Logger),
		notify.WithTemplates(templates), notify.WithInAppHandler(a.inAppMessage)}
	if pg {
		nopts = append(nopts, notify.WithPostgres(cfg.Pool), notify.WithEncryptionKey(cfg.EncryptionKey, cfg.PreviousKeys...))
	}
	for _, p := range cfg.NotifyProviders {
		nopts = append(nopts, notify.WithProvider(p))
	}
	if cfg.MeterProvider != nil {
		nopts = append(nopts, notify.WithMeterProvider(cfg.MeterProvider))
	}
	if cfg.TracerProvider != nil {
		nopts = append(nopts, notify.WithTracerProvider(cfg.TracerProvider))
	}
	if a.Notifier, err = notify.NewNotifier(append(nopts, cfg.NotifyOptions...)...); err != nil {
		return nil, fmt.Errorf("integration: notifications: %w", err)
	}

	// Calendars: what a sync finds goes to notify and realtime.
	copts := []calendar.Option{calendar.WithSchema(cfg.Schema), calendar.WithLogger(cfg.Logger),
		calendar.WithChangeHandler(a.calendarChange)}
	if pg {
		copts = append(copts, calendar.WithPostgres(cfg.Pool), calendar.WithEncryptionKey(cfg.EncryptionKey, cfg.PreviousKeys...))
	}
	for _, p := range cfg.CalendarProviders {
		copts = append(copts, calendar.WithProvider(p))
	}
	if cfg.MeterProvider != nil {
		copts = append(copts, calendar.WithMeterProvider(cfg.MeterProvider))
	}
	if cfg.TracerProvider != nil {
		copts = append(copts, calendar.WithTracerProvider(cfg.TracerProvider))
	}
	if a.Calendar, err = calendar.NewSync(append(copts, cfg.CalendarOptions...)...); err != nil {
		return nil, fmt.Errorf("integration: calendar: %w", err)
	}

	// WedMe sync, the supplier side: what the couple changes shows live.
	// (wedmesync has metrics but no spans: no WithTracerProvider.)
	mopts := []wedmesync.NodeOption{wedmesync.WithSchema(cfg.Schema), wedmesync.WithLogger(cfg.Logger),
		wedmesync.WithAuthorizer(cfg.WedMeAuthorizer), wedmesync.WithAppliedHandler(a.wedmeApplied)}
	if pg {
		mopts = append(mopts, wedmesync.WithPostgres(cfg.Pool))
	}
	if cfg.MeterProvider != nil {
		mopts = append(mopts, wedmesync.WithMeterProvider(cfg.MeterProvider))
	}
	if a.WedMe, err = wedmesync.NewNode(wedmesync.SideSupplier, cfg.NodeID, mopts...); err != nil {
		return nil, fmt.Errorf("integration: wedme: %w", err)
	}
	return a, nil
}

// Start starts the components' workers and the WedMe peer; call it once.
// In Postgres mode every started instance shares the durable work. On
// error, what started is stopped again.
func (a *App) Start(ctx context.Context) (err error) {
	var stops []func(context.Context) error
	defer func() {
		if err != nil {
			for i := len(stops) - 1; i >= 0; i-- {
				err = errors.Join(err, stops[i](context.WithoutCancel(ctx)))
			}
		}
	}()
	for _, c := range []struct {
		name        string
		start, stop func(context.Context) error
	}{
		{"webhooks", a.Webhooks.Start, a.Webhooks.Stop},
		{"notifications", a.Notifier.Start, a.Notifier.Stop},
		{"calendar", a.Calendar.Start, a.Calendar.Stop},
	} {
		if err := c.start(ctx); err != nil {
			return fmt.Errorf("integration: start %s: %w", c.name, err)
		}
		stops = append(stops, c.stop)
	}
	// The peer lives until Stop, not until ctx: shutdown stops it in its
	// place in the order. It pushes each WedMe change when the host's
	// transaction commits (in Postgres mode it LISTENs for the node's
	// commits, on one connection of its own), and pulls every interval.
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.stopPeer = cancel
	if a.wedmeT != nil {
		peer := a.WedMe.NewPeer("wedme", a.wedmeT)
		a.peerDone.Go(func() { peer.Run(pctx, a.interval) })
	}
	return nil
}

// Mount serves the SDK's endpoints on the host's mux: the realtime hub at
// HubPath (it authenticates every socket itself, from the apikey the
// dashboard sends, so it sits outside the host's session middleware), and,
// with Config.WedMeSecret, the WedMe platform's signed push and pull at
// WedMePath.
func (a *App) Mount(mux *http.ServeMux) error {
	mux.Handle("GET "+HubPath, a.Hub)
	if a.secret != "" {
		h, err := a.WedMe.Handler(a.secret, wedmesync.WithPathPrefix(WedMePath))
		if err != nil {
			return fmt.Errorf("integration: wedme handler: %w", err)
		}
		mux.Handle("POST "+WedMePath+"/", h)
	}
	return nil
}

// Stop shuts the SDK down in the order that loses nothing, within ctx:
// the WedMe peer (whose pushes broadcast), the workers (running jobs
// finish, or are canceled when ctx ends and stay queued for any
// instance), then the hub (close code 1001 to every dashboard, which
// reconnects elsewhere and replays what it missed), then the broker. Call
// it after the http.Server's Shutdown, so that no request starts a new
// business transaction meanwhile. The pool stays open: it is the host's.
func (a *App) Stop(ctx context.Context) error {
	var err error
	a.stopOnce.Do(func() {
		if a.stopPeer != nil {
			a.stopPeer()
			a.peerDone.Wait()
		}
		// The three workers are independent: stop them side by side, so
		// one slow drain does not eat the others' time.
		errs := make([]error, 3)
		var wg sync.WaitGroup
		for i, stop := range []func(context.Context) error{a.Calendar.Stop, a.Notifier.Stop, a.Webhooks.Stop} {
			wg.Go(func() { errs[i] = stop(ctx) })
		}
		wg.Wait()
		err = errors.Join(errs...)
		err = errors.Join(err, a.Hub.Shutdown(ctx))
		if a.broker != nil {
			err = errors.Join(err, a.broker.Close())
		}
	})
	return err
}

// close releases what New built when New fails or Start never ran.
func (a *App) close() {
	if a.Hub != nil {
		_ = a.Hub.Close()
	}
	if a.broker != nil {
		_ = a.broker.Close()
	}
}

// Serve serves srv on ln until ctx ends (main cancels it on SIGTERM) or
// the server fails, then shuts down within grace: the server first (no new
// requests, so no new business transactions), then the App. It returns the
// server's error, joined with the shutdown's.
func (a *App) Serve(ctx context.Context, srv *http.Server, ln net.Listener, grace time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	var err error
	running := true
	select {
	case err = <-errc: // the server failed: shut the rest down all the same
		running = false
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	// Shutdown waits for requests in flight, not for the dashboards'
	// sockets (hijacked): Stop closes those through the hub.
	err = errors.Join(err, srv.Shutdown(sctx))
	if running {
		if e := <-errc; !errors.Is(e, http.ErrServerClosed) {
			err = errors.Join(err, e)
		}
	}
	return errors.Join(err, a.Stop(sctx))
}
