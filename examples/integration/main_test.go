package integration_test

import (
	"testing"

	"github.com/wedsync/integrations/internal/pgtest"
)

// TestMain checks for leaked goroutines (pgtest.Main runs goleak) and
// reports the Postgres tests skipped for want of a database.
func TestMain(m *testing.M) { pgtest.Main(m) }
