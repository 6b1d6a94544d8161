package webpush

// Exported for the external tests.
var (
	CheckSubscription = checkSubscription
	EncodePayload     = encodePayload
)
