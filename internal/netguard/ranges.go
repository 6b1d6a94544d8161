package netguard

import "net/netip"

// rule is one denied range and the reason reported for it. Rules are checked
// in order and the first match wins, so narrow ranges with a more useful
// reason (metadata endpoints, broadcast) come before the ranges that hold them.
type rule struct {
	prefix netip.Prefix
	reason string
}

func deny(p, reason string) rule { return rule{netip.MustParsePrefix(p), reason} }

// deniedRanges is read-only after package initialisation.
//
// It holds every entry of the IANA IPv4 and IPv6 Special-Purpose Address
// Registries (iana-ipv4-special-registry, iana-ipv6-special-registry) except
// ::ffff:0:0/96, which IsBlocked handles before it looks here, plus
// multicast, deprecated IPv6 forms and cloud metadata endpoints. Entries the
// registries mark globally reachable are refused as well: they are anycast
// service addresses, DNS sinks, overlay identifiers and the NAT64 prefix,
// never a webhook receiver. registry_test.go records the decision and the
// reason for each entry and checks that every rule here has a row there.
var deniedRanges = [...]rule{
	// IPv4.
	deny("0.0.0.0/32", "unspecified address"),
	deny("0.0.0.0/8", "\"this network\" (0.0.0.0/8)"),
	deny("10.0.0.0/8", "private network (RFC 1918)"),
	deny("100.100.100.200/32", "cloud metadata endpoint (Alibaba Cloud)"),
	deny("100.64.0.0/10", "shared address space / carrier-grade NAT (RFC 6598)"),
	deny("127.0.0.0/8", "loopback"),
	deny("168.63.129.16/32", "cloud platform endpoint (Azure WireServer)"),
	deny("169.254.169.254/32", "cloud metadata endpoint"),
	deny("169.254.0.0/16", "link-local"),
	deny("172.16.0.0/12", "private network (RFC 1918)"),
	// 192.0.0.0/24 is refused whole, 192.0.0.9 and 192.0.0.10 (globally
	// reachable anycast) included; the entries inside it are listed for
	// their reasons.
	deny("192.0.0.0/29", "IETF protocol assignments: IPv4 service continuity prefix (RFC 7335)"),
	deny("192.0.0.8/32", "IETF protocol assignments: IPv4 dummy address (RFC 7600)"),
	deny("192.0.0.9/32", "IETF protocol assignments: Port Control Protocol anycast (RFC 7723)"),
	deny("192.0.0.10/32", "IETF protocol assignments: TURN anycast (RFC 8155)"),
	deny("192.0.0.170/32", "IETF protocol assignments: NAT64/DNS64 discovery (RFC 8880)"),
	deny("192.0.0.171/32", "IETF protocol assignments: NAT64/DNS64 discovery (RFC 8880)"),
	deny("192.0.0.0/24", "IETF protocol assignments (RFC 6890)"),
	deny("192.0.2.0/24", "documentation (TEST-NET-1)"),
	deny("192.31.196.0/24", "AS112 DNS sink anycast (RFC 7535)"),
	deny("192.52.193.0/24", "AMT relay anycast (RFC 7450)"),
	deny("192.88.99.2/32", "6a44 relay anycast (RFC 6751)"),
	deny("192.88.99.0/24", "deprecated 6to4 relay anycast (RFC 7526)"),
	deny("192.168.0.0/16", "private network (RFC 1918)"),
	deny("192.175.48.0/24", "AS112 direct delegation DNS sink (RFC 7534)"),
	deny("198.18.0.0/15", "benchmarking (RFC 2544)"),
	deny("198.51.100.0/24", "documentation (TEST-NET-2)"),
	deny("203.0.113.0/24", "documentation (TEST-NET-3)"),
	deny("224.0.0.0/4", "multicast"),
	deny("255.255.255.255/32", "broadcast"),
	deny("240.0.0.0/4", "reserved (240.0.0.0/4)"),

	// IPv6.
	deny("::/128", "unspecified address"),
	deny("::1/128", "loopback"),
	deny("::/96", "deprecated IPv4-compatible IPv6 address"),
	deny("::ffff:0:0:0/96", "IPv4-translated address (RFC 6145)"),
	deny("64:ff9b::/96", "NAT64 (may embed a private IPv4 address)"),
	deny("64:ff9b:1::/48", "local-use NAT64 (RFC 8215)"),
	deny("100::/64", "discard-only (RFC 6666)"),
	deny("100:0:0:1::/64", "dummy IPv6 prefix (RFC 9780)"),
	// 2001::/23 is refused whole, its globally reachable entries included;
	// the entries inside it are listed for their reasons.
	deny("2001::/32", "Teredo (embeds an IPv4 address)"),
	deny("2001:1::1/128", "IETF protocol assignments: Port Control Protocol anycast (RFC 7723)"),
	deny("2001:1::2/128", "IETF protocol assignments: TURN anycast (RFC 8155)"),
	deny("2001:1::3/128", "IETF protocol assignments: DNS-SD service registration anycast (RFC 9665)"),
	deny("2001:2::/48", "IETF protocol assignments: benchmarking (RFC 5180)"),
	deny("2001:3::/32", "IETF protocol assignments: AMT relay anycast (RFC 7450)"),
	deny("2001:4:112::/48", "IETF protocol assignments: AS112 DNS sink anycast (RFC 7535)"),
	deny("2001:10::/28", "IETF protocol assignments: deprecated ORCHID (RFC 4843)"),
	deny("2001:20::/28", "IETF protocol assignments: ORCHIDv2 overlay identifiers (RFC 7343)"),
	deny("2001:30::/28", "IETF protocol assignments: drone remote ID entity tags (RFC 9374)"),
	deny("2001::/23", "IETF protocol assignments (RFC 2928)"),
	deny("2001:db8::/32", "documentation (RFC 3849)"),
	deny("2002::/16", "6to4 (may embed a private IPv4 address)"),
	deny("2620:4f:8000::/48", "AS112 direct delegation DNS sink (RFC 7534)"),
	deny("3fff::/20", "documentation (RFC 9637)"),
	deny("5f00::/16", "SRv6 segment identifiers (RFC 9602)"),
	deny("fd00:ec2::254/128", "cloud metadata endpoint (AWS)"),
	deny("fc00::/7", "private network (unique local address)"),
	deny("fe80::/10", "link-local"),
	deny("fec0::/10", "deprecated site-local"),
	deny("ff00::/8", "multicast"),
}
