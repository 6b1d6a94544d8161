package doccheck_test

import (
	"errors"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/scanner"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// noCompile is the marker after go in an info string that skips a block; a
// reason must follow it.
const noCompile = "no-compile"

// block is one fenced code block of a Markdown file.
type block struct {
	file  string // path from the repository root, with slashes: "docs/webhooks.md"
	line  int    // line of the opening fence, from 1
	info  string // the info string: "go", "sh", "go no-compile why"
	code  string // the lines between the fences
	first int    // line of the first code line
}

func (b block) String() string { return fmt.Sprintf("%s:%d", b.file, b.line) }

// TestDocGoBlocksCompile compiles every ```go block of README.md and docs/*.md
// against the module as it is (see the package documentation for the rule).
func TestDocGoBlocksCompile(t *testing.T) {
	goTool := lookGo(t)
	root := repoRoot(t)
	var blocks []block
	for _, name := range docFiles(t, root) {
		src, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(name)))
		require.NoError(t, err)
		bs, errs := goBlocks(name, src)
		for _, err := range errs {
			t.Error(err)
		}
		blocks = append(blocks, bs...)
	}
	for _, problem := range checkBlocks(t, goTool, root, blocks) {
		t.Error(problem)
	}
}

// lookGo finds the go command, or skips the test.
func lookGo(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("the go command is not on PATH (%v): cannot compile the documentation's Go blocks", err)
	}
	return goTool
}

// goBlocks returns the blocks of a Markdown file to compile: its ```go blocks
// without the no-compile marker. errs reports fences never closed and info
// strings that break the rule.
func goBlocks(name string, src []byte) (blocks []block, errs []error) {
	all, err := extractBlocks(name, src)
	if err != nil {
		return nil, []error{err}
	}
	for _, b := range all {
		isGo, skip, err := classify(b.info)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %w", b, err))
		case isGo && !skip:
			blocks = append(blocks, b)
		}
	}
	return blocks, errs
}

// checkBlocks writes each block as its own package in a temporary directory
// inside the module, runs one go vet over them all, and returns the problems,
// each starting with the block's place ("README.md:58: ...").
func checkBlocks(t *testing.T, goTool, root string, blocks []block) (problems []string) {
	t.Helper()
	if len(blocks) == 0 {
		return nil
	}
	dir, err := os.MkdirTemp(root, "_doccheck-")
	require.NoError(t, err)
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("removing %s: %v", dir, err)
		}
	})
	modPath := modulePath(t, root)
	byPkg := map[string]block{} // import path -> block
	var pkgs []string           // the import paths, in the order of the blocks
	var pkgDirs []string        // "./_doccheck-123/README_md_L58", for the go command
	for _, b := range blocks {
		src := source(root, b)
		f, err := parseBlock(root, b, src)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", b, err))
			continue
		}
		for _, err := range checkStyle(b, f) {
			problems = append(problems, fmt.Sprintf("%s: %v", b, err))
		}
		name := pkgDirName(b)
		require.NoError(t, os.Mkdir(filepath.Join(dir, name), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, name, "block.go"), src, 0o644))
		rel := filepath.Base(dir) + "/" + name
		byPkg[modPath+"/"+rel] = b
		pkgs = append(pkgs, modPath+"/"+rel)
		pkgDirs = append(pkgDirs, "./"+rel)
	}
	if len(pkgDirs) == 0 {
		return problems
	}
	var places []string
	for _, pkg := range pkgs {
		places = append(places, byPkg[pkg].String())
	}
	t.Logf("go vet of %d Go blocks: %s", len(pkgs), strings.Join(places, " "))

	// One go vet for every block: it type-checks (unused variables and
	// imports are errors) and runs its analyzers. With -race when this test
	// runs under it, so that go test -race ./... has compiled the
	// dependencies already.
	flags := []string{}
	if raceEnabled {
		flags = append(flags, "-race")
	}
	out, err := runGo(t, goTool, root, append(append([]string{"vet"}, flags...), pkgDirs...)...)
	if err == nil {
		return problems
	}
	sections, rest := splitByPackage(out, byPkg)

	// vet stops at a package's first type error; go build lists them all
	// (a package with a type error compiles to nothing, so nothing links).
	var broken []string
	for _, pkg := range pkgs {
		if strings.Contains(sections[pkg], "vet: ") {
			broken = append(broken, "./"+strings.TrimPrefix(pkg, modPath+"/"))
		}
	}
	if len(broken) > 0 {
		args := append(append([]string{"build", "-o", os.DevNull}, flags...), broken...)
		if bout, berr := runGo(t, goTool, root, args...); berr != nil {
			bsections, _ := splitByPackage(bout, byPkg)
			for pkg, text := range bsections {
				sections[pkg] = text
			}
		}
	}

	for _, pkg := range pkgs {
		if text, failed := sections[pkg]; failed {
			problems = append(problems, fmt.Sprintf("%s: this ```go block fails go vet (the positions are the Markdown file's):\n%s",
				byPkg[pkg], indent(text)))
		}
	}
	if strings.TrimSpace(rest) != "" || len(sections) == 0 {
		problems = append(problems, fmt.Sprintf("go vet of the documentation's Go blocks: %v\n%s", err, indent(out)))
	}
	return problems
}

// runGo runs the go command in the repository root and returns its combined
// output; err is non-nil when it exits non-zero. It fails the test when the
// command cannot run at all.
func runGo(t *testing.T, goTool, root string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), goTool, args...)
	cmd.Dir = root
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), err
}

// splitByPackage splits go command output into the text of each block's
// package, and returns what belongs to no block. A line that starts with a
// Markdown position belongs to the block whose lines hold it (vet does not
// always head its findings with the package); other lines belong to the
// package of the "# import/path" header (vet also writes "# [import/path]")
// above them.
func splitByPackage(out string, byPkg map[string]block) (sections map[string]string, rest string) {
	sections = map[string]string{}
	var other strings.Builder
	current := ""
	for _, line := range strings.SplitAfter(out, "\n") {
		if h, ok := strings.CutPrefix(line, "# "); ok {
			current = strings.Trim(strings.TrimSpace(h), "[]")
			if _, known := byPkg[current]; !known {
				current = ""
				other.WriteString(line)
			}
			continue
		}
		switch pkg := pkgOfLine(line, byPkg); {
		case pkg != "":
			sections[pkg] += strings.TrimPrefix(line, "./")
		case current != "" && strings.TrimSpace(line) != "":
			sections[current] += line
		case strings.TrimSpace(line) != "":
			other.WriteString(line)
		}
	}
	return sections, other.String()
}

var posRE = regexp.MustCompile(`^(?:vet: )?(?:\./)?([^:\s]+\.md):(\d+)`)

// pkgOfLine returns the package of the block whose lines hold the position a
// line of output starts with, or "".
func pkgOfLine(line string, byPkg map[string]block) string {
	m := posRE.FindStringSubmatch(line)
	if m == nil {
		return ""
	}
	n, err := strconv.Atoi(m[2])
	if err != nil {
		return ""
	}
	for pkg, b := range byPkg {
		last := b.first + strings.Count(b.code, "\n")
		if b.file == filepath.ToSlash(m[1]) && n >= b.first && n <= last {
			return pkg
		}
	}
	return ""
}

// source is the Go file of a block: a //line directive, so that every
// position the compiler and vet report is the Markdown file's, then the code.
func source(root string, b block) []byte {
	md := filepath.Join(root, filepath.FromSlash(b.file))
	return []byte(fmt.Sprintf("//line %s:%d:1\n%s", md, b.first, b.code))
}

// parseBlock checks that a block is a complete Go file: a package clause
// first, then valid syntax. A block that is not cannot be compiled.
func parseBlock(root string, b block, src []byte) (*ast.File, error) {
	fset := token.NewFileSet()
	name := filepath.Join(root, filepath.FromSlash(b.file))
	if _, err := parser.ParseFile(fset, name, src, parser.PackageClauseOnly); err != nil {
		return nil, fmt.Errorf("not a complete Go file: %v\n(a ```go block starts with its package clause, "+
			"or is marked ```go %s <reason>: see internal/doccheck/doc.go)", relErr(root, err), noCompile)
	}
	f, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, relErr(root, err)
	}
	return f, nil
}

// checkStyle applies the rules the compiler does not: a block is formatted
// as gofmt formats it, and a block of package main has a func main.
func checkStyle(b block, f *ast.File) []error {
	var errs []error
	if formatted, err := format.Source([]byte(b.code)); err == nil && string(formatted) != b.code {
		got, want := strings.Split(b.code, "\n"), strings.Split(string(formatted), "\n")
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		errs = append(errs, fmt.Errorf("not formatted as gofmt formats it, from %s:%d, which gofmt makes %q",
			b.file, b.first+i, strings.Join(want[i:min(i+1, len(want))], "")))
	}
	if f.Name.Name == "main" && !slices.ContainsFunc(f.Decls, func(d ast.Decl) bool {
		fn, ok := d.(*ast.FuncDecl)
		return ok && fn.Recv == nil && fn.Name.Name == "main"
	}) {
		errs = append(errs, errors.New("a block of package main needs a func main, so that a reader can run it"))
	}
	return errs
}

// relErr shortens the absolute Markdown paths of parse errors to paths from
// the repository root.
func relErr(root string, err error) error {
	var list scanner.ErrorList
	if !errors.As(err, &list) {
		return err
	}
	var msgs []string
	for _, e := range list {
		pos := e.Pos
		if rel, rerr := filepath.Rel(root, pos.Filename); rerr == nil {
			pos.Filename = filepath.ToSlash(rel)
		}
		msgs = append(msgs, fmt.Sprintf("%s: %s", pos, e.Msg))
	}
	return errors.New(strings.Join(msgs, "\n"))
}

// pkgDirName turns a block's place into a directory name that is a valid
// import path element: docs/webhooks.md:120 -> docs_webhooks_md_L120.
func pkgDirName(b block) string {
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, b.file)
	return fmt.Sprintf("%s_L%d", name, b.line)
}

// classify reads an info string: isGo for a Go block, skip when it carries
// the no-compile marker and its reason; anything else after go is an error.
func classify(info string) (isGo, skip bool, err error) {
	fields := strings.Fields(info)
	if len(fields) == 0 || (fields[0] != "go" && fields[0] != "golang") {
		return false, false, nil
	}
	switch {
	case len(fields) == 1:
		return true, false, nil
	case fields[1] != noCompile:
		return true, false, fmt.Errorf("info string %q: after go only %q is allowed, followed by the reason", info, noCompile)
	case len(fields) == 2:
		return true, false, fmt.Errorf("info string %q: say why the block does not compile, after %q", info, noCompile)
	}
	return true, true, nil
}

// extractBlocks returns the fenced code blocks (``` or ~~~, three or more) of
// a Markdown file. An opening fence may be indented (inside a list item);
// its indentation is removed from the code lines.
func extractBlocks(name string, src []byte) ([]block, error) {
	lines := strings.Split(strings.ReplaceAll(string(src), "\r\n", "\n"), "\n")
	var blocks []block
	for i := 0; i < len(lines); i++ {
		indentation, char, n, info, ok := openingFence(lines[i])
		if !ok {
			continue
		}
		b := block{file: name, line: i + 1, info: info, first: i + 2}
		var code strings.Builder
		closed := false
		for i++; i < len(lines); i++ {
			if closingFence(lines[i], char, n) {
				closed = true
				break
			}
			code.WriteString(strings.TrimPrefix(lines[i], indentation))
			code.WriteByte('\n')
		}
		if !closed {
			return nil, fmt.Errorf("%s: the code fence opened here is never closed", b)
		}
		b.code = code.String()
		blocks = append(blocks, b)
	}
	return blocks, nil
}

func openingFence(line string) (indentation string, char byte, n int, info string, ok bool) {
	trimmed := strings.TrimLeft(line, " \t")
	indentation = line[:len(line)-len(trimmed)]
	if len(trimmed) < 3 || (trimmed[0] != '`' && trimmed[0] != '~') {
		return "", 0, 0, "", false
	}
	char = trimmed[0]
	for n < len(trimmed) && trimmed[n] == char {
		n++
	}
	info = strings.TrimSpace(trimmed[n:])
	if n < 3 || (char == '`' && strings.Contains(info, "`")) {
		return "", 0, 0, "", false
	}
	return indentation, char, n, info, true
}

func closingFence(line string, char byte, n int) bool {
	trimmed := strings.TrimSpace(line)
	if len(trimmed) < n {
		return false
	}
	for i := 0; i < len(trimmed); i++ {
		if trimmed[i] != char {
			return false
		}
	}
	return true
}

// repoRoot walks up from the test's directory to the one holding go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// modulePath reads the module line of go.mod.
func modulePath(t *testing.T, root string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "go.mod"))
	require.NoError(t, err)
	for _, line := range strings.Split(string(data), "\n") {
		if p, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			return strings.Trim(strings.TrimSpace(p), `"`)
		}
	}
	t.Fatal("go.mod has no module line")
	return ""
}

// docFiles lists README.md and docs/*.md, as paths from the root.
func docFiles(t *testing.T, root string) []string {
	t.Helper()
	files := []string{"README.md"}
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	require.NoError(t, err)
	for _, d := range docs {
		files = append(files, "docs/"+filepath.Base(d))
	}
	return files
}

// indent indents every line of s by a tab, for a message.
func indent(s string) string {
	return "\t" + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n\t")
}
