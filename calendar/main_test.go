package calendar_test

import (
	"os"
	"testing"

	"github.com/wedsync/integrations/internal/pgtest"
)

// TestMain runs the package's tests through pgtest.Main, which checks for
// leaked goroutines (goleak) and reports Postgres tests skipped for want of
// a database. The crash test re-executes this binary as a worker.
func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		os.Exit(crashChild())
	}
	pgtest.Main(m)
}
