// Package doccheck holds no code, only tests: TestDocGoBlocksCompile keeps the
// Go examples of README.md and docs/*.md true to the module's current code. A
// reader copies them, so a renamed function or a moved package must break the
// build, not the reader's first afternoon.
//
// # The rule for ```go blocks
//
// Every fenced block whose info string starts with the word go (GitHub's
// alias golang counts too) is one complete Go source file:
//
//   - it begins with its package clause (comments before it are fine) and
//     has its imports: the test never guesses them, so what compiles here is
//     what a reader can paste into a file and build;
//   - a block of package main has a func main, so that a reader can run it;
//   - it is formatted as gofmt formats it.
//
// Each block is compiled alone, as its own package: blocks never see each
// other's declarations. What a snippet needs and does not make itself (a
// pool, a hub, a secret) it reads from the environment in package main, or
// takes as a parameter of a function in a package of another name:
//
//	package myhost
//
//	import (
//		"context"
//
//		"github.com/wedsync/integrations/webhook/delivery"
//	)
//
//	func send(ctx context.Context, m *delivery.Manager, msg delivery.Message) error {
//		_, err := m.Send(ctx, msg)
//		return err
//	}
//
// A block that cannot be complete on purpose (a diff, one option shown in
// isolation) is marked in its info string, with the reason after the marker:
//
//	```go no-compile one option on its own; the full program is above
//
// Renderers use the first word only, so the block still shows as Go. Say the
// same in the prose next to it, and use the marker sparingly. Any other word
// after go, or the marker without a reason, is an error, so that a misspelt
// marker cannot skip a block unnoticed. Blocks in other languages (sh, js,
// python, json, http, none) are not checked.
//
// # How the test compiles
//
// The test finds the repository root (the directory holding go.mod), writes
// each block as its own package in a temporary directory named _doccheck-*
// inside the module, and runs one go vet over all of them. Inside the module,
// a block imports github.com/wedsync/integrations/... as it is, with the
// module's go.mod and go.sum; and the go command leaves directories whose
// names start with _ out of ./..., so nothing else sees them. go vet
// type-checks (an unused variable or import is an error) and runs its
// analyzers (printf and the rest). A //line directive heads each file, so
// every error names the Markdown file and line, README.md:66:3 say; vet stops
// at a package's first type error, so for those blocks go build lists them
// all. The directory is removed when the test ends. Under -race the test
// passes -race on to go vet, which then reuses the dependencies go test -race
// has compiled.
//
// The test skips, saying why, only when the go command is not on PATH.
// TestCheckBlocksReportsEachProblem feeds the same machinery a document
// that breaks every rule and checks that each problem is reported at its line.
package doccheck
