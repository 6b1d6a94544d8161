package twilio_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/wedsync/integrations/notify"
	"github.com/wedsync/integrations/notify/twilio"
)

func ExampleNew() {
	// A stand-in for api.twilio.com, which answers like Twilio.
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if user, _, _ := r.BasicAuth(); user != "AC0123456789abcdef0123456789abcdef" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if r.PostFormValue("To") == "+447700900001" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"code":21211,"message":"Invalid 'To' Phone Number","status":400}`)
			return
		}
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"sid":"SM1f0e8ae6ade43cb3c0ce4525424e404f","status":"queued"}`)
	}))
	defer fake.Close()

	p, err := twilio.New("AC0123456789abcdef0123456789abcdef", "your-auth-token",
		twilio.WithFrom("+447700900999"),
		twilio.WithStatusCallback("https://api.example.com/twilio/status"),
		twilio.WithBaseURL(fake.URL), // omit in production
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	res, err := p.Send(ctx, &notify.Message{Channel: notify.ChannelSMS, To: "+447700900123", Text: "New enquiry for 14 June"})
	fmt.Println(res.ExternalID, err)

	_, err = p.Send(ctx, &notify.Message{Channel: notify.ChannelSMS, To: "+447700900001", Text: "New enquiry"})
	fmt.Println(errors.Is(err, notify.ErrBadRecipient), err)

	_, err = p.Send(ctx, &notify.Message{Channel: notify.ChannelSMS, To: "07700 900123", Text: "New enquiry"})
	fmt.Println(err)
	// Output:
	// SM1f0e8ae6ade43cb3c0ce4525424e404f <nil>
	// true notify: recipient.phone: Twilio refuses it as not a valid phone number (code 21211)
	// notify: recipient.phone: must be an E.164 number such as +447700900123
}

func ExampleStatusHandler() {
	const token = "your-auth-token"
	const public = "https://api.example.com/twilio/status"
	h := twilio.StatusHandler(token, public, func(_ context.Context, sid, status string) {
		// Hand it to the notifier here.
		fmt.Println("report:", sid, status)
	})
	srv := httptest.NewServer(h)
	defer srv.Close()

	// What Twilio posts, and how it signs it.
	form := url.Values{
		"MessageSid":    {"SM1f0e8ae6ade43cb3c0ce4525424e404f"},
		"MessageStatus": {"delivered"},
		"To":            {"+447700900123"},
	}
	mac := hmac.New(sha1.New, []byte(token))
	mac.Write([]byte(public + "MessageSidSM1f0e8ae6ade43cb3c0ce4525424e404fMessageStatusdeliveredTo+447700900123"))
	signature := base64.StdEncoding.EncodeToString(mac.Sum(nil))

	for _, sig := range []string{signature, "forged"} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(twilio.SignatureHeader, sig)
		resp, err := srv.Client().Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		resp.Body.Close()
		fmt.Println(resp.StatusCode)
	}
	// Output:
	// report: SM1f0e8ae6ade43cb3c0ce4525424e404f delivered
	// 204
	// 403
}
