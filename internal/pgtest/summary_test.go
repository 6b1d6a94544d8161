package pgtest

import (
	"strings"
	"testing"
)

func TestSummaryNamesTheSkippedTestsAndHowToRunThem(t *testing.T) {
	skipped.Lock()
	saved := skipped.names
	skipped.names = nil
	skipped.Unlock()
	t.Cleanup(func() {
		skipped.Lock()
		skipped.names = saved
		skipped.Unlock()
	})
	t.Setenv(EnvURL, "")
	t.Setenv(EnvRequire, "")
	for range 3 {
		t.Run("needs a database", func(t *testing.T) { URL(t) })
	}
	skipped.Lock()
	skipped.names = append(skipped.names, "TestB", "TestC/x", "TestC/y", "TestD", "TestE", "TestF")
	skipped.Unlock()
	line := Summary()
	for _, want := range []string{
		"github.com/wedsync/integrations/internal/pgtest: 6 Postgres test(s) skipped",
		"(TestSummaryNamesTheSkippedTestsAndHowToRunThem, TestB, TestC, TestD and 2 more)",
		"set WEDSYNC_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test to run them",
	} {
		if !strings.Contains(line, want) {
			t.Errorf("summary %q lacks %q", line, want)
		}
	}
	skipped.Lock()
	skipped.names = nil
	skipped.Unlock()
	if Summary() != "" {
		t.Error("no skips, no line")
	}
}
