// Command supplier-platform is the WedSync demo: one long-running HTTP
// server that shows the webhook flow end to end.
//
// At start-up it runs a scripted demo (turn it off with -demo=false): a
// sample supplier subscribes two endpoints of an in-process "vendor CRM"
// receiver that verifies every signature with webhook.Verifier and fails
// some requests on purpose, then the supplier sends a few events and the
// console shows each delivery and each retry as it happens. Meanwhile the
// server offers a small admin JSON API under /api (bearer token), a
// Supabase-Realtime-compatible hub at /realtime/v1/websocket, and the
// supplier's page at /, whose views each show their state when they open
// and then update live through the hub: the dashboard (the supplier's KPIs,
// loaded from GET /api/kpis and then changed by kpi.updated broadcasts such
// as those POST /api/events sends, and the activity as it happens), the
// integrations (endpoints by name, a test webhook with the vendor's answer
// scripted, each delivery's tries and next attempt from webhook.attempt
// broadcasts, and the vendor CRM's own log of what it received), and the
// notifications, calendar and couple details below. POST /api/realtime/drop
// cuts a supplier's dashboard sockets, to show a page recovering with
// replay.
//
// It also sends notifications with package notify: email to its own SMTP
// server (notify/smtp/smtptest) on loopback, SMS to a fake Twilio it runs on
// loopback, in-app messages live through the hub; the page's Notifications
// view edits the sample supplier's preferences, sends test notifications
// and shows each channel's status and what the servers received
// (/api/notify/...).
//
// And it syncs the sample supplier's calendar with package calendar: an
// in-process CalDAV server (calendar/caldav/caldavtest's MemoryServer, on
// its own loopback port, in both modes) holds the supplier's calendar; the
// engine writes the supplier's bookings and holds into it and reads the
// supplier's own events (a dentist appointment during a wedding) back as busy
// time, every 15 seconds. The page's Calendar view shows the week, flags
// conflicts, takes and confirms holds, and writes events into the CalDAV
// calendar as the supplier's calendar app would (/api/calendar/...).
//
// And it keeps a couple's details in step between WedMe and the supplier
// platform with package wedmesync: two nodes in this process, one per
// platform, replicated by a peer on each side over the memory transport. The
// couple's page at /wedme (with the couple's token printed at start-up)
// edits their dietary requirements, guests and wedding details; each
// supplier linked to the couple receives what the default sharing policy
// lets its kind see (the sample florist: the wedding details; a caterer: the
// dietary needs and guests too), with a console line and a wedme.changed
// broadcast that makes the page's "Couple details" view
// reload (/api/wedme/...).
//
//	go run ./examples/supplier-platform                  # memory mode
//	go run ./examples/supplier-platform -exit-after-demo # the demo, then exit
//
// Memory mode keeps everything in this process and loses it on exit. Give a
// database URL (-database-url or WEDSYNC_DATABASE_URL) and an encryption key
// (WEDSYNC_ENCRYPTION_KEY) for Postgres mode; there, the hub's broadcasts
// travel through Postgres (realtime/pgbroker), so that dashboards connected
// to any instance see them all, and the demo survives a restart: retries
// queued before a stop run in the next process, tokens and the JWT secret
// not set are derived from the encryption key rather than random, and the
// endpoints on the vendor CRM's hooks are kept (restart.go). Dashboard
// tokens are HS256 JWTs signed with WEDSYNC_JWT_SECRET (when unset: random
// for each run in memory mode, derived from the key in Postgres mode). The
// README documents the flags, environment variables and API.
package main
