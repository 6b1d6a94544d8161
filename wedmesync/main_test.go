package wedmesync_test

import (
	"os"
	"testing"

	"github.com/wedsync/integrations/internal/pgtest"
)

// TestMain checks for leaked goroutines (pgtest.Main runs goleak) and
// reports the Postgres tests skipped for want of a database.
// The crash test re-executes this binary as a worker.
func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		os.Exit(crashChild())
	}
	pgtest.Main(m)
}
