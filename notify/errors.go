package notify

import (
	"errors"

	"github.com/wedsync/integrations/internal/jobs"
	"github.com/wedsync/integrations/internal/validate"
)

// ErrInvalid is matched (errors.Is) by every *ValidationError.
var ErrInvalid = validate.ErrInvalid

// ValidationError names the bad field and the rule it broke.
type ValidationError = validate.Error

// ErrNotFound is returned for an unknown notification, subscription or
// in-app message.
var ErrNotFound = errors.New("notify: not found")

// ErrNoDatabase is returned by SendTx in memory mode.
var ErrNoDatabase = jobs.ErrNoDatabase

func invalid(field, rule string, args ...any) error {
	return validate.New("notify", field, rule, args...)
}
