// Package delivery sends webhooks to vendors' CRMs and tools durably: the
// sending half of WedSync's webhooks, which the WedSync backend embeds. The
// signatures themselves are the webhook package's (standard library only, so
// that vendors can embed the verifier alone).
//
// A Manager keeps endpoints per supplier (URL, event-type filter, status,
// rate limit, signing secrets encrypted at rest with AES-256-GCM) and
// delivers messages to them:
//
//   - Send and SendTx fan a message out to every matching endpoint of its
//     supplier (or to the one Message.EndpointID names). SendTx writes the message and its delivery jobs in the host's
//     own pgx.Tx (the transactional outbox): a committed booking always
//     produces its webhook, a rolled-back one never does.
//   - Each delivery attempt is a River job in Postgres mode (WithPostgres):
//     it survives a crash of the host process, and every host instance
//     shares the work. Without WithPostgres the manager runs in memory mode,
//     which is for demos and tests and loses everything on exit.
//   - Failed deliveries are retried on Svix's schedule (at once, 5s, 5m, 30m,
//     2h, 5h, 10h, 10h, with 20% jitter); Retry-After is honoured up to a day;
//     a timeout or 429 waits at least a minute; 410 Gone disables the
//     endpoint, and so does failing without a break for 5 days. A
//     per-endpoint circuit breaker stops hammering a dead endpoint while the
//     others flow, and a per-supplier fair share keeps one supplier's burst
//     from starving the rest.
//   - Every attempt is logged (time, status, latency, first 4 KiB of the
//     response, error) for ListAttempts, Stats, Resend and Recover. In
//     Postgres mode concurrent deliveries read their messages and log the
//     attempts that end their chain in shared batches (one query, one
//     transaction); a delivery's job completes only once its row is
//     committed, and a batch whose transaction fails has each of its rows
//     written again on its own: the bookkeeping is retried, never the
//     request (docs/postgres.md).
//   - Outbound requests are SSRF-safe: private, loopback, link-local and
//     metadata addresses are refused when dialling, unless the host allows a
//     range with WithAllowedNetworks; https is required unless
//     WithInsecureHTTP.
//
// Migrate creates the tables (and River's) in the host's schema. Bad input
// gets a *ValidationError that names the field and the rule (errors.Is
// ErrInvalid). Deliveries are at least once: a receiver deduplicates on
// webhook-id.
package delivery
