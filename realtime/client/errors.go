package client

import "github.com/wedsync/integrations/internal/validate"

// pkg names this package in validation errors.
const pkg = "client"

// ErrInvalid is matched (errors.Is) by every error that reports bad input:
// an option, the URL given to New, an event name given to Send.
var ErrInvalid = validate.ErrInvalid

// ValidationError names the field (an option such as "WithVSN", or "url")
// and the rule it broke. Its message is "client: <field>: <rule>"; it
// matches ErrInvalid. Get it with errors.As; its fields are Package, Field and Rule.
type ValidationError = validate.Error
