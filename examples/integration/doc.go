// Package integration is the host side of docs/integration-guide.md: the
// whole SDK wired into one Go backend, as the WedSync backend wires it.
//
// An App holds one of each: the webhook Manager (webhook/delivery), the
// Notifier (notify), the calendar Sync (calendar), the supplier side's WedMe
// Node (wedmesync) and the realtime Hub (realtime, with realtime/pgbroker in
// Postgres mode). All of them share the host's one *pgxpool.Pool, or none
// (memory mode, for demos and tests). The package shows, in code that runs:
//
//   - Migrate: every package's tables, in the host's schema, before New;
//   - New, Start and Stop: construction order (the broker before the hub,
//     the hub before the handlers that broadcast through it), and the
//     shutdown order that loses nothing (stop taking requests, stop the
//     WedMe peer, let running jobs finish, close the dashboards, then the
//     broker);
//   - Serve: an http.Server until its context ends (SIGTERM), then Stop;
//   - ConfirmBookingTx: one business transaction in which the booking row,
//     its calendar write (calendar Sync.BookTx), its webhook
//     (delivery Manager.SendTx), its notification (notify Notifier.SendTx) and
//     its WedMe change (wedmesync Node.RecordTx) commit together or not at
//     all; ConfirmBooking broadcasts to the supplier's dashboards only after
//     the commit;
//   - Mount: the hub in the host's http.ServeMux, authenticating dashboards
//     with the host's Supabase JWT secret;
//   - the glue between packages, which never import each other: in-app
//     messages, calendar conflicts and WedMe changes broadcast to
//     dashboards, and a calendar conflict notifies the supplier.
//
// The example test runs it in memory mode with deterministic output; the
// Postgres test runs the same wiring against WEDSYNC_TEST_DATABASE_URL and
// checks the all-or-nothing property both ways.
package integration
