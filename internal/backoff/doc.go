// Package backoff computes how long to wait before the next attempt of
// something that failed: a webhook delivery, a provider call, a calendar
// write. It only computes durations; sleeping is the caller's business (see
// internal/loop), so the same numbers work for in-process retries and for
// durable jobs that are rescheduled in the database.
//
// Two shapes are offered. A Schedule is a fixed list of delays, one per
// attempt, like the one Svix and Standard Webhooks senders use
// (DefaultSchedule: immediately, 5s, 5m, 30m, 2h, 5h, 10h, 10h); when the
// list runs out the caller gives up. Schedule.Next spreads each delay by
// ±DefaultJitter (20%) so that endpoints that failed together are not all
// retried in the same second. Exponential is the open-ended shape for calls
// that should back off quickly and indefinitely: FullJitter picks uniformly
// in [0, min(Max, Base*2^attempt)] ("full jitter"), computed without
// overflow for any attempt number.
//
// Randomness comes from a Rand, a func returning a float64 in [0, 1). A nil
// Rand means the top-level functions of math/rand/v2, which are safe for
// concurrent use; tests pass Seeded(seed) for a repeatable sequence (a seeded
// Rand is not safe for concurrent use).
//
// Clamp bounds a delay, and ParseRetryAfter reads a Retry-After header in
// either of its forms (delta-seconds or HTTP-date), so a server's request to
// slow down can replace or bound the computed delay.
package backoff
