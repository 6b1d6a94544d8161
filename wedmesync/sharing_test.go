package wedmesync

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func dietaryChange() Change {
	return Change{
		ID: "chg-d", Origin: SideWedMe, Couple: "couple-1", Supplier: "sup-9", Type: TypeDietary, Record: "main",
		Fields: map[string]FieldValue{"vegan": fieldAt(`3`), "allergies": fieldAt(`["peanuts"]`)},
	}
}

func profileChange() Change {
	return Change{
		ID: "chg-p", Origin: SideWedMe, Couple: "couple-1", Type: TypeCoupleProfile, Record: "main",
		Fields: map[string]FieldValue{"names": fieldAt(`"Sam & Alex"`), "email": fieldAt(`"sam@example.com"`), "phone": fieldAt(`"+44 7700 900123"`)},
	}
}

func TestDefaultSharingFilter(t *testing.T) {
	p := DefaultSharing()
	require.NoError(t, p.Validate())

	// A caterer sees dietary needs; a photographer and a florist do not.
	got, ok := p.Filter("caterer", dietaryChange())
	require.True(t, ok)
	require.Equal(t, dietaryChange(), got)
	for _, kind := range []string{"photographer", "florist"} {
		got, ok = p.Filter(kind, dietaryChange())
		require.False(t, ok, kind)
		require.Equal(t, Change{}, got)
	}
	_, ok = p.Filter("venue", dietaryChange())
	require.True(t, ok)

	// A photographer sees the couple's names, not how to reach them.
	got, ok = p.Filter("photographer", profileChange())
	require.True(t, ok)
	require.Equal(t, map[string]FieldValue{"names": fieldAt(`"Sam & Alex"`)}, got.Fields)
	require.Equal(t, "chg-p", got.ID)
	// Only contact details changed: nothing to send.
	c := profileChange()
	delete(c.Fields, "names")
	_, ok = p.Filter("photographer", c)
	require.False(t, ok)
	// A caterer gets no profile; a planner all of it.
	_, ok = p.Filter("caterer", profileChange())
	require.False(t, ok)
	got, ok = p.Filter("planner", profileChange())
	require.True(t, ok)
	require.Equal(t, profileChange(), got)
}

func TestFilterUnknownKind(t *testing.T) {
	p := DefaultSharing()
	for _, c := range []Change{dietaryChange(), profileChange(), guestChange()} {
		_, ok := p.Filter("magician", c)
		require.False(t, ok, c.Type)
	}
	got, ok := p.Filter("magician", bookingChange())
	require.True(t, ok)
	require.Equal(t, bookingChange(), got)
	_, ok = p.Filter("", guestChange())
	require.False(t, ok)
}

func TestFilterDeletes(t *testing.T) {
	p := DefaultSharing()
	del := Change{ID: "d", Origin: SideWedMe, Couple: "couple-1", Type: TypeDietary, Record: "main", Deleted: &tsAt}
	got, ok := p.Filter("caterer", del)
	require.True(t, ok, "a delete of a type the kind sees passes")
	require.Equal(t, del, got)
	_, ok = p.Filter("photographer", del)
	require.False(t, ok, "a delete of a type the kind cannot see does not")

	// A delete with fields the kind cannot see passes, without the fields.
	pd := profileChange()
	pd.Deleted = &tsAt
	delete(pd.Fields, "names")
	got, ok = p.Filter("photographer", pd)
	require.True(t, ok)
	require.Empty(t, got.Fields)
	require.Equal(t, tsAt, *got.Deleted)
}

func TestFilterCopies(t *testing.T) {
	p := DefaultSharing()
	in := dietaryChange()
	in.Deleted = &Timestamp{Wall: 1, Node: "n"}
	out, ok := p.Filter("caterer", in)
	require.True(t, ok)
	out.Fields["vegan"].Value[0] = '9'
	out.Fields["halal"] = fieldAt(`1`)
	out.Deleted.Wall = 99
	require.Equal(t, json.RawMessage(`3`), in.Fields["vegan"].Value)
	require.NotContains(t, in.Fields, "halal")
	require.Equal(t, int64(1), in.Deleted.Wall)
}

func TestDefaultSharingIsFresh(t *testing.T) {
	p := DefaultSharing()
	delete(p["caterer"], TypeDietary)
	_, ok := DefaultSharing().Filter("caterer", dietaryChange())
	require.True(t, ok)
}

func TestSharePolicyValidate(t *testing.T) {
	p := SharePolicy{
		"caterer": {TypeDietary: {"vegan", "pets"}, "menu": {"*"}, TypeGuestSummary: {}},
		"":        {TypeSupplierBooking: {"*"}},
	}
	err := p.Validate()
	require.ErrorIs(t, err, ErrInvalid)
	var fields []string
	for _, ve := range flattenValidation(t, err) {
		fields = append(fields, ve.Field)
	}
	require.Equal(t, []string{
		`SharePolicy[""]`,
		`SharePolicy["caterer"]["dietary_requirements"]`,
		`SharePolicy["caterer"]["guest_summary"]`,
		`SharePolicy["caterer"]["menu"]`,
	}, fields)
	require.ErrorContains(t, err, `"pets" is not a field of dietary_requirements`)
}
