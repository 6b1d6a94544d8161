// Package webhook signs and verifies webhooks the Standard Webhooks way
// (https://www.standardwebhooks.com). It imports the standard library only,
// so a vendor or integrator who embeds the verifier gets nothing else: no
// database driver, no job queue.
//
// # Receiving: Verifier
//
// NewVerifier, Verifier.Verify and Verifier.Middleware check the
// webhook-id, webhook-timestamp and webhook-signature headers against the raw
// body: v1 (HMAC-SHA256, whsec_ secrets) and v1a (Ed25519, whpk_ keys),
// several signatures per header (secret rotation), a tolerance window (5
// minutes by default) and constant-time comparison. Middleware has the
// net/http middleware shape, func(http.Handler) http.Handler, so it fits any
// router's chain. Errors are typed (ErrMissingHeader, ErrTimestampTooOld,
// ...) for errors.Is.
//
// # Sending: Signer
//
// NewSigner and Signer.SetHeaders sign an outgoing request; several secrets
// sign side by side while a secret is rotated.
//
// The durable sender that WedSync runs (endpoints, fan-out, retries, the
// attempt log) is the sub-package webhook/delivery; test helpers are in
// webhook/webhooktest. docs/webhooks.md in the repository is the
// specification vendors read.
package webhook
