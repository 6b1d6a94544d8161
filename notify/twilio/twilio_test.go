package twilio_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/notify"
	"github.com/wedsync/integrations/notify/twilio"
)

func sms(to, text string) *notify.Message {
	return &notify.Message{NotificationID: "ntf_1", Attempt: 1, Channel: notify.ChannelSMS, To: to, Text: text}
}

func newProvider(t *testing.T, f *fakeTwilio, opts ...twilio.Option) *twilio.Provider {
	t.Helper()
	opts = append([]twilio.Option{twilio.WithBaseURL(f.URL), twilio.WithFrom(testFrom)}, opts...)
	p, err := twilio.New(testAccount, testToken, opts...)
	require.NoError(t, err)
	return p
}

func TestSendAcceptedGivesTheMessageSID(t *testing.T) {
	f := newFakeTwilio(t, testAccount, testToken)
	p := newProvider(t, f, twilio.WithStatusCallback("https://api.example.com/twilio/status"))
	require.Equal(t, "twilio", p.Name())
	require.Equal(t, notify.ChannelSMS, p.Channel())

	res, err := p.Send(t.Context(), sms(toOK, "Booking confirmed: Smith wedding, 14 June"))
	require.NoError(t, err)
	require.Equal(t, testSID, res.ExternalID)
	require.Equal(t, url.Values{
		"To":             {toOK},
		"From":           {testFrom},
		"Body":           {"Booking confirmed: Smith wedding, 14 June"},
		"StatusCallback": {"https://api.example.com/twilio/status"},
	}, f.lastForm())
}

func TestSendThroughAMessagingService(t *testing.T) {
	f := newFakeTwilio(t, testAccount, testToken)
	p, err := twilio.New(testAccount, testToken, twilio.WithBaseURL(f.URL),
		twilio.WithMessagingService(testService), twilio.WithName("twilio-uk"))
	require.NoError(t, err)
	require.Equal(t, "twilio-uk", p.Name())

	res, err := p.Send(t.Context(), sms(toOK, "hello"))
	require.NoError(t, err)
	require.Equal(t, testSID, res.ExternalID)
	require.Equal(t, url.Values{"To": {toOK}, "MessagingServiceSid": {testService}, "Body": {"hello"}}, f.lastForm())
}

func TestSendWithAnAPIKey(t *testing.T) {
	// The fake accepts the key, not the account SID and token; the path
	// still names the account.
	f := newFakeTwilio(t, testKeySID, testKeySecret)
	p, err := twilio.New(testAccount, "", twilio.WithBaseURL(f.URL), twilio.WithFrom(testFrom),
		twilio.WithAPIKey(testKeySID, testKeySecret))
	require.NoError(t, err)
	res, err := p.Send(t.Context(), sms(toOK, "hello"))
	require.NoError(t, err)
	require.Equal(t, testSID, res.ExternalID)
}

func TestSendRefusedCredentialsIsAProviderErrorWithoutTheSecret(t *testing.T) {
	f := newFakeTwilio(t, testAccount, "the-right-token")
	p := newProvider(t, f)
	_, err := p.Send(t.Context(), sms(toOK, "hello"))
	pe, ok := errors.AsType[*notify.ProviderError](err)
	require.True(t, ok, "%v", err)
	require.Equal(t, http.StatusUnauthorized, pe.StatusCode)
	require.Equal(t, "20003", pe.Code)
	require.Equal(t, "twilio", pe.Provider)
	require.NotContains(t, err.Error(), testToken)
	require.Contains(t, err.Error(), "credentials")
	require.False(t, errors.Is(err, notify.ErrBadRecipient))
}

func TestSendRecipientsTwilioRefuses(t *testing.T) {
	f := newFakeTwilio(t, testAccount, testToken)
	p := newProvider(t, f)
	for to, code := range map[string]string{toInvalid: "21211", toNotMobile: "21614", toUnsubscribed: "21610"} {
		t.Run(code, func(t *testing.T) {
			_, err := p.Send(t.Context(), sms(to, "hello"))
			require.ErrorIs(t, err, notify.ErrBadRecipient)
			re, ok := errors.AsType[*notify.RecipientError](err)
			require.True(t, ok)
			require.Equal(t, "recipient.phone", re.Field)
			require.Contains(t, re.Rule, code)
			require.NotContains(t, err.Error(), to)
			_, isProvider := errors.AsType[*notify.ProviderError](err)
			require.False(t, isProvider)
		})
	}
}

func TestSendFailuresARetryMayCure(t *testing.T) {
	f := newFakeTwilio(t, testAccount, testToken)
	p := newProvider(t, f)
	ctx := t.Context()

	t.Run("429 with Retry-After in seconds", func(t *testing.T) {
		_, err := p.Send(ctx, sms(toBusy, "hello"))
		pe, ok := errors.AsType[*notify.ProviderError](err)
		require.True(t, ok, "%v", err)
		require.Equal(t, http.StatusTooManyRequests, pe.StatusCode)
		require.Equal(t, "20429", pe.Code)
		require.Equal(t, 7*time.Second, pe.RetryAfter)
		require.False(t, pe.Timeout)
	})
	t.Run("503 with Retry-After as an HTTP date", func(t *testing.T) {
		_, err := p.Send(ctx, sms(toDown, "hello"))
		pe, ok := errors.AsType[*notify.ProviderError](err)
		require.True(t, ok, "%v", err)
		require.Equal(t, http.StatusServiceUnavailable, pe.StatusCode)
		require.Equal(t, "20503", pe.Code)
		// The fake asks for one hour from its start; the date has a
		// one-second resolution.
		require.LessOrEqual(t, pe.RetryAfter, time.Hour)
		require.Greater(t, pe.RetryAfter, 50*time.Minute)
	})
	t.Run("500 whose message echoes secrets", func(t *testing.T) {
		_, err := p.Send(ctx, sms(toBroken, "Your private booking note"))
		pe, ok := errors.AsType[*notify.ProviderError](err)
		require.True(t, ok, "%v", err)
		require.Equal(t, http.StatusInternalServerError, pe.StatusCode)
		msg := err.Error()
		require.NotContains(t, msg, testToken)
		require.NotContains(t, msg, toBroken)
		require.NotContains(t, msg, "Your private booking note")
		require.NotContains(t, msg, "\n")
		require.Contains(t, msg, "[redacted]")
		require.Contains(t, msg, "https://www.twilio.com/docs/errors/20500")
	})
	t.Run("other 400 is not the recipient's fault", func(t *testing.T) {
		_, err := p.Send(ctx, sms(toOtherError, "hello"))
		pe, ok := errors.AsType[*notify.ProviderError](err)
		require.True(t, ok, "%v", err)
		require.Equal(t, http.StatusBadRequest, pe.StatusCode)
		require.Equal(t, "21606", pe.Code)
		require.NotErrorIs(t, err, notify.ErrBadRecipient)
	})
	t.Run("redirect is not followed", func(t *testing.T) {
		before := f.count()
		_, err := p.Send(ctx, sms(toRedirect, "hello"))
		pe, ok := errors.AsType[*notify.ProviderError](err)
		require.True(t, ok, "%v", err)
		require.Equal(t, http.StatusFound, pe.StatusCode)
		require.Equal(t, before+1, f.count())
	})
}

func TestSendChecksTheNumberBeforeCallingTwilio(t *testing.T) {
	f := newFakeTwilio(t, testAccount, testToken)
	p := newProvider(t, f)
	for _, to := range []string{"", "07700900123", "+44 7700 900123", "+4407700900123", "+447700", "+999123456789", "447700900123", "+44770090012a"} {
		_, err := p.Send(t.Context(), sms(to, "hello"))
		require.ErrorIs(t, err, notify.ErrBadRecipient, "%q", to)
		re, _ := errors.AsType[*notify.RecipientError](err)
		require.Equal(t, "recipient.phone", re.Field)
	}
	require.Zero(t, f.count())
}

func TestSendChecksTheText(t *testing.T) {
	f := newFakeTwilio(t, testAccount, testToken)
	p := newProvider(t, f)
	_, err := p.Send(t.Context(), sms(toOK, ""))
	requireInvalid(t, err, "message.text")
	_, err = p.Send(t.Context(), sms(toOK, strings.Repeat("é", twilio.MaxBodyLength+1)))
	requireInvalid(t, err, "message.text")
	_, err = p.Send(t.Context(), nil)
	requireInvalid(t, err, "message")
	require.Zero(t, f.count())

	_, err = p.Send(t.Context(), sms(toOK, strings.Repeat("é", twilio.MaxBodyLength)))
	require.NoError(t, err)
}

func TestSendTimeoutAndRefusedConnection(t *testing.T) {
	f := newFakeTwilio(t, testAccount, testToken)
	p := newProvider(t, f)

	ctx, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel()
	_, err := p.Send(ctx, sms(toOK, "hello"))
	pe, ok := errors.AsType[*notify.ProviderError](err)
	require.True(t, ok, "%v", err)
	require.True(t, pe.Timeout)
	require.ErrorIs(t, err, context.DeadlineExceeded)

	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	p = newProvider(t, f, twilio.WithBaseURL(closed.URL))
	_, err = p.Send(t.Context(), sms(toOK, "hello"))
	pe, ok = errors.AsType[*notify.ProviderError](err)
	require.True(t, ok, "%v", err)
	require.Zero(t, pe.StatusCode)
	require.False(t, pe.Timeout)
	require.NotContains(t, err.Error(), testToken)
}

func TestSendUsesTheHostsClient(t *testing.T) {
	f := newFakeTwilio(t, testAccount, testToken)
	var seen int
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		seen++
		require.Equal(t, "application/json", r.Header.Get("Accept"))
		return http.DefaultTransport.RoundTrip(r)
	})}
	p := newProvider(t, f, twilio.WithHTTPClient(client))
	_, err := p.Send(t.Context(), sms(toOK, "hello"))
	require.NoError(t, err)
	require.Equal(t, 1, seen)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func requireInvalid(t *testing.T, err error, field string) {
	t.Helper()
	require.ErrorIs(t, err, notify.ErrInvalid)
	ve, ok := errors.AsType[*notify.ValidationError](err)
	require.True(t, ok, "%v", err)
	require.Equal(t, field, ve.Field)
}

func TestNewRefusesBadConfiguration(t *testing.T) {
	from := twilio.WithFrom(testFrom)
	for _, tc := range []struct {
		name, account, token string
		opts                 []twilio.Option
		field                string
	}{
		{"no sender", testAccount, testToken, nil, "WithFrom"},
		{"account SID", "AC123", testToken, []twilio.Option{from}, "accountSID"},
		{"account SID with a path", "AC0123456789abcdef0123456789abcde/", testToken, []twilio.Option{from}, "accountSID"},
		{"no token", testAccount, "", []twilio.Option{from}, "authToken"},
		{"From", testAccount, testToken, []twilio.Option{twilio.WithFrom("07700900999")}, "WithFrom"},
		{"alphanumeric From too long", testAccount, testToken, []twilio.Option{twilio.WithFrom("WedSyncAlerts")}, "WithFrom"},
		{"service SID", testAccount, testToken, []twilio.Option{twilio.WithMessagingService("MG1")}, "WithMessagingService"},
		{"API key SID", testAccount, "", []twilio.Option{from, twilio.WithAPIKey("AK1", testKeySecret)}, "WithAPIKey"},
		{"API key secret", testAccount, "", []twilio.Option{from, twilio.WithAPIKey(testKeySID, "")}, "WithAPIKey"},
		{"name", testAccount, testToken, []twilio.Option{from, twilio.WithName(" ")}, "WithName"},
		{"plain http base", testAccount, testToken, []twilio.Option{from, twilio.WithBaseURL("http://api.twilio.com")}, "WithBaseURL"},
		{"relative base", testAccount, testToken, []twilio.Option{from, twilio.WithBaseURL("/api")}, "WithBaseURL"},
		{"base with credentials", testAccount, testToken, []twilio.Option{from, twilio.WithBaseURL("https://u:p@api.twilio.com")}, "WithBaseURL"},
		{"status callback", testAccount, testToken, []twilio.Option{from, twilio.WithStatusCallback("/status")}, "WithStatusCallback"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := twilio.New(tc.account, tc.token, tc.opts...)
			requireInvalid(t, err, tc.field)
			require.NotContains(t, err.Error(), testToken)
			require.NotContains(t, err.Error(), testKeySecret)
		})
	}
	for _, sender := range []string{"+447700900999", "WedSync", "Wed Sync 1", "88022"} {
		_, err := twilio.New(testAccount, testToken, twilio.WithFrom(sender))
		require.NoError(t, err, sender)
	}
	_, err := twilio.New(testAccount, testToken, twilio.WithFrom(testFrom), twilio.WithMessagingService(testService),
		twilio.WithBaseURL("http://[::1]:8080/"))
	require.NoError(t, err)
}

func TestPrintingAProviderShowsNoSecret(t *testing.T) {
	p, err := twilio.New(testAccount, testToken, twilio.WithFrom(testFrom))
	require.NoError(t, err)
	k, err := twilio.New(testAccount, "", twilio.WithFrom(testFrom), twilio.WithAPIKey(testKeySID, testKeySecret))
	require.NoError(t, err)
	for _, v := range []any{p, *p, k, *k, struct{ P *twilio.Provider }{p}} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			out := fmt.Sprintf(verb, v)
			require.NotContains(t, out, testToken, verb)
			require.NotContains(t, out, testKeySecret, verb)
		}
	}
}
