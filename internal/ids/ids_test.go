package ids

import (
	"regexp"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestNewIsPrefixedHexAndSortsByCreation(t *testing.T) {
	re := regexp.MustCompile(`^ntf_[0-9a-f]{32}$`)
	prev := ""
	for i := 0; i < 1000; i++ {
		id := New("ntf_")
		if !re.MatchString(id) {
			t.Fatalf("id %q is not ntf_ and 32 hex digits", id)
		}
		if id <= prev {
			t.Fatalf("id %q does not sort after %q", id, prev)
		}
		prev = id
	}
}
