package validate

import (
	"errors"
	"fmt"
)

// ErrInvalid is matched by every *Error.
var ErrInvalid = errors.New("invalid input")

// Error names the field and the rule it broke. Its message is
// "<package>: <field>: <rule>".
type Error struct {
	// Package is the reporting package, such as "delivery".
	Package string
	// Field names the bad input as the caller wrote it: a struct field's
	// JSON name ("supplier_id"), an option ("WithTimeout") or a path
	// ("messages[3].payload").
	Field string
	// Rule says what the value must be, and what it was when that helps.
	Rule string
}

func (e *Error) Error() string {
	if e.Package == "" {
		return e.Field + ": " + e.Rule
	}
	return e.Package + ": " + e.Field + ": " + e.Rule
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// New returns an *Error of pkg for field; rule is a fmt format.
func New(pkg, field, rule string, args ...any) *Error {
	if len(args) > 0 {
		rule = fmt.Sprintf(rule, args...)
	}
	return &Error{Package: pkg, Field: field, Rule: rule}
}

// Prefix returns err with its field put under parent ("messages[3]" and
// "payload" give "messages[3].payload") when err is an *Error, and err
// wrapped with the parent's name otherwise.
func Prefix(parent string, err error) error {
	var e *Error
	if errors.As(err, &e) {
		return &Error{Package: e.Package, Field: parent + "." + e.Field, Rule: e.Rule}
	}
	return fmt.Errorf("%s: %w", parent, err)
}

// Checker collects the errors of several checks, for option validation
// that reports every bad option at once.
type Checker struct {
	pkg  string
	errs []error
}

// NewChecker returns a Checker whose errors name pkg.
func NewChecker(pkg string) *Checker { return &Checker{pkg: pkg} }

// Check records an error for field when ok is false.
func (c *Checker) Check(ok bool, field, rule string, args ...any) {
	if !ok {
		c.errs = append(c.errs, New(c.pkg, field, rule, args...))
	}
}

// Add records err (nil is ignored).
func (c *Checker) Add(err error) {
	if err != nil {
		c.errs = append(c.errs, err)
	}
}

// Err returns the recorded errors joined (errors.Join), or nil. The result
// matches ErrInvalid when any recorded error does.
func (c *Checker) Err() error { return errors.Join(c.errs...) }
