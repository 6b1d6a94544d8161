// Package procstat reads how much CPU a process has used: this process's
// through getrusage (Unix), another's from /proc/<pid>/stat (Linux). The
// real-clock tests (internal/idletest) and the benchmark's load checks
// (examples/benchmark) both read it here.
package procstat
