// Command benchmark measures webhook delivery on loopback: memory-mode
// throughput against plain net/http, Postgres-mode throughput against
// River's own no-op throughput, and send-to-delivery latency at a steady
// rate; and, with -realtime, the realtime hub's WebSocket fan-out against
// a bare coder/websocket fan-out; and, with -run notify, notifications
// (package notify) sent to a local SMTP server at a steady rate against
// plain go-mail sends. It prints tables and exits; see README.md.
//
//	go run ./examples/benchmark                  # webhook scenarios (a), (b), (c)
//	go run ./examples/benchmark -realtime -subscribers 1000,5000 -repeat 3
//	go run ./examples/benchmark -run notify -database-url postgres://postgres@127.0.0.1:5432/test
//	go run ./examples/benchmark -run mem -n 50000
//	go run ./examples/benchmark -run pg -sweep grid -cpuprofile /tmp/pg.pprof
package main
