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
// minutes by default) and constant-time comparison. Errors are typed
// (ErrMissingHeader, ErrTimestampTooOld, ...) for errors.Is.
//
// Verifier.Middleware has the net/http middleware shape,
// func(http.Handler) http.Handler, and takes no options, so it fits any
// router's chain as is:
//
//	v, err := webhook.NewVerifier(secret, webhook.WithMaxBodyBytes(256<<10))
//	...
//	r.Use(v.Middleware)
//
// Its body cap is set on NewVerifier with WithMaxBodyBytes (1 MiB by
// default); it answers 413 over the cap and 401 when verification fails,
// and otherwise hands the next handler the exact bytes that were signed.
//
// # Errors in the configuration
//
// NewVerifier reports a bad option as a *ValidationError that names the
// option and the rule ("webhook: WithMaxBodyBytes: must be between 1 and
// 1073741824 bytes, got 0"); NewVerifier and NewSigner report a bad secret as
// an error matching ErrMalformedSecret that names it without echoing it.
// Both match ErrInvalid. ValidationError has the shape of the validation
// error of the module's other packages.
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
