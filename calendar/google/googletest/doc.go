// Package googletest is an in-process fake of the Google Calendar API v3
// and Google's OAuth2 token endpoint, for tests of calendar/google and for
// hosts' own tests and demos. It behaves like the API where the provider
// depends on it, including what goes wrong:
//
//   - every API request must carry "Authorization: Bearer <token>" with an
//     access token the fake's /token endpoint issued and has not expired
//     (401 otherwise); refresh tokens can be revoked (invalid_grant);
//   - events.list pages (SetPageSize), hands out a nextSyncToken on the
//     last page, answers a syncToken with what changed since, including
//     deleted events, and answers 410 Gone to tokens made stale by
//     ExpireSyncTokens; syncToken combined with a filter is a 400;
//   - events carry etags; If-Match with a stale one is a 412; inserting a
//     client-chosen id that exists (or existed) is a 409; ids must be
//     base32hex, 5 to 1024 characters;
//   - patch merges (null removes a key), delete marks the event cancelled;
//   - events.watch opens channels (at most MaxChannelTTL), channels.stop
//     ends them, and Notify sends a push notification to a channel's
//     address, genuine or forged;
//   - FailNext scripts failures (403 rateLimitExceeded with or without
//     Retry-After, 429, 503, ...) per operation.
//
// Put and Remove act as the calendar's owner editing in Google's own apps.
package googletest
