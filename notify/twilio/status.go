package twilio

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"io"
	"maps"
	"mime"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/wedsync/integrations/internal/validate"
)

// MaxStatusBodySize is the largest status callback body StatusHandler reads;
// a larger one is refused with 413. Twilio's reports are well under 2 KiB.
const MaxStatusBodySize = 64 << 10

// SignatureHeader carries Twilio's request signature.
const SignatureHeader = "X-Twilio-Signature"

var (
	messageSIDRe = regexp.MustCompile(`^(SM|MM)[0-9a-fA-F]{32}$`)
	statusRe     = regexp.MustCompile(`^[a-z_]{1,40}$`)
)

// StatusHandler returns the http.Handler for the StatusCallback URL
// (WithStatusCallback). For each POST it checks X-Twilio-Signature: the
// base64 HMAC-SHA1, keyed with authToken, of publicURL followed by every
// POST parameter's name and value in name order; the signature is compared
// in constant time. A request with a valid signature and a MessageSid and
// MessageStatus (queued, sent, delivered, undelivered, failed, ...) gets
// fn(ctx, messageSID, status) and 204 No Content.
//
// authToken is the account's auth token: Twilio signs with it even when
// messages are sent with an API key. publicURL is the URL Twilio calls, as
// given to WithStatusCallback (scheme, host, port and path: a proxy in front
// of the host hides them from the request); the query string Twilio signs is
// the request's own, so publicURL's query, if any, is ignored. As Twilio's
// own libraries do, a signature made with the default port written out
// (:443, :80), or without it, is accepted too.
//
// Answers: 405 for a method other than POST, 415 for a body that is not
// application/x-www-form-urlencoded, 413 for a body over
// MaxStatusBodySize, 400 for a malformed body, 403 for a missing or wrong
// signature, 400 for a signed report without a well-formed MessageSid
// (SM/MM and 32 hex digits) or MessageStatus (lower-case letters and _).
//
// fn runs on the request's goroutine, with the request's context; it should
// be quick (record the status, say, with the notifier's ReportDelivery).
// StatusHandler panics if authToken is empty, publicURL is not an absolute
// http(s) URL or fn is nil: those are mistakes in the host's wiring, to be
// caught at start-up rather than by refusing every report.
func StatusHandler(authToken string, publicURL string, fn func(ctx context.Context, messageSID, status string)) http.Handler {
	if authToken == "" {
		panic(validate.New("twilio", "authToken", "is empty"))
	}
	if fn == nil {
		panic(validate.New("twilio", "fn", "is nil"))
	}
	u, err := url.Parse(publicURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		panic(validate.New("twilio", "publicURL", "must be an absolute http or https URL"))
	}
	return &statusHandler{key: []byte(authToken), bases: signedBases(u), fn: fn}
}

type statusHandler struct {
	key   []byte
	bases []string
	fn    func(ctx context.Context, messageSID, status string)
}

// signedBases returns the URLs (without query) a signature may have been
// made over: u as given, and u with its default port added or removed.
func signedBases(u *url.URL) []string {
	v := *u
	v.RawQuery, v.ForceQuery, v.Fragment, v.RawFragment = "", false, "", ""
	bases := []string{v.String()}
	defaultPort := "443"
	if v.Scheme == "http" {
		defaultPort = "80"
	}
	switch port := v.Port(); port {
	case "":
		w := v
		w.Host = net.JoinHostPort(v.Hostname(), defaultPort)
		bases = append(bases, w.String())
	case defaultPort:
		w := v
		w.Host = v.Hostname()
		if strings.Contains(w.Host, ":") { // IPv6 literal
			w.Host = "[" + w.Host + "]"
		}
		bases = append(bases, w.String())
	}
	return bases
}

func (h *statusHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		http.Error(w, "want application/x-www-form-urlencoded", http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxStatusBodySize))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "cannot read body", http.StatusBadRequest)
		return
	}
	form, err := url.ParseQuery(string(body))
	// An empty name adds nothing to the signed text, so a parameter without
	// one could be slipped into a signed request; Twilio never sends one.
	if err != nil || form.Has("") {
		http.Error(w, "malformed form body", http.StatusBadRequest)
		return
	}
	if !h.verify(r.URL.RawQuery, form, r.Header.Get(SignatureHeader)) {
		http.Error(w, "invalid signature", http.StatusForbidden)
		return
	}
	sid, status := form.Get("MessageSid"), form.Get("MessageStatus")
	if !messageSIDRe.MatchString(sid) || !statusRe.MatchString(status) {
		http.Error(w, "MessageSid or MessageStatus missing or malformed", http.StatusBadRequest)
		return
	}
	h.fn(r.Context(), sid, status)
	w.WriteHeader(http.StatusNoContent)
}

// verify reports whether sig is the signature of one of the handler's base
// URLs with rawQuery and form.
func (h *statusHandler) verify(rawQuery string, form url.Values, sig string) bool {
	if sig == "" {
		return false
	}
	params := signedParams(form)
	ok := false
	for _, base := range h.bases {
		u := base
		if rawQuery != "" {
			u += "?" + rawQuery
		}
		want := sign(h.key, u, params)
		// Every candidate is checked, so the time taken does not say which
		// one came close.
		if subtle.ConstantTimeCompare([]byte(want), []byte(sig)) == 1 {
			ok = true
		}
	}
	return ok
}

// signedParams is Twilio's parameter text: each name followed by its value,
// names in byte order, the values of a repeated name in byte order.
func signedParams(form url.Values) string {
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(form)) {
		for _, v := range slices.Sorted(slices.Values(form[name])) {
			b.WriteString(name)
			b.WriteString(v)
		}
	}
	return b.String()
}

// sign is X-Twilio-Signature for fullURL (with its query) and the
// parameter text of signedParams.
func sign(key []byte, fullURL, params string) string {
	mac := hmac.New(sha1.New, key)
	mac.Write([]byte(fullURL))
	mac.Write([]byte(params))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
