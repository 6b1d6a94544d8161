package wedmesync

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
)

// CoupleProfile is who the couple are and how to reach them
// (TypeCoupleProfile). Written by the couple only.
type CoupleProfile struct {
	// Names is how the couple are addressed, such as "Sam & Alex".
	Names string `json:"names"`
	// Email is a bare address.
	Email string `json:"email"`
	// Phone is a phone number as the couple wrote it.
	Phone string `json:"phone"`
	// Pronouns is optional.
	Pronouns string `json:"pronouns"`
}

// WeddingDetails is when and where the wedding is (TypeWeddingDetails).
// Written by the couple; Date and Venue are manual (see Schema).
type WeddingDetails struct {
	// Date is "YYYY-MM-DD".
	Date string `json:"date"`
	// Venue is the venue's name.
	Venue string `json:"venue"`
	// VenueAddress is its postal address.
	VenueAddress string `json:"venue_address"`
	// CeremonyTime is "HH:MM", local time at the venue.
	CeremonyTime string `json:"ceremony_time"`
	// Style is free text ("rustic barn", "black tie").
	Style string `json:"style"`
}

// GuestSummary is the guest numbers (TypeGuestSummary), each 0 to 2000.
type GuestSummary struct {
	// Adults is the number of adult guests.
	Adults int `json:"adults"`
	// Children is the number of children who need a seat and a meal.
	Children int `json:"children"`
	// Infants is the number of babes in arms.
	Infants int `json:"infants"`
}

// DietaryRequirements is how many guests need each diet, and the allergies
// to cater for (TypeDietary). Shared with caterers and venues, not with
// every supplier (see DefaultSharing).
type DietaryRequirements struct {
	// Vegetarian to Kosher are the numbers of guests on each diet, each 0
	// to 2000.
	Vegetarian int `json:"vegetarian"`
	Vegan      int `json:"vegan"`
	GlutenFree int `json:"gluten_free"`
	Halal      int `json:"halal"`
	Kosher     int `json:"kosher"`
	// Allergies lists at most 50 allergies ("peanuts"), each at most 200 bytes.
	Allergies []string `json:"allergies"`
	// Notes is free text for the caterer.
	Notes string `json:"notes"`
}

// TimelineItem is one moment of the day (TypeTimelineItem), written by
// the couple and by suppliers.
type TimelineItem struct {
	// At is "HH:MM".
	At string `json:"at"`
	// Title is what happens ("First dance").
	Title string `json:"title"`
	// Notes is free text for whoever runs the item.
	Notes string `json:"notes"`
	// Owner is the supplier id responsible, or "" for the couple.
	Owner string `json:"owner"`
}

// SupplierBooking is one supplier's booking for the wedding
// (TypeSupplierBooking), written by that supplier.
type SupplierBooking struct {
	// Supplier is the supplier's id; a supplier may set only its own.
	Supplier string `json:"supplier"`
	// Service is what is booked ("three-course dinner").
	Service string `json:"service"`
	// Status is "enquiry", "held", "confirmed" or "cancelled".
	Status string `json:"status"`
	// Notes is the supplier's free text for the couple.
	Notes string `json:"notes"`
}

// recordStructs maps each record type to its struct type.
var recordStructs = map[RecordType]reflect.Type{
	TypeCoupleProfile:   reflect.TypeFor[CoupleProfile](),
	TypeWeddingDetails:  reflect.TypeFor[WeddingDetails](),
	TypeGuestSummary:    reflect.TypeFor[GuestSummary](),
	TypeDietary:         reflect.TypeFor[DietaryRequirements](),
	TypeTimelineItem:    reflect.TypeFor[TimelineItem](),
	TypeSupplierBooking: reflect.TypeFor[SupplierBooking](),
}

// recordTypeOf returns the record type of a record struct type.
func recordTypeOf(rt reflect.Type) (RecordType, bool) {
	for t, st := range recordStructs {
		if st == rt {
			return t, true
		}
	}
	return "", false
}

// jsonFieldIndex returns a struct's field indexes by JSON name.
func jsonFieldIndex(st reflect.Type) map[string]int {
	idx := make(map[string]int, st.NumField())
	for i := range st.NumField() {
		name, _, _ := strings.Cut(st.Field(i).Tag.Get("json"), ",")
		idx[name] = i
	}
	return idx
}

// FieldsOf returns the record type of rec (a record struct such as
// WeddingDetails, or a non-nil pointer to one) and every field's JSON
// value, zero values included, so that a whole-record write sets every
// field explicitly. A nil slice is null, which clears the field.
func FieldsOf(rec any) (RecordType, map[string]json.RawMessage, error) {
	v := reflect.ValueOf(rec)
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return "", nil, invalid("rec", "must not be a nil pointer")
		}
		v = v.Elem()
	}
	if !v.IsValid() {
		return "", nil, invalid("rec", "must be a record struct, got nil")
	}
	t, ok := recordTypeOf(v.Type())
	if !ok {
		return "", nil, invalid("rec", "must be a record struct (CoupleProfile, WeddingDetails, ...), got %s", v.Type())
	}
	fields := make(map[string]json.RawMessage, v.NumField())
	for name, i := range jsonFieldIndex(v.Type()) {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v.Field(i).Interface()); err != nil {
			return "", nil, fmt.Errorf("wedmesync: encode %s.%s: %w", t, name, err)
		}
		fields[name] = bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	}
	return t, fields, nil
}

// DecodeRecord decodes the field values of a record of type t into into, a
// pointer to t's struct (*WeddingDetails for TypeWeddingDetails). Only the
// fields given are set, so a change's fields can be laid over a record
// held; a null value sets the field's zero value (null clears). It checks
// that each value has the field's Go type, not the schema's rules (see
// Change.Validate): a record held is read even if the rules have since
// been tightened. Every bad field is reported (errors.Join), each a
// *ValidationError naming it.
func DecodeRecord(t RecordType, fields map[string]json.RawMessage, into any) error {
	st, ok := recordStructs[t]
	if !ok {
		return invalid("t", "must be one of %s, got %q", typeList(), t)
	}
	v := reflect.ValueOf(into)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Type() != st {
		return invalid("into", "must be a non-nil *%s for %s, got %T", st.Name(), t, into)
	}
	v = v.Elem()
	idx := jsonFieldIndex(st)
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		raw := fields[name]
		field := fmt.Sprintf("fields[%q]", name)
		i, ok := idx[name]
		if !ok {
			errs = append(errs, invalid(field, "is not a field of %s", t))
			continue
		}
		f := v.Field(i)
		if len(raw) == 0 || bytes.Equal(bytes.TrimSpace(raw), jsonNull) {
			f.SetZero()
			continue
		}
		nv := reflect.New(f.Type())
		if err := json.Unmarshal(raw, nv.Interface()); err != nil {
			errs = append(errs, invalid(field, "must be a JSON %s, got %s", jsonKind(f.Type()), showValue(raw)))
			continue
		}
		f.Set(nv.Elem())
	}
	return errors.Join(errs...)
}

func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int:
		return "integer"
	case reflect.Slice:
		return "array of strings"
	default:
		return "string"
	}
}
