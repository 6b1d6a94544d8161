package notify

// TEMPORARY: removed when the helpers' branches are merged.

import (
	"time"

)

func checkEmail(string) error                         { return nil }
func checkPhone(string) error                         { return nil }
func checkTimeZone(string) (*time.Location, error)    { return time.UTC, nil }
func (r *Recipient) validate() error                  { return nil }
func MaskRecipient(Channel, string) string            { return "" }
