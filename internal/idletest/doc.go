// Package idletest checks, on the wall clock, that a long-running component
// costs nothing while it waits: a simulated clock once hid a dispatcher that
// spun at full speed on the real one. Over a short window it measures the
// CPU time the whole test process used; a component that waits on timers
// and channels uses next to none, a spinning one uses the whole window.
package idletest
