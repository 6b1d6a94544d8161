package wedmesync

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/wedsync/integrations/internal/validate"
)

// FieldKind is the kind of value a field holds, which decides the rules its
// JSON value must meet (see Change.Validate). Every kind accepts JSON null,
// which clears the field, and every string kind accepts "", the zero value
// that a whole-record write (FieldsOf) carries for a field not set.
type FieldKind string

// The field kinds.
const (
	// KindText is a JSON string: valid UTF-8 without NUL, Min to Max bytes.
	KindText FieldKind = "text"
	// KindInt is a JSON integer (no fraction or exponent) from Min to Max.
	KindInt FieldKind = "int"
	// KindDate is a real calendar date as "2006-01-02".
	KindDate FieldKind = "date"
	// KindTime is a time of day as "15:04" (24-hour, two-digit hour).
	KindTime FieldKind = "time"
	// KindTextList is a JSON array of at most Max strings, each valid UTF-8
	// without NUL and at most MaxListItemBytes bytes.
	KindTextList FieldKind = "text_list"
	// KindEnum is one of the strings in Enum.
	KindEnum FieldKind = "enum"
	// KindEmail is a bare address ("sam@example.com", no display name) of
	// at most Max bytes.
	KindEmail FieldKind = "email"
	// KindPhone is a phone number as people write it: an optional leading
	// "+", then digits, spaces and "()-.", with 7 to 15 digits; at most Max
	// bytes.
	KindPhone FieldKind = "phone"
)

// MaxListItemBytes is the most bytes one item of a KindTextList may hold.
const MaxListItemBytes = 200

// Limits of a change's identifiers (see Change.Validate).
const (
	// MaxIDBytes is the most bytes a Change.ID may hold: room for a
	// WedMe change's id, "~" and the longest supplier id (MaxRefBytes),
	// which is the id of its copy for one supplier.
	MaxIDBytes = 256
	// MaxRefBytes is the most bytes Change.Couple, Change.Supplier and
	// Change.Record may hold.
	MaxRefBytes = 200
	// MaxKindBytes is the most bytes Change.SupplierKind may hold.
	MaxKindBytes = 64
)

// FieldSpec is the rule for one field of a record type.
type FieldSpec struct {
	// Name is the field's JSON name, the key in Change.Fields.
	Name string
	// Kind is the kind of value it holds.
	Kind FieldKind
	// Min is the least value of a KindInt, or the fewest bytes of a
	// non-empty KindText.
	Min int
	// Max is the most bytes of a KindText, KindEmail or KindPhone, the most
	// items of a KindTextList, or the largest value of a KindInt.
	Max int
	// Enum lists the values of a KindEnum.
	Enum []string
	// Writers are the sides that may write the field.
	Writers []Side
	// Manual marks a field whose incoming write (from the other side) must
	// not silently overwrite the value the receiving side holds: the engine
	// records a conflict for a person to resolve instead. Manual fields are
	// few (the wedding's date and venue), and the schema says why for each.
	Manual bool
}

// CanWrite reports whether side s may write the field.
func (f FieldSpec) CanWrite(s Side) bool { return slices.Contains(f.Writers, s) }

// TypeSpec is the schema of one record type.
type TypeSpec struct {
	// Type is the record type.
	Type RecordType
	// Fields are its fields by JSON name.
	Fields map[string]FieldSpec
	// Writers are the sides that may create and delete records of the type
	// (a field write still needs the field's own Writers).
	Writers []Side
}

// CanDelete reports whether side s may create or delete records of the type.
func (t *TypeSpec) CanDelete(s Side) bool { return slices.Contains(t.Writers, s) }

// FieldNames returns the type's field names, sorted.
func (t *TypeSpec) FieldNames() []string { return slices.Sorted(maps.Keys(t.Fields)) }

var (
	writersCouple   = []Side{SideWedMe}
	writersSupplier = []Side{SideSupplier}
	writersBoth     = []Side{SideWedMe, SideSupplier}
)

// bookingStatuses are the values of SupplierBooking.Status, in the order a
// booking usually moves through them.
var bookingStatuses = []string{"enquiry", "held", "confirmed", "cancelled"}

// maxPeople bounds a count of guests: no wedding has more, and a typo that
// adds digits is refused rather than ordering 20,000 meals.
const maxPeople = 2000

// schemas is the schema of every record type. The couple (SideWedMe) owns
// their profile, details, guest numbers and dietary needs; suppliers own
// their bookings; both build the timeline.
var schemas = map[RecordType]*TypeSpec{
	TypeCoupleProfile: newTypeSpec(TypeCoupleProfile, writersCouple,
		FieldSpec{Name: "names", Kind: KindText, Max: 200, Writers: writersCouple},
		FieldSpec{Name: "email", Kind: KindEmail, Max: 254, Writers: writersCouple},
		FieldSpec{Name: "phone", Kind: KindPhone, Max: 32, Writers: writersCouple},
		FieldSpec{Name: "pronouns", Kind: KindText, Max: 64, Writers: writersCouple},
	),
	TypeWeddingDetails: newTypeSpec(TypeWeddingDetails, writersCouple,
		// Date and venue are manual. The couple write them; when a new date
		// or venue reaches a supplier it does not silently replace what the
		// supplier booked against: the supplier may not be free that day or
		// able to serve there, so a person on that side accepts it (the
		// engine records a conflict). Every other field is last-writer-wins.
		FieldSpec{Name: "date", Kind: KindDate, Writers: writersCouple, Manual: true},
		FieldSpec{Name: "venue", Kind: KindText, Max: 200, Writers: writersCouple, Manual: true},
		FieldSpec{Name: "venue_address", Kind: KindText, Max: 500, Writers: writersCouple},
		FieldSpec{Name: "ceremony_time", Kind: KindTime, Writers: writersCouple},
		FieldSpec{Name: "style", Kind: KindText, Max: 200, Writers: writersCouple},
	),
	TypeGuestSummary: newTypeSpec(TypeGuestSummary, writersCouple,
		FieldSpec{Name: "adults", Kind: KindInt, Max: maxPeople, Writers: writersCouple},
		FieldSpec{Name: "children", Kind: KindInt, Max: maxPeople, Writers: writersCouple},
		FieldSpec{Name: "infants", Kind: KindInt, Max: maxPeople, Writers: writersCouple},
	),
	TypeDietary: newTypeSpec(TypeDietary, writersCouple,
		FieldSpec{Name: "vegetarian", Kind: KindInt, Max: maxPeople, Writers: writersCouple},
		FieldSpec{Name: "vegan", Kind: KindInt, Max: maxPeople, Writers: writersCouple},
		FieldSpec{Name: "gluten_free", Kind: KindInt, Max: maxPeople, Writers: writersCouple},
		FieldSpec{Name: "halal", Kind: KindInt, Max: maxPeople, Writers: writersCouple},
		FieldSpec{Name: "kosher", Kind: KindInt, Max: maxPeople, Writers: writersCouple},
		FieldSpec{Name: "allergies", Kind: KindTextList, Max: 50, Writers: writersCouple},
		FieldSpec{Name: "notes", Kind: KindText, Max: 2000, Writers: writersCouple},
	),
	TypeTimelineItem: newTypeSpec(TypeTimelineItem, writersBoth,
		FieldSpec{Name: "at", Kind: KindTime, Writers: writersBoth},
		FieldSpec{Name: "title", Kind: KindText, Max: 200, Writers: writersBoth},
		FieldSpec{Name: "notes", Kind: KindText, Max: 2000, Writers: writersBoth},
		FieldSpec{Name: "owner", Kind: KindText, Max: MaxRefBytes, Writers: writersBoth},
	),
	TypeSupplierBooking: newTypeSpec(TypeSupplierBooking, writersSupplier,
		FieldSpec{Name: "supplier", Kind: KindText, Max: MaxRefBytes, Writers: writersSupplier},
		FieldSpec{Name: "service", Kind: KindText, Max: 200, Writers: writersSupplier},
		FieldSpec{Name: "status", Kind: KindEnum, Enum: bookingStatuses, Writers: writersSupplier},
		FieldSpec{Name: "notes", Kind: KindText, Max: 2000, Writers: writersSupplier},
	),
}

func newTypeSpec(t RecordType, writers []Side, fields ...FieldSpec) *TypeSpec {
	ts := &TypeSpec{Type: t, Fields: make(map[string]FieldSpec, len(fields)), Writers: writers}
	for _, f := range fields {
		ts.Fields[f.Name] = f
	}
	return ts
}

// Schema returns the schema of record type t, and false for an unknown type.
// The result is a copy: changing it changes nothing here.
func Schema(t RecordType) (*TypeSpec, bool) {
	ts, ok := schemas[t]
	if !ok {
		return nil, false
	}
	cp := &TypeSpec{Type: ts.Type, Fields: make(map[string]FieldSpec, len(ts.Fields)), Writers: slices.Clone(ts.Writers)}
	for n, f := range ts.Fields {
		f.Enum = slices.Clone(f.Enum)
		f.Writers = slices.Clone(f.Writers)
		cp.Fields[n] = f
	}
	return cp, true
}

// Types returns every record type, sorted.
func Types() []RecordType { return slices.Sorted(maps.Keys(schemas)) }

// Validate checks the change's rules as it arrives from side from (the side
// whose log or transport it came out of): well-formed identifiers, a known
// type and known fields, every value of its field's kind, and every write
// and delete allowed to that side. It does not check authorisation (that
// the supplier is linked to the couple) nor the clock's drift. It reports
// every broken rule at once (errors.Join), each a *ValidationError that
// names the field and matches ErrInvalid.
func (c *Change) Validate(from Side) error {
	ck := validate.NewChecker(pkgName)
	if from != SideWedMe && from != SideSupplier {
		ck.Check(false, "from", "must be %q or %q, got %q", SideWedMe, SideSupplier, from)
	}
	ck.Check(validID(c.ID), "Change.ID", "must be 1 to %d printable ASCII characters without spaces, got %s", MaxIDBytes, showValue([]byte(c.ID)))
	switch {
	case c.Origin != SideWedMe && c.Origin != SideSupplier:
		ck.Check(false, "Change.Origin", "must be %q or %q, got %q", SideWedMe, SideSupplier, c.Origin)
	case c.Origin != from:
		ck.Check(false, "Change.Origin", "must be %q, the side the change came from, got %q", from, c.Origin)
	}
	ck.Add(checkRef("Change.Couple", c.Couple, 1, MaxRefBytes))
	if from == SideSupplier {
		ck.Add(checkRef("Change.Supplier", c.Supplier, 1, MaxRefBytes))
	} else {
		ck.Add(checkRef("Change.Supplier", c.Supplier, 0, MaxRefBytes))
	}
	ck.Add(checkRef("Change.SupplierKind", c.SupplierKind, 0, MaxKindBytes))
	ck.Add(checkRef("Change.Record", c.Record, 1, MaxRefBytes))
	if c.Deleted != nil {
		ck.Add(checkStamp("Change.Deleted", *c.Deleted))
	}
	if len(c.Fields) == 0 && c.Deleted == nil {
		ck.Check(false, "Change.Fields", "must hold at least one field, or Change.Deleted must be set")
	}
	ts, ok := schemas[c.Type]
	if !ok {
		ck.Check(false, "Change.Type", "must be one of %s, got %s", typeList(), showValue([]byte(c.Type)))
		return ck.Err()
	}
	if c.Deleted != nil && !ts.CanDelete(from) {
		ck.Check(false, "Change.Deleted", "%s may not delete a %s (only %s)", from, c.Type, sideList(ts.Writers))
	}
	if len(c.Fields) > len(ts.Fields) {
		ck.Check(false, "Change.Fields", "must hold at most %d fields (those of %s), got %d", len(ts.Fields), c.Type, len(c.Fields))
		return ck.Err()
	}
	for _, name := range slices.Sorted(maps.Keys(c.Fields)) {
		fv := c.Fields[name]
		field := fmt.Sprintf("Change.Fields[%q]", name)
		fs, ok := ts.Fields[name]
		if !ok {
			ck.Check(false, field, "is not a field of %s (its fields: %s)", c.Type, strings.Join(ts.FieldNames(), ", "))
			continue
		}
		if !fs.CanWrite(from) {
			ck.Check(false, field, "%s may not write it (only %s)", from, sideList(fs.Writers))
		}
		if len(fv.Value) == 0 {
			ck.Check(false, field, "must have a value (null clears the field)")
		} else if rule := checkValue(fs, fv.Value); rule != "" {
			ck.Check(false, field, "%s", rule)
		}
		if fv.At.IsZero() {
			ck.Check(false, field+".At", "must be set (the write's clock reading)")
		} else {
			ck.Add(checkStamp(field+".At", fv.At))
		}
	}
	// A supplier writes its own bookings only: the booking's supplier, when
	// the change sets it, is the supplier that sent the change.
	if c.Type == TypeSupplierBooking && from == SideSupplier {
		if fv, ok := c.Fields["supplier"]; ok {
			var s string
			if json.Unmarshal(fv.Value, &s) == nil && s != "" && s != c.Supplier {
				ck.Check(false, `Change.Fields["supplier"]`, "must be the sending supplier %q, got %q", c.Supplier, s)
			}
		}
	}
	return ck.Err()
}

func checkStamp(field string, t Timestamp) error {
	if t.IsZero() {
		return invalid(field, "must be set (a clock reading)")
	}
	if t.Wall < 0 {
		return invalid(field, "wall time must not be negative, got %d", t.Wall)
	}
	if err := validNode(t.Node); err != nil {
		return invalid(field, "%v", err)
	}
	return nil
}

// validID reports whether id is 1 to MaxIDBytes printable ASCII characters
// other than space.
func validID(id string) bool {
	if id == "" || len(id) > MaxIDBytes {
		return false
	}
	for i := range len(id) {
		if id[i] <= ' ' || id[i] > '~' {
			return false
		}
	}
	return true
}

// checkRef checks an identifier: min to max bytes of UTF-8 without control
// characters.
func checkRef(field, s string, minBytes, maxBytes int) error {
	if len(s) < minBytes || len(s) > maxBytes {
		if minBytes == 0 {
			return invalid(field, "must be at most %d bytes, got %d", maxBytes, len(s))
		}
		return invalid(field, "must be %d to %d bytes, got %d", minBytes, maxBytes, len(s))
	}
	if !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl) {
		return invalid(field, "must be UTF-8 text without control characters, got %q", s)
	}
	return nil
}

var jsonNull = []byte("null")

// checkValue returns the rule raw breaks as a value of field f, or "".
func checkValue(f FieldSpec, raw json.RawMessage) string {
	if bytes.Equal(bytes.TrimSpace(raw), jsonNull) {
		return ""
	}
	switch f.Kind {
	case KindInt:
		var n int64
		if json.Unmarshal(raw, &n) != nil || n < int64(f.Min) || n > int64(f.Max) {
			return fmt.Sprintf("must be an integer %d to %d, got %s", f.Min, f.Max, showValue(raw))
		}
		return ""
	case KindTextList:
		var items []json.RawMessage
		if json.Unmarshal(raw, &items) != nil {
			return fmt.Sprintf("must be a list of text, got %s", showValue(raw))
		}
		if len(items) > f.Max {
			return fmt.Sprintf("must hold at most %d items, got %d", f.Max, len(items))
		}
		for i, it := range items {
			s, ok := jsonString(it)
			if !ok {
				return fmt.Sprintf("item %d must be text, got %s", i, showValue(it))
			}
			if rule := checkText(s, 0, MaxListItemBytes); rule != "" {
				return fmt.Sprintf("item %d %s", i, rule)
			}
		}
		return ""
	}
	s, ok := jsonString(raw)
	if !ok {
		return fmt.Sprintf("must be a JSON string (%s) or null, got %s", f.Kind, showValue(raw))
	}
	if s == "" {
		return ""
	}
	switch f.Kind {
	case KindText:
		if rule := checkText(s, f.Min, f.Max); rule != "" {
			return rule
		}
	case KindDate:
		if t, err := time.Parse(time.DateOnly, s); err != nil || t.Format(time.DateOnly) != s {
			return fmt.Sprintf("must be a real date as YYYY-MM-DD, got %q", s)
		}
	case KindTime:
		if t, err := time.Parse("15:04", s); err != nil || t.Format("15:04") != s {
			return fmt.Sprintf("must be a time of day as HH:MM (24-hour), got %q", s)
		}
	case KindEnum:
		if !slices.Contains(f.Enum, s) {
			return fmt.Sprintf("must be one of %s, got %q", strings.Join(f.Enum, ", "), s)
		}
	case KindEmail:
		if len(s) > f.Max {
			return fmt.Sprintf("must be an email address of at most %d bytes, got %d", f.Max, len(s))
		}
		if a, err := mail.ParseAddress(s); err != nil || a.Name != "" || a.Address != s {
			return fmt.Sprintf("must be a bare email address (name@example.com), got %q", s)
		}
	case KindPhone:
		if !validPhone(s, f.Max) {
			return fmt.Sprintf("must be a phone number of 7 to 15 digits (with optional leading +, spaces and ()-.) of at most %d bytes, got %q", f.Max, s)
		}
	default:
		return fmt.Sprintf("has unknown kind %q", f.Kind)
	}
	return ""
}

// checkText returns the rule s breaks as text of min to max bytes, or "".
func checkText(s string, minBytes, maxBytes int) string {
	if strings.IndexByte(s, 0) >= 0 {
		return "must not contain NUL"
	}
	if len(s) > maxBytes || len(s) < minBytes && s != "" {
		return fmt.Sprintf("must be text of %d to %d bytes, got %d", minBytes, maxBytes, len(s))
	}
	return ""
}

// jsonString decodes raw as a JSON string that is valid UTF-8 as written:
// encoding/json would turn invalid bytes and lone surrogate escapes into
// U+FFFD silently, which would store text the writer did not send.
func jsonString(raw []byte) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) < 2 || raw[0] != '"' || !utf8.Valid(raw) || loneSurrogate(raw) {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// loneSurrogate reports whether the JSON string literal raw holds a \u
// escape of a UTF-16 surrogate that is not part of a high-low pair.
func loneSurrogate(raw []byte) bool {
	hex4 := func(i int) (rune, bool) {
		if i+6 > len(raw) || raw[i] != '\\' || raw[i+1] != 'u' {
			return 0, false
		}
		var r rune
		for _, c := range raw[i+2 : i+6] {
			switch {
			case c >= '0' && c <= '9':
				r = r<<4 | rune(c-'0')
			case c >= 'a' && c <= 'f':
				r = r<<4 | rune(c-'a'+10)
			case c >= 'A' && c <= 'F':
				r = r<<4 | rune(c-'A'+10)
			default:
				return 0, false
			}
		}
		return r, true
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		r, ok := hex4(i)
		if !ok {
			i++ // an escape such as \\ or \"
			continue
		}
		switch {
		case r >= 0xD800 && r < 0xDC00:
			lo, ok := hex4(i + 6)
			if !ok || lo < 0xDC00 || lo > 0xDFFF {
				return true
			}
			i += 11
		case r >= 0xDC00 && r <= 0xDFFF:
			return true
		default:
			i += 5
		}
	}
	return false
}

func validPhone(s string, maxBytes int) bool {
	if len(s) > maxBytes {
		return false
	}
	digits := 0
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '+' && i == 0, r == ' ', r == '(', r == ')', r == '-', r == '.':
		default:
			return false
		}
	}
	return digits >= 7 && digits <= 15
}

// show renders a value for an error message: printable ASCII as written,
// anything else quoted, and long values cut.
func showValue(raw []byte) string {
	const most = 40
	if len(raw) == 0 {
		return `""`
	}
	cut := raw
	if len(cut) > most {
		cut = cut[:most]
	}
	printable := true
	for _, c := range cut {
		if c < ' ' || c > '~' {
			printable = false
			break
		}
	}
	out := string(cut)
	if !printable {
		out = fmt.Sprintf("%q", cut)
	}
	if len(raw) > most {
		out += fmt.Sprintf("... (%d bytes)", len(raw))
	}
	return out
}

func typeList() string {
	ts := Types()
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

func sideList(s []Side) string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = string(x)
	}
	return strings.Join(out, " and ")
}
