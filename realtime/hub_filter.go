package realtime

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/wedsync/integrations/realtime/protocol"
)

// parseFilter splits a postgres_changes filter "column=op.value".
func parseFilter(f string) (column, op, value string, err error) {
	column, rest, ok := strings.Cut(f, "=")
	if !ok || column == "" {
		return "", "", "", fmt.Errorf("%q must be column=op.value", f)
	}
	op, value, ok = strings.Cut(rest, ".")
	if !ok {
		return "", "", "", fmt.Errorf("%q must be column=op.value", f)
	}
	switch op {
	case "eq", "neq", "lt", "lte", "gt", "gte":
	case "in":
		if !strings.HasPrefix(value, "(") || !strings.HasSuffix(value, ")") {
			return "", "", "", fmt.Errorf("%q: in takes a list such as in.(a,b)", f)
		}
	default:
		return "", "", "", fmt.Errorf("%q: operator %q must be one of eq, neq, lt, lte, gt, gte, in", f, op)
	}
	return column, op, value, nil
}

// matchBinding reports whether a change is selected by a binding.
func matchBinding(b protocol.PostgresChangeFilter, c protocol.PostgresChange) bool {
	if b.Event != "*" && !strings.EqualFold(b.Event, c.Type) {
		return false
	}
	if b.Schema != "*" && b.Schema != c.Schema {
		return false
	}
	if b.Table != "" && b.Table != "*" && b.Table != c.Table {
		return false
	}
	if b.Filter == "" {
		return true
	}
	column, op, want, err := parseFilter(b.Filter)
	if err != nil {
		return false
	}
	record := c.Record
	if c.Type == "DELETE" {
		record = c.OldRecord
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(record, &fields) != nil {
		return false
	}
	raw, ok := fields[column]
	if !ok {
		return false
	}
	got, isNull := scalarString(raw)
	if isNull {
		return false
	}
	if op == "in" {
		for _, v := range strings.Split(strings.Trim(want, "()"), ",") {
			if compare(got, strings.TrimSpace(v)) == 0 {
				return true
			}
		}
		return false
	}
	cmp := compare(got, want)
	switch op {
	case "eq":
		return cmp == 0
	case "neq":
		return cmp != 0
	case "lt":
		return cmp < 0
	case "lte":
		return cmp <= 0
	case "gt":
		return cmp > 0
	case "gte":
		return cmp >= 0
	}
	return false
}

// scalarString renders a JSON scalar as the text Postgres would compare.
func scalarString(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if string(raw) == "null" || len(raw) == 0 {
		return "", true
	}
	var s string
	if raw[0] == '"' && json.Unmarshal(raw, &s) == nil {
		return s, false
	}
	return string(raw), false
}

// compare compares numerically when both sides are numbers, else as text.
func compare(a, b string) int {
	x, errA := strconv.ParseFloat(a, 64)
	y, errB := strconv.ParseFloat(b, 64)
	if errA == nil && errB == nil {
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	}
	return strings.Compare(a, b)
}
