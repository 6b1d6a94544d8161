package netguard

import "net/netip"

// DeniedRule is one entry of the deny list, exported for the tests in
// package netguard_test.
type DeniedRule struct {
	Prefix netip.Prefix
	Reason string
}

// DeniedRules returns the deny list in match order.
func DeniedRules() []DeniedRule {
	out := make([]DeniedRule, len(deniedRanges))
	for i, rl := range deniedRanges {
		out[i] = DeniedRule{Prefix: rl.prefix, Reason: rl.reason}
	}
	return out
}
