// Package client is the WedSync backend's client for Supabase Realtime: one
// WebSocket to a Realtime server (Supabase's, or a realtime.Hub of this
// SDK), with Channels multiplexed on it. It speaks the Phoenix channel
// protocol of package realtime/protocol with either serializer (WithVSN).
//
// Create a Client with New and the socket URL
// ("wss://<project>.supabase.co/realtime/v1/websocket"), Connect it, then
// take a Channel per topic, register handlers (OnBroadcast,
// OnPostgresChanges, OnPresence, OnSystem, OnReload) and Subscribe.
// postgres_changes are routed by the ids of the join reply, as realtime-js
// does; Send broadcasts, Track and Untrack handle presence.
//
// The client keeps itself connected. It sends a heartbeat every 25 s
// (WithHeartbeatInterval) and reconnects when one goes unanswered;
// reconnects back off exponentially with full jitter, from 1 s to 30 s
// (WithReconnectBackoff), starting again at the first step after a session
// the server answered (a join or heartbeat replied ok), so a network that
// drops sockets every few seconds costs about a second each time; after
// each reconnect it rejoins every channel
// with the current access token (SetAccessToken, or a TokenSource that it
// refreshes before expiry). Supabase keeps no log and replays nothing, so
// every reconnect calls the host's OnResync to reload state from the
// database. A realtime.Hub does keep history: ChannelConfig.Replay asks it
// for what was missed and delivers each broadcast once and in order, or
// calls OnReload when the history cannot fill the gap.
//
// Close leaves with a normal closure, but waits at most a second for the
// server to answer it: a server that hangs cannot hold a shutdown.
//
// Handlers run on one goroutine per client, in arrival order, and must be
// quick. Errors the client recovers from (malformed frames, failed dials,
// refused rejoins, handler panics) go to WithOnError and the logger, never
// to a panic. Bad input (an option, the URL, an empty event) is an error
// that matches ErrInvalid and names the field and the rule.
//
// The package's tests run the client against a scripted Phoenix server and,
// in package realtime, against the real Hub; realtimetest.NewServer gives
// hosts' tests a Hub to talk to.
package client
