package wedmesync

import "github.com/wedsync/integrations/internal/validate"

// ErrInvalid is matched (errors.Is) by every *ValidationError: a change,
// batch, record or sharing policy that breaks a rule.
var ErrInvalid = validate.ErrInvalid

// ValidationError names the bad field and the rule it broke, such as
// `Change.Fields["adults"]: must be an integer 0 to 2000, got "x"`.
type ValidationError = validate.Error

// pkgName is the package named in this package's validation errors.
const pkgName = "wedmesync"

// invalid returns a *ValidationError for field; rule is a fmt format.
func invalid(field, rule string, args ...any) error {
	return validate.New(pkgName, field, rule, args...)
}
