package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/wedsync/integrations/notify"
)

// fakeTwilioFrom is the number the demo's SMS come from (a UK drama
// number: it reaches nobody).
const fakeTwilioFrom = "+447700900000"

// maxFakeSMS is how many messages the fake Twilio keeps.
const maxFakeSMS = 200

// fakeTwilio stands in for Twilio's Messages API on loopback, since the demo
// must not send real text messages: it checks the Basic credentials the
// twilio provider sends, keeps each message and answers as Twilio does
// (201 with the message's SID). It is the only fake of the demo: Twilio is
// on the internet; the SMTP server is a real one.
type fakeTwilio struct {
	accountSID string
	authToken  string
	base       string // http://127.0.0.1:port
	out        *console
	srv        *http.Server
	ln         net.Listener
	served     chan struct{}
	tr         *http.Transport // the provider's, closed with the server

	mu   sync.Mutex
	msgs []fakeSMS // oldest first
}

// fakeSMS is one message the fake Twilio received.
type fakeSMS struct {
	SID        string    `json:"sid"`
	From       string    `json:"from"`
	To         string    `json:"to"`
	Body       string    `json:"body"`
	Encoding   string    `json:"encoding"`
	Segments   int       `json:"segments"`
	ReceivedAt time.Time `json:"received_at"`
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

func startFakeTwilio(out *console) (*fakeTwilio, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("the fake Twilio: %w", err)
	}
	f := &fakeTwilio{accountSID: "AC" + randomHex(16), authToken: randomHex(16), base: "http://" + ln.Addr().String(),
		out: out, ln: ln, served: make(chan struct{}), tr: &http.Transport{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2010-04-01/Accounts/{sid}/Messages.json", f.messages)
	f.srv = newServer(mux)
	go func() {
		defer close(f.served)
		_ = f.srv.Serve(ln)
	}()
	return f, nil
}

// client is the HTTP client of the twilio provider: its connections are
// closed with the server.
func (f *fakeTwilio) client() *http.Client {
	return &http.Client{Transport: f.tr, Timeout: 15 * time.Second}
}

func (f *fakeTwilio) close(ctx context.Context) error {
	err := f.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		err = errors.Join(err, f.srv.Close())
	}
	<-f.served
	f.tr.CloseIdleConnections()
	return err
}

// twilioError answers as Twilio does when it refuses a request.
func twilioError(w http.ResponseWriter, status, code int, msg string) {
	writeJSON(w, status, map[string]any{"code": code, "message": msg, "status": status,
		"more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code)})
}

// POST /2010-04-01/Accounts/{sid}/Messages.json
func (f *fakeTwilio) messages(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	if !ok || r.PathValue("sid") != f.accountSID ||
		subtle.ConstantTimeCompare([]byte(user), []byte(f.accountSID)) != 1 ||
		subtle.ConstantTimeCompare([]byte(pass), []byte(f.authToken)) != 1 {
		twilioError(w, http.StatusUnauthorized, 20003, "Authenticate")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		twilioError(w, http.StatusBadRequest, 21602, "The request could not be read")
		return
	}
	to, from, body := r.PostForm.Get("To"), r.PostForm.Get("From"), r.PostForm.Get("Body")
	switch {
	case to == "":
		twilioError(w, http.StatusBadRequest, 21604, "A 'To' phone number is required.")
		return
	case from == "" && r.PostForm.Get("MessagingServiceSid") == "":
		twilioError(w, http.StatusBadRequest, 21603, "A 'From' phone number is required.")
		return
	case body == "":
		twilioError(w, http.StatusBadRequest, 21602, "Message body is required.")
		return
	}
	info := notify.SMSSegments(body)
	m := fakeSMS{SID: "SM" + randomHex(16), From: from, To: to, Body: body, Encoding: info.Encoding, Segments: info.Segments,
		ReceivedAt: time.Now()}
	f.mu.Lock()
	f.msgs = append(f.msgs, m)
	if len(f.msgs) > maxFakeSMS {
		f.msgs = append(f.msgs[:0:0], f.msgs[len(f.msgs)-maxFakeSMS:]...)
	}
	f.mu.Unlock()
	f.out.printf("SMS        the fake Twilio received %s for %s (%s, %d SMS): %q", m.SID, to, info.Encoding, info.Segments, truncate(body, 80))
	writeJSON(w, http.StatusCreated, map[string]any{
		"sid": m.SID, "account_sid": f.accountSID, "to": to, "from": from, "body": body, "status": "queued",
		"num_segments": fmt.Sprint(info.Segments), "date_created": m.ReceivedAt.UTC().Format(time.RFC1123Z),
	})
}

// received returns the messages, newest first.
func (f *fakeTwilio) received() []fakeSMS {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]fakeSMS, len(f.msgs))
	for i, m := range f.msgs {
		out[len(f.msgs)-1-i] = m
	}
	return out
}
