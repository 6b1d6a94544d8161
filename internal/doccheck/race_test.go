//go:build race

package doccheck_test

// raceEnabled passes -race on to the go vet the test runs, so that it reuses
// the race-instrumented dependencies go test -race has already compiled.
const raceEnabled = true
