// Package pgbroker is the Postgres realtime.Broker: every hub instance that
// shares the database sees every publication and the same presence, and
// each topic's bounded history survives a restart.
//
// Call Migrate once (at deploy or start-up; concurrent calls are safe), then
// New on each instance, and pass the broker to the hub:
//
//	if err := pgbroker.Migrate(ctx, pool); err != nil { ... }
//	b, err := pgbroker.New(ctx, pool, pgbroker.WithHistorySize(500))
//	if err != nil { ... }
//	defer b.Close()
//
// # Tables
//
// In the schema (WithSchema, default "wedsync"): realtime_topics holds one
// row per topic (its epoch, newest offset and time, and the trim mark: the
// newest publication that left history); realtime_history holds the kept
// publications, the payload as bytea so it stays byte for byte;
// realtime_meta records when the history store was created, since a replay
// from before then can never be complete; realtime_presence holds the
// presence members (see Presence).
//
// # Publish
//
// A publish is one transaction of two statements, pipelined in one round
// trip. The first upserts the topic row (INSERT ... ON CONFLICT DO UPDATE
// SET last_offset = last_offset + n), which locks it until commit:
// transactions of one topic, from every instance, queue there, so offsets
// are gapless and commit in offset order, and the time is
// greatest(clock_timestamp(), previous time) so it never goes back. The
// second inserts the history rows, trims what is over WithHistorySize
// (and, when the oldest kept publication has outlived WithHistoryTTL, what
// has) and queues one NOTIFY per publication on WithChannel, in offset
// order. The notification names the publication (schema, topic, epoch,
// offset) and receivers read the row back: any role that can connect may
// NOTIFY any channel, so a notification is a hint, never content. Postgres
// delivers notifications after commit, in commit order, so handlers see
// publications in offset order per topic, and only once they are in
// history.
//
// Concurrent publishes to one topic share that transaction (group commit).
// A publish to a topic with nothing in flight on this broker runs its own
// at once; those that arrive meanwhile queue, and the next transaction
// carries them all, up to 256 publications (never more than
// WithHistorySize) and about 4 MB, with consecutive offsets and one time.
// The row lock and the commit are paid once per transaction instead of
// once per publish: on a 2-CPU machine, 64 goroutines publishing to one
// topic went from about 500 to about 20,000 publishes/s, and a lone
// publisher's latency did not change (BenchmarkPublishOneTopic). A
// transaction that fails (the database is away, a constraint refuses a
// row) fails every publish in it and uses no offset.
//
// The caller's context bounds its wait. A publish whose context ends while
// it is queued is dropped and never published. One whose context ends
// while its transaction runs returns at once, and its publication commits
// or fails with the others in the transaction: as for any statement
// canceled in flight, it may have been published. A transaction nobody
// waits for any more is canceled (pgx sends the server a cancel request).
// Names Postgres cannot store as text (invalid UTF-8, NUL bytes) are
// refused before they can share a transaction.
//
// A background sweep (WithTrimInterval) trims expired history of topics
// nobody publishes to any more; History never returns an expired
// publication, swept or not.
//
// # Delivery
//
// Each broker holds one connection taken out of the host's pool (Acquire,
// then Hijack) with application_name "wedsync-realtime-listen", LISTENs on
// the channel and calls the attached handler from one goroutine.
// Notifications that arrive before Attach are dropped. When the connection
// is lost the broker reconnects with backoff (WithReconnectBackoff) and then
// calls OnResync, because publications committed in between were missed;
// it also calls OnResync when a notified publication cannot be read (the
// database is away). Brokers on different schemas may share a
// channel: each ignores the others' notifications.
//
// # History and epochs
//
// History has the memory broker's semantics. A topic's epoch is random,
// chosen when its row is created, and lasts as long as the row. A topic
// never published has Epoch "" and Latest 0: a Since query from the
// store's creation on is Complete and empty, an After query is never
// Complete. Publication times come from the database clock, with
// microsecond resolution, in UTC; WithClock only ages history.
//
// Postgres caps the NOTIFY queue (8 GB by default); a listener that stops
// reading for long enough makes publishes fail rather than lose
// notifications silently.
//
// # Presence
//
// The broker is a realtime.PresenceBroker: every hub instance on the
// schema shows the same presence. realtime_presence holds one row per
// tracked channel, owned by the broker that tracked it (an instance id,
// random per New) and expiring WithPresenceTTL (30 s) after its last
// refresh. Track and Untrack are one statement each, which also NOTIFYs a
// hint on WithChannel naming the member; hubs read members back with
// Presence, never from the notification. Every third of the TTL each
// broker runs one round trip: an UPDATE that pushes its own rows a TTL
// ahead, and a DELETE (FOR UPDATE SKIP LOCKED, so no member leaves twice)
// of every row that has expired, with a hint for each. So the members of
// an instance that crashed, or lost the database for a TTL, leave on every
// other instance between one TTL and 4/3 of a TTL after its last refresh;
// Close deletes the broker's members at once (within one second). The
// broker also remembers its own members: a refresh that finds one gone
// (expired while the instance was cut off) writes it again, and one that
// finds a row of the instance it does not know (an untrack whose DELETE
// failed) deletes it. Expiry times come from WithClock: keep the
// instances' clocks in step to well within the TTL.
//
// # Telemetry
//
// Through the OpenTelemetry API (WithMeterProvider, WithTracerProvider;
// the global providers by default): publishes and their duration,
// notifications by outcome, LISTEN reconnects and swept publications as
// metrics, and each Publish as a producer span under the caller's.
// docs/realtime.md lists them.
package pgbroker
