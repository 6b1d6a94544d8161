package netguard_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/internal/netguard"
)

// This file holds the decision, entry by entry, for the IANA IPv4 and IPv6
// Special-Purpose Address Registries (iana-ipv4-special-registry,
// iana-ipv6-special-registry, as updated in 2025: 25 IPv4 records, with
// 192.0.0.170/32 and 192.0.0.171/32 sharing one, and 25 IPv6 records), plus
// the ranges the guard refuses that are in neither registry. The tests below
// check IsBlocked against every row and check that the deny list in ranges.go
// has no rule this file does not explain.
//
// The policy: a webhook target must be an ordinary globally reachable unicast
// address of somebody's server. Every entry whose "Globally Reachable" column
// is False, or N/A (terminated entries and the transition prefixes whose
// reachability depends on an IPv4 address inside them), is refused. The
// entries IANA marks True are refused too: each is an anycast service
// address (PCP, TURN, DNS-SD SRP, AMT relays, AS112 DNS sinks), an overlay
// identifier that is not a locator (ORCHIDv2, drone DETs), or a translation
// prefix that reaches an IPv4 address chosen by whoever writes the URL
// (64:ff9b::/96). None of them is where a customer's webhook receiver lives,
// and refusing them costs nothing.

// Globally Reachable values, as the registries write them.
const (
	grTrue  = "True"
	grFalse = "False"
	grNA    = "N/A"  // N/A, or left empty on a terminated entry
	grNone  = "none" // not a registry entry
)

type verdict bool

const (
	refuse verdict = true
	allow  verdict = false
)

type specialRange struct {
	prefix  string
	name    string  // the registry's name for the entry, or what the range is
	global  string  // "Globally Reachable" per IANA
	verdict verdict // ours
	reason  string  // substring of IsBlocked's reason when this is the most specific row holding the address
	why     string
}

var ianaIPv4Special = []specialRange{
	{"0.0.0.0/8", `"This network"`, grFalse, refuse, "this network",
		"source-only; many stacks connect 0.x.y.z to the local host"},
	{"0.0.0.0/32", `"This host on this network"`, grFalse, refuse, "unspecified address",
		"connecting to 0.0.0.0 reaches the local host on Linux"},
	{"10.0.0.0/8", "Private-Use", grFalse, refuse, "private network (RFC 1918)",
		"internal network"},
	{"100.64.0.0/10", "Shared Address Space", grFalse, refuse, "carrier-grade NAT",
		"provider-internal; also hosts cloud metadata (100.100.100.200)"},
	{"127.0.0.0/8", "Loopback", grFalse, refuse, "loopback",
		"the local host"},
	{"169.254.0.0/16", "Link Local", grFalse, refuse, "link-local",
		"the local link; holds the cloud metadata service"},
	{"172.16.0.0/12", "Private-Use", grFalse, refuse, "private network (RFC 1918)",
		"internal network"},
	{"192.0.0.0/24", "IETF Protocol Assignments", grFalse, refuse, "IETF protocol assignments (RFC 6890)",
		"refused whole, including its globally reachable entries below"},
	{"192.0.0.0/29", "IPv4 Service Continuity Prefix", grFalse, refuse, "IPv4 service continuity prefix",
		"DS-Lite / 464XLAT host-side addresses"},
	{"192.0.0.8/32", "IPv4 dummy address", grFalse, refuse, "IPv4 dummy address",
		"not a destination"},
	{"192.0.0.9/32", "Port Control Protocol Anycast", grTrue, refuse, "Port Control Protocol anycast",
		"globally reachable, but it is the PCP server of whatever network the sender sits in, not a webhook receiver; no carve-out"},
	{"192.0.0.10/32", "Traversal Using Relays around NAT Anycast", grTrue, refuse, "TURN anycast",
		"globally reachable, but it is a TURN relay discovery address, not a webhook receiver; no carve-out"},
	{"192.0.0.170/32", "NAT64/DNS64 Discovery", grFalse, refuse, "NAT64/DNS64 discovery",
		"a well-known name's address, never a host"},
	{"192.0.0.171/32", "NAT64/DNS64 Discovery", grFalse, refuse, "NAT64/DNS64 discovery",
		"a well-known name's address, never a host"},
	{"192.0.2.0/24", "Documentation (TEST-NET-1)", grFalse, refuse, "documentation (TEST-NET-1)",
		"examples only"},
	{"192.31.196.0/24", "AS112-v4", grTrue, refuse, "AS112 DNS sink anycast",
		"globally reachable, but it is anycast DNS sinks run by volunteers for reverse zones of private space; a webhook there reaches a random operator's DNS box"},
	{"192.52.193.0/24", "AMT", grTrue, refuse, "AMT relay anycast",
		"globally reachable, but it is anycast relays for multicast tunnelling (RFC 7450), not a webhook receiver"},
	{"192.88.99.0/24", "Deprecated (6to4 Relay Anycast)", grNA, refuse, "deprecated 6to4 relay anycast",
		"terminated 2015; relays that remain are a tunnel into other networks"},
	{"192.88.99.2/32", "6a44-relay anycast address", grFalse, refuse, "6a44 relay anycast",
		"relay address, not a host"},
	{"192.168.0.0/16", "Private-Use", grFalse, refuse, "private network (RFC 1918)",
		"internal network"},
	{"192.175.48.0/24", "Direct Delegation AS112 Service", grTrue, refuse, "AS112 direct delegation DNS sink",
		"globally reachable, but it is anycast DNS sinks (RFC 7534), not a webhook receiver"},
	{"198.18.0.0/15", "Benchmarking", grFalse, refuse, "benchmarking",
		"lab networks"},
	{"198.51.100.0/24", "Documentation (TEST-NET-2)", grFalse, refuse, "documentation (TEST-NET-2)",
		"examples only"},
	{"203.0.113.0/24", "Documentation (TEST-NET-3)", grFalse, refuse, "documentation (TEST-NET-3)",
		"examples only"},
	{"240.0.0.0/4", "Reserved", grFalse, refuse, "reserved (240.0.0.0/4)",
		"not routed; some clouds use it internally"},
	{"255.255.255.255/32", "Limited Broadcast", grFalse, refuse, "broadcast",
		"the local link's broadcast"},
}

var ianaIPv6Special = []specialRange{
	{"::1/128", "Loopback Address", grFalse, refuse, "loopback",
		"the local host"},
	{"::/128", "Unspecified Address", grFalse, refuse, "unspecified address",
		"connecting to :: reaches the local host"},
	{"::ffff:0:0/96", "IPv4-mapped Address", grFalse, refuse, "IPv4-mapped",
		"refused in IsBlocked before the table, whatever IPv4 address it carries; the reason names the inner rule"},
	{"64:ff9b::/96", "IPv4-IPv6 Translat.", grTrue, refuse, "NAT64",
		"globally reachable, but a NAT64 gateway forwards to the embedded IPv4 address, private ones included; a public IPv4 target should be given as IPv4"},
	{"64:ff9b:1::/48", "IPv4-IPv6 Translat.", grFalse, refuse, "local-use NAT64",
		"operator-local translation to embedded IPv4"},
	{"100::/64", "Discard-Only Address Block", grFalse, refuse, "discard-only",
		"black hole"},
	{"100:0:0:1::/64", "Dummy IPv6 Prefix", grFalse, refuse, "dummy IPv6 prefix",
		"not a destination"},
	{"2001::/23", "IETF Protocol Assignments", grFalse, refuse, "IETF protocol assignments (RFC 2928)",
		"refused whole, including its globally reachable entries below"},
	{"2001::/32", "TEREDO", grNA, refuse, "Teredo",
		"tunnel to an embedded IPv4 client address"},
	{"2001:1::1/128", "Port Control Protocol Anycast", grTrue, refuse, "Port Control Protocol anycast",
		"globally reachable, but it is the PCP server of the sender's own network, not a webhook receiver; no carve-out"},
	{"2001:1::2/128", "Traversal Using Relays around NAT Anycast", grTrue, refuse, "TURN anycast",
		"globally reachable, but it is a TURN relay discovery address, not a webhook receiver; no carve-out"},
	{"2001:1::3/128", "DNS-SD Service Registration Protocol Anycast", grTrue, refuse, "DNS-SD service registration anycast",
		"globally reachable, but it is a service-registration server of the local network (RFC 9665), not a webhook receiver; no carve-out"},
	{"2001:2::/48", "Benchmarking", grFalse, refuse, "benchmarking",
		"lab networks"},
	{"2001:3::/32", "AMT", grTrue, refuse, "AMT relay anycast",
		"globally reachable, but it is anycast relays for multicast tunnelling, not a webhook receiver"},
	{"2001:4:112::/48", "AS112-v6", grTrue, refuse, "AS112 DNS sink anycast",
		"globally reachable, but it is anycast DNS sinks run by volunteers, not a webhook receiver"},
	{"2001:10::/28", "Deprecated (previously ORCHID)", grNA, refuse, "deprecated ORCHID",
		"terminated 2014; unassigned"},
	{"2001:20::/28", "ORCHIDv2", grTrue, refuse, "ORCHIDv2",
		"globally reachable per IANA, but ORCHIDs are cryptographic identifiers for overlays (HIP), not locators a plain TCP connection can reach"},
	{"2001:30::/28", "Drone Remote ID Protocol Entity Tags (DETs) Prefix", grTrue, refuse, "drone remote ID",
		"globally reachable per IANA, but DETs identify unmanned aircraft (RFC 9374), not webhook receivers"},
	{"2001:db8::/32", "Documentation", grFalse, refuse, "documentation",
		"examples only"},
	{"2002::/16", "6to4", grNA, refuse, "6to4",
		"tunnel to the embedded IPv4 address, private ones included"},
	{"2620:4f:8000::/48", "Direct Delegation AS112 Service", grTrue, refuse, "AS112 direct delegation DNS sink",
		"globally reachable, but it is anycast DNS sinks (RFC 7534), not a webhook receiver"},
	{"3fff::/20", "Documentation", grFalse, refuse, "documentation (RFC 9637)",
		"examples only"},
	{"5f00::/16", "Segment Routing (SRv6) SIDs", grFalse, refuse, "SRv6",
		"segment identifiers inside an operator's network; a packet to one runs a network function"},
	{"fc00::/7", "Unique-Local", grFalse, refuse, "private network (unique local address)",
		"internal network"},
	{"fe80::/10", "Link-Local Unicast", grFalse, refuse, "link-local",
		"the local link"},
}

// otherDenied lists what the guard refuses beyond the two registries.
var otherDenied = []specialRange{
	{"224.0.0.0/4", "IPv4 multicast", grNone, refuse, "multicast",
		"not unicast"},
	{"ff00::/8", "IPv6 multicast", grNone, refuse, "multicast",
		"not unicast"},
	{"::/96", "IPv4-compatible IPv6 address (deprecated, RFC 4291)", grNone, refuse, "IPv4-compatible",
		"embeds an IPv4 address; some stacks still route it to IPv4"},
	{"::ffff:0:0:0/96", "IPv4-translated address (RFC 2765, RFC 6145)", grNone, refuse, "IPv4-translated address (RFC 6145)",
		"SIIT form that embeds an IPv4 address: ::ffff:0:7f00:1 is 127.0.0.1"},
	{"fec0::/10", "site-local (deprecated, RFC 3879)", grNone, refuse, "site-local",
		"still routed inside some networks"},
	{"169.254.169.254/32", "cloud metadata (AWS, GCP, Azure, ...)", grNone, refuse, "cloud metadata endpoint",
		"credentials"},
	{"100.100.100.200/32", "cloud metadata (Alibaba Cloud)", grNone, refuse, "cloud metadata endpoint (Alibaba Cloud)",
		"credentials"},
	{"fd00:ec2::254/128", "cloud metadata (AWS IPv6)", grNone, refuse, "cloud metadata endpoint (AWS)",
		"credentials"},
	{"168.63.129.16/32", "Azure WireServer (a public address every Azure VM reaches)", grNone, refuse, "cloud platform endpoint (Azure WireServer)",
		"serves VM agent configuration and health probes from inside Azure"},
}

func allSpecialRanges() []specialRange {
	var all []specialRange
	all = append(all, ianaIPv4Special...)
	all = append(all, ianaIPv6Special...)
	return append(all, otherDenied...)
}

// mostSpecific returns the row with the longest prefix holding a, the rule
// whose reason IsBlocked should report.
func mostSpecific(t *testing.T, a netip.Addr) (specialRange, bool) {
	t.Helper()
	var best specialRange
	bestBits := -1
	for _, r := range allSpecialRanges() {
		p := netip.MustParsePrefix(r.prefix)
		if p.Contains(a) && p.Bits() > bestBits {
			best, bestBits = r, p.Bits()
		}
	}
	return best, bestBits >= 0
}

// samples returns the first and last address of p and, when p holds more
// than two addresses, the one in the middle.
func samples(p netip.Prefix) []netip.Addr {
	p = p.Masked()
	first := p.Addr()
	b := first.AsSlice()
	host := len(b)*8 - p.Bits()
	out := []netip.Addr{first}
	if host >= 2 {
		m := append([]byte(nil), b...)
		setBit(m, p.Bits())
		out = append(out, addrFrom(m))
	}
	if host >= 1 {
		for i := p.Bits(); i < len(b)*8; i++ {
			setBit(b, i)
		}
		out = append(out, addrFrom(b))
	}
	return out
}

func setBit(b []byte, i int) { b[i/8] |= 0x80 >> (i % 8) }

func addrFrom(b []byte) netip.Addr {
	a, ok := netip.AddrFromSlice(b)
	if !ok {
		panic("bad address length")
	}
	return a
}

func checkAddr(t *testing.T, a netip.Addr, want verdict, reason string) {
	t.Helper()
	got, blocked := netguard.IsBlocked(a)
	if want == allow {
		require.False(t, blocked, "%s: blocked (%s)", a, got)
		require.Empty(t, got)
		return
	}
	require.True(t, blocked, "%s: allowed", a)
	require.Contains(t, got, reason, "%s", a)
	// CheckIP agrees with IsBlocked.
	err := netguard.New().CheckIP(a)
	require.ErrorIs(t, err, netguard.ErrBlockedAddress, "%s", a)
}

// embedded returns IPv6 spellings of the IPv4 address v4 and the reason each
// must be refused with, whatever v4 is.
func embedded(v4 netip.Addr) map[string]netip.Addr {
	b4 := v4.As4()
	translated := [16]byte{8: 0xff, 9: 0xff}
	copy(translated[12:], b4[:])
	nat64 := [16]byte{0: 0x00, 1: 0x64, 2: 0xff, 3: 0x9b}
	copy(nat64[12:], b4[:])
	sixToFour := [16]byte{0: 0x20, 1: 0x02, 15: 1}
	copy(sixToFour[2:6], b4[:])
	// Teredo: 2001:0:<server>:<flags>:<port ^ 0xffff>:<client ^ 0xffffffff>,
	// server 65.54.227.120, client v4.
	teredo := [16]byte{0: 0x20, 1: 0x01, 4: 65, 5: 54, 6: 227, 7: 120, 10: 0xcf, 11: 0xc7}
	for i := range 4 {
		teredo[12+i] = b4[i] ^ 0xff
	}
	return map[string]netip.Addr{
		"IPv4-translated": netip.AddrFrom16(translated),
		"NAT64":           netip.AddrFrom16(nat64),
		"6to4":            netip.AddrFrom16(sixToFour),
		"Teredo":          netip.AddrFrom16(teredo),
	}
}

// TestSpecialPurposeRegistries checks the first, middle and last address of
// every registry entry and every other denied range against IsBlocked. An
// address is expected to carry the reason of the most specific row that
// holds it (0.0.0.0 is "unspecified", not "this network"), which also
// proves the deny list checks narrow rules before the ranges that hold them.
// For IPv4 rows it checks the IPv4-mapped, IPv4-translated, NAT64, 6to4 and
// Teredo spellings of the same addresses too.
func TestSpecialPurposeRegistries(t *testing.T) {
	t.Parallel()
	for _, r := range allSpecialRanges() {
		t.Run(r.prefix, func(t *testing.T) {
			t.Parallel()
			p := netip.MustParsePrefix(r.prefix)
			require.Equal(t, p.Masked(), p, "row prefix is not canonical")
			require.NotEmpty(t, r.name)
			require.NotEmpty(t, r.why)
			require.Contains(t, []string{grTrue, grFalse, grNA, grNone}, r.global)
			for _, a := range samples(p) {
				row, ok := mostSpecific(t, a)
				require.True(t, ok)
				checkAddr(t, a, row.verdict, row.reason)
				if !a.Is4() {
					continue
				}
				// IPv4-mapped: always refused, and the reason names the
				// inner rule.
				mapped := netip.AddrFrom16(a.As16())
				require.True(t, mapped.Is4In6())
				checkAddr(t, mapped, refuse, "IPv4-mapped")
				if row.verdict == refuse {
					checkAddr(t, mapped, refuse, row.reason)
				}
				for reason, e := range embedded(a) {
					checkAddr(t, e, refuse, reason)
				}
			}
		})
	}
}

// TestGloballyReachableDecisions pins the deliberate choices: every entry the
// registries mark globally reachable is still refused, and says why.
func TestGloballyReachableDecisions(t *testing.T) {
	t.Parallel()
	var n int
	for _, r := range append(append([]specialRange{}, ianaIPv4Special...), ianaIPv6Special...) {
		if r.global != grTrue {
			require.Equal(t, refuse, r.verdict, "%s is not globally reachable and must be refused", r.prefix)
			continue
		}
		n++
		require.Equal(t, refuse, r.verdict, r.prefix)
		require.True(t, strings.HasPrefix(r.why, "globally reachable"), "%s: say why it is refused anyway", r.prefix)
	}
	require.Equal(t, 14, n, "globally reachable entries in the two registries")
	require.Len(t, ianaIPv4Special, 26, "25 IPv4 records, one of them holding two /32s")
	require.Len(t, ianaIPv6Special, 25, "IPv6 records")
}

// TestDenyListIsExplained checks that every rule in ranges.go is a row of the
// tables above with the same reason, and that no rule is hidden behind an
// earlier, wider one (the first match wins).
func TestDenyListIsExplained(t *testing.T) {
	t.Parallel()
	rows := map[netip.Prefix]specialRange{}
	for _, r := range allSpecialRanges() {
		p := netip.MustParsePrefix(r.prefix)
		_, dup := rows[p]
		require.False(t, dup, "duplicate row %s", p)
		rows[p] = r
	}
	rules := netguard.DeniedRules()
	for i, rl := range rules {
		r, ok := rows[rl.Prefix]
		require.True(t, ok, "deny rule %s (%q) has no row in registry_test.go", rl.Prefix, rl.Reason)
		require.Equal(t, refuse, r.verdict, rl.Prefix)
		require.Contains(t, rl.Reason, r.reason, rl.Prefix)
		for _, earlier := range rules[:i] {
			shadowed := earlier.Prefix.Bits() <= rl.Prefix.Bits() && earlier.Prefix.Contains(rl.Prefix.Addr())
			require.False(t, shadowed, "rule %s is unreachable behind %s", rl.Prefix, earlier.Prefix)
		}
	}
}

// TestIPv4Translated covers ::ffff:0:0:0/96, the SIIT form (RFC 2765,
// RFC 6145) that carries an IPv4 address in its last 32 bits and that the
// deny list once missed.
func TestIPv4Translated(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"::ffff:0:7f00:1",    // 127.0.0.1
		"::ffff:0:a00:1",     // 10.0.0.1
		"::ffff:0:a9fe:a9fe", // 169.254.169.254
		"::ffff:0:c0a8:101",  // 192.168.1.1
		"::ffff:0:808:808",   // 8.8.8.8: refused too, like every embedding
		"::ffff:0:0:0",
		"::ffff:0:ffff:ffff",
		"0:0:0:0:ffff:0:127.0.0.1",
	} {
		a := netip.MustParseAddr(s)
		require.False(t, a.Is4In6(), s)
		reason, blocked := netguard.IsBlocked(a)
		require.True(t, blocked, "%s allowed", s)
		require.Equal(t, "IPv4-translated address (RFC 6145)", reason, s)
	}
	err := netguard.New().CheckURL("https://[::ffff:0:7f00:1]/hook")
	require.ErrorIs(t, err, netguard.ErrBlockedAddress)
	require.Contains(t, err.Error(), "IPv4-translated")
}

// TestOrdinaryAddressesAllowed checks public addresses, including the ones
// just outside the ranges the registry review added, so that no range is
// wider than its entry.
func TestOrdinaryAddressesAllowed(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"8.8.8.8",
		"1.1.1.1",
		"93.184.215.14",
		"2606:4700:4700::1111",
		"2001:4860:4860::8888",
		// Neighbours of registry entries.
		"192.0.1.0", "192.0.3.255",
		"192.31.195.255", "192.31.197.0",
		"192.52.192.255", "192.52.194.0",
		"192.88.98.255", "192.88.100.0",
		"192.175.47.255", "192.175.49.0",
		"2001:200::1",                           // first address past 2001::/23
		"2620:4f:7fff:ffff:ffff:ffff:ffff:ffff", // just below 2620:4f:8000::/48
		"2620:4f:8001::1",                       // just above it
		"3fff:1000::1",                          // just past 3fff::/20
		"2003::1",                               // just past 6to4
	} {
		checkAddr(t, netip.MustParseAddr(s), allow, "")
	}
}

// TestIPv6OutsideGlobalUnicast covers IPv6 space that no registry entry
// names: only 2000::/3 holds servers, so the rest is refused whole.
func TestIPv6OutsideGlobalUnicast(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"::fffe:1:2", "::2", "4000::1", "1fff:ffff::1", "e000::1", "fbff::1"} {
		reason, blocked := netguard.IsBlocked(netip.MustParseAddr(s))
		require.True(t, blocked, "%s allowed", s)
		require.NotEmpty(t, reason, s)
	}
	reason, _ := netguard.IsBlocked(netip.MustParseAddr("4000::1"))
	require.Contains(t, reason, "outside 2000::/3")
	for _, s := range []string{"2000::1", "2606:4700:4700::1111", "3ffe:ffff::1", "2a00:1450:4009:81f::200e"} {
		_, blocked := netguard.IsBlocked(netip.MustParseAddr(s))
		require.False(t, blocked, "%s refused", s)
	}
}
