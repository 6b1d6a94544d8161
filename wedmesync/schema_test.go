package wedmesync

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var tsAt = Timestamp{Wall: 1_780_000_000_000, Logical: 1, Node: "wedme-1"}

func fieldAt(v string) FieldValue { return FieldValue{Value: json.RawMessage(v), At: tsAt} }

// guestChange is a valid change from the couple's side.
func guestChange() Change {
	return Change{
		ID: "chg-1", Origin: SideWedMe, Couple: "couple-1", Type: TypeGuestSummary, Record: "main",
		Fields: map[string]FieldValue{"adults": fieldAt(`80`), "children": fieldAt(`6`)},
	}
}

// bookingChange is a valid change from a supplier.
func bookingChange() Change {
	return Change{
		ID: "chg-2", Origin: SideSupplier, Couple: "couple-1", Supplier: "sup-9", SupplierKind: "caterer",
		Type: TypeSupplierBooking, Record: "sup-9",
		Fields: map[string]FieldValue{"supplier": fieldAt(`"sup-9"`), "status": fieldAt(`"confirmed"`), "service": fieldAt(`"dinner"`)},
	}
}

// validationErrors flattens a joined error into its *ValidationErrors.
func flattenValidation(t *testing.T, err error) []*ValidationError {
	t.Helper()
	var out []*ValidationError
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		var ve *ValidationError
		require.True(t, errors.As(e, &ve), "not a *ValidationError: %v", e)
		out = append(out, ve)
	}
	walk(err)
	return out
}

func TestValidate(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		name  string
		base  func() Change
		from  Side
		edit  func(c *Change)
		field string // "" when valid
		rule  string // a part of the rule
	}{
		{name: "couple guests", base: guestChange, from: SideWedMe},
		{name: "supplier booking", base: bookingChange, from: SideSupplier},
		{name: "supplier timeline item", base: bookingChange, from: SideSupplier, edit: func(c *Change) {
			c.Type, c.Record = TypeTimelineItem, "t1"
			c.Fields = map[string]FieldValue{"at": fieldAt(`"14:30"`), "title": fieldAt(`"Canapés"`), "owner": fieldAt(`"sup-9"`)}
		}},
		{name: "supplier deletes timeline item", base: bookingChange, from: SideSupplier, edit: func(c *Change) {
			c.Type, c.Fields, c.Deleted = TypeTimelineItem, nil, &tsAt
		}},
		{name: "null clears", base: guestChange, from: SideWedMe, edit: func(c *Change) { c.Fields["adults"] = fieldAt(`null`) }},
		{name: "empty date is unset", base: guestChange, from: SideWedMe, edit: func(c *Change) {
			c.Type, c.Fields = TypeWeddingDetails, map[string]FieldValue{"date": fieldAt(`""`), "ceremony_time": fieldAt(`""`)}
		}},
		{name: "whole profile", base: guestChange, from: SideWedMe, edit: func(c *Change) {
			c.Type, c.Fields = TypeCoupleProfile, map[string]FieldValue{
				"names": fieldAt(`"Sam & Alex"`), "email": fieldAt(`"sam@example.com"`), "phone": fieldAt(`"+44 (0)7700 900123"`), "pronouns": fieldAt(`"they/them"`),
			}
		}},
		{name: "dietary", base: guestChange, from: SideWedMe, edit: func(c *Change) {
			c.Type, c.Fields = TypeDietary, map[string]FieldValue{"vegan": fieldAt(`3`), "allergies": fieldAt(`["peanuts","sesame"]`), "notes": fieldAt(`"no \ud83e\udd5c"`)}
		}},

		{name: "bad from", base: guestChange, from: "x", field: "from", rule: `must be "wedme" or "supplier"`},
		{name: "empty id", base: guestChange, from: SideWedMe, edit: func(c *Change) { c.ID = "" }, field: "Change.ID", rule: "1 to 256 printable ASCII"},
		{name: "long id", base: guestChange, from: SideWedMe, edit: func(c *Change) { c.ID = long(MaxIDBytes + 1) }, field: "Change.ID"},
		{name: "id with space", base: guestChange, from: SideWedMe, edit: func(c *Change) { c.ID = "a b" }, field: "Change.ID"},
		{name: "id not ASCII", base: guestChange, from: SideWedMe, edit: func(c *Change) { c.ID = "é" }, field: "Change.ID"},
		{name: "bad origin", base: guestChange, from: SideWedMe, edit: func(c *Change) { c.Origin = "mars" }, field: "Change.Origin", rule: `got "mars"`},
		{name: "origin not from", base: guestChange, from: SideSupplier, edit: func(c *Change) { c.Supplier = "s" }, field: "Change.Origin", rule: "the side the change came from"},
		{name: "no couple", base: guestChange, from: SideWedMe, edit: func(c *Change) { c.Couple = "" }, field: "Change.Couple", rule: "1 to 200 bytes"},
		{name: "long couple", base: guestChange, from: SideWedMe, edit: func(c *Change) { c.Couple = long(201) }, field: "Change.Couple"},
		{name: "couple control", base: guestChange, from: SideWedMe, edit: func(c *Change) { c.Couple = "a\nb" }, field: "Change.Couple", rule: "control"},
		{name: "supplier required", base: bookingChange, from: SideSupplier, edit: func(c *Change) { c.Supplier = "" }, field: "Change.Supplier", rule: "1 to 200"},
		{name: "long supplier", base: guestChange, from: SideWedMe, edit: func(c *Change) { c.Supplier = long(201) }, field: "Change.Supplier", rule: "at most 200"},
		{name: "long kind", base: guestChange, from: SideWedMe, edit: func(c *Change) { c.SupplierKind = long(65) }, field: "Change.SupplierKind"},
		{name: "unknown type", base: guestChange, from: SideWedMe, edit: func(c *Change) { c.Type = "menu" }, field: "Change.Type", rule: "guest_summary"},
		{name: "no record", base: guestChange, from: SideWedMe, edit: func(c *Change) { c.Record = "" }, field: "Change.Record"},
		{name: "long record", base: guestChange, from: SideWedMe, edit: func(c *Change) { c.Record = long(201) }, field: "Change.Record"},
		{name: "nothing", base: guestChange, from: SideWedMe, edit: func(c *Change) { c.Fields = nil }, field: "Change.Fields", rule: "at least one field"},
		{name: "too many fields", base: guestChange, from: SideWedMe, edit: func(c *Change) {
			for _, n := range []string{"a", "b", "c"} {
				c.Fields[n] = fieldAt(`1`)
			}
		}, field: "Change.Fields", rule: "at most 3 fields"},
		{name: "unknown field", base: guestChange, from: SideWedMe, edit: func(c *Change) { c.Fields["pets"] = fieldAt(`1`) }, field: `Change.Fields["pets"]`, rule: "adults, children, infants"},
		{name: "int not int", base: guestChange, from: SideWedMe, edit: func(c *Change) { c.Fields["adults"] = fieldAt(`"x"`) }, field: `Change.Fields["adults"]`, rule: `must be an integer 0 to 2000, got "x"`},
		{name: "int too big", base: guestChange, from: SideWedMe, edit: func(c *Change) { c.Fields["adults"] = fieldAt(`2001`) }, field: `Change.Fields["adults"]`},
		{name: "int negative", base: guestChange, from: SideWedMe, edit: func(c *Change) { c.Fields["adults"] = fieldAt(`-1`) }, field: `Change.Fields["adults"]`},
		{name: "int fraction", base: guestChange, from: SideWedMe, edit: func(c *Change) { c.Fields["adults"] = fieldAt(`1.5`) }, field: `Change.Fields["adults"]`},
		{name: "int exponent", base: guestChange, from: SideWedMe, edit: func(c *Change) { c.Fields["adults"] = fieldAt(`1e3`) }, field: `Change.Fields["adults"]`},
		{name: "no value", base: guestChange, from: SideWedMe, edit: func(c *Change) { c.Fields["adults"] = FieldValue{At: tsAt} }, field: `Change.Fields["adults"]`, rule: "must have a value"},
		{name: "zero at", base: guestChange, from: SideWedMe, edit: func(c *Change) { c.Fields["adults"] = FieldValue{Value: json.RawMessage(`1`)} }, field: `Change.Fields["adults"].At`, rule: "must be set"},
		{name: "bad node", base: guestChange, from: SideWedMe, edit: func(c *Change) {
			c.Fields["adults"] = FieldValue{Value: json.RawMessage(`1`), At: Timestamp{Wall: 1, Node: "a b"}}
		}, field: `Change.Fields["adults"].At`, rule: "node"},
		{name: "couple writes supplier field", base: guestChange, from: SideWedMe, edit: func(c *Change) {
			c.Type, c.Fields = TypeSupplierBooking, map[string]FieldValue{"status": fieldAt(`"cancelled"`)}
		}, field: `Change.Fields["status"]`, rule: "wedme may not write it (only supplier)"},
		{name: "supplier writes guests", base: bookingChange, from: SideSupplier, edit: func(c *Change) {
			c.Type, c.Fields = TypeGuestSummary, map[string]FieldValue{"adults": fieldAt(`1`)}
		}, field: `Change.Fields["adults"]`, rule: "supplier may not write it"},
		{name: "supplier writes wedding date", base: bookingChange, from: SideSupplier, edit: func(c *Change) {
			c.Type, c.Fields = TypeWeddingDetails, map[string]FieldValue{"date": fieldAt(`"2027-06-12"`)}
		}, field: `Change.Fields["date"]`, rule: "supplier may not write it"},
		{name: "couple deletes booking", base: guestChange, from: SideWedMe, edit: func(c *Change) {
			c.Type, c.Fields, c.Deleted = TypeSupplierBooking, nil, &tsAt
		}, field: "Change.Deleted", rule: "wedme may not delete a supplier_booking"},
		{name: "supplier deletes guests", base: bookingChange, from: SideSupplier, edit: func(c *Change) {
			c.Type, c.Fields, c.Deleted = TypeGuestSummary, nil, &tsAt
		}, field: "Change.Deleted"},
		{name: "zero deleted", base: guestChange, from: SideWedMe, edit: func(c *Change) { c.Deleted = &Timestamp{} }, field: "Change.Deleted", rule: "must be set"},
		{name: "other supplier's booking", base: bookingChange, from: SideSupplier, edit: func(c *Change) { c.Fields["supplier"] = fieldAt(`"sup-1"`) }, field: `Change.Fields["supplier"]`, rule: `must be the sending supplier "sup-9"`},
		{name: "bad date", base: guestChange, from: SideWedMe, edit: func(c *Change) {
			c.Type, c.Fields = TypeWeddingDetails, map[string]FieldValue{"date": fieldAt(`"2027-02-30"`)}
		}, field: `Change.Fields["date"]`, rule: "real date"},
		{name: "short date", base: guestChange, from: SideWedMe, edit: func(c *Change) {
			c.Type, c.Fields = TypeWeddingDetails, map[string]FieldValue{"date": fieldAt(`"2027-6-1"`)}
		}, field: `Change.Fields["date"]`},
		{name: "date not string", base: guestChange, from: SideWedMe, edit: func(c *Change) {
			c.Type, c.Fields = TypeWeddingDetails, map[string]FieldValue{"date": fieldAt(`20270601`)}
		}, field: `Change.Fields["date"]`, rule: "JSON string"},
		{name: "one-digit hour", base: guestChange, from: SideWedMe, edit: func(c *Change) {
			c.Type, c.Fields = TypeWeddingDetails, map[string]FieldValue{"ceremony_time": fieldAt(`"9:30"`)}
		}, field: `Change.Fields["ceremony_time"]`, rule: "HH:MM"},
		{name: "hour 24", base: guestChange, from: SideWedMe, edit: func(c *Change) {
			c.Type, c.Fields = TypeWeddingDetails, map[string]FieldValue{"ceremony_time": fieldAt(`"24:00"`)}
		}, field: `Change.Fields["ceremony_time"]`},
		{name: "long text", base: guestChange, from: SideWedMe, edit: func(c *Change) {
			c.Type, c.Fields = TypeWeddingDetails, map[string]FieldValue{"venue": fieldAt(`"` + long(201) + `"`)}
		}, field: `Change.Fields["venue"]`, rule: "0 to 200 bytes, got 201"},
		{name: "NUL", base: guestChange, from: SideWedMe, edit: func(c *Change) {
			c.Type, c.Fields = TypeWeddingDetails, map[string]FieldValue{"venue": fieldAt(`"a\u0000b"`)}
		}, field: `Change.Fields["venue"]`, rule: "NUL"},
		{name: "invalid UTF-8", base: guestChange, from: SideWedMe, edit: func(c *Change) {
			c.Type, c.Fields = TypeWeddingDetails, map[string]FieldValue{"venue": fieldAt("\"a\xffb\"")}
		}, field: `Change.Fields["venue"]`, rule: "JSON string"},
		{name: "lone surrogate", base: guestChange, from: SideWedMe, edit: func(c *Change) {
			c.Type, c.Fields = TypeWeddingDetails, map[string]FieldValue{"venue": fieldAt(`"a\ud800b"`)}
		}, field: `Change.Fields["venue"]`},
		{name: "too many allergies", base: guestChange, from: SideWedMe, edit: func(c *Change) {
			c.Type, c.Fields = TypeDietary, map[string]FieldValue{"allergies": fieldAt(`[` + strings.Repeat(`"x",`, 50) + `"y"]`)}
		}, field: `Change.Fields["allergies"]`, rule: "at most 50 items, got 51"},
		{name: "long allergy", base: guestChange, from: SideWedMe, edit: func(c *Change) {
			c.Type, c.Fields = TypeDietary, map[string]FieldValue{"allergies": fieldAt(`["` + long(201) + `"]`)}
		}, field: `Change.Fields["allergies"]`, rule: "item 0"},
		{name: "allergy not text", base: guestChange, from: SideWedMe, edit: func(c *Change) {
			c.Type, c.Fields = TypeDietary, map[string]FieldValue{"allergies": fieldAt(`["a", 1]`)}
		}, field: `Change.Fields["allergies"]`, rule: "item 1 must be text"},
		{name: "allergies not list", base: guestChange, from: SideWedMe, edit: func(c *Change) {
			c.Type, c.Fields = TypeDietary, map[string]FieldValue{"allergies": fieldAt(`"nuts"`)}
		}, field: `Change.Fields["allergies"]`, rule: "list of text"},
		{name: "bad status", base: bookingChange, from: SideSupplier, edit: func(c *Change) { c.Fields["status"] = fieldAt(`"maybe"`) }, field: `Change.Fields["status"]`, rule: "enquiry, held, confirmed, cancelled"},
		{name: "bad email", base: guestChange, from: SideWedMe, edit: func(c *Change) {
			c.Type, c.Fields = TypeCoupleProfile, map[string]FieldValue{"email": fieldAt(`"not an email"`)}
		}, field: `Change.Fields["email"]`, rule: "email"},
		{name: "email with name", base: guestChange, from: SideWedMe, edit: func(c *Change) {
			c.Type, c.Fields = TypeCoupleProfile, map[string]FieldValue{"email": fieldAt(`"Sam <sam@example.com>"`)}
		}, field: `Change.Fields["email"]`},
		{name: "bad phone", base: guestChange, from: SideWedMe, edit: func(c *Change) {
			c.Type, c.Fields = TypeCoupleProfile, map[string]FieldValue{"phone": fieldAt(`"call me"`)}
		}, field: `Change.Fields["phone"]`, rule: "7 to 15 digits"},
		{name: "short phone", base: guestChange, from: SideWedMe, edit: func(c *Change) {
			c.Type, c.Fields = TypeCoupleProfile, map[string]FieldValue{"phone": fieldAt(`"+44 12"`)}
		}, field: `Change.Fields["phone"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.base()
			if tt.edit != nil {
				tt.edit(&c)
			}
			err := c.Validate(tt.from)
			if tt.field == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrInvalid)
			var found bool
			for _, ve := range flattenValidation(t, err) {
				require.Equal(t, "wedmesync", ve.Package)
				if ve.Field == tt.field && strings.Contains(ve.Rule, tt.rule) {
					found = true
				}
			}
			require.True(t, found, "no error for %s with rule %q in:\n%v", tt.field, tt.rule, err)
		})
	}
}

func TestValidateMessage(t *testing.T) {
	c := guestChange()
	c.Fields["adults"] = fieldAt(`"x"`)
	require.EqualError(t, c.Validate(SideWedMe), `wedmesync: Change.Fields["adults"]: must be an integer 0 to 2000, got "x"`)
}

func TestValidateCollectsEveryError(t *testing.T) {
	c := guestChange()
	c.ID = ""
	c.Couple = ""
	c.Fields["adults"] = fieldAt(`"x"`)
	c.Fields["pets"] = fieldAt(`1`)
	var fields []string
	for _, ve := range flattenValidation(t, c.Validate(SideWedMe)) {
		fields = append(fields, ve.Field)
	}
	require.Equal(t, []string{"Change.ID", "Change.Couple", `Change.Fields["adults"]`, `Change.Fields["pets"]`}, fields)
}

func TestSchema(t *testing.T) {
	require.Equal(t, []RecordType{TypeCoupleProfile, TypeDietary, TypeGuestSummary, TypeSupplierBooking, TypeTimelineItem, TypeWeddingDetails}, Types())
	for _, rt := range Types() {
		ts, ok := Schema(rt)
		require.True(t, ok)
		require.Equal(t, rt, ts.Type)
		require.NotEmpty(t, ts.Writers, rt)
		for name, f := range ts.Fields {
			require.Equal(t, name, f.Name)
			require.NotEmpty(t, f.Writers, "%s.%s", rt, name)
			switch f.Kind {
			case KindText, KindEmail, KindPhone, KindTextList, KindInt:
				require.Positive(t, f.Max, "%s.%s", rt, name)
			case KindEnum:
				require.NotEmpty(t, f.Enum, "%s.%s", rt, name)
			}
		}
	}
	_, ok := Schema("menu")
	require.False(t, ok)

	// Manual fields are few: the wedding's date and venue.
	var manual []string
	for _, rt := range Types() {
		ts, _ := Schema(rt)
		for _, n := range ts.FieldNames() {
			if ts.Fields[n].Manual {
				manual = append(manual, string(rt)+"."+n)
			}
		}
	}
	require.Equal(t, []string{"wedding_details.date", "wedding_details.venue"}, manual)

	// Writers: the couple own their details; suppliers their bookings; both
	// the timeline.
	wd, _ := Schema(TypeWeddingDetails)
	require.True(t, wd.Fields["date"].CanWrite(SideWedMe))
	require.False(t, wd.Fields["date"].CanWrite(SideSupplier))
	sb, _ := Schema(TypeSupplierBooking)
	require.True(t, sb.CanDelete(SideSupplier))
	require.False(t, sb.CanDelete(SideWedMe))
	require.False(t, sb.Fields["status"].CanWrite(SideWedMe))
	ti, _ := Schema(TypeTimelineItem)
	require.True(t, ti.Fields["owner"].CanWrite(SideSupplier))
	require.True(t, ti.Fields["owner"].CanWrite(SideWedMe))

	// Schema hands out a copy.
	sb.Fields["status"].Enum[0] = "changed"
	delete(sb.Fields, "notes")
	again, _ := Schema(TypeSupplierBooking)
	require.Equal(t, "enquiry", again.Fields["status"].Enum[0])
	require.Contains(t, again.Fields, "notes")
}

func TestLoneSurrogate(t *testing.T) {
	for raw, want := range map[string]bool{
		`"a"`:              false,
		`"\ud83e\udd5c"`:   false,
		`"\uD83E\uDD5C"`:   false,
		`"\ud800"`:         true,
		`"\udc00"`:         true,
		`"\ud800\u0041"`:   true,
		`"\\ud800"`:        false, // an escaped backslash, then text
		`"\\\ud800"`:       true,
		`"\u00e9\n\"\/x"`:  false,
		`"\ud83e\udd5c\u"`: false, // not a valid escape; the decoder refuses it
	} {
		require.Equal(t, want, loneSurrogate([]byte(raw)), raw)
	}
}
