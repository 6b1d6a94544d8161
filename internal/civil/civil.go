// Package civil turns a wall-clock time in a zone into an instant the way
// RFC 5545 (3.3.5) says, where Go's time.Date leaves the choice open: a
// local time that occurs twice (the hour the clocks go back) is the first
// occurrence, and one that does not exist (the hour the clocks go forward)
// is read with the offset in force before the change. Calendar data is
// full of both: a 01:30 meeting on the last Sunday of October, a 02:30
// alarm on a spring-forward night.
package civil

import "time"

// Time returns the instant of the wall-clock time y-mo-d h:mi:s (and ns)
// in loc, by RFC 5545's rules.
func Time(y int, mo time.Month, d, h, mi, s, ns int, loc *time.Location) time.Time {
	t := time.Date(y, mo, d, h, mi, s, ns, loc)
	if wall(t, y, mo, d, h, mi, s) {
		// Occurs; take the earliest instant with this wall clock. Zone
		// transitions move clocks by at most a few hours.
		earliest := t
		for _, back := range []time.Duration{30 * time.Minute, time.Hour, 90 * time.Minute, 2 * time.Hour, 3 * time.Hour} {
			if e := t.Add(-back); wall(e, y, mo, d, h, mi, s) {
				earliest = e
			}
		}
		return earliest
	}
	// In a gap: read the wall clock with the offset of the instant just
	// before the gap, found by stepping back from the normalised time.
	naive := time.Date(y, mo, d, h, mi, s, ns, time.UTC)
	_, before := t.Add(-6 * time.Hour).Zone()
	for _, back := range []time.Duration{3 * time.Hour, 2 * time.Hour, time.Hour, 30 * time.Minute} {
		if _, off := t.Add(-back).Zone(); off != before {
			break
		} else {
			before = off
		}
	}
	return naive.Add(-time.Duration(before) * time.Second).In(loc)
}

// In reads the wall clock of naive (its fields, whatever its zone) in loc,
// by RFC 5545's rules.
func In(naive time.Time, loc *time.Location) time.Time {
	y, mo, d := naive.Date()
	h, mi, s := naive.Clock()
	return Time(y, mo, d, h, mi, s, naive.Nanosecond(), loc)
}

// Normalize re-reads t's wall clock in its own zone by RFC 5545's rules.
func Normalize(t time.Time) time.Time {
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	return Time(y, mo, d, h, mi, s, t.Nanosecond(), t.Location())
}

func wall(t time.Time, y int, mo time.Month, d, h, mi, s int) bool {
	ty, tmo, td := t.Date()
	th, tmi, ts := t.Clock()
	return ty == y && tmo == mo && td == d && th == h && tmi == mi && ts == s
}
