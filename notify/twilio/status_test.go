package twilio_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/notify/twilio"
)

const publicURL = "https://api.example.com/twilio/status"

// twilioSignature signs as Twilio documents it: the full URL, then each
// POST parameter's name and value, sorted by name, HMAC-SHA1 with the auth
// token, base64. Written apart from the package's code on purpose.
func twilioSignature(token, fullURL string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := fullURL
	for _, k := range keys {
		vs := append([]string(nil), form[k]...)
		sort.Strings(vs)
		for _, v := range vs {
			s += k + v
		}
	}
	mac := hmac.New(sha1.New, []byte(token))
	mac.Write([]byte(s))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// statusReport is what Twilio posts for a delivered message.
func statusReport(status string) url.Values {
	return url.Values{
		"AccountSid":    {testAccount},
		"ApiVersion":    {"2010-04-01"},
		"From":          {testFrom},
		"MessageSid":    {testSID},
		"MessageStatus": {status},
		"SmsSid":        {testSID},
		"SmsStatus":     {status},
		"To":            {toOK},
	}
}

type report struct{ sid, status string }

type recorder struct {
	mu      sync.Mutex
	reports []report
}

func (r *recorder) fn(ctx context.Context, sid, status string) {
	if ctx == nil {
		panic("nil context")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reports = append(r.reports, report{sid, status})
}

func (r *recorder) got() []report {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]report(nil), r.reports...)
}

// post serves one request to h as it arrives behind a proxy (internal host
// and scheme), with target's path and query.
func post(h http.Handler, target, body, signature string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "http://10.0.0.7:8080"+target, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if signature != "" {
		req.Header.Set(twilio.SignatureHeader, signature)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func TestStatusHandlerAcceptsSignedReports(t *testing.T) {
	var rec recorder
	h := twilio.StatusHandler(testToken, publicURL, rec.fn)

	form := statusReport("delivered")
	w := post(h, "/twilio/status", form.Encode(), twilioSignature(testToken, publicURL, form))
	require.Equal(t, http.StatusNoContent, w.Code, w.Body.String())

	// Twilio signs the query string too; publicURL's own query is not used.
	hq := twilio.StatusHandler(testToken, publicURL+"?ignored=1", rec.fn)
	form = statusReport("undelivered")
	w = post(hq, "/twilio/status?n=ntf_1&b=2", form.Encode(),
		twilioSignature(testToken, publicURL+"?n=ntf_1&b=2", form))
	require.Equal(t, http.StatusNoContent, w.Code, w.Body.String())

	// A signature made with the default port written out.
	form = statusReport("failed")
	w = post(h, "/twilio/status", form.Encode(),
		twilioSignature(testToken, "https://api.example.com:443/twilio/status", form))
	require.Equal(t, http.StatusNoContent, w.Code, w.Body.String())

	// And the other way round.
	hp := twilio.StatusHandler(testToken, "https://api.example.com:443/twilio/status", rec.fn)
	form = statusReport("sent")
	w = post(hp, "/twilio/status", form.Encode(), twilioSignature(testToken, publicURL, form))
	require.Equal(t, http.StatusNoContent, w.Code, w.Body.String())

	require.Equal(t, []report{
		{testSID, "delivered"}, {testSID, "undelivered"}, {testSID, "failed"}, {testSID, "sent"},
	}, rec.got())
}

// Twilio's own test vector (twilio-go, client/request_validator_test.go):
// token 12345, this URL and these parameters sign to RSOYDt4T1cUTdK1PDd93/VVr8B8=.
// The parameters are a voice call's, so the signature passes and the
// report is then refused for its missing MessageSid: 400, not 403.
func TestStatusHandlerMatchesTwiliosTestVector(t *testing.T) {
	var rec recorder
	h := twilio.StatusHandler("12345", "https://mycompany.com/myapp.php", rec.fn)
	form := url.Values{
		"Digits":  {"1234"},
		"CallSid": {"CA1234567890ABCDE"},
		"To":      {"+18005551212"},
		"Caller":  {"+14158675309"},
		"From":    {"+14158675309"},
	}
	require.Equal(t, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", twilioSignature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", form))
	w := post(h, "/myapp.php?foo=1&bar=2", form.Encode(), "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
	require.Equal(t, http.StatusBadRequest, w.Code, w.Body.String())
	w = post(h, "/myapp.php?foo=1&bar=3", form.Encode(), "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
	require.Equal(t, http.StatusForbidden, w.Code)
	require.Empty(t, rec.got())
}

func TestStatusHandlerRefusesWhatTwilioDidNotSign(t *testing.T) {
	var rec recorder
	h := twilio.StatusHandler(testToken, publicURL, rec.fn)
	form := statusReport("delivered")
	sig := twilioSignature(testToken, publicURL, form)

	tampered := statusReport("failed")
	require.Equal(t, http.StatusForbidden, post(h, "/twilio/status", tampered.Encode(), sig).Code)

	extra := statusReport("delivered")
	extra.Set("ErrorCode", "30003")
	require.Equal(t, http.StatusForbidden, post(h, "/twilio/status", extra.Encode(), sig).Code)

	require.Equal(t, http.StatusForbidden, post(h, "/twilio/status", form.Encode(), "").Code)
	require.Equal(t, http.StatusForbidden, post(h, "/twilio/status", form.Encode(),
		twilioSignature("another-token", publicURL, form)).Code)
	require.Equal(t, http.StatusForbidden, post(h, "/twilio/status", form.Encode(),
		twilioSignature(testToken, "https://evil.example.com/twilio/status", form)).Code)
	require.Equal(t, http.StatusForbidden, post(h, "/twilio/status?x=1", form.Encode(), sig).Code)
	require.Equal(t, http.StatusForbidden, post(h, "/twilio/status", form.Encode(), strings.ToLower(sig)).Code)
	require.Equal(t, http.StatusForbidden, post(h, "/twilio/status", form.Encode(), sig+"=").Code)

	// A parameter with an empty name and value adds nothing to the signed
	// text; it is refused as malformed.
	require.Equal(t, http.StatusBadRequest, post(h, "/twilio/status", form.Encode()+"&=", sig).Code)

	require.Empty(t, rec.got())
}

func TestStatusHandlerRefusesMalformedRequests(t *testing.T) {
	var rec recorder
	h := twilio.StatusHandler(testToken, publicURL, rec.fn)

	get := httptest.NewRequest(http.MethodGet, "/twilio/status", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, get)
	require.Equal(t, http.StatusMethodNotAllowed, w.Code)
	require.Equal(t, http.MethodPost, w.Header().Get("Allow"))

	form := statusReport("delivered")
	req := httptest.NewRequest(http.MethodPost, "/twilio/status", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(twilio.SignatureHeader, twilioSignature(testToken, publicURL, form))
	w = httptest.NewRecorder()
	h.ServeHTTP(w, req)
	require.Equal(t, http.StatusUnsupportedMediaType, w.Code)

	require.Equal(t, http.StatusBadRequest, post(h, "/twilio/status", "MessageSid=%zz", "x").Code)

	// Signed, but not a message status report.
	for _, f := range []url.Values{
		{"MessageSid": {testSID}},
		{"MessageStatus": {"delivered"}},
		{"MessageSid": {"SM123"}, "MessageStatus": {"delivered"}},
		{"MessageSid": {testSID}, "MessageStatus": {"Delivered!"}},
	} {
		require.Equal(t, http.StatusBadRequest,
			post(h, "/twilio/status", f.Encode(), twilioSignature(testToken, publicURL, f)).Code, f.Encode())
	}
	require.Empty(t, rec.got())
}

func TestStatusHandlerRefusesAnOversizedBody(t *testing.T) {
	var rec recorder
	srv := httptest.NewServer(twilio.StatusHandler(testToken, publicURL, rec.fn))
	defer srv.Close()

	form := statusReport("delivered")
	form.Set("Padding", strings.Repeat("x", twilio.MaxStatusBodySize))
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(twilio.SignatureHeader, twilioSignature(testToken, publicURL, form))
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	require.Empty(t, rec.got())

	// Just under the limit is read and checked.
	form.Set("Padding", "")
	pad := twilio.MaxStatusBodySize - len(form.Encode())
	form.Set("Padding", strings.Repeat("x", pad))
	require.Len(t, form.Encode(), twilio.MaxStatusBodySize)
	req, err = http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	req.Header.Set(twilio.SignatureHeader, twilioSignature(testToken, publicURL, form))
	resp, err = srv.Client().Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	require.Equal(t, []report{{testSID, "delivered"}}, rec.got())
}

func TestStatusHandlerPanicsOnBadWiring(t *testing.T) {
	fn := func(context.Context, string, string) {}
	require.PanicsWithError(t, "twilio: authToken: is empty", func() { twilio.StatusHandler("", publicURL, fn) })
	require.PanicsWithError(t, "twilio: fn: is nil", func() { twilio.StatusHandler(testToken, publicURL, nil) })
	require.Panics(t, func() { twilio.StatusHandler(testToken, "/twilio/status", fn) })
	require.Panics(t, func() { twilio.StatusHandler(testToken, "ftp://example.com/x", fn) })
}
