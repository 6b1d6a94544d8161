package fcm_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/wedsync/integrations/notify"
	"github.com/wedsync/integrations/notify/fcm"
)

func push(token string, prio notify.Priority, link string) *notify.Message {
	return &notify.Message{
		NotificationID: "ntf_42",
		Attempt:        1,
		Channel:        notify.ChannelPush,
		Priority:       prio,
		Category:       notify.CategoryBooking,
		Event:          "booking.confirmed",
		Subscription:   &notify.PushSubscription{ID: "psub_1", SupplierID: "sup_1", Kind: notify.PushFCM, Token: token},
		Subject:        "Booking confirmed",
		Text:           "Smith wedding, 14 June",
		URL:            link,
	}
}

func fromServiceAccount(t *testing.T, f *fakeGoogle, opts ...fcm.Option) *fcm.Provider {
	t.Helper()
	opts = append([]fcm.Option{fcm.WithBaseURL(f.URL), fcm.WithTokenURL(f.tokenURL())}, opts...)
	p, err := fcm.NewFromServiceAccount(t.Context(), serviceAccountJSON(t, testKey()), opts...)
	require.NoError(t, err)
	return p
}

func staticToken(tok string) oauth2.TokenSource {
	return oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok, TokenType: "Bearer"})
}

func TestSendWithAServiceAccount(t *testing.T) {
	f := newFakeGoogle(t)
	p := fromServiceAccount(t, f)
	require.Equal(t, "fcm", p.Name())
	require.Equal(t, notify.ChannelPush, p.Channel())
	require.Equal(t, notify.PushFCM, p.PushKind())
	require.Equal(t, testProject, p.ProjectID())

	res, err := p.Send(t.Context(), push(tokOK, notify.PriorityCritical, "https://app.wedsync.com/bookings/b_1"))
	require.NoError(t, err)
	require.Equal(t, "projects/"+testProject+"/messages/123", res.ExternalID)
	got := f.lastMessage()
	require.Equal(t, wireMessage{
		Token:        tokOK,
		Notification: &wireNotification{Title: "Booking confirmed", Body: "Smith wedding, 14 June"},
		Data: map[string]string{
			"notification_id": "ntf_42",
			"event":           "booking.confirmed",
			"category":        "booking",
			"priority":        "critical",
			"url":             "https://app.wedsync.com/bookings/b_1",
		},
		Android: &wireAndroid{Priority: "high"},
		Webpush: got.Webpush,
	}, got)
	require.Equal(t, map[string]string{"Urgency": "high"}, got.Webpush.Headers)
	require.Equal(t, "https://app.wedsync.com/bookings/b_1", got.Webpush.FCMOptions.Link)

	// Normal priority, and a link that is not https: no android or
	// webpush block; the link still travels in data.
	_, err = p.Send(t.Context(), push(tokOK, notify.PriorityNormal, "http://localhost:8080/bookings/b_1"))
	require.NoError(t, err)
	got = f.lastMessage()
	require.Nil(t, got.Android)
	require.Nil(t, got.Webpush)
	require.Equal(t, "http://localhost:8080/bookings/b_1", got.Data["url"])
	require.Equal(t, "normal", got.Data["priority"])

	// The access token was fetched once and reused.
	tokens, sends := f.counts()
	require.Equal(t, 1, tokens)
	require.Equal(t, 2, sends)
}

func TestSendWithTheHostsTokenSource(t *testing.T) {
	f := newFakeGoogle(t)
	p, err := fcm.New(testProject, staticToken(accessToken), fcm.WithBaseURL(f.URL), fcm.WithName("fcm-eu"))
	require.NoError(t, err)
	require.Equal(t, "fcm-eu", p.Name())
	m := push(tokOK, "", "")
	m.Category, m.Event, m.URL = "", "", ""
	res, err := p.Send(t.Context(), m)
	require.NoError(t, err)
	require.Equal(t, "projects/"+testProject+"/messages/123", res.ExternalID)
	require.Equal(t, map[string]string{"notification_id": "ntf_42"}, f.lastMessage().Data)
}

func TestSendMapsFCMErrors(t *testing.T) {
	f := newFakeGoogle(t)
	p := fromServiceAccount(t, f)
	ctx := t.Context()

	t.Run("UNREGISTERED means the subscription is gone", func(t *testing.T) {
		_, err := p.Send(ctx, push(tokUnregistered, notify.PriorityNormal, ""))
		require.ErrorIs(t, err, notify.ErrSubscriptionGone)
		require.NotErrorIs(t, err, notify.ErrBadRecipient)
		require.NotContains(t, err.Error(), tokUnregistered)
	})
	t.Run("INVALID_ARGUMENT about the token is a bad recipient", func(t *testing.T) {
		_, err := p.Send(ctx, push(tokInvalid, notify.PriorityNormal, ""))
		re, ok := errors.AsType[*notify.RecipientError](err)
		require.True(t, ok, "%v", err)
		require.Equal(t, "push_subscription.token", re.Field)
		require.NotErrorIs(t, err, notify.ErrSubscriptionGone)
		require.NotContains(t, err.Error(), tokInvalid)
	})
	t.Run("SENDER_ID_MISMATCH is a bad recipient", func(t *testing.T) {
		_, err := p.Send(ctx, push(tokMismatch, notify.PriorityNormal, ""))
		re, ok := errors.AsType[*notify.RecipientError](err)
		require.True(t, ok, "%v", err)
		require.Equal(t, "push_subscription.token", re.Field)
	})
	t.Run("other INVALID_ARGUMENT is the provider's", func(t *testing.T) {
		_, err := p.Send(ctx, push(tokTooBig, notify.PriorityNormal, ""))
		pe, ok := errors.AsType[*notify.ProviderError](err)
		require.True(t, ok, "%v", err)
		require.Equal(t, http.StatusBadRequest, pe.StatusCode)
		require.Equal(t, "INVALID_ARGUMENT", pe.Code)
	})
	t.Run("429 with Retry-After", func(t *testing.T) {
		_, err := p.Send(ctx, push(tokBusy, notify.PriorityNormal, ""))
		pe, ok := errors.AsType[*notify.ProviderError](err)
		require.True(t, ok, "%v", err)
		require.Equal(t, http.StatusTooManyRequests, pe.StatusCode)
		require.Equal(t, "QUOTA_EXCEEDED", pe.Code)
		require.Equal(t, 30*time.Second, pe.RetryAfter)
		require.Equal(t, "fcm", pe.Provider)
	})
	t.Run("503 with Retry-After", func(t *testing.T) {
		_, err := p.Send(ctx, push(tokDown, notify.PriorityNormal, ""))
		pe, ok := errors.AsType[*notify.ProviderError](err)
		require.True(t, ok, "%v", err)
		require.Equal(t, http.StatusServiceUnavailable, pe.StatusCode)
		require.Equal(t, "UNAVAILABLE", pe.Code)
		require.Equal(t, 12*time.Second, pe.RetryAfter)
	})
	t.Run("500 whose message echoes secrets", func(t *testing.T) {
		_, err := p.Send(ctx, push(tokEcho, notify.PriorityNormal, ""))
		pe, ok := errors.AsType[*notify.ProviderError](err)
		require.True(t, ok, "%v", err)
		require.Equal(t, http.StatusInternalServerError, pe.StatusCode)
		msg := err.Error()
		require.NotContains(t, msg, tokEcho)
		require.NotContains(t, msg, accessToken)
		require.NotContains(t, msg, "Smith wedding")
		require.NotContains(t, msg, "\n")
		require.Contains(t, msg, "[redacted]")
	})
}

func TestSendWithARefusedAccessToken(t *testing.T) {
	f := newFakeGoogle(t)
	p, err := fcm.New(testProject, staticToken("ya29.revoked-token-abcdef"), fcm.WithBaseURL(f.URL))
	require.NoError(t, err)
	_, err = p.Send(t.Context(), push(tokOK, notify.PriorityNormal, ""))
	pe, ok := errors.AsType[*notify.ProviderError](err)
	require.True(t, ok, "%v", err)
	require.Equal(t, http.StatusUnauthorized, pe.StatusCode)
	require.Equal(t, "UNAUTHENTICATED", pe.Code)
	require.Contains(t, err.Error(), "credentials")
	require.NotContains(t, err.Error(), "ya29.revoked-token-abcdef")
}

// A wrong project (or base URL) answers 404 to everything: that must not
// mark every subscription dead.
func TestA404WithoutUNREGISTEREDIsNotGone(t *testing.T) {
	f := newFakeGoogle(t)
	p, err := fcm.New("another-project", staticToken(accessToken), fcm.WithBaseURL(f.URL))
	require.NoError(t, err)
	_, err = p.Send(t.Context(), push(tokOK, notify.PriorityNormal, ""))
	require.NotErrorIs(t, err, notify.ErrSubscriptionGone)
	pe, ok := errors.AsType[*notify.ProviderError](err)
	require.True(t, ok, "%v", err)
	require.Equal(t, http.StatusNotFound, pe.StatusCode)
	require.Equal(t, "NOT_FOUND", pe.Code)
}

func TestTokenEndpointRefusesAForeignKey(t *testing.T) {
	f := newFakeGoogle(t)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	key := serviceAccountJSON(t, other)
	p, err := fcm.NewFromServiceAccount(t.Context(), key, fcm.WithBaseURL(f.URL), fcm.WithTokenURL(f.tokenURL()))
	require.NoError(t, err)

	_, err = p.Send(t.Context(), push(tokOK, notify.PriorityNormal, ""))
	pe, ok := errors.AsType[*notify.ProviderError](err)
	require.True(t, ok, "%v", err)
	require.Zero(t, pe.StatusCode, "the status is FCM's, and FCM was not called")
	require.Contains(t, err.Error(), "400 invalid_grant: Invalid JWT Signature.")
	requireNoKeyMaterial(t, err.Error(), key)
	tokens, sends := f.counts()
	require.Equal(t, 1, tokens)
	require.Zero(t, sends)
}

func TestTokenEndpointUnreachable(t *testing.T) {
	f := newFakeGoogle(t)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	p := fromServiceAccount(t, f, fcm.WithTokenURL(closed.URL+"/token"))
	_, err := p.Send(t.Context(), push(tokOK, notify.PriorityNormal, ""))
	pe, ok := errors.AsType[*notify.ProviderError](err)
	require.True(t, ok, "%v", err)
	require.Zero(t, pe.StatusCode)
	require.Contains(t, err.Error(), "getting an access token")
	_, sends := f.counts()
	require.Zero(t, sends)
}

func requireNoKeyMaterial(t *testing.T, s string, jsonKey []byte) {
	t.Helper()
	var k struct {
		PrivateKey string `json:"private_key"`
	}
	require.NoError(t, json.Unmarshal(jsonKey, &k))
	for _, line := range strings.Split(k.PrivateKey, "\n") {
		if len(line) > 20 {
			require.NotContains(t, s, line)
		}
	}
	require.NotContains(t, s, accessToken)
}

func TestSendChecksTheSubscription(t *testing.T) {
	f := newFakeGoogle(t)
	p := fromServiceAccount(t, f)
	for _, tc := range []struct {
		name  string
		sub   *notify.PushSubscription
		field string
	}{
		{"none", nil, "push_subscription.token"},
		{"no token", &notify.PushSubscription{Kind: notify.PushFCM}, "push_subscription.token"},
		{"web push", &notify.PushSubscription{Kind: notify.PushWeb, Endpoint: "https://push.example.com/x", Token: "t"}, "push_subscription.kind"},
		{"not a token", &notify.PushSubscription{Kind: notify.PushFCM, Token: "a b"}, "push_subscription.token"},
		{"too long", &notify.PushSubscription{Kind: notify.PushFCM, Token: strings.Repeat("x", 5000)}, "push_subscription.token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := push(tokOK, notify.PriorityNormal, "")
			m.Subscription = tc.sub
			_, err := p.Send(t.Context(), m)
			re, ok := errors.AsType[*notify.RecipientError](err)
			require.True(t, ok, "%v", err)
			require.Equal(t, tc.field, re.Field)
		})
	}
	_, err := p.Send(t.Context(), nil)
	requireInvalid(t, err, "message")
	tokens, sends := f.counts()
	require.Zero(t, tokens)
	require.Zero(t, sends)
}

func TestSendHonoursTheContext(t *testing.T) {
	f := newFakeGoogle(t)
	p, err := fcm.New(testProject, staticToken(accessToken), fcm.WithBaseURL(f.URL))
	require.NoError(t, err)
	ctx, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel()
	_, err = p.Send(ctx, push(tokOK, notify.PriorityNormal, ""))
	pe, ok := errors.AsType[*notify.ProviderError](err)
	require.True(t, ok, "%v", err)
	require.True(t, pe.Timeout)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	_, sends := f.counts()
	require.Zero(t, sends)
}

func TestSendDoesNotFollowRedirects(t *testing.T) {
	var hits int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	p, err := fcm.New(testProject, staticToken(accessToken), fcm.WithBaseURL(srv.URL))
	require.NoError(t, err)
	_, err = p.Send(t.Context(), push(tokOK, notify.PriorityNormal, ""))
	pe, ok := errors.AsType[*notify.ProviderError](err)
	require.True(t, ok, "%v", err)
	require.Equal(t, http.StatusTemporaryRedirect, pe.StatusCode)
	require.Equal(t, 1, hits)
}

func requireInvalid(t *testing.T, err error, field string) {
	t.Helper()
	require.ErrorIs(t, err, notify.ErrInvalid)
	ve, ok := errors.AsType[*notify.ValidationError](err)
	require.True(t, ok, "%v", err)
	require.Equal(t, field, ve.Field)
}

func TestNewRefusesBadConfiguration(t *testing.T) {
	ts := staticToken(accessToken)
	for _, tc := range []struct {
		name    string
		project string
		ts      oauth2.TokenSource
		opts    []fcm.Option
		field   string
	}{
		{"empty project", "", ts, nil, "projectID"},
		{"project with a path", "p/../x", ts, nil, "projectID"},
		{"no token source", testProject, nil, nil, "ts"},
		{"name", testProject, ts, []fcm.Option{fcm.WithName("")}, "WithName"},
		{"plain http base", testProject, ts, []fcm.Option{fcm.WithBaseURL("http://fcm.googleapis.com")}, "WithBaseURL"},
		{"base with a query", testProject, ts, []fcm.Option{fcm.WithBaseURL("https://fcm.googleapis.com?x=1")}, "WithBaseURL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := fcm.New(tc.project, tc.ts, tc.opts...)
			requireInvalid(t, err, tc.field)
		})
	}
}

func TestNewFromServiceAccountRefusesBadKeys(t *testing.T) {
	good := serviceAccountJSON(t, testKey())
	edit := func(field string, value any) []byte {
		var m map[string]any
		require.NoError(t, json.Unmarshal(good, &m))
		if value == nil {
			delete(m, field)
		} else {
			m[field] = value
		}
		b, err := json.Marshal(m)
		require.NoError(t, err)
		return b
	}
	for _, tc := range []struct {
		name  string
		key   []byte
		opts  []fcm.Option
		field string
	}{
		{"not JSON", good[:len(good)/2], nil, "jsonKey"},
		{"user credentials", edit("type", "authorized_user"), nil, "jsonKey.type"},
		{"no project", edit("project_id", nil), nil, "jsonKey.project_id"},
		{"no email", edit("client_email", ""), nil, "jsonKey.client_email"},
		{"broken key", edit("private_key", "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----\n"), nil, "jsonKey.private_key"},
		{"token URL", good, []fcm.Option{fcm.WithTokenURL("http://oauth2.googleapis.com/token")}, "WithTokenURL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := fcm.NewFromServiceAccount(t.Context(), tc.key, tc.opts...)
			requireInvalid(t, err, tc.field)
			requireNoKeyMaterial(t, err.Error(), good)
		})
	}
}

func TestPrintingAProviderShowsNoSecret(t *testing.T) {
	f := newFakeGoogle(t)
	key := serviceAccountJSON(t, testKey())
	p := fromServiceAccount(t, f)
	_, err := p.Send(t.Context(), push(tokOK, notify.PriorityNormal, "")) // caches a token
	require.NoError(t, err)
	s, err := fcm.New(testProject, staticToken(accessToken))
	require.NoError(t, err)
	for _, v := range []any{p, *p, s, *s, struct{ P *fcm.Provider }{p}} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			requireNoKeyMaterial(t, fmt.Sprintf(verb, v), key)
		}
	}
}
