package netguard_test

import (
	"errors"
	"net/netip"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/internal/netguard"
)

func TestIsBlocked(t *testing.T) {
	t.Parallel()
	cases := []struct {
		addr   string
		reason string // substring of the reason; "" means allowed
	}{
		// Public addresses pass.
		{"8.8.8.8", ""},
		{"1.1.1.1", ""},
		{"93.184.216.34", ""},
		{"100.63.255.255", ""},  // just below CGNAT
		{"100.128.0.0", ""},     // just above CGNAT
		{"172.15.255.255", ""},  // just below 172.16/12
		{"172.32.0.0", ""},      // just above 172.16/12
		{"169.253.255.255", ""}, // just below link-local
		{"198.17.255.255", ""},  // just below benchmarking
		{"223.255.255.255", ""}, // just below multicast
		{"2606:4700:4700::1111", ""},
		{"2001:4860:4860::8888", ""},
		{"2a00:1450:4001::200e", ""},

		// Loopback.
		{"127.0.0.1", "loopback"},
		{"127.255.255.254", "loopback"},
		{"::1", "loopback"},
		// Private.
		{"10.0.0.1", "private"},
		{"10.255.255.255", "private"},
		{"172.16.0.1", "private"},
		{"172.31.255.255", "private"},
		{"192.168.1.1", "private"},
		{"fc00::1", "private"},
		{"fd12:3456::1", "private"},
		// Link-local.
		{"169.254.1.1", "link-local"},
		{"fe80::1", "link-local"},
		{"fe80::1%eth0", "link-local"},
		{"febf:ffff::1", "link-local"},
		// Multicast.
		{"224.0.0.1", "multicast"},
		{"239.255.255.250", "multicast"},
		{"ff02::1", "multicast"},
		{"ff05::1:3", "multicast"},
		// Unspecified.
		{"0.0.0.0", "unspecified"},
		{"::", "unspecified"},
		// Cloud metadata.
		{"169.254.169.254", "metadata"},
		{"fd00:ec2::254", "metadata"},
		{"100.100.100.200", "metadata"},
		// CGNAT.
		{"100.64.0.1", "carrier-grade NAT"},
		{"100.127.255.255", "carrier-grade NAT"},
		// 0.0.0.0/8, broadcast, reserved.
		{"0.1.2.3", "this network"},
		{"255.255.255.255", "broadcast"},
		{"192.0.0.8", "IETF protocol assignments"},
		{"198.18.0.1", "benchmarking"},
		{"198.19.255.255", "benchmarking"},
		{"240.0.0.1", "reserved"},
		{"254.1.2.3", "reserved"},
		// Documentation.
		{"192.0.2.1", "documentation"},
		{"198.51.100.7", "documentation"},
		{"203.0.113.9", "documentation"},
		{"2001:db8::1", "documentation"},
		// IPv6 forms that embed IPv4.
		{"64:ff9b::a00:1", "NAT64"},         // 10.0.0.1
		{"64:ff9b::808:808", "NAT64"},       // even a public v4 is refused
		{"64:ff9b:1::1", "NAT64"},           // local-use NAT64
		{"2002:7f00:1::1", "6to4"},          // 127.0.0.1 in 6to4
		{"2002:808:808::1", "6to4"},         // public v4 in 6to4, still refused
		{"2001:0:4136:e378::1", "Teredo"},   // Teredo
		{"::7f00:1", "IPv4-compatible"},     // ::127.0.0.1
		{"100::1", "discard-only"},          // discard prefix
		{"fec0::1", "site-local"},           // deprecated site-local
		{"::ffff:8.8.8.8", "IPv4-mapped"},   // mapped form itself is denied
		{"::ffff:127.0.0.1", "IPv4-mapped"}, // ...
		{"::ffff:169.254.169.254", "IPv4-mapped"},
		{"::ffff:10.0.0.1", "IPv4-mapped"},
	}
	for _, tc := range cases {
		t.Run(tc.addr, func(t *testing.T) {
			t.Parallel()
			ip := netip.MustParseAddr(tc.addr)
			reason, blocked := netguard.IsBlocked(ip)
			if tc.reason == "" {
				require.False(t, blocked, "reason %q", reason)
				require.Empty(t, reason)
				return
			}
			require.True(t, blocked)
			require.Contains(t, reason, tc.reason)
		})
	}
}

func TestIsBlockedMappedNamesInnerRule(t *testing.T) {
	t.Parallel()
	reason, blocked := netguard.IsBlocked(netip.MustParseAddr("::ffff:127.0.0.1"))
	require.True(t, blocked)
	require.Contains(t, reason, "IPv4-mapped")
	require.Contains(t, reason, "loopback")

	reason, blocked = netguard.IsBlocked(netip.MustParseAddr("::ffff:169.254.169.254"))
	require.True(t, blocked)
	require.Contains(t, reason, "metadata")

	reason, blocked = netguard.IsBlocked(netip.MustParseAddr("::ffff:8.8.8.8"))
	require.True(t, blocked)
	require.Equal(t, "IPv4-mapped IPv6 address", reason)
}

func TestIsBlockedZeroAddr(t *testing.T) {
	t.Parallel()
	_, blocked := netguard.IsBlocked(netip.Addr{})
	require.True(t, blocked)
}

func TestCheckIPAllowedRangesOverride(t *testing.T) {
	t.Parallel()
	def := netguard.New()
	g := netguard.New(netguard.WithAllowedRanges(
		netip.MustParsePrefix("127.0.0.0/8"),
		netip.MustParsePrefix("::1/128"),
	), netguard.WithAllowedRanges(
		netip.MustParsePrefix("10.1.2.99/16"), // unmasked on purpose
		netip.Prefix{},                        // invalid, ignored
	))

	for _, a := range []string{"127.0.0.1", "127.3.2.1", "::1", "10.1.200.3"} {
		ip := netip.MustParseAddr(a)
		require.NoError(t, g.CheckIP(ip), a)
		require.ErrorIs(t, def.CheckIP(ip), netguard.ErrBlockedAddress, a)
	}
	// Outside the allowed ranges the deny list still applies.
	for _, a := range []string{"10.2.0.1", "169.254.169.254", "::ffff:127.0.0.1", "fe80::1", "0.0.0.0"} {
		require.ErrorIs(t, g.CheckIP(netip.MustParseAddr(a)), netguard.ErrBlockedAddress, a)
	}
	require.NoError(t, g.CheckIP(netip.MustParseAddr("8.8.8.8")))
}

func TestBlockedError(t *testing.T) {
	t.Parallel()
	err := netguard.New().CheckIP(netip.MustParseAddr("169.254.169.254"))
	require.ErrorIs(t, err, netguard.ErrBlockedAddress)
	require.NotErrorIs(t, err, netguard.ErrInvalidURL)

	var be *netguard.BlockedError
	require.ErrorAs(t, err, &be)
	require.Equal(t, netip.MustParseAddr("169.254.169.254"), be.IP)
	require.Equal(t, "cloud metadata endpoint", be.Reason)
	require.Equal(t, "netguard: blocked address 169.254.169.254: cloud metadata endpoint", be.Error())
}

func TestCheckURL(t *testing.T) {
	t.Parallel()
	strict := netguard.New()
	lax := netguard.New(netguard.WithAllowHTTP(true),
		netguard.WithAllowedRanges(netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")))

	cases := []struct {
		name   string
		g      *netguard.Guard
		url    string
		err    error  // nil means accepted
		msgHas string // substring of the message
	}{
		{"https name", strict, "https://hooks.example.com/wedsync", nil, ""},
		{"https name port", strict, "https://hooks.example.com:8443/x?y=1", nil, ""},
		{"https public ip", strict, "https://8.8.8.8/", nil, ""},
		{"https public v6", strict, "https://[2606:4700:4700::1111]/", nil, ""},
		{"uppercase scheme", strict, "HTTPS://example.com/", nil, ""},
		{"localhost name passes (checked at dial)", strict, "https://localhost/", nil, ""},

		{"http refused", strict, "http://example.com/", netguard.ErrInsecureScheme, "url: scheme must be https"},
		{"http allowed", lax, "http://example.com/", nil, ""},
		{"ftp refused even when http allowed", lax, "ftp://example.com/", netguard.ErrInsecureScheme, "scheme must be https or http"},
		{"javascript", strict, "javascript:alert(1)", netguard.ErrInsecureScheme, "scheme must be https"},
		{"relative", strict, "/just/a/path", netguard.ErrInvalidURL, "absolute"},
		{"empty", strict, "", netguard.ErrInvalidURL, "absolute"},
		{"opaque", strict, "https:example.com", netguard.ErrInvalidURL, "scheme://host"},
		{"no host", strict, "https:///path", netguard.ErrInvalidURL, "url: host is required"},
		{"empty brackets", strict, "https://[]/", netguard.ErrInvalidURL, ""},
		{"userinfo", strict, "https://user:pass@example.com/", netguard.ErrInvalidURL, "url: userinfo is not allowed"},
		{"user only", strict, "https://user@example.com/", netguard.ErrInvalidURL, "userinfo"},
		{"bad parse", strict, "https://exa mple.com/", netguard.ErrInvalidURL, "url: must parse"},
		{"control char", strict, "https://example.com/\x00", netguard.ErrInvalidURL, "url: must parse"},
		{"port zero", strict, "https://example.com:0/", netguard.ErrInvalidURL, "url: port must be in 1-65535"},
		{"port too big", strict, "https://example.com:70000/", netguard.ErrInvalidURL, "port"},

		{"loopback literal", strict, "https://127.0.0.1/", netguard.ErrBlockedAddress, "url: host must not be a blocked address"},
		{"loopback v6 literal", strict, "https://[::1]:8443/", netguard.ErrBlockedAddress, "loopback"},
		{"metadata literal", strict, "https://169.254.169.254/latest/meta-data/", netguard.ErrBlockedAddress, "metadata"},
		{"mapped literal", strict, "https://[::ffff:127.0.0.1]/", netguard.ErrBlockedAddress, "IPv4-mapped"},
		{"mapped hex literal", strict, "https://[::ffff:7f00:1]/", netguard.ErrBlockedAddress, "IPv4-mapped"},
		{"zone literal", strict, "https://[fe80::1%25eth0]/", netguard.ErrBlockedAddress, "link-local"},
		{"private literal", strict, "https://10.0.0.1/", netguard.ErrBlockedAddress, "private"},
		{"allowed loopback", lax, "http://127.0.0.1:8080/", nil, ""},
		{"allowed loopback v6", lax, "http://[::1]:8080/", nil, ""},
		{"allowed does not cover private", lax, "http://192.168.0.1/", netguard.ErrBlockedAddress, "private"},

		{"short ipv4", strict, "https://127.1/", netguard.ErrInvalidURL, "canonical"},
		{"decimal ipv4", strict, "https://2130706433/", netguard.ErrInvalidURL, "canonical"},
		{"hex ipv4", strict, "https://0x7f000001/", netguard.ErrInvalidURL, "canonical"},
		{"octal ipv4", strict, "https://0177.0.0.01/", netguard.ErrInvalidURL, "canonical"},
		{"trailing dot ipv4", strict, "https://127.0.0.1./", netguard.ErrInvalidURL, "canonical"},
		{"numeric first label ok", strict, "https://123.example.com/", nil, ""},
		{"hexish tld ok", strict, "https://example.cafe/", nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.g.CheckURL(tc.url)
			if tc.err == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.err)
			require.Contains(t, err.Error(), tc.msgHas)
			// Exactly one sentinel class per error.
			n := 0
			for _, s := range []error{netguard.ErrInvalidURL, netguard.ErrInsecureScheme, netguard.ErrBlockedAddress} {
				if errors.Is(err, s) {
					n++
				}
			}
			require.Equal(t, 1, n, err.Error())
		})
	}
}

func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{
		"https://example.com/",
		"http://127.0.0.1:8080/x",
		"https://[::ffff:127.0.0.1]/",
		"https://[fe80::1%25eth0]:443/",
		"https://user:pw@host/",
		"https://0x7f.1/",
		"https://169.254.169.254/latest",
		"javascript:alert(1)",
		"https:///",
		"https://[",
		"",
		"%",
		"https://example.com:99999/",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	strict := netguard.New()
	lax := netguard.New(netguard.WithAllowHTTP(true))
	f.Fuzz(func(t *testing.T, raw string, allowHTTP bool) {
		g := strict
		if allowHTTP {
			g = lax
		}
		err := g.CheckURL(raw)
		if err != nil {
			if !errors.Is(err, netguard.ErrInvalidURL) &&
				!errors.Is(err, netguard.ErrInsecureScheme) &&
				!errors.Is(err, netguard.ErrBlockedAddress) {
				t.Fatalf("CheckURL(%q) = %v: matches no sentinel", raw, err)
			}
			return
		}
		// Accepted URLs must satisfy the rules.
		u, perr := url.Parse(raw)
		if perr != nil {
			t.Fatalf("CheckURL(%q) accepted an unparsable URL: %v", raw, perr)
		}
		if u.Scheme != "https" && (!allowHTTP || u.Scheme != "http") {
			t.Fatalf("CheckURL(%q) accepted scheme %q", raw, u.Scheme)
		}
		if u.Hostname() == "" || u.User != nil {
			t.Fatalf("CheckURL(%q) accepted host %q user %v", raw, u.Hostname(), u.User)
		}
		if ip, err := netip.ParseAddr(u.Hostname()); err == nil {
			if _, blocked := netguard.IsBlocked(ip); blocked {
				t.Fatalf("CheckURL(%q) accepted blocked literal %s", raw, ip)
			}
		}
	})
}
