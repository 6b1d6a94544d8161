package twilio_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"
)

const (
	testAccount   = "AC0123456789abcdef0123456789abcdef"
	testToken     = "authtoken-5ecret-9f8e7d6c5b4a"
	testKeySID    = "SKfedcba9876543210fedcba9876543210"
	testKeySecret = "apikey-5ecret-0a1b2c3d4e5f"
	testService   = "MG00112233445566778899aabbccddeeff"
	testFrom      = "+447700900999"
	testSID       = "SM1f0e8ae6ade43cb3c0ce4525424e404f"
)

// Numbers the fake Twilio treats specially; any other valid To is sent.
const (
	toOK           = "+447700900123"
	toInvalid      = "+447700900001" // 400, code 21211
	toNotMobile    = "+447700900002" // 400, code 21614
	toUnsubscribed = "+447700900003" // 400, code 21610
	toBusy         = "+447700900004" // 429, Retry-After: 7
	toBroken       = "+447700900005" // 500, message echoing secrets
	toDown         = "+447700900006" // 503, Retry-After as an HTTP date
	toRedirect     = "+447700900007" // 302
	toOtherError   = "+447700900008" // 400, code 21606 (From not owned)
)

// fakeTwilio behaves like Twilio's Messages endpoint: it checks the path,
// Basic auth, the content type and the form fields, and answers as Twilio
// does, JSON errors included.
type fakeTwilio struct {
	*httptest.Server
	user, pass string

	mu       sync.Mutex
	requests int
	forms    []url.Values
	retryAt  time.Time
}

func newFakeTwilio(t *testing.T, user, pass string) *fakeTwilio {
	t.Helper()
	f := &fakeTwilio{user: user, pass: pass, retryAt: time.Now().Add(time.Hour)}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func twilioError(w http.ResponseWriter, status, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"code": code, "message": msg, "status": status,
		"more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code),
	})
}

func (f *fakeTwilio) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests++
	f.mu.Unlock()
	if r.URL.Path != "/2010-04-01/Accounts/"+testAccount+"/Messages.json" {
		twilioError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
		return
	}
	if r.Method != http.MethodPost {
		twilioError(w, http.StatusMethodNotAllowed, 20004, "Method not allowed")
		return
	}
	if u, p, ok := r.BasicAuth(); !ok || u != f.user || p != f.pass {
		twilioError(w, http.StatusUnauthorized, 20003, "Authenticate")
		return
	}
	if r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		twilioError(w, http.StatusBadRequest, 20001, "Unsupported content type")
		return
	}
	if err := r.ParseForm(); err != nil {
		twilioError(w, http.StatusBadRequest, 20001, "Malformed form")
		return
	}
	form := r.PostForm
	f.mu.Lock()
	f.forms = append(f.forms, form)
	f.mu.Unlock()
	to, body := form.Get("To"), form.Get("Body")
	switch {
	case to == "":
		twilioError(w, http.StatusBadRequest, 21604, "A 'To' phone number is required.")
		return
	case body == "":
		twilioError(w, http.StatusBadRequest, 21602, "Message body is required.")
		return
	case form.Get("From") == "" && form.Get("MessagingServiceSid") == "":
		twilioError(w, http.StatusBadRequest, 21603, "A 'From' or 'MessagingServiceSid' parameter is required to send a message.")
		return
	}
	switch to {
	case toInvalid:
		twilioError(w, http.StatusBadRequest, 21211, "The 'To' number "+to+" is not a valid phone number.")
	case toNotMobile:
		twilioError(w, http.StatusBadRequest, 21614, "'To' number "+to+" is not a valid mobile number")
	case toUnsubscribed:
		twilioError(w, http.StatusBadRequest, 21610, "Attempt to send to unsubscribed recipient")
	case toOtherError:
		twilioError(w, http.StatusBadRequest, 21606, "The From phone number is not a valid, SMS-capable inbound phone number for your account.")
	case toBusy:
		w.Header().Set("Retry-After", "7")
		twilioError(w, http.StatusTooManyRequests, 20429, "Too Many Requests")
	case toBroken:
		twilioError(w, http.StatusInternalServerError, 20500,
			"Internal error for "+to+" with "+f.pass+" sending "+body+"\nsecond line")
	case toDown:
		w.Header().Set("Retry-After", f.retryAt.UTC().Format(http.TimeFormat))
		twilioError(w, http.StatusServiceUnavailable, 20503, "Service Unavailable")
	case toRedirect:
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	default:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"sid": testSID, "account_sid": testAccount, "to": to, "body": body,
			"status": "queued", "num_segments": "1", "direction": "outbound-api",
		})
	}
}

func (f *fakeTwilio) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}

func (f *fakeTwilio) lastForm() url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.forms) == 0 {
		return nil
	}
	return f.forms[len(f.forms)-1]
}
