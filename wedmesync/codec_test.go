package wedmesync

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const sampleChange = `{"id":"chg-1","origin":"wedme","couple":"couple-1","type":"guest_summary","record":"main",` +
	`"fields":{"adults":{"v":80,"t":"1780000000000.0000000001.wedme-1"}}}`

func TestDecodeChange(t *testing.T) {
	c, err := DecodeChange([]byte(sampleChange))
	require.NoError(t, err)
	require.Equal(t, &Change{
		ID: "chg-1", Origin: SideWedMe, Couple: "couple-1", Type: TypeGuestSummary, Record: "main",
		Fields: map[string]FieldValue{"adults": {Value: json.RawMessage(`80`), At: tsAt}},
	}, c)
	require.NoError(t, c.Validate(SideWedMe))
}

func TestDecodeChangeCompactsValues(t *testing.T) {
	c, err := DecodeChange([]byte(`{"id":"a","origin":"wedme","couple":"c","type":"dietary_requirements","record":"r",` +
		`"fields":{"allergies":{"v":[ "nuts" ,  "<egg>" ],"t":"1.0.n"}},"deleted":null}`))
	require.NoError(t, err)
	require.Equal(t, `["nuts","<egg>"]`, string(c.Fields["allergies"].Value))
	require.Nil(t, c.Deleted)
	out, err := EncodeBatch([]Change{*c})
	require.NoError(t, err)
	require.Contains(t, string(out), `"v":["nuts","<egg>"]`, "values as written, not HTML-escaped")
}

func TestDecodeChangeStrict(t *testing.T) {
	for name, in := range map[string]string{
		"unknown field":        strings.Replace(sampleChange, `"id"`, `"admin":true,"id"`, 1),
		"unknown value field":  strings.Replace(sampleChange, `"v":80`, `"v":80,"x":1`, 1),
		"trailing object":      sampleChange + `{}`,
		"trailing garbage":     sampleChange + ` x`,
		"two changes":          sampleChange + sampleChange,
		"not an object":        `[1]`,
		"null":                 `null`,
		"empty":                ``,
		"truncated":            sampleChange[:40],
		"bad timestamp":        strings.Replace(sampleChange, `1780000000000.0000000001.wedme-1`, `yesterday`, 1),
		"null timestamp":       strings.Replace(sampleChange, `"1780000000000.0000000001.wedme-1"`, `null`, 1),
		"missing value":        strings.Replace(sampleChange, `"v":80,`, ``, 1),
		"id not a string":      strings.Replace(sampleChange, `"chg-1"`, `1`, 1),
		"duplicate key":        strings.Replace(sampleChange, `"origin":"wedme"`, `"origin":"wedme","origin":"supplier"`, 1),
		"duplicate field":      strings.Replace(sampleChange, `"fields":{`, `"fields":{"adults":{"v":1,"t":"1.0.n"},`, 1),
		"duplicate v":          strings.Replace(sampleChange, `"v":80`, `"v":80,"v":81`, 1),
		"duplicate in value":   strings.Replace(sampleChange, `"v":80`, `"v":{"a":1,"a":2}`, 1),
		"key in other case":    strings.Replace(sampleChange, `"id"`, `"ID"`, 1),
		"value key other case": strings.Replace(sampleChange, `"v":80`, `"V":80`, 1),
		"fields not an object": strings.Replace(sampleChange, `"fields":{"adults":{"v":80,"t":"1780000000000.0000000001.wedme-1"}}`, `"fields":[]`, 1),
	} {
		t.Run(name, func(t *testing.T) {
			c, err := DecodeChange([]byte(in))
			require.ErrorIs(t, err, ErrInvalid)
			require.ErrorContains(t, err, "wedmesync: change: ")
			require.Nil(t, c)
		})
	}
}

func TestDecodeChangeSize(t *testing.T) {
	pad := strings.Repeat(" ", MaxChangeBytes-len(sampleChange))
	_, err := DecodeChange([]byte(sampleChange + pad))
	require.NoError(t, err, "exactly MaxChangeBytes")
	_, err = DecodeChange([]byte(sampleChange + pad + " "))
	require.ErrorIs(t, err, ErrInvalid)
	require.ErrorContains(t, err, fmt.Sprintf("must be at most %d bytes", MaxChangeBytes))
}

func TestBatchRoundTrip(t *testing.T) {
	del := tsAt
	in := []Change{guestChange(), bookingChange(), {
		ID: "chg-3", Origin: SideWedMe, Couple: "couple-1", Type: TypeTimelineItem, Record: "t1", Deleted: &del,
	}}
	data, err := EncodeBatch(in)
	require.NoError(t, err)
	out, err := DecodeBatch(data)
	require.NoError(t, err)
	require.Equal(t, in, out)

	again, err := EncodeBatch(out)
	require.NoError(t, err)
	require.Equal(t, string(data), string(again))

	data, err = EncodeBatch(nil)
	require.NoError(t, err)
	require.Equal(t, "[]", string(data))
	out, err = DecodeBatch([]byte(" [ ] \n"))
	require.NoError(t, err)
	require.Empty(t, out)
}

func TestDecodeBatchStrict(t *testing.T) {
	bad := strings.Replace(sampleChange, `"id"`, `"extra":1,"id"`, 1)
	for name, tc := range map[string]struct{ in, field string }{
		"not an array":      {sampleChange, "batch"},
		"null":              {`null`, "batch"},
		"empty":             {``, "batch"},
		"unknown field":     {`[` + sampleChange + `,` + bad + `]`, "batch[1]"},
		"null change":       {`[null]`, "batch[0]"},
		"trailing":          {`[` + sampleChange + `] []`, "batch"},
		"unclosed":          {`[` + sampleChange, "batch"},
		"garbage in array":  {`[` + sampleChange + ` x]`, "batch[1]"},
		"number in array":   {`[1]`, "batch[0]"},
		"trailing in array": {`[` + sampleChange + `,]`, "batch[1]"},
	} {
		t.Run(name, func(t *testing.T) {
			out, err := DecodeBatch([]byte(tc.in))
			require.ErrorIs(t, err, ErrInvalid)
			require.ErrorContains(t, err, "wedmesync: "+tc.field+": ")
			require.Nil(t, out)
		})
	}
}

func TestBatchLimits(t *testing.T) {
	many := make([]Change, MaxBatch+1)
	for i := range many {
		many[i] = guestChange()
	}
	_, err := EncodeBatch(many)
	require.ErrorIs(t, err, ErrInvalid)
	data, err := EncodeBatch(many[:MaxBatch])
	require.NoError(t, err)
	_, err = DecodeBatch(data)
	require.NoError(t, err, "exactly MaxBatch")
	data = append(bytes.TrimSuffix(data, []byte("]")), []byte(","+sampleChange+"]")...)
	_, err = DecodeBatch(data)
	require.ErrorIs(t, err, ErrInvalid)
	require.ErrorContains(t, err, fmt.Sprintf("at most %d changes", MaxBatch))

	// One change over MaxChangeBytes in a batch.
	big := `[` + sampleChange[:len(sampleChange)-1] + strings.Repeat(" ", MaxChangeBytes) + `}]`
	_, err = DecodeBatch([]byte(big))
	require.ErrorContains(t, err, "wedmesync: batch[0]: must be at most")

	// A whole batch over MaxBatchBytes.
	_, err = DecodeBatch([]byte(`[` + strings.Repeat(" ", MaxBatchBytes) + `]`))
	require.ErrorContains(t, err, fmt.Sprintf("wedmesync: batch: must be at most %d bytes", MaxBatchBytes))

	// Encoding refuses a change decoding would refuse.
	c := guestChange()
	c.Fields["adults"] = FieldValue{Value: json.RawMessage(`"` + strings.Repeat("a", MaxChangeBytes) + `"`), At: tsAt}
	_, err = EncodeBatch([]Change{c})
	require.ErrorIs(t, err, ErrInvalid)
	require.ErrorContains(t, err, "batch[0]")
}

// FuzzDecodeChange checks that decoding never panics, and that a change
// that decodes and validates encodes and decodes to the same change, byte
// for byte stable.
func FuzzDecodeChange(f *testing.F) {
	f.Add([]byte(sampleChange))
	for _, c := range []Change{guestChange(), bookingChange()} {
		b, _ := json.Marshal(c)
		f.Add(b)
	}
	f.Add([]byte(`{"id":"a","origin":"wedme","couple":"c","type":"dietary_requirements","record":"r","fields":{"allergies":{"v":["\ud83e\udd5c","<x>"],"t":"1.0.n"},"notes":{"v":"a\u0000","t":"1.0.n"}}}`))
	f.Add([]byte(`{"id":"a","origin":"supplier","couple":"c","supplier":"s","type":"timeline_item","record":"r","deleted":"5.1.n"}`))
	f.Add([]byte(`{"id":"a","origin":"wedme","couple":"c","type":"wedding_details","record":"r","fields":{"date":{"v":"2027-02-29","t":"1.0.n"},"ceremony_time":{"v":"9:30","t":"1.0.n"}}}`))
	f.Add([]byte(`{"ID":"a","Fields":{}} `))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeChange(data)
		if err != nil {
			require.ErrorIs(t, err, ErrInvalid)
			return
		}
		if c.Validate(c.Origin) != nil {
			return
		}
		enc, err := EncodeBatch([]Change{*c})
		require.NoError(t, err)
		back, err := DecodeBatch(enc)
		require.NoError(t, err, "%s", enc)
		require.Len(t, back, 1)
		require.Equal(t, *c, back[0])
		require.NoError(t, back[0].Validate(c.Origin))
		again, err := EncodeBatch(back)
		require.NoError(t, err)
		require.Equal(t, string(enc), string(again))
	})
}

// FuzzValidate checks that Validate never panics on any field value, that
// every error it reports is a *ValidationError, and that a value it
// accepts decodes into the record's struct.
func FuzzValidate(f *testing.F) {
	for _, s := range []struct{ typ, field, v string }{
		{"guest_summary", "adults", `80`},
		{"guest_summary", "adults", `"x"`},
		{"wedding_details", "date", `"2027-06-12"`},
		{"wedding_details", "ceremony_time", `"14:00"`},
		{"wedding_details", "venue", `"a\ud800"`},
		{"dietary_requirements", "allergies", `["nuts"]`},
		{"couple_profile", "email", `"sam@example.com"`},
		{"couple_profile", "phone", `"+44 7700 900123"`},
		{"supplier_booking", "status", `"held"`},
		{"timeline_item", "owner", `null`},
	} {
		f.Add(s.typ, s.field, []byte(s.v), "sup-1")
	}
	f.Fuzz(func(t *testing.T, typ, field string, v []byte, supplier string) {
		for _, from := range []Side{SideWedMe, SideSupplier} {
			c := Change{
				ID: "c", Origin: from, Couple: "couple", Supplier: supplier, Type: RecordType(typ), Record: "r",
				Fields: map[string]FieldValue{field: {Value: v, At: tsAt}},
			}
			err := c.Validate(from)
			if err != nil {
				flattenValidation(t, err) // each one a *ValidationError
				continue
			}
			var rec any = newRecordFor(t, c.Type)
			require.NoError(t, DecodeRecord(c.Type, map[string]json.RawMessage{field: v}, rec), "validated %s.%s = %s", typ, field, v)
		}
	})
}
