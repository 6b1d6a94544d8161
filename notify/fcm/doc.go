// Package fcm sends notify's push channel to Firebase Cloud Messaging
// registration tokens (subscriptions of kind notify.PushFCM) through the FCM
// HTTP v1 API.
//
// A Provider is a notify.PushProvider. Each Send is one POST to
// /v1/projects/{project}/messages:send with an OAuth2 bearer token for the
// scope https://www.googleapis.com/auth/firebase.messaging, and the body
//
//	{"message": {
//	  "token": "<registration token>",
//	  "notification": {"title": "<subject>", "body": "<text>"},
//	  "data": {"notification_id": "ntf_...", "event": "...", "category": "...",
//	           "priority": "...", "url": "..."},
//	  "android": {"priority": "high"},                      // critical only
//	  "webpush": {"headers": {"Urgency": "high"},           // critical only
//	              "fcm_options": {"link": "https://..."}}}} // https URL only
//
// Data values are strings, as FCM requires; empty ones are left out.
//
// New takes any oauth2.TokenSource; NewFromServiceAccount builds one from a
// service account's JSON key (golang.org/x/oauth2/google): the key signs a
// JWT assertion that Google's token endpoint exchanges for an access token,
// which is cached until it expires.
//
// FCM's answers become the errors the notifier acts on:
//
//   - 2xx: a notify.Result whose ExternalID is the message name
//     (projects/{project}/messages/{id}).
//   - error code UNREGISTERED (FCM answers 404): an error matching
//     notify.ErrSubscriptionGone, so the notifier marks the subscription
//     dead. A 404 without that code is a ProviderError: a wrong project ID
//     or base URL answers 404 to every send, and must not kill every
//     subscription.
//   - 400 INVALID_ARGUMENT about the registration token, or
//     SENDER_ID_MISMATCH (the token belongs to another Firebase project): a
//     *notify.RecipientError for push_subscription.token.
//   - anything else (401, 403, 429, 5xx, other 400s, a redirect, a timeout,
//     a token endpoint that fails): a *notify.ProviderError with the HTTP
//     status, FCM's error code and the Retry-After the response carried.
//
// Errors never carry the registration token, the access token, the private
// key or the message.
package fcm
