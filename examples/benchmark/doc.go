// Command benchmark measures the SDK end to end on loopback, each path
// beside its floor (the same path without the SDK) in the same run.
//
// By default (-run table) it prints one table: realtime broadcast to
// WebSocket subscribers, webhook delivery, a notification to a local SMTP
// server, calendar sync both ways against a CalDAV server, a WedMe change
// applied on the supplier platform, and a realtime client's uptime while
// the server drops its socket; in memory mode, and in Postgres mode too
// when -database-url or WEDSYNC_DATABASE_URL names a database. A progress
// line per scenario goes to stderr, and the results to
// benchmark-results.json and benchmark-latency.svg (-out).
//
// The deeper scenarios run with -run: webhook throughput in memory mode
// against plain net/http (a, mem), in Postgres mode against River's own
// (b, pg) and send-to-delivery latency at a steady rate (c, latency); the
// realtime hub's fan-out against a bare coder/websocket fan-out (d,
// realtime); notifications to a local SMTP server against plain go-mail
// sends (e, notify). See README.md.
//
//	go run ./examples/benchmark                  # the table, memory mode
//	go run ./examples/benchmark -database-url postgres://postgres@127.0.0.1:5432/test
//	go run ./examples/benchmark -quick           # every path once, tiny loads
//	go run ./examples/benchmark -run mem,pg,latency
//	go run ./examples/benchmark -realtime -subscribers 1000,5000 -repeat 3
//	go run ./examples/benchmark -run notify -database-url postgres://postgres@127.0.0.1:5432/test
//	go run ./examples/benchmark -run pg -sweep grid -cpuprofile /tmp/pg.pprof
package main
