// Package realtimetest helps hosts' tests, and the demo, talk to a realtime
// Hub guarded by the default JWT authenticator: it signs Supabase-style
// HS256 tokens with a shared secret, the way a Supabase project signs them
// with its legacy JWT secret.
//
// The tokens are real: a realtime.JWTAuthenticator configured with
// WithHS256Secret and the same secret accepts them until they expire. Use
// them in tests and local demos only; production tokens come from Supabase
// Auth.
//
//	tok, err := realtimetest.HS256Token(secret, "42", time.Now().Add(time.Hour))
//
// HS256TokenWithClaims signs any claims, for tests of the refusals: a token
// without exp, with a wrong audience, with a numeric supplier id, and so on.
package realtimetest
