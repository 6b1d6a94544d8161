package outlook_test

import (
	"testing"

	"github.com/wedsync/integrations/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }
