// Package caldavtest gives tests and demos a CalDAV server to talk to.
//
// StartRadicale runs the real Radicale server (the radicale binary, the
// Debian package of that name) on a free loopback port for one test, and
// stops it when the test ends. StartInProcess serves a MemoryServer, the
// in-process server built on go-webdav's caldav.Handler; it lacks the
// sync-collection REPORT, so it is also how the provider's etag-scan
// fallback is tested. Start picks Radicale when it is installed and the
// in-process server otherwise, unless WEDSYNC_REQUIRE_RADICALE=1 (CI sets
// it) makes a missing Radicale a failure.
//
// MemoryServer is usable outside tests too: the demo's memory mode mounts
// it on a loopback listener as its CalDAV server. It keeps everything in
// memory and loses it on exit. So is Radicale: LaunchRadicale runs it for a
// program that is not a test (the benchmark), and Server.CreateCalendar is
// MakeCalendar returning an error.
//
// Both servers accept any user name and password; Server.Creds builds the
// provider's credentials JSON, Server.MakeCalendar creates a calendar with
// MKCALENDAR, and Server.ProviderOptions lets the provider's SSRF-safe
// client reach the loopback server.
package caldavtest
