// Package pgtest is the Postgres test harness every package shares.
//
// It reads WEDSYNC_TEST_DATABASE_URL. When the variable is empty the test is
// skipped with a reason, unless WEDSYNC_REQUIRE_POSTGRES=1, in which case it
// fails: CI sets both so that a missing database can never pass as a skip.
// Each call gives the test a fresh schema of its own, named after the package
// and dropped when the test ends, so packages and parallel tests never see
// each other's rows.
//
// A package whose tests use the harness runs them through Main (in its
// TestMain), which checks for leaked goroutines with goleak and, when tests
// were skipped for want of a database, prints one line that names them and
// says how to run them. go test prints nothing of a passing package but its
// "ok" line, so Main writes that line to the terminal (/dev/tty) as well as
// to the test output (seen with -v).
package pgtest
