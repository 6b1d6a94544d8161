package notify_test

import (
	"os"
	"testing"

	"github.com/wedsync/integrations/internal/pgtest"
)

// TestMain checks for leaked goroutines (goleak.VerifyTestMain's check, run
// by pgtest.Main after the tests) and reports the Postgres tests
// skipped for want of a database (WEDSYNC_TEST_DATABASE_URL). The crash
// test re-executes this binary as a worker.
func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		os.Exit(crashChild())
	}
	pgtest.Main(m)
}
