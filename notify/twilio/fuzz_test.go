package twilio

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
	"testing"
)

// These fuzz tests live inside the package so that they can rebuild a
// request's signed text; the signer below is written apart from
// signedParams and sign, as the oracle.

const (
	fuzzToken  = "fuzz-auth-token"
	fuzzURL    = "https://api.example.com/twilio/status"
	fuzzSID    = "SM1f0e8ae6ade43cb3c0ce4525424e404f"
	fuzzStatus = "delivered"
)

func oracleText(fullURL string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(fullURL)
	for _, k := range keys {
		vs := append([]string(nil), form[k]...)
		sort.Strings(vs)
		for _, v := range vs {
			b.WriteString(k + v)
		}
	}
	return b.String()
}

func oracleSign(text string) string {
	mac := hmac.New(sha1.New, []byte(fuzzToken))
	mac.Write([]byte(text))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func fullURL(rawQuery string) string {
	if rawQuery == "" {
		return fuzzURL
	}
	return fuzzURL + "?" + rawQuery
}

type fuzzCall struct {
	called      bool
	sid, status string
}

func serveFuzz(t *testing.T, rawQuery string, body []byte, sig string) (int, fuzzCall) {
	t.Helper()
	var got fuzzCall
	h := StatusHandler(fuzzToken, fuzzURL, func(_ context.Context, sid, status string) {
		got = fuzzCall{true, sid, status}
	})
	req := httptest.NewRequest(http.MethodPost, "http://10.0.0.7/twilio/status", strings.NewReader(string(body)))
	req.URL.RawQuery = rawQuery
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(SignatureHeader, sig)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if got.called != (w.Code == http.StatusNoContent) {
		t.Fatalf("status %d but fn called = %v", w.Code, got.called)
	}
	return w.Code, got
}

// FuzzStatusHandler sends arbitrary bodies, queries and signatures: the
// handler must not panic, and must accept only what the oracle signs.
func FuzzStatusHandler(f *testing.F) {
	good := url.Values{"MessageSid": {fuzzSID}, "MessageStatus": {fuzzStatus}}
	f.Add([]byte(good.Encode()), "", oracleSign(oracleText(fuzzURL, good)))
	f.Add([]byte(good.Encode()), "a=1", oracleSign(oracleText(fuzzURL+"?a=1", good)))
	f.Add([]byte("MessageSid=SM1&MessageSid=SM2&=&%zz"), "%", "")
	f.Add([]byte("a=1;b=2&&&=x"), "a=1&a=2", "AAAA")
	f.Fuzz(func(t *testing.T, body []byte, rawQuery, sig string) {
		code, got := serveFuzz(t, rawQuery, body, sig)
		if code != http.StatusNoContent {
			return
		}
		form, err := url.ParseQuery(string(body))
		if err != nil {
			t.Fatalf("accepted a body that does not parse: %v", err)
		}
		if sig != oracleSign(oracleText(fullURL(rawQuery), form)) {
			t.Fatalf("accepted signature %q the oracle does not give", sig)
		}
		if got.sid != form.Get("MessageSid") || got.status != form.Get("MessageStatus") {
			t.Fatalf("fn got %q %q, the body says %q %q", got.sid, got.status, form.Get("MessageSid"), form.Get("MessageStatus"))
		}
	})
}

// FuzzStatusHandlerMutation starts from a report Twilio signed and changes
// one thing (a value, a name, an added or removed parameter, the query, the
// signature): whatever changes what Twilio signs must be refused.
func FuzzStatusHandlerMutation(f *testing.F) {
	f.Add(uint8(0), uint8(0), "failed", "")
	f.Add(uint8(1), uint8(1), "MessageStatu", "s")
	f.Add(uint8(2), uint8(0), "", "")
	f.Add(uint8(2), uint8(0), "ErrorCode", "30003")
	f.Add(uint8(3), uint8(2), "", "")
	f.Add(uint8(4), uint8(0), "a=1", "")
	f.Add(uint8(5), uint8(0), "x", "")
	f.Fuzz(func(t *testing.T, mode, index uint8, a, b string) {
		query := "n=ntf_1"
		form := url.Values{
			"AccountSid":    {"AC0123456789abcdef0123456789abcdef"},
			"MessageSid":    {fuzzSID},
			"MessageStatus": {fuzzStatus},
			"To":            {"+447700900123"},
		}
		sig := oracleSign(oracleText(fullURL(query), form))
		signed := oracleText(fullURL(query), form)

		keys := make([]string, 0, len(form))
		for k := range form {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		key := keys[int(index)%len(keys)]
		switch mode % 6 {
		case 0: // change a value
			form[key] = []string{a}
		case 1: // rename a parameter
			v := form[key]
			delete(form, key)
			form[a] = append(form[a], v...)
		case 2: // add a parameter (or a value to one)
			form[a] = append(form[a], b)
		case 3: // remove a parameter
			delete(form, key)
		case 4: // change the query
			query = a
		case 5: // change the signature
			sig = a
		}
		code, got := serveFuzz(t, query, []byte(form.Encode()), sig)
		if code != http.StatusNoContent {
			return
		}
		if oracleText(fullURL(query), form) != signed && mode%6 != 5 {
			t.Fatalf("accepted a request whose signed text changed (mode %d): %q", mode%6, oracleText(fullURL(query), form))
		}
		if mode%6 == 5 && sig != oracleSign(signed) {
			t.Fatalf("accepted the changed signature %q", sig)
		}
		if got.sid != fuzzSID || got.status != fuzzStatus {
			t.Fatalf("fn got %q %q from a request signed for %q %q", got.sid, got.status, fuzzSID, fuzzStatus)
		}
	})
}
