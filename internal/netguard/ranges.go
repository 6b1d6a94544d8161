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
var deniedRanges = [...]rule{
	// IPv4.
	deny("0.0.0.0/32", "unspecified address"),
	deny("0.0.0.0/8", "\"this network\" (0.0.0.0/8)"),
	deny("10.0.0.0/8", "private network (RFC 1918)"),
	deny("100.100.100.200/32", "cloud metadata endpoint (Alibaba Cloud)"),
	deny("100.64.0.0/10", "shared address space / carrier-grade NAT (RFC 6598)"),
	deny("127.0.0.0/8", "loopback"),
	deny("169.254.169.254/32", "cloud metadata endpoint"),
	deny("169.254.0.0/16", "link-local"),
	deny("172.16.0.0/12", "private network (RFC 1918)"),
	deny("192.0.0.0/24", "IETF protocol assignments (RFC 6890)"),
	deny("192.0.2.0/24", "documentation (TEST-NET-1)"),
	deny("192.88.99.0/24", "deprecated 6to4 relay anycast"),
	deny("192.168.0.0/16", "private network (RFC 1918)"),
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
	deny("64:ff9b::/96", "NAT64 (may embed a private IPv4 address)"),
	deny("64:ff9b:1::/48", "local-use NAT64 (RFC 8215)"),
	deny("100::/64", "discard-only (RFC 6666)"),
	deny("2001::/32", "Teredo (embeds an IPv4 address)"),
	deny("2001:db8::/32", "documentation"),
	deny("2002::/16", "6to4 (may embed a private IPv4 address)"),
	deny("fd00:ec2::254/128", "cloud metadata endpoint (AWS)"),
	deny("fc00::/7", "private network (unique local address)"),
	deny("fe80::/10", "link-local"),
	deny("fec0::/10", "deprecated site-local"),
	deny("ff00::/8", "multicast"),
}
