package integration_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wedsync/integrations/calendar"
	"github.com/wedsync/integrations/calendar/calendartest"
	"github.com/wedsync/integrations/examples/integration"
	"github.com/wedsync/integrations/notify"
	"github.com/wedsync/integrations/notify/smtp"
	"github.com/wedsync/integrations/notify/smtp/smtptest"
	"github.com/wedsync/integrations/realtime/client"
	"github.com/wedsync/integrations/realtime/realtimetest"
	"github.com/wedsync/integrations/webhook/delivery"
	"github.com/wedsync/integrations/webhook/webhooktest"
	"github.com/wedsync/integrations/wedmesync"
)

// The sample supplier, its couple and its calendar.
const (
	supplier   = "sup_anna"
	couple     = "cpl_ana_ben"
	calendarID = "anna-work"
)

// jwtSecret stands for the Supabase project's JWT secret.
var jwtSecret = []byte("the project's JWT secret, 32 bytes or more")

// links is the host's answer to "who works for whom", from its bookings.
type links struct{}

func (links) Linked(_ context.Context, s, c string) (string, bool, error) {
	return "photographer", s == supplier && c == couple, nil
}

func (links) Suppliers(_ context.Context, c string) ([]wedmesync.Link, error) {
	if c != couple {
		return nil, nil
	}
	return []wedmesync.Link{{Supplier: supplier, Kind: "photographer"}}, nil
}

// recipient is the host's supplier profile lookup.
func recipient(_ context.Context, id string) (notify.Recipient, error) {
	if id != supplier {
		return notify.Recipient{}, fmt.Errorf("no supplier %q", id)
	}
	return notify.Recipient{SupplierID: supplier, VendorType: notify.VendorPhotographer, Name: "Anna",
		Email: "anna@studio.example", TimeZone: "Europe/London"}, nil
}

// outside is the world outside the host. What can run here runs for real
// on loopback (the vendor's CRM as an HTTP receiver that verifies
// signatures, an SMTP server); internet services run in memory (a
// calendar provider), and so does the other platform (WedMe's node).
type outside struct {
	vendor *webhooktest.Receiver
	mail   *smtptest.Server
	cal    *calendartest.Provider
	wedme  *wedmesync.Node
	// applied receives each change the WedMe platform applies.
	applied chan wedmesync.Applied
}

func startOutside() (*outside, error) {
	o := &outside{vendor: webhooktest.StartReceiver(), cal: calendartest.NewProvider("memcal"),
		applied: make(chan wedmesync.Applied, 16)}
	o.cal.AddCalendar(calendarID)
	var err error
	if o.mail, err = smtptest.Start(); err != nil {
		o.vendor.Close()
		return nil, err
	}
	o.wedme, err = wedmesync.NewNode(wedmesync.SideWedMe, "wedme-1", wedmesync.WithAuthorizer(links{}),
		wedmesync.WithAppliedHandler(func(_ context.Context, a wedmesync.Applied) { o.applied <- a }))
	if err != nil {
		o.close()
		return nil, err
	}
	return o, nil
}

func (o *outside) close() {
	o.vendor.Close()
	_ = o.mail.Close()
}

// config is the host's Config for these services: pool nil is memory mode.
func (o *outside) config(pool *pgxpool.Pool, schema string) (integration.Config, error) {
	email, err := smtp.New(o.mail.Host(), o.mail.Port(), smtp.WithTLS(smtp.NoTLS), smtp.WithFrom("bookings@wedsync.example", "WedSync"))
	if err != nil {
		return integration.Config{}, err
	}
	prefs := notify.DefaultPreferences(notify.VendorPhotographer)
	prefs.QuietHours = nil // so that the output does not depend on the time of day
	cfg := integration.Config{
		Pool: pool, Schema: schema,
		JWTSecret: jwtSecret, Recipient: recipient, WedMeAuthorizer: links{}, NodeID: "supplier-1",
		WedMe:             wedmesync.MemoryTransport{Peer: o.wedme, From: wedmesync.SideSupplier},
		CalendarProviders: []calendar.Provider{o.cal},
		NotifyProviders:   []notify.Provider{email},
		// The vendor listens on loopback over http, which the SSRF-safe
		// default refuses: a test allows exactly that.
		WebhookOptions: []delivery.Option{delivery.WithInsecureHTTP(true),
			delivery.WithAllowedNetworks(netip.MustParsePrefix("127.0.0.0/8"))},
		NotifyOptions: []notify.Option{notify.WithDefaultPreferences(notify.VendorPhotographer, prefs)},
	}
	if pool != nil {
		cfg.EncryptionKey = []byte("0123456789abcdef0123456789abcdef") // from the host's secret store in production
	}
	return cfg, nil
}

// connect is what the supplier does in the product's settings: register
// the CRM's webhook URL (the vendor gets the secret) and connect a
// calendar. It returns the calendar connection's id.
func (o *outside) connect(ctx context.Context, app *integration.App) (string, error) {
	ep, err := app.Webhooks.CreateEndpoint(ctx, delivery.EndpointInput{SupplierID: supplier,
		URL: o.vendor.URL + "/hooks/crm", EventTypes: []string{"booking.*"}})
	if err != nil {
		return "", err
	}
	secret, err := app.Webhooks.EndpointSecret(ctx, ep.ID)
	if err != nil {
		return "", err
	}
	if err := o.vendor.Verify(secret); err != nil {
		return "", err
	}
	conn, err := app.Calendar.Connect(ctx, calendar.Connection{Supplier: supplier, Provider: o.cal.Name(),
		Calendar: calendarID, TimeZone: "Europe/London", Sharing: calendar.Sharing{Couple: true}}, []byte("oauth token"))
	return conn.ID, err
}

// dashboard is the supplier's dashboard: a Supabase Realtime client on
// the host's hub, with the supplier's access token.
type dashboard struct {
	c      *client.Client
	events chan client.BroadcastMessage
	states chan client.ConnState
}

func openDashboard(ctx context.Context, hubURL string) (*dashboard, error) {
	token, err := realtimetest.HS256Token(jwtSecret, supplier, time.Now().Add(time.Hour))
	if err != nil {
		return nil, err
	}
	d := &dashboard{events: make(chan client.BroadcastMessage, 64), states: make(chan client.ConnState, 64)}
	d.c, err = client.New(hubURL, client.WithAPIKey(token),
		client.WithOnStateChange(func(s client.ConnState) { d.states <- s }))
	if err != nil {
		return nil, err
	}
	if err := d.c.Connect(ctx); err != nil {
		_ = d.c.Close()
		return nil, err
	}
	ch := d.c.Channel("supplier:"+supplier, client.ChannelConfig{})
	ch.OnBroadcast("*", func(m client.BroadcastMessage) { d.events <- m })
	if err := ch.Subscribe(ctx); err != nil {
		_ = d.c.Close()
		return nil, err
	}
	return d, nil
}

// next returns the next broadcast, or an error when ctx ends first.
func (d *dashboard) next(ctx context.Context) (client.BroadcastMessage, error) {
	select {
	case m := <-d.events:
		return m, nil
	case <-ctx.Done():
		return client.BroadcastMessage{}, fmt.Errorf("no broadcast: %w", ctx.Err())
	}
}

// waitState waits for the dashboard's connection to reach want.
func (d *dashboard) waitState(ctx context.Context, want client.ConnState) error {
	for {
		select {
		case s := <-d.states:
			if s == want {
				return nil
			}
		case <-ctx.Done():
			return fmt.Errorf("dashboard never %s: %w", want, ctx.Err())
		}
	}
}

// waitApplied returns the next change the WedMe platform applied.
func (o *outside) waitApplied(ctx context.Context) (wedmesync.Applied, error) {
	select {
	case a := <-o.applied:
		return a, nil
	case <-ctx.Done():
		return wedmesync.Applied{}, fmt.Errorf("nothing applied on WedMe: %w", ctx.Err())
	}
}

// settle waits until no component has work due: every job the host's
// writes queued has run.
func settle(ctx context.Context, app *integration.App) error {
	return errors.Join(app.Webhooks.WaitIdle(ctx), app.Notifier.WaitIdle(ctx), app.Calendar.WaitIdle(ctx))
}

// field returns a WedMe record's field as text.
func field(r wedmesync.Record, name string) string {
	return strings.Trim(string(r.Fields[name].Value), `"`)
}
