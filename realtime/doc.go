// Package realtime keeps suppliers' dashboards live. It has two halves that
// speak the same wire protocol, Supabase Realtime (Phoenix channels):
//
//   - Client is our backend's client for a Supabase Realtime server:
//     postgres_changes routed by the ids of the join reply, broadcast,
//     presence, heartbeats, reconnects with jittered backoff and rejoins,
//     token refresh. Supabase keeps no log and replays nothing, so every
//     reconnect calls the host's OnResync to reload state from the database.
//
//   - Hub is the server dashboards connect to. A dashboard built on
//     @supabase/realtime-js connects unchanged to
//     <base>/realtime/v1/websocket?apikey=<jwt> and joins
//     realtime:supplier:<id>. Both serializers are spoken (vsn 1.0.0 JSON
//     objects, the default; vsn 2.0.0 JSON arrays and binary user
//     broadcasts). Every socket and every join is authenticated (an
//     Authenticator; NewJWTAuthenticator verifies Supabase-style JWTs) and
//     authorised (an Authorizer; by default a principal joins only its own
//     supplier's topics).
//
// Unlike Supabase, the hub does not drop what a dashboard missed while its
// Wi-Fi was down. Every topic keeps a bounded history (size and age) in a
// Broker; each broadcast carries meta.id, meta.epoch, meta.offset and meta.ts
// (milliseconds). A join with config.broadcast.replay.since receives every
// broadcast at or after that moment, in order, marked replayed, followed by
// a system message with code replay_complete; or, when the history no
// longer reaches back that far, a system message with code
// replay_incomplete and nothing else, so the client reloads its state. A
// replay is never partial: after Centrifugo's recovery model, there is no
// silent gap. Client does this for you with ChannelConfig.Replay.
//
// The broker carries broadcasts between hub instances. MemoryBroker (the
// default) serves one process and loses its history on exit (a new epoch
// then makes old replays incomplete). The Postgres broker in
// realtime/pgbroker serves every instance that shares the database, and its
// history survives restarts.
//
// Limits protect the hub from its clients: a bounded send buffer per socket
// (a slow consumer is disconnected with close code 1008 rather than allowed
// to stall others or grow memory), a maximum number of channels per socket,
// join and message rates per socket, a handshake rate per IP, and a maximum
// frame size. A socket silent for 60 s is closed; a channel whose token
// expires is closed with a system message, as Supabase does.
//
// Realtime is for live screens. Anything that must arrive goes through a
// durable path (webhooks, notifications); the hub's history makes a
// dashboard complete, not a system of record.
package realtime
