package delivery_test

import (
	"os"
	"testing"

	"github.com/wedsync/integrations/internal/pgtest"
)

func TestMain(m *testing.M) {
	// The crash test re-executes this binary as a delivery worker.
	if os.Getenv(crashChildEnv) != "" {
		os.Exit(crashChild())
	}
	pgtest.Main(m, pgtest.ExamplesNeedPostgres("ExampleMigrate", "ExampleManager_SendTx"))
}
