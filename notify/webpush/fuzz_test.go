package webpush_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/notify"
	"github.com/wedsync/integrations/notify/webpush"
)

// FuzzCheckSubscription: any endpoint, p256dh and auth either pass, with
// keys webpush-go will decode to a 65-byte point and a 16-byte secret, or
// give a *notify.RecipientError naming one of the subscription's fields.
// Nothing panics.
func FuzzCheckSubscription(f *testing.F) {
	good := newBrowser(f).subscription("https://fcm.googleapis.com/fcm/send/abc:def")
	f.Add(good.Endpoint, good.P256DH, good.Auth, false)
	f.Add("http://127.0.0.1:8080/push/1", good.P256DH, good.Auth, true)
	f.Add("https://updates.push.services.mozilla.com/wpush/v2/gAAAA", good.P256DH+"==", good.Auth+"==", false)
	f.Add("https://[::1]:0/x", "BAAA", "AAAA", false)
	f.Add("https://u:p@push.example/", strings.Repeat("A", 87), strings.Repeat("A", 22), false)
	f.Add("", "", "", false)
	f.Add("ftp://x", "+/+/", "-_-_", true)
	f.Add("https://push.example:99999/", "BAAA\n", "=", false)
	f.Fuzz(func(t *testing.T, endpoint, p256dh, auth string, allowHTTP bool) {
		sub := &notify.PushSubscription{Kind: notify.PushWeb, Endpoint: endpoint, P256DH: p256dh, Auth: auth}
		out, err := webpush.CheckSubscription(sub, allowHTTP)
		if err != nil {
			var re *notify.RecipientError
			require.True(t, errors.As(err, &re), "%T: %v", err, err)
			require.Contains(t, []string{
				"push_subscription.endpoint", "push_subscription.p256dh", "push_subscription.auth",
			}, re.Field)
			require.Nil(t, out)
			return
		}
		require.Equal(t, endpoint, out.Endpoint)
		require.True(t, strings.HasPrefix(strings.ToLower(endpoint), "https://") ||
			(allowHTTP && strings.HasPrefix(strings.ToLower(endpoint), "http://")), endpoint)
		key, err := base64.RawURLEncoding.DecodeString(out.Keys.P256dh)
		require.NoError(t, err)
		require.Len(t, key, 65)
		secret, err := base64.RawURLEncoding.DecodeString(out.Keys.Auth)
		require.NoError(t, err)
		require.Len(t, secret, 16)
	})
}

// FuzzEncodePayload: any texts give a JSON payload of at most
// MaxPayloadSize bytes whose body and title are the originals or cuts of
// them, or ErrPayloadTooLarge when the fields that are never cut do not fit.
func FuzzEncodePayload(f *testing.F) {
	f.Add("Booking confirmed", "Ava & Noah booked you", "https://app.wedsync.example/b/1", 10)
	f.Add("T", "é", "", 4000)
	f.Add("💍", "\x01\"<", "u", 3000)
	f.Add("\xff", "\xfe\xff", "", 2000)
	f.Fuzz(func(t *testing.T, title, body, url string, repeat int) {
		repeat = min(max(repeat, 1), 5000)
		pl := webpush.Payload{
			Title:          title,
			Body:           strings.Repeat(body, repeat),
			URL:            url,
			NotificationID: "ntf_1",
			Category:       notify.CategoryMessage,
			Priority:       notify.PriorityNormal,
		}
		b, err := webpush.EncodePayload(pl)
		if err != nil {
			require.ErrorIs(t, err, webpush.ErrPayloadTooLarge)
			return
		}
		require.LessOrEqual(t, len(b), webpush.MaxPayloadSize)
		var back webpush.Payload
		require.NoError(t, json.Unmarshal(b, &back))
		require.Equal(t, pl.NotificationID, back.NotificationID)
		if !utf8.ValidString(title) || !utf8.ValidString(pl.Body) || !utf8.ValidString(url) {
			return // JSON turned invalid bytes into U+FFFD: no byte prefix to compare
		}
		require.Equal(t, url, back.URL)
		requirePrefixOrCut(t, pl.Body, back.Body)
		requirePrefixOrCut(t, pl.Title, back.Title)
		if back.Title != pl.Title {
			require.Empty(t, back.Body, "the title is cut only when the body is gone")
		}
	})
}

func requirePrefixOrCut(t *testing.T, full, got string) {
	t.Helper()
	if got == full || got == "" {
		return
	}
	requireCut(t, full, got)
}
