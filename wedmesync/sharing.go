package wedmesync

import (
	"bytes"
	"fmt"
	"maps"
	"slices"

	"github.com/wedsync/integrations/internal/validate"
)

// AllFields, in a SharePolicy's field list, shares every field of the type.
const AllFields = "*"

// SharePolicy says which fields of the couple's records each kind of
// supplier may see: supplier kind ("caterer") → record type → visible
// field names (AllFields for every field). A type not listed for a kind is
// not shared with it at all. A kind not in the policy sees its bookings
// (TypeSupplierBooking) only. The policy is what keeps a couple's data
// from suppliers that do not need it: a photographer is not sent dietary
// needs.
type SharePolicy map[string]map[RecordType][]string

// unknownKind is what a supplier kind not in the policy sees.
var unknownKind = map[RecordType][]string{TypeSupplierBooking: {AllFields}}

// DefaultSharing returns the default policy, a new map each call so that a
// host may change its copy:
//
//   - caterer: wedding details, guest summary, dietary requirements,
//     timeline, bookings;
//   - venue: the same (it feeds and seats the guests);
//   - photographer: the couple's names only from their profile, wedding
//     details, timeline, bookings (no guest numbers, no dietary needs);
//   - florist: wedding details, timeline, bookings;
//   - planner: everything, contact details included;
//   - any other kind: bookings only.
func DefaultSharing() SharePolicy {
	all := []string{AllFields}
	return SharePolicy{
		"caterer": {
			TypeWeddingDetails: all, TypeGuestSummary: all, TypeDietary: all,
			TypeTimelineItem: all, TypeSupplierBooking: all,
		},
		"venue": {
			TypeWeddingDetails: all, TypeGuestSummary: all, TypeDietary: all,
			TypeTimelineItem: all, TypeSupplierBooking: all,
		},
		"photographer": {
			TypeCoupleProfile: {"names"}, TypeWeddingDetails: all,
			TypeTimelineItem: all, TypeSupplierBooking: all,
		},
		"florist": {
			TypeWeddingDetails: all, TypeTimelineItem: all, TypeSupplierBooking: all,
		},
		"planner": {
			TypeCoupleProfile: all, TypeWeddingDetails: all, TypeGuestSummary: all,
			TypeDietary: all, TypeTimelineItem: all, TypeSupplierBooking: all,
		},
	}
}

// Filter returns a copy of c holding only the fields a supplier of kind
// may see, and whether to send it at all: false when kind may not see the
// record type, or when no field is left and c is not a delete. A delete of
// a type kind sees passes. The copy shares no memory with c.
func (p SharePolicy) Filter(kind string, c Change) (Change, bool) {
	types, ok := p[kind]
	if !ok {
		types = unknownKind
	}
	visible, ok := types[c.Type]
	if !ok {
		return Change{}, false
	}
	all := slices.Contains(visible, AllFields)
	out := c
	out.Fields = nil
	for name, fv := range c.Fields {
		if !all && !slices.Contains(visible, name) {
			continue
		}
		if out.Fields == nil {
			out.Fields = make(map[string]FieldValue, len(c.Fields))
		}
		fv.Value = bytes.Clone(fv.Value)
		out.Fields[name] = fv
	}
	if c.Deleted != nil {
		d := *c.Deleted
		out.Deleted = &d
	}
	if len(out.Fields) == 0 && out.Deleted == nil {
		return Change{}, false
	}
	return out, true
}

// Validate checks that the policy names known record types and their
// fields, and lists at least one field for each type. Every error is
// reported (errors.Join), each a *ValidationError naming the entry.
func (p SharePolicy) Validate() error {
	ck := validate.NewChecker(pkgName)
	for _, kind := range slices.Sorted(maps.Keys(p)) {
		ck.Check(kind != "", "SharePolicy[\"\"]", "the supplier kind must not be empty")
		for _, t := range slices.Sorted(maps.Keys(p[kind])) {
			entry := fmt.Sprintf("SharePolicy[%q][%q]", kind, t)
			ts, ok := schemas[t]
			if !ok {
				ck.Check(false, entry, "is not a record type (one of %s)", typeList())
				continue
			}
			fields := p[kind][t]
			ck.Check(len(fields) > 0, entry, "must list at least one field, or %q for all (leave the type out to share nothing)", AllFields)
			for _, f := range fields {
				_, known := ts.Fields[f]
				ck.Check(known || f == AllFields, entry, "%q is not a field of %s (its fields: %v)", f, t, ts.FieldNames())
			}
		}
	}
	return ck.Err()
}
