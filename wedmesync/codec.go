package wedmesync

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Size limits of the wire format. A change holds one record's fields, far
// below MaxChangeBytes; the limits bound the memory a peer can make this
// side spend on one request.
const (
	// MaxChangeBytes is the most bytes one encoded change may hold.
	MaxChangeBytes = 64 << 10
	// MaxBatch is the most changes a batch may hold.
	MaxBatch = 1000
	// MaxBatchBytes is the most bytes an encoded batch may hold.
	MaxBatchBytes = 8 << 20
)

// DecodeChange decodes one change from its JSON. It is strict: unknown
// JSON fields, trailing data and more than MaxChangeBytes are refused. It
// checks structure only (JSON types, timestamps); Change.Validate checks
// the rules. Field values are kept compacted, so that a change decoded and
// encoded again (EncodeBatch) is byte-for-byte stable. Errors are
// *ValidationError naming "change" and match ErrInvalid.
func DecodeChange(data []byte) (*Change, error) {
	if len(data) > MaxChangeBytes {
		return nil, invalid("change", "must be at most %d bytes, got %d", MaxChangeBytes, len(data))
	}
	c, err := decodeChange(data)
	if err != nil {
		return nil, invalid("change", "%v", err)
	}
	return c, nil
}

// DecodeBatch decodes a batch: a JSON array of at most MaxBatch changes,
// at most MaxBatchBytes in all and each at most MaxChangeBytes, decoded as
// DecodeChange does. Errors name the change ("batch[3]").
func DecodeBatch(data []byte) ([]Change, error) {
	if len(data) > MaxBatchBytes {
		return nil, invalid("batch", "must be at most %d bytes, got %d", MaxBatchBytes, len(data))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return nil, invalid("batch", "must be a JSON array of changes")
	}
	out := []Change{}
	for i := 0; dec.More(); i++ {
		if i == MaxBatch {
			return nil, invalid("batch", "must hold at most %d changes", MaxBatch)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, invalid(fmt.Sprintf("batch[%d]", i), "%v", err)
		}
		if len(raw) > MaxChangeBytes {
			return nil, invalid(fmt.Sprintf("batch[%d]", i), "must be at most %d bytes, got %d", MaxChangeBytes, len(raw))
		}
		c, err := decodeChange(raw)
		if err != nil {
			return nil, invalid(fmt.Sprintf("batch[%d]", i), "%v", err)
		}
		out = append(out, *c)
	}
	if _, err := dec.Token(); err != nil {
		return nil, invalid("batch", "must be a JSON array of changes: %v", err)
	}
	if err := requireEOF(dec); err != nil {
		return nil, invalid("batch", "%v", err)
	}
	return out, nil
}

func decodeChange(data []byte) (*Change, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c Change
	if err := dec.Decode(&c); err != nil {
		return nil, err
	}
	if err := requireEOF(dec); err != nil {
		return nil, err
	}
	if bytes.Equal(bytes.TrimSpace(data), jsonNull) {
		return nil, errors.New("must be a JSON object, got null")
	}
	if err := checkKeys(data); err != nil {
		return nil, err
	}
	if len(c.Fields) == 0 {
		c.Fields = nil
	}
	for name, fv := range c.Fields {
		if fv.Value == nil {
			return nil, fmt.Errorf("fields[%q]: the value (v) is missing (null clears the field)", name)
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, fv.Value); err != nil {
			return nil, fmt.Errorf("fields[%q]: %w", name, err)
		}
		fv.Value = buf.Bytes()
		c.Fields[name] = fv
	}
	return &c, nil
}

// requireEOF returns an error when dec holds more than white space.
func requireEOF(dec *json.Decoder) error {
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// EncodeBatch encodes changes as a JSON array, the form DecodeBatch reads,
// and refuses what DecodeBatch would refuse for size: more than MaxBatch
// changes, a change over MaxChangeBytes, a batch over MaxBatchBytes. HTML
// characters are not escaped, so field values stay as written.
func EncodeBatch(changes []Change) ([]byte, error) {
	if len(changes) > MaxBatch {
		return nil, invalid("batch", "must hold at most %d changes, got %d", MaxBatch, len(changes))
	}
	var buf bytes.Buffer
	buf.WriteByte('[')
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for i := range changes {
		if i > 0 {
			buf.WriteByte(',')
		}
		start := buf.Len()
		if err := enc.Encode(&changes[i]); err != nil {
			return nil, fmt.Errorf("wedmesync: encode batch[%d]: %w", i, err)
		}
		buf.Truncate(buf.Len() - 1) // the Encoder's newline
		if n := buf.Len() - start; n > MaxChangeBytes {
			return nil, invalid(fmt.Sprintf("batch[%d]", i), "must be at most %d bytes encoded, got %d", MaxChangeBytes, n)
		}
	}
	buf.WriteByte(']')
	if buf.Len() > MaxBatchBytes {
		return nil, invalid("batch", "must be at most %d bytes encoded, got %d", MaxBatchBytes, buf.Len())
	}
	return buf.Bytes(), nil
}

// keyRule says which keys a JSON object may hold: exactly those of keys
// (each with the rule of its value) when keys is set, else any key, each
// value with the rule each. A nil *keyRule allows any keys.
type keyRule struct {
	keys map[string]*keyRule
	each *keyRule
}

// changeKeys are the keys of an encoded Change, as its json tags spell them.
var changeKeys = &keyRule{keys: map[string]*keyRule{
	"id": nil, "origin": nil, "couple": nil, "supplier": nil, "supplier_kind": nil,
	"type": nil, "record": nil, "deleted": nil,
	"fields": {each: &keyRule{keys: map[string]*keyRule{"v": nil, "t": nil}}},
}}

// checkKeys refuses what encoding/json lets through: a key given twice in
// one object (the last wins there, the first in some other parsers, so two
// readers could see different changes), and a key of a Change or
// FieldValue in another case than its tag ("ID" for "id"), which
// encoding/json matches. data is known to be one well-formed JSON value.
func checkKeys(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return walkKeys(dec, changeKeys, "")
}

func walkKeys(dec *json.Decoder, rule *keyRule, path string) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('['):
		for i := 0; dec.More(); i++ {
			if err := walkKeys(dec, nil, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case json.Delim('{'):
		seen := make(map[string]bool)
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return err
			}
			k, _ := kt.(string)
			if seen[k] {
				return fmt.Errorf("%skey %q is given twice", prefix(path), k)
			}
			seen[k] = true
			var child *keyRule
			sub := fmt.Sprintf("%s[%q]", path, k)
			switch {
			case rule != nil && rule.keys != nil:
				sub = strings.TrimPrefix(path+"."+k, ".")
				c, ok := rule.keys[k]
				if !ok {
					return fmt.Errorf("%sunknown key %q (keys are lower case)", prefix(path), k)
				}
				child = c
			case rule != nil:
				child = rule.each
			}
			if err := walkKeys(dec, child, sub); err != nil {
				return err
			}
		}
	default:
		return nil
	}
	_, err = dec.Token() // the closing delimiter
	return err
}

// prefix returns "path: ", or "" for the top level.
func prefix(path string) string {
	if path == "" {
		return ""
	}
	return path + ": "
}
