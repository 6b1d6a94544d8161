package notify_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/require"

	. "github.com/wedsync/integrations/notify"
)

// fakeProvider stands in for a provider on the internet (an ESP, Twilio, a
// push service): it records what it was asked to send, and fails when told.
type fakeProvider struct {
	name string
	ch   Channel

	mu   sync.Mutex
	sent []Message
	fail func(m *Message) error
	got  chan Message
}

func newFake(name string, ch Channel) *fakeProvider {
	return &fakeProvider{name: name, ch: ch, got: make(chan Message, 1<<16)}
}

func (f *fakeProvider) Name() string     { return f.name }
func (f *fakeProvider) Channel() Channel { return f.ch }

func (f *fakeProvider) Send(ctx context.Context, m *Message) (Result, error) {
	f.mu.Lock()
	fail := f.fail
	f.mu.Unlock()
	if fail != nil {
		if err := fail(m); err != nil {
			return Result{}, err
		}
	}
	f.mu.Lock()
	f.sent = append(f.sent, *m)
	n := len(f.sent)
	f.mu.Unlock()
	f.got <- *m
	return Result{ExternalID: f.name + "-" + itoa(n)}, nil
}

func (f *fakeProvider) setFail(fn func(m *Message) error) {
	f.mu.Lock()
	f.fail = fn
	f.mu.Unlock()
}

func (f *fakeProvider) messages() []Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Message(nil), f.sent...)
}

// fakePush is a fake push provider of one kind.
type fakePush struct {
	*fakeProvider
	kind PushKind
}

func (f fakePush) PushKind() PushKind { return f.kind }

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

// testTemplates registers the events the tests send.
func testTemplates(t testing.TB) *Templates {
	t.Helper()
	tp := NewTemplates()
	require.NoError(t, tp.AddEvent(EventSpec{
		Name: "booking.confirmed", Category: CategoryBooking,
		Variables: []string{"couple_name", "date"},
		Channels:  []Channel{ChannelEmail, ChannelSMS, ChannelPush, ChannelInApp},
	}))
	for _, tpl := range []Template{
		{Event: "booking.confirmed", Channel: ChannelEmail, Subject: "Booking confirmed: {{.couple_name}}",
			Text: "Hi {{.recipient_name}}, {{.couple_name}} confirmed {{.date}}.", HTML: "<p>{{.couple_name}} confirmed {{.date}}.</p>"},
		{Event: "booking.confirmed", Channel: ChannelSMS, Text: "{{.couple_name}} confirmed {{.date}}"},
		{Event: "booking.confirmed", Channel: ChannelPush, Subject: "Booking confirmed", Text: "{{.couple_name}} on {{.date}}"},
		{Event: "booking.confirmed", Channel: ChannelInApp, Subject: "Booking confirmed", Text: "{{.couple_name}} on {{.date}}"},
	} {
		require.NoError(t, tp.Add(tpl))
	}
	require.NoError(t, tp.AddEvent(EventSpec{
		Name: "review.posted", Category: CategoryReview, Variables: []string{"stars"},
		Channels: []Channel{ChannelEmail, ChannelInApp},
	}))
	require.NoError(t, tp.Add(Template{Event: "review.posted", Channel: ChannelEmail, Subject: "New {{.stars}}-star review", Text: "You got {{.stars}} stars."}))
	require.NoError(t, tp.Add(Template{Event: "review.posted", Channel: ChannelInApp, Subject: "New review", Text: "{{.stars}} stars"}))
	return tp
}

// sim is a notifier on a fake clock with fake providers.
type sim struct {
	t      *testing.T
	n      *Notifier
	clk    *clockwork.FakeClock
	email  *fakeProvider
	email2 *fakeProvider
	sms    *fakeProvider
	push   *fakeProvider
	inapp  chan InAppMessage
}

// A Monday, 12:00 in London (BST).
var simT0 = time.Date(2026, 6, 8, 11, 0, 0, 0, time.UTC)

func newSim(t *testing.T, opts ...Option) *sim {
	t.Helper()
	s := &sim{t: t, clk: clockwork.NewFakeClockAt(simT0), email: newFake("mail-a", ChannelEmail),
		email2: newFake("mail-b", ChannelEmail), sms: newFake("sms", ChannelSMS), push: newFake("webpush", ChannelPush),
		inapp: make(chan InAppMessage, 1024)}
	base := []Option{
		WithClock(s.clk), WithTemplates(testTemplates(t)),
		WithProvider(s.email), WithProvider(s.email2), WithProvider(s.sms),
		WithProvider(fakePush{s.push, PushWeb}),
		WithInAppHandler(func(_ context.Context, m InAppMessage) { s.inapp <- m }),
		WithRetryJitter(0),
	}
	n, err := NewNotifier(append(base, opts...)...)
	require.NoError(t, err)
	require.NoError(t, n.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, n.Stop(context.Background())) })
	s.n = n
	return s
}

func (s *sim) idle() {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(s.t, s.n.WaitIdle(ctx))
}

// advance moves the clock and lets what became due run.
func (s *sim) advance(d time.Duration) {
	s.t.Helper()
	s.idle()
	s.clk.Advance(d)
	s.idle()
}

func (s *sim) status(id string) map[Channel]ChannelStatus {
	s.t.Helper()
	st, err := s.n.Status(context.Background(), id)
	require.NoError(s.t, err)
	out := map[Channel]ChannelStatus{}
	for _, c := range st.Channels {
		out[c.Channel] = c
	}
	return out
}

func (s *sim) statuses(id string) map[Channel]Status {
	out := map[Channel]Status{}
	for ch, c := range s.status(id) {
		out[ch] = c.Status
	}
	return out
}

func (s *sim) send(nt Notification) Receipt {
	s.t.Helper()
	r, err := s.n.Send(context.Background(), nt)
	require.NoError(s.t, err)
	s.idle()
	return r
}

func (s *sim) subscribe(supplier string) PushSubscription {
	s.t.Helper()
	sub, err := s.n.AddPushSubscription(context.Background(), PushSubscription{
		SupplierID: supplier, Kind: PushWeb, Endpoint: "https://push.example.com/" + supplier,
		P256DH: "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM", Auth: "tBHItJI5svbpez7KI4CCXg",
	})
	require.NoError(s.t, err)
	return sub
}

func booking(supplier, tz string) Notification {
	return Notification{
		Event: "booking.confirmed",
		Recipient: Recipient{SupplierID: supplier, VendorType: VendorPhotographer, Name: "Ava", Email: "ava@studio.example",
			Phone: "+447700900123", TimeZone: tz},
		Data: map[string]any{"couple_name": "Sam & Alex", "date": "13 June"},
	}
}
