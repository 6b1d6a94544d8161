package doccheck_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// selftestMD breaks the rule in every way the test must catch. Its blocks
// start at the lines noted; the test names the file docs/selftest.md (which
// does not exist: the positions are only reported).
const selftestMD = "# Self-test\n" + // 1
	"\n" + // 2
	"```go\n" + // 3: fine
	"package main\n" + // 4
	"\n" + // 5
	"import \"github.com/wedsync/integrations/webhook\"\n" + // 6
	"\n" + // 7
	"func main() { _, _ = webhook.NewVerifier(\"whsec_x\") }\n" + // 8
	"```\n" + // 9
	"\n" + // 10
	"```go\n" + // 11: three compile errors, all reported
	"package main\n" + // 12
	"\n" + // 13
	"import \"os\"\n" + // 14: imported and not used
	"\n" + // 15
	"func main() {\n" + // 16
	"\tx := 1\n" + // 17: declared and not used
	"\tmux.Handle(\"/\", nil)\n" + // 18: undefined
	"}\n" + // 19
	"```\n" + // 20
	"\n" + // 21
	"```go\n" + // 22: compiles, but vet's printf check fails
	"package docs\n" + // 23
	"\n" + // 24
	"import \"fmt\"\n" + // 25
	"\n" + // 26
	"func F() { fmt.Printf(\"%d\\n\", \"s\") }\n" + // 27
	"```\n" + // 28
	"\n" + // 29
	"```go\n" + // 30: a fragment
	"v, err := webhook.NewVerifier(secret)\n" + // 31
	"```\n" + // 32
	"\n" + // 33
	"```go\n" + // 34: not gofmt'd, and package main without func main
	"package main\n" + // 35
	"\n" + // 36
	"func  f() {}\n" + // 37
	"```\n" + // 38
	"\n" + // 39
	"```go no-compile only one option, the full program is above\n" + // 40: skipped
	"webhook.WithMaxBodyBytes(1 << 20)\n" + // 41
	"```\n" + // 42
	"\n" + // 43
	"```go nocompile\n" + // 44: a misspelt marker
	"x\n" + // 45
	"```\n" + // 46
	"\n" + // 47
	"```go no-compile\n" + // 48: a marker without its reason
	"x\n" + // 49
	"```\n" + // 50
	"\n" + // 51
	"```sh\n" + // 52: not Go
	"go test ./...\n" + // 53
	"```\n" + // 54
	"\n" + // 55
	"  ~~~~golang\n" + // 56: indented (a list item), tildes, the golang alias
	"  package docs\n" + // 57
	"\n" + // 58
	"  var X = undefinedName\n" + // 59
	"  ~~~~\n" // 60

// TestCheckBlocksReportsEachProblem makes sure the harness fails, at the right
// Markdown line, on each kind of broken block, and passes a good one.
func TestCheckBlocksReportsEachProblem(t *testing.T) {
	goTool := lookGo(t)
	root := repoRoot(t)
	blocks, errs := goBlocks("docs/selftest.md", []byte(selftestMD))
	require.Len(t, errs, 2)
	require.ErrorContains(t, errs[0], `docs/selftest.md:44: info string "go nocompile": after go only "no-compile" is allowed`)
	require.ErrorContains(t, errs[1], `docs/selftest.md:48: info string "go no-compile": say why`)

	var places []string
	for _, b := range blocks {
		places = append(places, b.String())
	}
	require.Equal(t, []string{
		"docs/selftest.md:3", "docs/selftest.md:11", "docs/selftest.md:22",
		"docs/selftest.md:30", "docs/selftest.md:34", "docs/selftest.md:56",
	}, places)

	problems := checkBlocks(t, goTool, root, blocks)
	report := strings.Join(problems, "\n")
	t.Logf("the problems, as a broken document would get them:\n%s", report)
	for _, want := range [][]string{
		{"docs/selftest.md:11:", "docs/selftest.md:14:8: \"os\" imported and not used", "docs/selftest.md:17:2: declared and not used: x", "docs/selftest.md:18:2: undefined: mux"},
		{"docs/selftest.md:22:", "docs/selftest.md:27:", "fmt.Printf format %d has arg \"s\" of wrong type string"},
		{"docs/selftest.md:30: not a complete Go file: docs/selftest.md:31:1: expected 'package', found v"},
		{"docs/selftest.md:34: not formatted as gofmt formats it, from docs/selftest.md:37, which gofmt makes \"func f() {}\""},
		{"docs/selftest.md:34: a block of package main needs a func main"},
		{"docs/selftest.md:56:", "docs/selftest.md:59:", "undefined: undefinedName"},
	} {
		found := false
		for _, p := range problems {
			if containsAll(p, want) {
				found = true
				break
			}
		}
		require.True(t, found, "no problem contains all of %q", want)
	}
	require.Len(t, problems, 6, "one problem per broken block (two for the block at line 34), none for the good one")
	require.NotContains(t, report, "docs/selftest.md:3:", "the good block")
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// TestExtractBlocks covers the fences the extractor must read as Markdown
// does.
func TestExtractBlocks(t *testing.T) {
	md := "text\n" +
		"````md\n" + // a longer fence holds a shorter one
		"```go\n" +
		"not a block of its own\n" +
		"```\n" +
		"````\n" +
		"``` go \n" + // spaces around the info string
		"package a\r\n" + // CRLF line ends
		"```   \n" +
		"```a`b is text: an info string after backticks holds none\n"
	blocks, err := extractBlocks("x.md", []byte(md))
	require.NoError(t, err)
	require.Len(t, blocks, 2)
	require.Equal(t, "md", blocks[0].info)
	require.Equal(t, "```go\nnot a block of its own\n```\n", blocks[0].code)
	require.Equal(t, block{file: "x.md", line: 7, info: "go", code: "package a\n", first: 8}, blocks[1])

	_, err = extractBlocks("x.md", []byte("a\n```go\npackage a\n"))
	require.EqualError(t, err, "x.md:2: the code fence opened here is never closed")
}
