package notify

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"
)

// Benchmarks for issue 8's CPU target: routing plus rendering costs at most
// 50 µs per notification. BenchmarkRouteAndRender times what the jobs of
// one notification compute (without the store and the queue);
// BenchmarkSendMemory times Send end to end in memory mode, through the
// queue and the store, to a provider that does nothing.
//
//	go test -run '^$' -bench 'RouteAndRender|SendMemory' -benchmem -count 5 ./notify/

// benchTemplates registers a typical event: a booking confirmation with
// five variables, an email with a text and an HTML part, an SMS, a push
// message and an in-app message.
func benchTemplates(b *testing.B) *Templates {
	b.Helper()
	tp := NewTemplates()
	if err := tp.AddEvent(EventSpec{
		Name: "booking.confirmed", Category: CategoryBooking,
		Variables: []string{"couple_name", "date", "venue", "package", "amount"},
		Optional:  []string{"note"},
		Channels:  AllChannels(),
	}); err != nil {
		b.Fatal(err)
	}
	for _, tpl := range []Template{
		{Event: "booking.confirmed", Channel: ChannelEmail,
			Subject: "Booking confirmed: {{.couple_name}} on {{.date}}",
			Text: `Hi {{.recipient_name}},

{{.couple_name}} confirmed their booking for {{.date}} at {{.venue}}.
Package: {{.package}} ({{.amount}}).
{{with .note}}Their note: {{.}}
{{end}}
See the booking: {{.url}}`,
			HTML: `<p>Hi {{.recipient_name}},</p>
<p><strong>{{.couple_name}}</strong> confirmed their booking for <strong>{{.date}}</strong> at {{.venue}}.</p>
<table><tr><th>Package</th><td>{{.package}}</td></tr><tr><th>Amount</th><td>{{.amount}}</td></tr></table>
{{with .note}}<blockquote>{{.}}</blockquote>{{end}}
<p><a href="{{.url}}">See the booking</a></p>`},
		{Event: "booking.confirmed", Channel: ChannelSMS,
			Text: "WedSync: {{.couple_name}} confirmed {{.date}} at {{.venue}} ({{.package}}). {{.url}}"},
		{Event: "booking.confirmed", Channel: ChannelPush, Subject: "Booking confirmed",
			Text: "{{.couple_name}} on {{.date}} at {{.venue}}"},
		{Event: "booking.confirmed", Channel: ChannelInApp, Subject: "Booking confirmed: {{.couple_name}}",
			Text: "{{.couple_name}} booked {{.package}} for {{.date}} at {{.venue}}."},
	} {
		if err := tp.Add(tpl); err != nil {
			b.Fatal(err)
		}
	}
	return tp
}

func benchNotification() Notification {
	return Notification{
		Event: "booking.confirmed",
		Recipient: Recipient{
			SupplierID: "sup_bench", VendorType: VendorPhotographer, Name: "Zoë Ångström",
			Email: "zoe.angstrom@example.com", Phone: "+447400123456", TimeZone: "Europe/London", Locale: "en-GB",
		},
		Data: map[string]any{
			"couple_name": "Sam & Alex Smith", "date": "14 June 2027", "venue": "Hengrave Hall",
			"package": "Full day", "amount": "£2,400", "note": "We'd love some shots by the lake.",
		},
		URL:     "https://wedsync.example/bookings/bk_123",
		ReplyTo: "sam.smith@example.org",
	}
}

// benchStored is the notification as the route and send jobs read it back
// from the store (its data as JSON).
func benchStored(b *testing.B, nt Notification) *storedNotification {
	b.Helper()
	data, err := json.Marshal(nt.Data)
	if err != nil {
		b.Fatal(err)
	}
	return &storedNotification{
		ID: "ntf_bench", SupplierID: nt.Recipient.SupplierID, Event: nt.Event, Category: CategoryBooking,
		Priority: PriorityNormal, Recipient: nt.Recipient, Data: data, URL: nt.URL, ReplyTo: nt.ReplyTo,
	}
}

func benchNotifier(b *testing.B, opts ...Option) *Notifier {
	b.Helper()
	opts = append([]Option{WithTemplates(benchTemplates(b)),
		WithUnsubscribeURL(func(r Recipient, _ Category) string {
			return "https://wedsync.example/preferences/" + r.SupplierID
		})}, opts...)
	n, err := NewNotifier(opts...)
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// BenchmarkRouteAndRender is the CPU a notification costs outside the
// store and the queue: its supplier's time zone, the routing decision
// (a photographer's default preferences, whose booking category goes out
// on push, SMS, email and in-app; quiet hours 22:00 to 07:00 in
// Europe/London; the digest check), the email (subject, text, HTML), SMS,
// push and in-app renderings, the email and phone checks, and the masked
// recipients of the attempt log. Sub-benchmarks "all" (the target, at most
// 50 µs) and its parts.
func BenchmarkRouteAndRender(b *testing.B) {
	n := benchNotifier(b)
	nt := benchNotification()
	sn := benchStored(b, nt)
	prefs := DefaultPreferences(nt.Recipient.VendorType)
	day := time.Date(2027, 6, 14, 13, 0, 0, 0, time.UTC)    // 14:00 BST
	night := time.Date(2027, 6, 14, 22, 30, 0, 0, time.UTC) // 23:30 BST: quiet hours
	loc, err := checkTimeZone(nt.Recipient.TimeZone)
	if err != nil {
		b.Fatal(err)
	}
	pushEndpoint := "https://fcm.googleapis.com/fcm/send/dGVzdC1lbmRwb2ludA"

	// Check once what the loop does: four channels queued by day, three
	// deferred and in-app queued by night.
	if p := n.plan(sn, &prefs, nil, day, loc, 1); len(p.jobs) != 4 || len(p.rows) != 4 {
		b.Fatalf("by day: %d rows, %d jobs; want 4 and 4", len(p.rows), len(p.jobs))
	}
	if p := n.plan(sn, &prefs, nil, night, loc, 1); len(p.rows) != 4 || len(p.jobs) != 2 {
		b.Fatalf("at night: %d rows, %d jobs; want 4 and 2 (in-app, next round)", len(p.rows), len(p.jobs))
	}

	b.Run("all", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			loc, err := checkTimeZone(sn.Recipient.TimeZone)
			if err != nil {
				b.Fatal(err)
			}
			p := n.plan(sn, &prefs, nil, day, loc, 1)
			for _, r := range p.rows {
				if r.Status != StatusQueued {
					b.Fatalf("%s: %s", r.Channel, r.Status)
				}
				if r.Channel == ChannelInApp {
					if _, err := n.render(sn, ChannelInApp); err != nil {
						b.Fatal(err)
					}
					continue
				}
				m, err := n.message(sn, r.Channel, 1)
				if err != nil {
					b.Fatal(err)
				}
				if r.Channel == ChannelPush {
					m.Subscription = &PushSubscription{Kind: PushWeb, Endpoint: pushEndpoint}
				}
				_ = MaskRecipient(r.Channel, recipientOf(m))
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/1e3/float64(b.N), "µs/notification")
	})
	b.Run("plan", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = n.plan(sn, &prefs, nil, day, loc, 1)
		}
	})
	b.Run("plan-quiet-hours", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = n.plan(sn, &prefs, nil, night, loc, 1)
		}
	})
	for _, ch := range AllChannels() {
		b.Run("render-"+string(ch), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := n.render(sn, ch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("checks-and-masks", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := checkTimeZone(sn.Recipient.TimeZone); err != nil {
				b.Fatal(err)
			}
			if err := checkEmail(sn.Recipient.Email); err != nil {
				b.Fatal(err)
			}
			if err := checkPhone(sn.Recipient.Phone); err != nil {
				b.Fatal(err)
			}
			_ = MaskRecipient(ChannelEmail, sn.Recipient.Email)
			_ = MaskRecipient(ChannelSMS, sn.Recipient.Phone)
			_ = MaskRecipient(ChannelPush, pushEndpoint)
		}
	})
}

// countingProvider accepts every message and does nothing else; done is
// closed when want messages have arrived.
type countingProvider struct {
	name string
	ch   Channel
	c    *arrivals
}

func (p *countingProvider) Name() string     { return p.name }
func (p *countingProvider) Channel() Channel { return p.ch }
func (p *countingProvider) Send(context.Context, *Message) (Result, error) {
	p.c.add()
	return Result{}, nil
}

// arrivals counts deliveries on every channel and says when want of them
// have come.
type arrivals struct {
	mu   sync.Mutex
	got  int
	want int
	done chan struct{}
}

func (a *arrivals) expect(n int) <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.got, a.want, a.done = 0, n, make(chan struct{})
	if n == 0 {
		close(a.done)
	}
	return a.done
}

func (a *arrivals) add() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.got++
	if a.got == a.want {
		close(a.done)
	}
}

// BenchmarkSendMemory is Send in memory mode end to end: a notification is
// stored, routed (preferences, quiet hours, digest), rendered and handed to
// a provider that does nothing, and its attempt and status are recorded.
// One goroutine calls Send b.N times while the default 64 workers run the
// jobs; the clock stops when the providers have seen every message, so
// ns/op is the notifier's throughput per notification. Preferences are
// explicit and have no quiet hours (the defaults' would hold the sends at
// night): "email" sends on email only, "email+sms+in_app" on three
// channels.
func BenchmarkSendMemory(b *testing.B) {
	for _, chs := range [][]Channel{{ChannelEmail}, {ChannelEmail, ChannelSMS, ChannelInApp}} {
		name := ""
		for i, ch := range chs {
			if i > 0 {
				name += "+"
			}
			name += string(ch)
		}
		b.Run(name, func(b *testing.B) { benchSendMemory(b, chs) })
	}
}

func benchSendMemory(b *testing.B, chs []Channel) {
	c := &arrivals{}
	n := benchNotifier(b,
		WithProvider(&countingProvider{name: "noop-email", ch: ChannelEmail, c: c}),
		WithProvider(&countingProvider{name: "noop-sms", ch: ChannelSMS, c: c}),
		WithInAppHandler(func(context.Context, InAppMessage) { c.add() }))
	ctx := context.Background()
	on := map[Channel]bool{}
	for _, ch := range chs {
		on[ch] = true
	}
	nt := benchNotification()
	if err := n.SetPreferences(ctx, nt.Recipient.SupplierID, Preferences{Default: CategoryPreferences{Channels: on}}); err != nil {
		b.Fatal(err)
	}
	if err := n.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := n.Stop(ctx); err != nil {
			b.Error(err)
		}
	}()
	done := c.expect(b.N * len(chs))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := n.Send(ctx, nt); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-done:
	case <-time.After(time.Minute):
		b.Fatalf("waited a minute for %d messages", b.N*len(chs))
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "notifications/s")
}
