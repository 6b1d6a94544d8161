package wedmesync

import (
	"encoding/json"
)

// RecordType names a kind of shared record.
type RecordType string

// The shared record types. Each has a typed struct (CoupleProfile, ...)
// and a schema (Schema) that says its fields, their rules, who may write
// them and which are manual.
const (
	TypeCoupleProfile   RecordType = "couple_profile"
	TypeWeddingDetails  RecordType = "wedding_details"
	TypeGuestSummary    RecordType = "guest_summary"
	TypeDietary         RecordType = "dietary_requirements"
	TypeTimelineItem    RecordType = "timeline_item"
	TypeSupplierBooking RecordType = "supplier_booking"
)

// Side is one of the two platforms.
type Side string

// The two sides.
const (
	// SideWedMe is the couples' app.
	SideWedMe Side = "wedme"
	// SideSupplier is the supplier platform (WedSync).
	SideSupplier Side = "supplier"
)

// FieldValue is one field's value and the time it was written.
type FieldValue struct {
	// Value is the field's JSON value; null clears it.
	Value json.RawMessage `json:"v"`
	// At is the hybrid logical clock reading of the write.
	At Timestamp `json:"t"`
}

// Change is one edit of one record, as it travels between the sides and
// as the change log keeps it.
type Change struct {
	// ID identifies the change everywhere; applying it twice is a no-op.
	ID string `json:"id"`
	// Origin is the side that made it.
	Origin Side `json:"origin"`
	// Couple is the couple the record belongs to.
	Couple string `json:"couple"`
	// Supplier is the supplier that wrote the change (a change made on the
	// supplier side), or the supplier it is delivered to (a couple's change
	// on its way to one linked supplier). Empty on a couple's change in
	// WedMe's own log.
	Supplier string `json:"supplier,omitempty"`
	// SupplierKind is Supplier's kind ("caterer", "photographer"), which
	// decides the fields it may see.
	SupplierKind string `json:"supplier_kind,omitempty"`
	// Type and Record identify the record.
	Type   RecordType `json:"type"`
	Record string     `json:"record"`
	// Fields are the fields the change writes.
	Fields map[string]FieldValue `json:"fields,omitempty"`
	// Deleted, when set, deletes the record as of that time (a tombstone):
	// the record is deleted while no field was written after it.
	Deleted *Timestamp `json:"deleted,omitempty"`
}
