// Package hubwriter lets the benchmark (examples/benchmark) give the
// realtime hub its per-frame writer, the writer it had before batching
// (one system call per frame), so that one run measures both writers. It
// is internal: the per-frame writer is not a choice for hosts.
package hubwriter

// PerFrameWrites is a realtime.Option, set by package realtime as it
// loads, that makes a hub write each queued frame with a write of its own.
// Use it as hubwriter.PerFrameWrites.(realtime.Option).
var PerFrameWrites any
