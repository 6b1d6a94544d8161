// Package netguard makes outbound HTTP safe against server-side request
// forgery (SSRF). Webhook endpoints, calendar servers and provider callbacks
// are URLs that customers type in; without a guard, a customer could point one
// at 127.0.0.1, at a database on the private network, or at the cloud metadata
// service (169.254.169.254) and read the answer back through our attempt log.
//
// A Guard refuses every entry of the IANA IPv4 and IPv6 Special-Purpose
// Address Registries (loopback, private, link-local, unspecified,
// carrier-grade NAT, documentation, benchmarking, reserved and the rest),
// including the few entries IANA marks globally reachable: those are anycast
// service addresses, DNS sinks, overlay identifiers and the NAT64 prefix, not
// servers. It also refuses multicast, deprecated site-local and
// cloud-metadata addresses, and the well-known IPv6 prefixes that embed an
// IPv4 address (IPv4-mapped, IPv4-translated, IPv4-compatible, NAT64, 6to4,
// Teredo), whatever IPv4 address they carry. IsBlocked holds the list and is
// exported for reuse. Ranges passed to WithAllowedRanges override the list;
// tests and demos use it to reach 127.0.0.0/8 and ::1/128.
//
// The check that matters happens at dial time: Guard.DialContext installs a
// net.Dialer Control hook that sees the IP address the socket is about to
// connect to, after DNS resolution. A hostname that resolves to a public
// address when the URL is saved and to 127.0.0.1 when the request is sent (DNS
// rebinding) is therefore still refused. CheckURL is the early, cheap check
// for the moment a URL is saved: it enforces https (http only with
// WithAllowHTTP), rejects userinfo and checks literal IP hosts, but it does not
// resolve names.
//
// Guard.Transport returns an *http.Transport that dials only through the guard
// and never uses a proxy (a proxy would connect on our behalf, past the
// check). Guard.Client wraps it in an *http.Client that also re-checks every
// request URL and does not follow redirects: a redirect is an answer to
// record, not an order to fetch another URL.
//
// Refusals are *BlockedError values that match ErrBlockedAddress with
// errors.Is, through the *net.OpError and *url.Error wrappers that net/http
// adds.
package netguard
