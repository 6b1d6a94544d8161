package webpush_test

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"

	"github.com/wedsync/integrations/notify"
	"github.com/wedsync/integrations/notify/webpush"
)

func ExampleGenerateVAPIDKeys() {
	// Once, at setup: the public key goes to the browser as
	// applicationServerKey, the private key to the secret store.
	public, private, err := webpush.GenerateVAPIDKeys()
	if err != nil {
		panic(err)
	}
	pub, _ := base64.RawURLEncoding.DecodeString(public)
	priv, _ := base64.RawURLEncoding.DecodeString(private)
	fmt.Println(len(pub), "byte public key,", len(priv), "byte private key")
	// Output: 65 byte public key, 32 byte private key
}

func ExampleProvider_Send() {
	// A stand-in for the browser vendor's push service: it accepts
	// /push/live and says /push/expired is gone.
	pushService := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/push/expired" {
			w.WriteHeader(http.StatusGone)
			return
		}
		w.Header().Set("Location", "/messages/m-1")
		w.WriteHeader(http.StatusCreated)
	}))
	defer pushService.Close()

	public, private, err := webpush.GenerateVAPIDKeys()
	if err != nil {
		panic(err)
	}
	provider, err := webpush.New(public, private, "mailto:ops@wedsync.example",
		// Only because the push service above runs on 127.0.0.1 over
		// http: real endpoints are public https URLs.
		webpush.WithAllowedNetworks(netip.MustParsePrefix("127.0.0.0/8")),
		webpush.WithInsecureHTTP(true),
	)
	if err != nil {
		panic(err)
	}
	defer provider.CloseIdleConnections()

	// What the browser's PushSubscription.toJSON() gave the host.
	browserKey, _ := ecdh.P256().GenerateKey(rand.Reader)
	subscription := &notify.PushSubscription{
		Kind:     notify.PushWeb,
		Endpoint: pushService.URL + "/push/live",
		P256DH:   base64.RawURLEncoding.EncodeToString(browserKey.PublicKey().Bytes()),
		Auth:     base64.RawURLEncoding.EncodeToString([]byte("16-byte-secret!!")),
	}
	msg := &notify.Message{
		NotificationID: "ntf_123",
		Channel:        notify.ChannelPush,
		Priority:       notify.PriorityCritical, // sent with Urgency: high
		Category:       notify.CategoryTimeline,
		Subscription:   subscription,
		Subject:        "Ceremony moved to 14:30",
		Text:           "The couple moved the ceremony at Kew Gardens.",
		URL:            "https://app.wedsync.example/timeline/42",
	}
	res, err := provider.Send(context.Background(), msg)
	fmt.Println(res.ExternalID, err)

	subscription.Endpoint = pushService.URL + "/push/expired"
	_, err = provider.Send(context.Background(), msg)
	fmt.Println("gone:", errors.Is(err, notify.ErrSubscriptionGone))
	// Output:
	// /messages/m-1 <nil>
	// gone: true
}
