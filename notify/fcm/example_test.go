package fcm_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"golang.org/x/oauth2"

	"github.com/wedsync/integrations/notify"
	"github.com/wedsync/integrations/notify/fcm"
)

// fakeFCM stands in for Google: /token hands out an access token for any
// assertion, and messages:send accepts every token but "expired-token".
func fakeFCM() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/token" {
			fmt.Fprint(w, `{"access_token":"ya29.example","token_type":"Bearer","expires_in":3600}`)
			return
		}
		if r.Header.Get("Authorization") != "Bearer ya29.example" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var body struct {
			Message struct {
				Token string `json:"token"`
			} `json:"message"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		if body.Message.Token == "expired-token" {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error":{"code":404,"status":"NOT_FOUND","message":"Requested entity was not found.",
				"details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNREGISTERED"}]}}`)
			return
		}
		project := strings.Split(r.URL.Path, "/")[3]
		fmt.Fprintf(w, `{"name":"projects/%s/messages/0:1712345678901234"}`, project)
	}))
}

func ExampleNewFromServiceAccount() {
	srv := fakeFCM()
	defer srv.Close()

	// In production, jsonKey is the service account key file from the
	// Firebase console; here is one with a fresh key.
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	jsonKey, _ := json.Marshal(map[string]string{
		"type":         "service_account",
		"project_id":   "wedsync-demo",
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": "fcm@wedsync-demo.iam.gserviceaccount.com",
	})

	ctx := context.Background()
	p, err := fcm.NewFromServiceAccount(ctx, jsonKey,
		fcm.WithBaseURL(srv.URL),           // omit in production
		fcm.WithTokenURL(srv.URL+"/token"), // omit in production
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	msg := &notify.Message{
		NotificationID: "ntf_1",
		Channel:        notify.ChannelPush,
		Priority:       notify.PriorityCritical,
		Subscription:   &notify.PushSubscription{Kind: notify.PushFCM, Token: "device-registration-token"},
		Subject:        "Timeline changed",
		Text:           "First dance moved to 21:30",
		URL:            "https://app.wedsync.com/timeline",
	}
	res, err := p.Send(ctx, msg)
	fmt.Println(res.ExternalID, err)

	msg.Subscription.Token = "expired-token"
	_, err = p.Send(ctx, msg)
	fmt.Println(errors.Is(err, notify.ErrSubscriptionGone))
	// Output:
	// projects/wedsync-demo/messages/0:1712345678901234 <nil>
	// true
}

func ExampleNew() {
	srv := fakeFCM()
	defer srv.Close()

	// Any oauth2.TokenSource with the firebase.messaging scope will do,
	// such as google.DefaultTokenSource(ctx, fcm.Scope) on Google Cloud.
	ts := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "ya29.example", TokenType: "Bearer"})
	p, err := fcm.New("wedsync-demo", ts, fcm.WithBaseURL(srv.URL))
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := p.Send(context.Background(), &notify.Message{
		Channel:      notify.ChannelPush,
		Subscription: &notify.PushSubscription{Kind: notify.PushFCM, Token: "device-registration-token"},
		Subject:      "New enquiry",
		Text:         "Jones wedding, 3 May",
	})
	fmt.Println(p.Name(), p.PushKind(), res.ExternalID, err)
	// Output:
	// fcm fcm projects/wedsync-demo/messages/0:1712345678901234 <nil>
}
