// Package twilio sends notify's SMS channel through Twilio's Programmable
// Messaging REST API, and receives Twilio's delivery reports.
//
// A Provider is a notify.Provider for notify.ChannelSMS. Each Send is one
// POST to /2010-04-01/Accounts/{AccountSid}/Messages.json with the form
// fields To, Body, From or MessagingServiceSid, and StatusCallback when one
// is configured, authenticated with HTTP Basic auth: the account SID and auth
// token, or an API key SID and secret (WithAPIKey). The provider checks the
// number before it calls Twilio: a To that is not E.164 (+447700900123) is a
// bad recipient and costs no API call.
//
// Twilio's answers become the errors the notifier acts on:
//
//   - 2xx: a notify.Result whose ExternalID is the message SID (SM...).
//   - 400 with Twilio code 21211 (invalid To), 21614 (not a mobile number)
//     or 21610 (the recipient replied STOP): a *notify.RecipientError for
//     recipient.phone, so the channel fails at once, without retry or
//     failover.
//   - anything else (401/403 bad credentials, 429, 5xx, other 4xx, a
//     redirect, a timeout): a *notify.ProviderError with the HTTP status,
//     Twilio's code and the Retry-After the response carried, for the
//     notifier to retry or fail over.
//
// Errors never carry the auth token, the API key secret, the recipient's
// number or the message body: they are removed from Twilio's messages before
// those are quoted.
//
// StatusHandler is the other half: an http.Handler for the StatusCallback
// URL that checks X-Twilio-Signature (HMAC-SHA1 with the account's auth
// token over the URL and the sorted POST parameters) and hands each
// delivery report (MessageSid, MessageStatus) to the host, which passes it
// on to the notifier. Twilio's signature has no timestamp, so a captured
// report can be replayed; reports are idempotent status updates, which makes
// a replay harmless.
package twilio
