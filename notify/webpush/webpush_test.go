package webpush_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/notify"
	"github.com/wedsync/integrations/notify/webpush"
)

func message(sub *notify.PushSubscription) *notify.Message {
	return &notify.Message{
		NotificationID: "ntf_01",
		Attempt:        1,
		Channel:        notify.ChannelPush,
		Priority:       notify.PriorityNormal,
		Category:       notify.CategoryBooking,
		Event:          "booking.confirmed",
		Subscription:   sub,
		Subject:        "Booking confirmed",
		Text:           `Ava & Noah booked you for 14 June <3 "Kew Gardens"`,
		URL:            "https://app.wedsync.example/bookings/42",
	}
}

func TestProviderIdentity(t *testing.T) {
	t.Parallel()
	p := newProvider(t)
	require.Equal(t, "webpush", p.Name())
	require.Equal(t, notify.ChannelPush, p.Channel())
	require.Equal(t, notify.PushWeb, p.PushKind())
	var _ notify.PushProvider = p

	named := newProvider(t, webpush.WithName("webpush-eu"))
	require.Equal(t, "webpush-eu", named.Name())
}

func TestSendEncryptsAndSigns(t *testing.T) {
	t.Parallel()
	ps := newPushService(t)
	_, sub := ps.subscribe(t)
	p := newProvider(t)

	res, err := p.Send(t.Context(), message(sub))
	require.NoError(t, err)
	require.Equal(t, "/message/m1", res.ExternalID, "ExternalID is the Location header")

	got := ps.only(t)
	// The payload, decrypted with the browser's private key and auth secret.
	want := `{"title":"Booking confirmed","body":"Ava & Noah booked you for 14 June <3 \"Kew Gardens\"",` +
		`"url":"https://app.wedsync.example/bookings/42","notification_id":"ntf_01","category":"booking","priority":"normal"}`
	require.JSONEq(t, want, string(got.Payload))
	var pl webpush.Payload
	require.NoError(t, json.Unmarshal(got.Payload, &pl))
	require.Equal(t, webpush.Payload{
		Title:          "Booking confirmed",
		Body:           `Ava & Noah booked you for 14 June <3 "Kew Gardens"`,
		URL:            "https://app.wedsync.example/bookings/42",
		NotificationID: "ntf_01",
		Category:       notify.CategoryBooking,
		Priority:       notify.PriorityNormal,
	}, pl)

	// aes128gcm in one 4,096-byte record.
	require.Equal(t, "aes128gcm", got.Encoding)
	require.Equal(t, uint32(4096), got.RecordLen)
	require.Equal(t, 4096, got.BodyLen)
	// VAPID: the provider's key, the endpoint's origin, our subscriber.
	require.Equal(t, p.PublicKey(), got.VAPIDKey)
	require.Equal(t, ps.srv.URL, got.Aud)
	require.Equal(t, testSubscriber, got.Sub)
	// Defaults: a day's TTL, normal urgency.
	require.Equal(t, "86400", got.TTL)
	require.Equal(t, "normal", got.Urgency)
}

func TestSendHTTPSSubscriber(t *testing.T) {
	t.Parallel()
	ps := newPushService(t)
	_, sub := ps.subscribe(t)
	pub, priv, err := webpush.GenerateVAPIDKeys()
	require.NoError(t, err)
	p, err := webpush.New(pub, priv, "https://wedsync.example/contact",
		webpush.WithAllowedNetworks(loopback...), webpush.WithInsecureHTTP(true))
	require.NoError(t, err)
	t.Cleanup(p.CloseIdleConnections)
	_, err = p.Send(t.Context(), message(sub))
	require.NoError(t, err)
	require.Equal(t, "https://wedsync.example/contact", ps.only(t).Sub)
}

func TestSendCriticalUrgencyAndTTL(t *testing.T) {
	t.Parallel()
	ps := newPushService(t)
	_, sub := ps.subscribe(t)
	p := newProvider(t, webpush.WithTTL(90*time.Minute))

	m := message(sub)
	m.Priority = notify.PriorityCritical
	_, err := p.Send(t.Context(), m)
	require.NoError(t, err)
	got := ps.only(t)
	require.Equal(t, "5400", got.TTL)
	require.Equal(t, "high", got.Urgency)
	require.Contains(t, string(got.Payload), `"priority":"critical"`)
}

func TestSendPaddedStandardBase64Keys(t *testing.T) {
	t.Parallel()
	ps := newPushService(t)
	b, sub := ps.subscribe(t)
	// Some clients send standard base64 with padding.
	sub.P256DH = base64.StdEncoding.EncodeToString(b.priv.PublicKey().Bytes())
	sub.Auth = base64.StdEncoding.EncodeToString(b.auth)
	_, err := newProvider(t).Send(t.Context(), message(sub))
	require.NoError(t, err)
	require.Contains(t, string(ps.only(t).Payload), `"notification_id":"ntf_01"`)
}

func TestSendResponseMapping(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		status     int
		header     map[string]string
		ok         bool
		gone       bool
		retryAfter time.Duration
		is         error
	}{
		{name: "201", status: http.StatusCreated, ok: true},
		{name: "200", status: http.StatusOK, ok: true},
		{name: "202", status: http.StatusAccepted, ok: true},
		{name: "410 gone", status: http.StatusGone, gone: true},
		{name: "404 not found", status: http.StatusNotFound, gone: true},
		{name: "429 with Retry-After", status: http.StatusTooManyRequests, header: map[string]string{"Retry-After": "120"}, retryAfter: 2 * time.Minute},
		{name: "429 without Retry-After", status: http.StatusTooManyRequests},
		{name: "503 with Retry-After", status: http.StatusServiceUnavailable, header: map[string]string{"Retry-After": "30"}, retryAfter: 30 * time.Second},
		{name: "500", status: http.StatusInternalServerError},
		{name: "400", status: http.StatusBadRequest},
		{name: "403 (VAPID key mismatch)", status: http.StatusForbidden},
		{name: "413 too large", status: http.StatusRequestEntityTooLarge, is: webpush.ErrPayloadTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ps := newPushService(t)
			_, sub := ps.subscribe(t)
			ps.setRespond(func(w http.ResponseWriter, _ *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(`{"code":0,"errno":0,"error":"x"}`))
			})
			res, err := newProvider(t).Send(t.Context(), message(sub))
			ps.only(t)
			if tt.ok {
				require.NoError(t, err)
				require.Empty(t, res.ExternalID, "no Location header")
				return
			}
			require.Error(t, err)
			require.NotErrorIs(t, err, notify.ErrBadRecipient)
			if tt.gone {
				require.ErrorIs(t, err, notify.ErrSubscriptionGone)
				require.Contains(t, err.Error(), fmt.Sprint(tt.status))
				return
			}
			require.NotErrorIs(t, err, notify.ErrSubscriptionGone)
			var pe *notify.ProviderError
			require.ErrorAs(t, err, &pe)
			require.Equal(t, "webpush", pe.Provider)
			require.Equal(t, tt.status, pe.StatusCode)
			require.Equal(t, tt.retryAfter, pe.RetryAfter)
			require.False(t, pe.Timeout)
			if tt.is != nil {
				require.ErrorIs(t, err, tt.is)
			}
		})
	}
}

func TestSendDoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	var followed atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { followed.Add(1) }))
	t.Cleanup(target.Close)
	ps := newPushService(t)
	_, sub := ps.subscribe(t)
	ps.setRespond(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL, http.StatusTemporaryRedirect)
	})

	for name, p := range map[string]*webpush.Provider{
		"default client": newProvider(t),
		// A client that would follow redirects does not here.
		"given client": newProvider(t, webpush.WithHTTPClient(&http.Client{})),
	} {
		_, err := p.Send(t.Context(), message(sub))
		var pe *notify.ProviderError
		require.ErrorAs(t, err, &pe, name)
		require.Equal(t, http.StatusTemporaryRedirect, pe.StatusCode, name)
	}
	require.Zero(t, followed.Load())
	require.Len(t, ps.requests(), 2)
}

func TestDefaultClientRefusesLoopback(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	handler := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusCreated)
	})
	plain := httptest.NewServer(handler)
	t.Cleanup(plain.Close)
	tls := httptest.NewTLSServer(handler)
	t.Cleanup(tls.Close)
	b := newBrowser(t)
	pub, priv, err := webpush.GenerateVAPIDKeys()
	require.NoError(t, err)

	// Without WithAllowedNetworks the guard refuses 127.0.0.1, over https
	// as over http, and by name as by address.
	https, err := webpush.New(pub, priv, testSubscriber)
	require.NoError(t, err)
	t.Cleanup(https.CloseIdleConnections)
	insecure, err := webpush.New(pub, priv, testSubscriber, webpush.WithInsecureHTTP(true))
	require.NoError(t, err)
	t.Cleanup(insecure.CloseIdleConnections)
	for _, c := range []struct {
		p        *webpush.Provider
		endpoint string
	}{
		{https, tls.URL + "/push/1"},
		{https, strings.Replace(tls.URL, "127.0.0.1", "localhost", 1) + "/push/1"},
		{insecure, plain.URL + "/push/1"},
		{https, "https://169.254.169.254/push/1"},
		{https, "https://[::1]:8443/push/1"},
	} {
		_, err := c.p.Send(t.Context(), message(b.subscription(c.endpoint)))
		require.ErrorIs(t, err, notify.ErrBadRecipient, c.endpoint)
		var re *notify.RecipientError
		require.ErrorAs(t, err, &re)
		require.Equal(t, "push_subscription.endpoint", re.Field)
		require.Contains(t, re.Rule, "SSRF")
		require.NotContains(t, err.Error(), "/push/1", "the endpoint's path is not repeated")
	}
	require.Zero(t, hits.Load(), "no request reached a server")
}

func TestSendTimeout(t *testing.T) {
	t.Parallel()
	ps := newPushService(t)
	_, sub := ps.subscribe(t)
	ps.setRespond(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // until the client gives up
	})
	p := newProvider(t, webpush.WithTimeout(50*time.Millisecond))
	_, err := p.Send(t.Context(), message(sub))
	var pe *notify.ProviderError
	require.ErrorAs(t, err, &pe)
	require.True(t, pe.Timeout)
	require.Zero(t, pe.StatusCode)
	require.NotContains(t, err.Error(), "/push/", "the endpoint is not repeated")
}

func TestSendHonoursContext(t *testing.T) {
	t.Parallel()
	ps := newPushService(t)
	_, sub := ps.subscribe(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := newProvider(t).Send(ctx, message(sub))
	require.ErrorIs(t, err, context.Canceled)
	require.Empty(t, ps.requests())
}

func TestSendBadSubscription(t *testing.T) {
	t.Parallel()
	ps := newPushService(t)
	b, good := ps.subscribe(t)
	pubBytes := b.priv.PublicKey().Bytes()
	b64 := base64.RawURLEncoding.EncodeToString
	compressed := append([]byte{2 + pubBytes[64]&1}, pubBytes[1:33]...)
	offCurve := append([]byte(nil), pubBytes...)
	offCurve[64] ^= 1

	const endpoint, p256dh, auth = "push_subscription.endpoint", "push_subscription.p256dh", "push_subscription.auth"
	tests := []struct {
		name  string
		edit  func(s *notify.PushSubscription)
		field string
	}{
		{"fcm kind", func(s *notify.PushSubscription) { s.Kind = notify.PushFCM }, "push_subscription.kind"},
		{"no endpoint", func(s *notify.PushSubscription) { s.Endpoint = "" }, endpoint},
		{"endpoint not a URL", func(s *notify.PushSubscription) { s.Endpoint = "https://a b\x7f/" }, endpoint},
		{"ftp endpoint", func(s *notify.PushSubscription) { s.Endpoint = "ftp://push.example/x" }, endpoint},
		{"relative endpoint", func(s *notify.PushSubscription) { s.Endpoint = "/push/x" }, endpoint},
		{"endpoint with user info", func(s *notify.PushSubscription) {
			s.Endpoint = strings.Replace(s.Endpoint, "://", "://u:p@", 1)
		}, endpoint},
		{"endpoint port 0", func(s *notify.PushSubscription) { s.Endpoint = "https://push.example:0/x" }, endpoint},
		{"no p256dh", func(s *notify.PushSubscription) { s.P256DH = "" }, p256dh},
		{"p256dh not base64", func(s *notify.PushSubscription) { s.P256DH = "!!" + s.P256DH[2:] }, p256dh},
		{"p256dh short", func(s *notify.PushSubscription) { s.P256DH = b64(pubBytes[:64]) }, p256dh},
		{"p256dh compressed", func(s *notify.PushSubscription) { s.P256DH = b64(compressed) }, p256dh},
		{"p256dh off the curve", func(s *notify.PushSubscription) { s.P256DH = b64(offCurve) }, p256dh},
		{"no auth", func(s *notify.PushSubscription) { s.Auth = "" }, auth},
		{"auth not base64", func(s *notify.PushSubscription) { s.Auth = "*" + s.Auth[1:] }, auth},
		{"auth 15 bytes", func(s *notify.PushSubscription) { s.Auth = b64(b.auth[:15]) }, auth},
		{"auth 32 bytes", func(s *notify.PushSubscription) { s.Auth = b64(append(b.auth, b.auth...)) }, auth},
	}
	p := newProvider(t)
	https := newProvider(t, webpush.WithInsecureHTTP(false))

	_, err := p.Send(t.Context(), message(nil))
	var re *notify.RecipientError
	require.ErrorAs(t, err, &re)
	require.Equal(t, "push_subscription", re.Field)
	require.Equal(t, "is required", re.Rule)

	for _, tt := range tests {
		sub := *good
		tt.edit(&sub)
		_, err := p.Send(t.Context(), message(&sub))
		require.ErrorIs(t, err, notify.ErrBadRecipient, tt.name)
		require.ErrorAs(t, err, &re, tt.name)
		require.Equal(t, tt.field, re.Field, tt.name)
		for _, secret := range []string{sub.P256DH, sub.Auth, sub.Endpoint} {
			if len(secret) > 8 {
				require.NotContains(t, err.Error(), secret, "%s: the subscription is not repeated", tt.name)
			}
		}
	}
	// http endpoints need WithInsecureHTTP.
	_, err = https.Send(t.Context(), message(good))
	require.ErrorAs(t, err, &re)
	require.Equal(t, "push_subscription.endpoint", re.Field)
	require.Equal(t, "must be an https URL", re.Rule)
	require.Empty(t, ps.requests(), "nothing was sent")
}

func TestSendTruncatesLongBody(t *testing.T) {
	t.Parallel()
	ps := newPushService(t)
	_, sub := ps.subscribe(t)
	// Multi-byte runes and characters JSON escapes, well over 4 KiB.
	long := strings.Repeat("Café 💍 \"déjà vu\"\n", 400)
	m := message(sub)
	m.Text = long
	_, err := newProvider(t).Send(t.Context(), m)
	require.NoError(t, err)

	got := ps.only(t)
	require.LessOrEqual(t, len(got.Payload), webpush.MaxPayloadSize)
	var pl webpush.Payload
	require.NoError(t, json.Unmarshal(got.Payload, &pl))
	require.Equal(t, "Booking confirmed", pl.Title, "the title is kept")
	require.Equal(t, "ntf_01", pl.NotificationID)
	requireCut(t, long, pl.Body)
	// As long as it can be: one more character would not fit.
	next, _ := utf8.DecodeRuneInString(long[len(pl.Body)-len("…"):])
	pl.Body = strings.TrimSuffix(pl.Body, "…") + string(next) + "…"
	bigger, err := json.Marshal(pl)
	require.NoError(t, err)
	require.Greater(t, len(bigger), webpush.MaxPayloadSize)
}

// requireCut checks that cut is a prefix of full, on a rune boundary,
// followed by "…".
func requireCut(t *testing.T, full, cut string) {
	t.Helper()
	require.True(t, utf8.ValidString(cut))
	prefix, ok := strings.CutSuffix(cut, "…")
	require.True(t, ok, "a cut text ends with …")
	require.True(t, strings.HasPrefix(full, prefix))
	require.True(t, utf8.RuneStart(full[len(prefix)]), "cut on a rune boundary")
}

func TestEncodePayload(t *testing.T) {
	t.Parallel()
	base := webpush.Payload{Title: "T", NotificationID: "ntf_1", Category: notify.CategorySystem, Priority: notify.PriorityNormal}

	t.Run("fits as is", func(t *testing.T) {
		pl := base
		pl.Body = strings.Repeat("x", 3000)
		b, err := webpush.EncodePayload(pl)
		require.NoError(t, err)
		var back webpush.Payload
		require.NoError(t, json.Unmarshal(b, &back))
		require.Equal(t, pl, back)
	})
	t.Run("exactly the limit", func(t *testing.T) {
		pl := base
		empty, err := webpush.EncodePayload(pl)
		require.NoError(t, err)
		pl.Body = strings.Repeat("x", webpush.MaxPayloadSize-len(empty))
		b, err := webpush.EncodePayload(pl)
		require.NoError(t, err)
		require.Len(t, b, webpush.MaxPayloadSize)
		require.NotContains(t, string(b), "…", "not cut")
	})
	t.Run("escapes count", func(t *testing.T) {
		pl := base
		pl.Body = strings.Repeat("\x01", 1000) // 6 bytes each in JSON
		b, err := webpush.EncodePayload(pl)
		require.NoError(t, err)
		require.LessOrEqual(t, len(b), webpush.MaxPayloadSize)
		require.Greater(t, len(b), webpush.MaxPayloadSize-6-len("…"))
		var back webpush.Payload
		require.NoError(t, json.Unmarshal(b, &back))
		requireCut(t, pl.Body, back.Body)
	})
	t.Run("long title too", func(t *testing.T) {
		pl := base
		pl.Title = strings.Repeat("Ü", 3000)
		pl.Body = strings.Repeat("b", 3000)
		b, err := webpush.EncodePayload(pl)
		require.NoError(t, err)
		require.LessOrEqual(t, len(b), webpush.MaxPayloadSize)
		var back webpush.Payload
		require.NoError(t, json.Unmarshal(b, &back))
		require.Empty(t, back.Body, "the body goes first")
		requireCut(t, pl.Title, back.Title)
	})
	t.Run("url too long", func(t *testing.T) {
		pl := base
		pl.URL = "https://wedsync.example/" + strings.Repeat("a", 4000)
		_, err := webpush.EncodePayload(pl)
		require.ErrorIs(t, err, webpush.ErrPayloadTooLarge)
	})
}

func TestGenerateVAPIDKeys(t *testing.T) {
	t.Parallel()
	pub, priv, err := webpush.GenerateVAPIDKeys()
	require.NoError(t, err)
	pubBytes, err := base64.RawURLEncoding.DecodeString(pub)
	require.NoError(t, err)
	require.Len(t, pubBytes, 65, "public comes first")
	require.Equal(t, byte(4), pubBytes[0])
	privBytes, err := base64.RawURLEncoding.DecodeString(priv)
	require.NoError(t, err)
	require.Len(t, privBytes, 32)

	p, err := webpush.New(pub, priv, testSubscriber)
	require.NoError(t, err)
	require.Equal(t, pub, p.PublicKey())
	_, err = webpush.New(priv, pub, testSubscriber)
	require.ErrorIs(t, err, webpush.ErrInvalid, "swapped keys are refused")

	// Padded base64url is accepted too.
	padded := base64.URLEncoding.EncodeToString(pubBytes)
	p, err = webpush.New(padded, base64.URLEncoding.EncodeToString(privBytes), testSubscriber)
	require.NoError(t, err)
	require.Equal(t, pub, p.PublicKey(), "kept unpadded")
}

func TestNewValidation(t *testing.T) {
	t.Parallel()
	pub, priv, err := webpush.GenerateVAPIDKeys()
	require.NoError(t, err)
	otherPub, otherPriv, err := webpush.GenerateVAPIDKeys()
	require.NoError(t, err)
	b64 := base64.RawURLEncoding.EncodeToString
	pubBytes, _ := base64.RawURLEncoding.DecodeString(pub)
	offCurve := append([]byte(nil), pubBytes...)
	offCurve[64] ^= 1
	// The P-256 group order n: not a valid scalar.
	order, _ := base64.StdEncoding.DecodeString("/////wAAAAD//////////7zm+q2nF56E876zmWMlY1E=")

	tests := []struct {
		name            string
		pub, priv, sub  string
		opts            []webpush.Option
		field, contains string
	}{
		{"no public key", "", priv, testSubscriber, nil, "vapidPublicKey", "required"},
		{"public not base64", "***", priv, testSubscriber, nil, "vapidPublicKey", "base64url"},
		{"public short", b64(pubBytes[:33]), priv, testSubscriber, nil, "vapidPublicKey", "65 bytes"},
		{"public off curve", b64(offCurve), priv, testSubscriber, nil, "vapidPublicKey", "curve"},
		{"no private key", pub, "", testSubscriber, nil, "vapidPrivateKey", "required"},
		{"private not base64", pub, priv[:10] + "+/" + priv[12:], testSubscriber, nil, "vapidPrivateKey", "base64url"},
		{"private short", pub, priv[:20], testSubscriber, nil, "vapidPrivateKey", "32-byte"},
		{"private zero", pub, b64(make([]byte, 32)), testSubscriber, nil, "vapidPrivateKey", "scalar"},
		{"private is the order", pub, b64(order), testSubscriber, nil, "vapidPrivateKey", "scalar"},
		{"mismatched pair", pub, otherPriv, testSubscriber, nil, "vapidPrivateKey", "vapidPublicKey"},
		{"mismatched pair (other public)", otherPub, priv, testSubscriber, nil, "vapidPrivateKey", "vapidPublicKey"},
		{"no subscriber", pub, priv, "", nil, "subscriber", "required"},
		{"bare email subscriber", pub, priv, "ops@wedsync.example", nil, "subscriber", "mailto"},
		{"http subscriber", pub, priv, "http://wedsync.example", nil, "subscriber", "mailto"},
		{"mailto without address", pub, priv, "mailto:", nil, "subscriber", "mailto"},
		{"mailto with query", pub, priv, "mailto:ops@wedsync.example?subject=x", nil, "subscriber", "mailto"},
		{"https without host", pub, priv, "https:///contact", nil, "subscriber", "https"},
		{"empty name", pub, priv, testSubscriber, []webpush.Option{webpush.WithName("")}, "WithName", "empty"},
		{"negative TTL", pub, priv, testSubscriber, []webpush.Option{webpush.WithTTL(-time.Second)}, "WithTTL", "negative"},
		{"zero timeout", pub, priv, testSubscriber, []webpush.Option{webpush.WithTimeout(0)}, "WithTimeout", "positive"},
	}
	for _, tt := range tests {
		p, err := webpush.New(tt.pub, tt.priv, tt.sub, tt.opts...)
		require.Nil(t, p, tt.name)
		require.ErrorIs(t, err, webpush.ErrInvalid, tt.name)
		require.ErrorIs(t, err, notify.ErrInvalid, tt.name)
		var ve *webpush.ValidationError
		require.ErrorAs(t, err, &ve, tt.name)
		require.Equal(t, "webpush", ve.Package, tt.name)
		require.Equal(t, tt.field, ve.Field, tt.name)
		require.Contains(t, ve.Rule, tt.contains, tt.name)
		if len(tt.priv) > 4 {
			require.NotContains(t, err.Error(), tt.priv, "%s: the private key is never shown", tt.name)
		}
	}

	// Every bad argument is reported at once.
	_, err = webpush.New("", "", "", webpush.WithTimeout(-1))
	for _, f := range []string{"vapidPublicKey", "vapidPrivateKey", "subscriber", "WithTimeout"} {
		require.Contains(t, err.Error(), f)
	}
}

func TestStringHidesPrivateKey(t *testing.T) {
	t.Parallel()
	pub, priv, err := webpush.GenerateVAPIDKeys()
	require.NoError(t, err)
	p, err := webpush.New(pub, priv, testSubscriber)
	require.NoError(t, err)
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		for _, v := range []any{p, *p} { //nolint:govet // printing a copy is the point
			out := fmt.Sprintf(f, v)
			require.NotContains(t, out, priv, f)
			require.Contains(t, out, pub, f)
		}
	}
}

func TestSendNilMessage(t *testing.T) {
	t.Parallel()
	_, err := newProvider(t).Send(t.Context(), nil)
	require.Error(t, err)
	require.False(t, errors.Is(err, notify.ErrBadRecipient))
}

func TestSendConcurrent(t *testing.T) {
	t.Parallel()
	ps := newPushService(t)
	p := newProvider(t)
	const n = 16
	subs := make([]*notify.PushSubscription, n)
	for i := range subs {
		_, subs[i] = ps.subscribe(t)
	}
	errs := make(chan error, n)
	for i, sub := range subs {
		go func() {
			m := message(sub)
			m.NotificationID = fmt.Sprintf("ntf_%02d", i)
			_, err := p.Send(t.Context(), m)
			errs <- err
		}()
	}
	for range n {
		require.NoError(t, <-errs)
	}
	seen := map[string]bool{}
	for _, got := range ps.requests() {
		require.NoError(t, got.Err, "each browser decrypts its own message")
		var pl webpush.Payload
		require.NoError(t, json.Unmarshal(got.Payload, &pl))
		seen[pl.NotificationID] = true
	}
	require.Len(t, seen, n)
}
