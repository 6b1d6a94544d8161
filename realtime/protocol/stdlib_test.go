package protocol_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The package must build from the standard library alone: a load
// generator, a proxy or a vendor's tool can take it without the SDK's
// dependencies. Test files may import anything; the package may not, not
// even a package of this module.
func TestImportsStandardLibraryOnly(t *testing.T) {
	const self = "github.com/wedsync/integrations/realtime/protocol"
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep != self {
			t.Errorf("%s imports %s, which is not in the standard library", self, dep)
		}
	}
}
