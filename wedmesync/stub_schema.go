package wedmesync

// TEMPORARY until the wschema branch merges.

import "github.com/wedsync/integrations/internal/validate"

var ErrInvalid = validate.ErrInvalid

type FieldSpec struct {
	Name   string
	Manual bool
}
type TypeSpec struct {
	Type   RecordType
	Fields map[string]FieldSpec
}

func Schema(t RecordType) (*TypeSpec, bool) {
	return &TypeSpec{Type: t, Fields: map[string]FieldSpec{}}, true
}

func (c *Change) Validate(from Side) error { return nil }

type SharePolicy map[string]map[RecordType][]string

func DefaultSharing() SharePolicy { return SharePolicy{} }

func (p SharePolicy) Filter(kind string, c Change) (Change, bool) { return c, true }

const MaxBatch = 1000
