// Package realtimetest helps hosts' tests, and the demo, talk to a realtime
// Hub guarded by the default JWT authenticator.
//
// NewServer starts a Hub on a loopback HTTP server for a test and closes it
// when the test ends; StartServer does the same for an example or a
// benchmark, which closes it itself. The server's URL is the Realtime base
// URL a Supabase project gives realtime-js ("ws://127.0.0.1:<port>/realtime/v1");
// SocketURL is what a client.Client dials. Token mints a dashboard token for
// a supplier that the server accepts:
//
//	srv := realtimetest.NewServer(t)
//	c, err := client.New(srv.SocketURL, client.WithAPIKey(srv.Token("42")))
//	// ... c joins "supplier:42"; srv.Hub.Broadcast reaches it.
//
// HS256Token signs Supabase-style HS256 tokens with a shared secret, the way
// a Supabase project signs them with its legacy JWT secret. The tokens are
// real: a realtime.JWTAuthenticator configured with WithHS256Secret and the
// same secret accepts them until they expire. Use them in tests and local
// demos only; production tokens come from Supabase Auth.
//
//	tok, err := realtimetest.HS256Token(secret, "42", time.Now().Add(time.Hour))
//
// HS256TokenWithClaims signs any claims, for tests of the refusals: a token
// without exp, with a wrong audience, with a numeric supplier id, and so on.
//
// BrokerSuite checks a realtime.Broker against the contract the hub relies
// on (offsets, history that is complete or empty but never partial,
// trimming by size and age, epochs, Close). The memory broker and the
// Postgres broker both pass it; a host that plugs in a broker of its own
// (on Redis, say) runs it against that:
//
//	func TestRedisBroker(t *testing.T) {
//		realtimetest.BrokerSuite(t, realtimetest.BrokerKit{
//			Shared: true, // brokers on one Redis share offsets, epochs and history
//			NewStore: func(t *testing.T) realtimetest.BrokerStore {
//				prefix := newKeyPrefix(t)
//				return realtimetest.BrokerStore{Open: func(s realtimetest.BrokerSettings) (realtime.Broker, error) {
//					return newRedisBroker(prefix, s.HistorySize, s.HistoryTTL, s.Clock)
//				}}
//			},
//		})
//	}
package realtimetest
