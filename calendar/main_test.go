package calendar

import (
	"testing"

	"github.com/wedsync/integrations/internal/pgtest"
)

// TestMain runs the package's tests through pgtest.Main, which checks for
// leaked goroutines (goleak) and reports Postgres tests skipped for want of
// a database.
func TestMain(m *testing.M) { pgtest.Main(m) }
