package notify

// EventSpec declares an event: its category, the variables its templates
// may use and its Data must supply, and the channels it has templates for.
type EventSpec struct {
	// Name is the event ("booking.confirmed"): lower-case letters, digits,
	// '.', '_' and '-', at most 100 characters.
	Name string
	// Category is the default category of its notifications.
	Category Category
	// Variables are the names of the Data entries every notification of
	// the event must supply.
	Variables []string
	// Optional are Data entries that may be absent (templates see no
	// value: use {{with .x}} or {{if .x}}).
	Optional []string
	// Channels the event can go out on. Each needs a default template
	// (no vendor type, no locale); a channel not listed is not used for
	// this event.
	Channels []Channel
}

// Template is one variant of one event's message on one channel.
type Template struct {
	Event   string
	Channel Channel
	// VendorType and Locale select the variant; empty means the default.
	VendorType string
	Locale     string
	// Subject is the email subject, the push title and the in-app title
	// (text/template); required for email, push and in-app.
	Subject string
	// Text is the body in text/template: the email's text part, the SMS,
	// the push body, the in-app body. Required.
	Text string
	// HTML is the email's HTML part in html/template (escaped by context);
	// email only, optional.
	HTML string
}

// Rendered is a template variant executed with a notification's data.
type Rendered struct {
	Subject string
	Text    string
	HTML    string
	// VendorType and Locale name the variant that was used.
	VendorType string
	Locale     string
	// SMS describes Text as an SMS (for ChannelSMS only).
	SMS SMSInfo
}

// SMSInfo is the size of a text as an SMS.
type SMSInfo struct {
	// Encoding is "GSM-7" when every character is in the GSM 03.38
	// alphabet (with its extension table), "UCS-2" otherwise.
	Encoding string
	// Units is the length in the encoding's units: septets for GSM-7
	// (extension characters count two), UTF-16 code units for UCS-2.
	Units int
	// Segments is how many SMS the text is sent as: 1 up to 160 septets or
	// 70 units, else concatenated parts of 153 septets or 67 units.
	Segments int
}

// Templates holds events and their template variants. Build it before the
// notifier starts; it is safe for concurrent use once built.
type Templates struct{}

// NewTemplates returns a registry that already holds the digest event
// (DigestEvent) with default templates on every channel.
func NewTemplates() *Templates { panic("TODO(templates helper)") }

// DigestEvent is the event of digest messages.
const DigestEvent = "notify.digest"

// AddEvent registers an event.
func (t *Templates) AddEvent(spec EventSpec) error { panic("TODO(templates helper)") }

// Add registers a template variant; it is parsed and checked now.
func (t *Templates) Add(tpl Template) error { panic("TODO(templates helper)") }

// Validate checks that every event has a default variant on each of its
// channels.
func (t *Templates) Validate() error { panic("TODO(templates helper)") }

// Event returns an event's spec.
func (t *Templates) Event(name string) (EventSpec, bool) { panic("TODO(templates helper)") }

// CheckData checks a notification's data against its event's variables.
func (t *Templates) CheckData(event string, data map[string]any) error {
	panic("TODO(templates helper)")
}

// Render executes the best variant for ch, vendorType and locale.
func (t *Templates) Render(event string, ch Channel, vendorType, locale string, data map[string]any) (*Rendered, error) {
	panic("TODO(templates helper)")
}

// SMSSegments measures text as an SMS.
func SMSSegments(text string) SMSInfo { panic("TODO(templates helper)") }
