package delivery

import (
	"regexp"
	"strings"
)

var (
	eventTypeRe  = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)
	eventGlobRe  = regexp.MustCompile(`^(\*|[A-Za-z0-9_-]+)(\.(\*|[A-Za-z0-9_-]+))*$`)
	supplierIDRe = regexp.MustCompile(`^[A-Za-z0-9_.:@-]+$`)
)

const (
	maxEventTypeLen = 128
	maxSupplierLen  = 128
	maxKeyLen       = 256
	maxFilters      = 64
	maxDescription  = 1024
)

func validateEventType(field, s string) error {
	if s == "" {
		return invalid(field, "is required")
	}
	if len(s) > maxEventTypeLen {
		return invalid(field, "must be at most %d characters", maxEventTypeLen)
	}
	if !eventTypeRe.MatchString(s) {
		return invalid(field, "must be dot-separated segments of letters, digits, '_' or '-' (got %q)", s)
	}
	return nil
}

func validateSupplier(s string) error {
	if s == "" {
		return invalid("supplier_id", "is required")
	}
	if len(s) > maxSupplierLen || !supplierIDRe.MatchString(s) {
		return invalid("supplier_id", "must be 1 to %d characters of letters, digits and _.:@-", maxSupplierLen)
	}
	return nil
}

func validateFilters(fs []string) error {
	if len(fs) > maxFilters {
		return invalid("event_types", "at most %d entries", maxFilters)
	}
	for i, f := range fs {
		if len(f) > maxEventTypeLen || !eventGlobRe.MatchString(f) {
			return invalid("event_types", "entry %d (%q) must be an event type or a pattern such as \"booking.*\" or \"*\"", i, f)
		}
	}
	return nil
}

// matchEventType reports whether eventType passes filters. An empty filter
// list matches everything. In a pattern, "*" matches exactly one segment,
// except as the last segment, where it matches one or more: "booking.*"
// matches "booking.confirmed" and "booking.payment.received" but not
// "booking"; "*" matches every event.
func matchEventType(filters []string, eventType string) bool {
	if len(filters) == 0 {
		return true
	}
	for _, f := range filters {
		if matchOne(f, eventType) {
			return true
		}
	}
	return false
}

func matchOne(pattern, s string) bool {
	for {
		pseg, prest, pmore := strings.Cut(pattern, ".")
		sseg, srest, smore := strings.Cut(s, ".")
		if pseg == "*" && !pmore {
			return sseg != ""
		}
		if pseg != "*" && pseg != sseg {
			return false
		}
		if !pmore || !smore {
			return pmore == smore
		}
		pattern, s = prest, srest
	}
}
