// Package oauthflow is the authorisation-code flow a host runs when a
// supplier connects a Google or Microsoft calendar: Begin gives the URL to
// send the supplier to, Finish takes the code the provider sends back and
// returns the token to pass to calendar.Sync.Connect as credentials.
//
// The flow keeps nothing on the server. The state parameter carries, sealed
// with the host's key (AES-256-GCM), the supplier, the PKCE verifier
// (RFC 7636, S256) and an expiry: it cannot be forged or read, so a code
// injected from another session fails (the verifier does not match), and
// Finish returns the supplier the flow began for, which the host compares
// with the supplier signed in on the callback request.
package oauthflow
