// Package realtime keeps suppliers' dashboards live. Hub is the server
// dashboards connect to, speaking the Supabase Realtime protocol (Phoenix
// channels; the wire format is package realtime/protocol): a dashboard
// built on @supabase/realtime-js connects unchanged to
// <base>/realtime/v1/websocket?apikey=<jwt> and joins
// realtime:supplier:<id>. Both serializers are spoken (vsn 1.0.0 JSON
// objects, the default; vsn 2.0.0 JSON arrays and binary user broadcasts).
// The host calls Hub.Broadcast after its business write commits.
//
// Every socket and every join is authenticated (an Authenticator;
// NewJWTAuthenticator verifies Supabase-style JWTs, HS256 or ES256/RS256
// through a JWKS) and authorised (an Authorizer; by default
// SupplierAuthorizer, under which a principal joins only its own
// supplier's topics, SupplierTopic).
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
// silent gap. The client in realtime/client does this for you with
// ChannelConfig.Replay.
//
// The broker carries broadcasts between hub instances. MemoryBroker (the
// default) serves one process and loses its history on exit (a new epoch
// then makes old replays incomplete). The Postgres broker in
// realtime/pgbroker serves every instance that shares the database, and its
// history survives restarts. It also shares presence (PresenceBroker): a
// dashboard on any instance sees who is viewing on every instance, and the
// members of an instance that crashed leave when their time-to-live has
// passed. Bridge follows a Supabase table through a
// client.Client and re-broadcasts each valid change to its supplier's
// topic, so that changes get the hub's history and replay.
//
// Limits protect the hub from its clients: a bounded send buffer per socket
// (a slow consumer is disconnected with close code 1008 rather than allowed
// to stall others or grow memory), a maximum number of channels per socket,
// join and message rates per socket, a handshake rate per IP, caps on the
// sockets open per principal (20) and per IP (200; an IPv6 client's IP is
// its /64), and a maximum frame size. A socket silent for 60 s is closed;
// a channel whose token expires is closed with a system message, as
// Supabase does.
//
// Presence is fanned out to every channel on a topic, so it is bounded
// too: a channel is tracked under its principal's key (the token's
// subject; a client-chosen key only with WithClientPresenceKeys), a meta
// is at most 4 KiB, a socket tracks at most 2 a second (bursts of 5), and
// a topic holds at most 1,000 metas (over every instance, when the broker
// shares presence). What one principal can make the hub
// send is then bounded by its socket cap, its track rate and the channels
// on the topic (docs/realtime.md works it out). The principal is the
// token's subject, or the token when it has none: every user of a shared
// token without a subject (an anon key) shares one socket budget, so hosts
// should issue per-user tokens.
//
// Constructors take options: Option for NewHub, JWTOption for
// NewJWTAuthenticator, BrokerOption for NewMemoryBroker; WithClock,
// WithLogger, WithMeterProvider and WithTracerProvider are all three, so
// one clock (a clockwork.Clock; tests pass a fake one), one logger and one
// pair of OpenTelemetry providers configure everything. Bad input, an option or
// an argument, is an error that matches ErrInvalid and names the field and
// the rule (ValidationError).
//
// The hub writes the frames queued for a socket together: a writer takes
// every frame waiting for the socket and sends them with one system call
// per 64 KiB (each bounded by WithWriteTimeout), still one Phoenix message
// per WebSocket frame; under load most of a fan-out's CPU was one system
// call per frame.
//
// Hub.Shutdown closes the hub within a context: a close frame (1001) to
// every socket, then, when the context ends, a cut of those still open, so
// that no dashboard can hold a shutdown; Close is Shutdown bounded by
// CloseTimeout.
//
// The hub reports through the OpenTelemetry API (WithMeterProvider,
// WithTracerProvider; the global providers by default): sockets and
// channels open, handshakes and joins refused, broadcasts, frames, slow
// consumers, replays and resyncs as metrics; each Hub.Broadcast as a
// producer span, each replay and resync as a span. docs/realtime.md lists
// every metric and span.
//
// Realtime is for live screens. Anything that must arrive goes through a
// durable path (webhooks, notifications); the hub's history makes a
// dashboard complete, not a system of record.
package realtime
