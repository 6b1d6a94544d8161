// Package webpush is the notify.PushProvider for browser push: Web Push
// (RFC 8030) with message encryption (aes128gcm, RFC 8291) and VAPID
// authentication (RFC 8292), on github.com/SherClockHolmes/webpush-go.
//
// A Provider sends one notify.Message to one notify.PushSubscription of kind
// notify.PushWeb. The browser's service worker receives the JSON Payload:
//
//	{"title":"...","body":"...","url":"...","notification_id":"ntf_...","category":"booking","priority":"normal"}
//
// A push message carries at most MaxPayloadSize bytes of plaintext (a
// 4,096-byte encrypted record); a longer message has its body, then if
// need be its title, cut on a character boundary and ended with "…".
//
// Keys: GenerateVAPIDKeys makes the application server's key pair once;
// the public key goes to the browser (PushManager.subscribe's
// applicationServerKey), the private key stays in the host's secret store.
// New checks that the two belong together.
//
// Push endpoints come from browsers, so they are untrusted URLs: the default
// HTTP client refuses private, loopback, link-local and metadata addresses at
// dial time, requires https and follows no redirects. Tests that run a push
// service on 127.0.0.1 use WithAllowedNetworks and WithInsecureHTTP.
//
// Errors follow notify.Provider: a malformed subscription (endpoint, p256dh
// or auth) or an endpoint the client refuses is a *notify.RecipientError
// naming push_subscription.<field>; 404 and 410 match
// notify.ErrSubscriptionGone; 429, 5xx and other failures are
// *notify.ProviderError values with the status and Retry-After.
package webpush
