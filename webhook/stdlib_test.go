package webhook_test

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestStandardLibraryOnly keeps the promise of the package documentation:
// third parties embed package webhook, so its non-test build must depend on
// the standard library and nothing else. Test files may use anything (test
// dependencies never reach an importer's build).
func TestStandardLibraryOnly(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go tool is not on PATH, so the dependencies of package webhook cannot be listed: " + err.Error())
	}
	const pkg = "github.com/wedsync/integrations/webhook"
	// The host platform, and two others in case a file is built for one
	// platform only.
	for _, goos := range []string{"", "windows", "darwin"} {
		cmd := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg)
		cmd.Env = os.Environ()
		if goos != "" {
			cmd.Env = append(cmd.Env, "GOOS="+goos, "GOARCH=amd64")
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -deps %s (GOOS=%q): %v\n%s", pkg, goos, err, stderr.String())
		}
		if got := strings.Fields(string(out)); len(got) != 1 || got[0] != pkg {
			t.Errorf("GOOS=%q: package webhook must import the standard library only, but its build depends on:\n%s",
				goos, strings.Join(got, "\n"))
		}
	}
}
