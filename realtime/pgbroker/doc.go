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
// Each topic with publishes to write has one goroutine on this broker
// that writes them: a publish to a topic with nothing in flight starts it
// and is written at once; those that arrive meanwhile queue, and the next
// transaction carries them all, up to 256 publications (never more than
// WithHistorySize) and about 4 MB, with consecutive offsets and one time.
// The row lock and the commit are paid once per transaction instead of
// once per publish: on a 2-CPU machine, 64 goroutines publishing to one
// topic went from about 500 to about 20,000 publishes/s
// (BenchmarkPublishOneTopic). A transaction that fails (a constraint
// refuses a row, the database is away) fails every publish in it and uses
// no offset.
//
// # Publish outcomes
//
// Publish returns exactly one of:
//
//   - a Publication: its transaction committed, at that offset;
//   - an error matching ErrPublishOutcomeUnknown (errors.Is; it is
//     realtime.ErrPublishOutcomeUnknown): it may have been published, or
//     may yet be, and nothing here can tell. The caller's context ended
//     after its transaction had started (the error wraps ctx.Err()), or
//     the transaction was cut off (Close, WithWriteTimeout, a lost
//     connection) before Postgres answered;
//   - any other error: it was not published and never will be. Its
//     context ended while it was queued (the error wraps ctx.Err()), its
//     transaction rolled back (Postgres answered with an error) or was
//     never sent, a name was invalid (ErrInvalid), or the broker was
//     closed (ErrBrokerClosed).
//
// The caller's context bounds its wait, never the transaction: once a
// batch's transaction starts, it runs on the broker's context, bounded by
// WithWriteTimeout (30 seconds by default) and ended by Close, however
// many of its callers have given up. Canceling a statement in flight
// could not make "not published" true: pgx drops the connection, and a
// backend waiting on the topic row still runs, and commits, what was
// pipelined to it once the row is free (a cancel request does not help
// either: Postgres ignores one that arrives before the statement starts).
// So a caller who gives up while its transaction runs is told at once that
// the outcome is unknown, and the transaction commits or fails for the
// others as if it had stayed. A caller whose publish is still queued,
// including while the topic's goroutine waits for a pool connection, is
// dropped from the queue and told it was not published. Retrying after
// ErrPublishOutcomeUnknown may publish twice; subscribers that must not
// miss a publication resync from history, where it is, or is not, at its
// offset. Close fails the queued publishes as not published and those
// whose transaction it cuts off as unknown, with errors that both wrap
// realtime.ErrBrokerClosed. Names Postgres cannot store as text (invalid
// UTF-8, NUL bytes) are refused before they can share a transaction.
//
// A background sweep (WithTrimInterval) trims expired history of topics
// nobody publishes to any more; History never returns an expired
// publication, swept or not.
//
// # Delivery
//
// Each broker holds one connection taken out of the host's pool (Acquire,
// then Hijack) with application_name "wedsync-realtime-listen", LISTENs on
// the channel and calls the attached handler from one goroutine, in the
// order the notifications arrived. A notification only names a
// publication; its content is read back from the history table (so a
// forged one delivers nothing the publisher did not write), all waiting
// notifications in one statement (up to 256): a hot topic is read in
// batches as large as what arrived during the previous read, and a quiet
// one a publication at a time, at once.
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
