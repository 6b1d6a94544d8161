package notify

import (
	"testing"

	"github.com/wedsync/integrations/internal/pgtest"
)

// TestMain checks for leaked goroutines and reports the Postgres tests
// skipped for want of a database (WEDSYNC_TEST_DATABASE_URL).
func TestMain(m *testing.M) { pgtest.Main(m) }
