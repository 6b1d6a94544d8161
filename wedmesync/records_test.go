package wedmesync

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFieldsOfDecodeRecordRoundTrip(t *testing.T) {
	for _, rec := range []any{
		CoupleProfile{Names: "Sam & Alex", Email: "sam@example.com", Phone: "+44 7700 900123", Pronouns: "they/them"},
		WeddingDetails{Date: "2027-06-12", Venue: "Old Barn <north>", VenueAddress: "1 Lane", CeremonyTime: "14:00", Style: "rustic"},
		GuestSummary{Adults: 80, Children: 6, Infants: 1},
		DietaryRequirements{Vegetarian: 10, Vegan: 3, GlutenFree: 2, Halal: 4, Kosher: 1, Allergies: []string{"peanuts", "sesame"}, Notes: "nut-free kitchen"},
		TimelineItem{At: "15:30", Title: "Speeches", Owner: "sup-9"},
		SupplierBooking{Supplier: "sup-9", Service: "dinner", Status: "confirmed"},
		GuestSummary{}, // zero values are written too
	} {
		typ, fields, err := FieldsOf(rec)
		require.NoError(t, err)
		ts, ok := Schema(typ)
		require.True(t, ok)
		require.ElementsMatch(t, ts.FieldNames(), sortedKeysOf(fields), "every schema field, and only those, for %T", rec)

		// The fields make a valid change from a side that may write them all.
		from := SideWedMe
		if typ == TypeSupplierBooking {
			from = SideSupplier
		}
		c := Change{ID: "c1", Origin: from, Couple: "couple-1", Supplier: "sup-9", Type: typ, Record: "r1", Fields: map[string]FieldValue{}}
		for n, v := range fields {
			c.Fields[n] = FieldValue{Value: v, At: tsAt}
		}
		require.NoError(t, c.Validate(from), "%T", rec)

		// And decode back to the record, through a pointer of its type too.
		got := newRecordFor(t, typ)
		require.NoError(t, DecodeRecord(typ, fields, got))
		require.Equal(t, rec, derefRecord(got))
		typ2, fields2, err := FieldsOf(got)
		require.NoError(t, err)
		require.Equal(t, typ, typ2)
		require.Equal(t, fields, fields2)
	}
}

func TestFieldsOfZeroAndHTML(t *testing.T) {
	typ, fields, err := FieldsOf(&WeddingDetails{Venue: "A & B <hall>"})
	require.NoError(t, err)
	require.Equal(t, TypeWeddingDetails, typ)
	require.JSONEq(t, `""`, string(fields["date"]))
	require.Equal(t, `"A & B <hall>"`, string(fields["venue"]), "not HTML-escaped")
	_, fields, err = FieldsOf(DietaryRequirements{})
	require.NoError(t, err)
	require.Equal(t, "null", string(fields["allergies"]))
	require.Equal(t, "0", string(fields["vegan"]))
}

func TestFieldsOfRefuses(t *testing.T) {
	for _, rec := range []any{nil, (*GuestSummary)(nil), struct{ A int }{}, 3, &struct{}{}} {
		_, _, err := FieldsOf(rec)
		require.ErrorIs(t, err, ErrInvalid, "%T", rec)
	}
}

func TestDecodeRecordOverlaysAndClears(t *testing.T) {
	d := DietaryRequirements{Vegan: 3, Allergies: []string{"peanuts"}, Notes: "keep"}
	require.NoError(t, DecodeRecord(TypeDietary, map[string]json.RawMessage{
		"vegan":     json.RawMessage(`5`),
		"allergies": json.RawMessage(`null`),
		"halal":     json.RawMessage(`2`),
	}, &d))
	require.Equal(t, DietaryRequirements{Vegan: 5, Halal: 2, Notes: "keep"}, d)

	// A list replaces, never merges.
	d.Allergies = []string{"a", "b", "c"}
	require.NoError(t, DecodeRecord(TypeDietary, map[string]json.RawMessage{"allergies": json.RawMessage(`["x"]`)}, &d))
	require.Equal(t, []string{"x"}, d.Allergies)
}

func TestDecodeRecordRefuses(t *testing.T) {
	var g GuestSummary
	err := DecodeRecord(TypeGuestSummary, map[string]json.RawMessage{
		"adults": json.RawMessage(`"many"`),
		"pets":   json.RawMessage(`1`),
		"babies": json.RawMessage(`1`),
	}, &g)
	require.ErrorIs(t, err, ErrInvalid)
	var fields []string
	for _, ve := range flattenValidation(t, err) {
		fields = append(fields, ve.Field)
	}
	require.Equal(t, []string{`fields["adults"]`, `fields["babies"]`, `fields["pets"]`}, fields)
	require.ErrorContains(t, err, `must be a JSON integer, got "many"`)

	require.ErrorIs(t, DecodeRecord("menu", nil, &g), ErrInvalid)
	require.ErrorIs(t, DecodeRecord(TypeDietary, nil, &g), ErrInvalid, "wrong struct")
	require.ErrorIs(t, DecodeRecord(TypeGuestSummary, nil, g), ErrInvalid, "not a pointer")
	require.ErrorIs(t, DecodeRecord(TypeGuestSummary, nil, (*GuestSummary)(nil)), ErrInvalid)
}

func newRecordFor(t *testing.T, typ RecordType) any {
	t.Helper()
	st, ok := recordStructs[typ]
	require.True(t, ok)
	switch typ {
	case TypeCoupleProfile:
		return new(CoupleProfile)
	case TypeWeddingDetails:
		return new(WeddingDetails)
	case TypeGuestSummary:
		return new(GuestSummary)
	case TypeDietary:
		return new(DietaryRequirements)
	case TypeTimelineItem:
		return new(TimelineItem)
	case TypeSupplierBooking:
		return new(SupplierBooking)
	}
	t.Fatalf("no struct for %s (%s)", typ, st)
	return nil
}

func derefRecord(p any) any {
	switch v := p.(type) {
	case *CoupleProfile:
		return *v
	case *WeddingDetails:
		return *v
	case *GuestSummary:
		return *v
	case *DietaryRequirements:
		return *v
	case *TimelineItem:
		return *v
	case *SupplierBooking:
		return *v
	}
	return nil
}

func sortedKeysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
