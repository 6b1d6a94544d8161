package google_test

import (
	"testing"

	"github.com/wedsync/integrations/internal/pgtest"
)

// pgtest.Main checks for leaked goroutines (goleak) and reports the engine
// tests skipped for want of a database.
func TestMain(m *testing.M) { pgtest.Main(m) }
