package notify_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/notify"
)

// bookingSpec is the event most tests use.
func bookingSpec() notify.EventSpec {
	return notify.EventSpec{
		Name:      "booking.confirmed",
		Category:  notify.CategoryBooking,
		Variables: []string{"couple_name", "wedding_date", "items"},
		Optional:  []string{"note"},
		Channels:  []notify.Channel{notify.ChannelEmail, notify.ChannelSMS, notify.ChannelPush, notify.ChannelInApp},
	}
}

// bookingTemplates are default variants of bookingSpec on every channel.
func bookingTemplates() []notify.Template {
	return []notify.Template{
		{
			Event: "booking.confirmed", Channel: notify.ChannelEmail,
			Subject: "Booking confirmed: {{.couple_name}}",
			Text:    "Hi {{.recipient_name}},\n{{.couple_name}} booked you for {{.wedding_date}}.{{with .note}}\nNote: {{.}}{{end}}\n",
			HTML:    `<p>Hi {{.recipient_name}},</p><p>{{.couple_name}} booked you for {{.wedding_date}}.</p>{{with .url}}<a href="{{.}}">Open</a>{{end}}`,
		},
		{Event: "booking.confirmed", Channel: notify.ChannelSMS, Text: "{{.couple_name}} booked you for {{.wedding_date}}."},
		{Event: "booking.confirmed", Channel: notify.ChannelPush, Subject: "Booking confirmed", Text: "{{.couple_name}}, {{.wedding_date}}"},
		{Event: "booking.confirmed", Channel: notify.ChannelInApp, Subject: "Booking confirmed", Text: "{{.couple_name}}, {{.wedding_date}}"},
	}
}

// newBooking returns a registry with bookingSpec and bookingTemplates.
func newBooking(t testing.TB) *notify.Templates {
	t.Helper()
	ts := notify.NewTemplates()
	require.NoError(t, ts.AddEvent(bookingSpec()))
	for _, tpl := range bookingTemplates() {
		require.NoError(t, ts.Add(tpl))
	}
	require.NoError(t, ts.Validate())
	return ts
}

func bookingData() map[string]any {
	return map[string]any{
		"couple_name":    "Ana & Ben",
		"wedding_date":   "2026-06-20",
		"items":          []any{"ceremony"},
		"recipient_name": "Sam",
		"url":            "https://wedsync.example/b/1",
		"supplier_id":    "sup_1",
		"vendor_type":    "photographer",
	}
}

// requireInvalid checks that err is a *ValidationError of field whose rule
// contains rule.
func requireInvalid(t *testing.T, err error, field, rule string) {
	t.Helper()
	require.ErrorIs(t, err, notify.ErrInvalid)
	var ve *notify.ValidationError
	require.ErrorAs(t, err, &ve)
	require.Equal(t, field, ve.Field, "error: %v", err)
	require.Contains(t, ve.Rule, rule)
}

func TestAddEventValidation(t *testing.T) {
	cases := []struct {
		name   string
		change func(*notify.EventSpec)
		field  string
		rule   string
	}{
		{"empty name", func(s *notify.EventSpec) { s.Name = "" }, "event.name", "lower-case letters"},
		{"upper-case name", func(s *notify.EventSpec) { s.Name = "Booking.confirmed" }, "event.name", `got "Booking.confirmed"`},
		{"name starting with a digit", func(s *notify.EventSpec) { s.Name = "1booking" }, "event.name", "starting with a letter"},
		{"name with a space", func(s *notify.EventSpec) { s.Name = "booking confirmed" }, "event.name", "lower-case"},
		{"name too long", func(s *notify.EventSpec) { s.Name = "b" + strings.Repeat("x", 100) }, "event.name", "1 to 100"},
		{"no category", func(s *notify.EventSpec) { s.Category = "" }, "event.category", "must be 1 to 100"},
		{"category with a dot", func(s *notify.EventSpec) { s.Category = "a.b" }, "event.category", `got "a.b"`},
		{"variable not an identifier", func(s *notify.EventSpec) { s.Variables[2] = "2items" }, "event.variables[2]", "template identifier"},
		{"variable with upper case", func(s *notify.EventSpec) { s.Variables[0] = "coupleName" }, "event.variables[0]", "template identifier"},
		{"built-in variable", func(s *notify.EventSpec) { s.Variables[1] = "url" }, "event.variables[1]", `"url" is built in`},
		{"duplicate variable", func(s *notify.EventSpec) { s.Variables[2] = "couple_name" }, "event.variables[2]", `repeats "couple_name" (event.variables[0])`},
		{"optional repeats a variable", func(s *notify.EventSpec) { s.Optional = []string{"items"} }, "event.optional[0]", `repeats "items"`},
		{"built-in optional", func(s *notify.EventSpec) { s.Optional = []string{"supplier_id"} }, "event.optional[0]", "is built in"},
		{"no channels", func(s *notify.EventSpec) { s.Channels = nil }, "event.channels", "at least one"},
		{"bad channel", func(s *notify.EventSpec) { s.Channels = []notify.Channel{"fax"} }, "event.channels[0]", `got "fax"`},
		{"duplicate channel", func(s *notify.EventSpec) {
			s.Channels = []notify.Channel{notify.ChannelSMS, notify.ChannelEmail, notify.ChannelSMS}
		}, "event.channels[2]", `repeats "sms"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec := bookingSpec()
			tc.change(&spec)
			err := notify.NewTemplates().AddEvent(spec)
			requireInvalid(t, err, tc.field, tc.rule)
		})
	}

	t.Run("every problem is reported", func(t *testing.T) {
		err := notify.NewTemplates().AddEvent(notify.EventSpec{Name: "X", Variables: []string{"a", "a"}})
		for _, want := range []string{"event.name", "event.category", "event.variables[1]", "event.channels"} {
			require.ErrorContains(t, err, "notify: "+want+": ")
		}
	})

	t.Run("twice", func(t *testing.T) {
		ts := notify.NewTemplates()
		require.NoError(t, ts.AddEvent(bookingSpec()))
		requireInvalid(t, ts.AddEvent(bookingSpec()), "event.name", `"booking.confirmed" is already registered`)
		requireInvalid(t, ts.AddEvent(notify.EventSpec{
			Name: notify.DigestEvent, Category: "system", Channels: []notify.Channel{notify.ChannelEmail},
		}), "event.name", "already registered")
	})
}

func TestZeroTemplates(t *testing.T) {
	var ts notify.Templates
	require.NoError(t, ts.Validate())
	_, ok := ts.Event(notify.DigestEvent)
	require.False(t, ok, "only NewTemplates adds the digest event")
	_, err := ts.Render("booking.confirmed", notify.ChannelSMS, "", "", nil)
	requireInvalid(t, err, "event", "is not registered")
	require.NoError(t, ts.AddEvent(bookingSpec()))
	require.NoError(t, ts.Add(bookingTemplates()[1]))
	r, err := ts.Render("booking.confirmed", notify.ChannelSMS, "", "", bookingData())
	require.NoError(t, err)
	require.Equal(t, "Ana & Ben booked you for 2026-06-20.", r.Text)
}

func TestEventReturnsACopy(t *testing.T) {
	ts := notify.NewTemplates()
	spec := bookingSpec()
	require.NoError(t, ts.AddEvent(spec))
	spec.Variables[0] = "changed" // the registry kept its own copy

	got, ok := ts.Event("booking.confirmed")
	require.True(t, ok)
	require.Equal(t, bookingSpec(), got)
	got.Channels[0] = "changed"
	again, _ := ts.Event("booking.confirmed")
	require.Equal(t, bookingSpec(), again)

	_, ok = ts.Event("nope")
	require.False(t, ok)

	digest, ok := ts.Event(notify.DigestEvent)
	require.True(t, ok)
	require.Equal(t, notify.CategorySystem, digest.Category)
	require.Equal(t, []string{"category", "count", "items"}, digest.Variables)
	require.ElementsMatch(t, notify.AllChannels(), digest.Channels)
}

func TestAddValidation(t *testing.T) {
	email := func(change func(*notify.Template)) notify.Template {
		tpl := bookingTemplates()[0]
		change(&tpl)
		return tpl
	}
	cases := []struct {
		name  string
		tpl   notify.Template
		field string
		rule  string
	}{
		{"unknown event", email(func(tp *notify.Template) { tp.Event = "booking.cancelled" }),
			"template.event", `"booking.cancelled" is not registered`},
		{"bad channel", email(func(tp *notify.Template) { tp.Channel = "fax" }),
			"template.channel", `got "fax"`},
		{"channel the event does not list", notify.Template{Event: "invoice.paid", Channel: notify.ChannelSMS, Text: "x"},
			"template.channel", "event invoice.paid does not go out on sms"},
		{"bad vendor type", email(func(tp *notify.Template) { tp.VendorType = "Photographer" }),
			"template.vendor_type", `got "Photographer"`},
		{"vendor type with a digit", email(func(tp *notify.Template) { tp.VendorType = "dj2" }),
			"template.vendor_type", "lower-case letters"},
		{"bad locale", email(func(tp *notify.Template) { tp.Locale = "english" }),
			"template.locale", `got "english"`},
		{"locale with a trailing dash", email(func(tp *notify.Template) { tp.Locale = "en-" }),
			"template.locale", "language tag"},
		{"locale with two regions", email(func(tp *notify.Template) { tp.Locale = "en-GB-US" }),
			"template.locale", "language tag"},
		{"no text", email(func(tp *notify.Template) { tp.Text = " \n" }),
			"template booking.confirmed/email/default.text", "is required"},
		{"no subject for email", email(func(tp *notify.Template) { tp.Subject = "" }),
			"template booking.confirmed/email/default.subject", "is required for email"},
		{"no subject for push", notify.Template{Event: "booking.confirmed", Channel: notify.ChannelPush, Locale: "fr", Text: "x"},
			"template booking.confirmed/push/fr.subject", "is required for push"},
		{"no subject for in-app", notify.Template{Event: "booking.confirmed", Channel: notify.ChannelInApp, VendorType: "venue", Text: "x"},
			"template booking.confirmed/in_app/venue.subject", "is required for in_app"},
		{"HTML for SMS", notify.Template{Event: "booking.confirmed", Channel: notify.ChannelSMS, Text: "x", HTML: "<p>x</p>"},
			"template booking.confirmed/sms/default.html", "is for email only, not sms"},
		{"HTML for push", notify.Template{Event: "booking.confirmed", Channel: notify.ChannelPush, Subject: "s", Text: "x", HTML: "<p>x</p>"},
			"template booking.confirmed/push/default.html", "is for email only, not push"},
		{"text too large", email(func(tp *notify.Template) { tp.Text = strings.Repeat("a", 64<<10+1) }),
			"template booking.confirmed/email/default.text", "is 65537 bytes, more than the limit of 65536"},
		{"HTML too large", email(func(tp *notify.Template) { tp.HTML = strings.Repeat("a", 64<<10+1) }),
			"template booking.confirmed/email/default.html", "more than the limit"},
		{"parse error", email(func(tp *notify.Template) { tp.Subject = "{{.couple_name" }),
			"template booking.confirmed/email/default.subject", "does not parse"},
		{"undefined function", email(func(tp *notify.Template) { tp.Text = "{{upper .couple_name}}" }),
			"template booking.confirmed/email/default.text", `function "upper" not defined`},
		{"HTML parse error", email(func(tp *notify.Template) { tp.HTML = "{{if .note}}" }),
			"template booking.confirmed/email/default.html", "does not parse"},
		{"define", email(func(tp *notify.Template) { tp.Text = `{{define "x"}}hi{{end}}{{.couple_name}}` }),
			"template booking.confirmed/email/default.text", `{{define "x"}} is not supported`},
		{"template", email(func(tp *notify.Template) { tp.Text = `{{template "x" .}}` }),
			"template booking.confirmed/email/default.text", "not supported"},
		{"block", email(func(tp *notify.Template) { tp.Text = `{{block "x" .}}{{.couple_name}}{{end}}` }),
			"template booking.confirmed/email/default.text", "not supported"},
		{"escaper in HTML", email(func(tp *notify.Template) { tp.HTML = `<p>{{.couple_name | html | printf "%s"}}</p>` }),
			"template booking.confirmed/email/default.html", `predefined escaper "html" disallowed`},
		{"HTML ending inside a tag", email(func(tp *notify.Template) { tp.HTML = `<a href="{{.url}}` }),
			"template booking.confirmed/email/default.html", "fails on sample data"},
		{"wrong number of arguments", email(func(tp *notify.Template) { tp.Text = `{{len}}` }),
			"template booking.confirmed/email/default.text", "wrong number of args for len"},
		{"comparison without an operand", email(func(tp *notify.Template) { tp.Subject = `{{if eq .couple_name}}x{{end}}` }),
			"template booking.confirmed/email/default.subject", "missing argument for comparison"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := notify.NewTemplates()
			require.NoError(t, ts.AddEvent(bookingSpec()))
			require.NoError(t, ts.AddEvent(notify.EventSpec{
				Name: "invoice.paid", Category: notify.CategoryPayment, Channels: []notify.Channel{notify.ChannelEmail},
			}))
			requireInvalid(t, ts.Add(tc.tpl), tc.field, tc.rule)
		})
	}

	t.Run("variant twice", func(t *testing.T) {
		ts := newBooking(t)
		requireInvalid(t, ts.Add(bookingTemplates()[1]), "template", "booking.confirmed/sms/default is already registered")
		require.NoError(t, ts.Add(notify.Template{Event: "booking.confirmed", Channel: notify.ChannelSMS, VendorType: "venue", Locale: "en-gb", Text: "x"}))
		requireInvalid(t, ts.Add(notify.Template{Event: "booking.confirmed", Channel: notify.ChannelSMS, VendorType: "venue", Locale: "EN_GB", Text: "y"}),
			"template", "booking.confirmed/sms/venue/en-GB is already registered")
	})

	t.Run("subject on SMS is allowed", func(t *testing.T) {
		ts := notify.NewTemplates()
		require.NoError(t, ts.AddEvent(bookingSpec()))
		require.NoError(t, ts.Add(notify.Template{Event: "booking.confirmed", Channel: notify.ChannelSMS, Subject: "s", Text: "x"}))
	})
}

func TestAddChecksVariables(t *testing.T) {
	add := func(text string) error {
		ts := notify.NewTemplates()
		require.NoError(t, ts.AddEvent(bookingSpec()))
		return ts.Add(notify.Template{Event: "booking.confirmed", Channel: notify.ChannelEmail, Subject: "s", Text: text})
	}
	const part = "template booking.confirmed/email/default.text"
	const msg = "notify: " + part + ": %s is not a variable of event booking.confirmed"

	t.Run("the error names the part and the variable", func(t *testing.T) {
		err := add("Hi {{.recipient_name}}, {{.coupl_name}} booked you")
		require.EqualError(t, err, fmt.Sprintf(msg, "{{.coupl_name}}"))
		requireInvalid(t, err, part, "{{.coupl_name}} is not a variable")
	})

	rejected := []struct{ text, node string }{
		{"{{$.coupl_name}}", "{{$.coupl_name}}"},
		{"{{.coupl_name.first}}", "{{.coupl_name.first}}"},
		{"{{if .cancelled}}x{{end}}", "{{.cancelled}}"},
		{"{{if .note}}{{else}}{{.nope}}{{end}}", "{{.nope}}"},
		{"{{printf \"%s\" .nope}}", "{{.nope}}"},
		{"{{.couple_name | printf \"%s %s\" .nope}}", "{{.nope}}"},
		{"{{range .items}}{{$.nope}}{{end}}", "{{$.nope}}"},
		{"{{range .items}}{{else}}{{.nope}}{{end}}", "{{.nope}}"},
		{"{{with .note}}{{$.nope}}{{end}}", "{{$.nope}}"},
		{"{{with .note}}{{else}}{{.nope}}{{end}}", "{{.nope}}"},
		{"{{with .note}}{{else with .nope}}{{end}}", "{{.nope}}"},
		{"{{with $}}{{.nope}}{{end}}", "{{.nope}}"},
		{"{{$d := $}}{{$d.nope}}", "{{$d.nope}}"},
		{"{{(.).nope}}", "{{(.).nope}}"},
		{`{{index $ "nope"}}`, `{{index $ "nope"}}`},
		{"{{range $i, $e := .items}}{{$.nope}}{{end}}", "{{$.nope}}"},
	}
	for _, tc := range rejected {
		t.Run("rejects "+tc.text, func(t *testing.T) {
			require.EqualError(t, add(tc.text), fmt.Sprintf(msg, tc.node))
		})
	}

	accepted := []string{
		"{{.couple_name}} {{.wedding_date}} {{.note}}",
		"{{.recipient_name}} {{.url}} {{.supplier_id}} {{.vendor_type}}",
		"{{with .note}}{{.anything}}{{end}}",         // the dot is the note there
		"{{range .items}}{{.title}} {{.x.y}}{{end}}", // and an item here
		"{{range $item := .items}}{{$item.title}}{{end}}",
		"{{range $i, $e := .items}}{{$i}}: {{$e.title}}{{end}}",
		"{{with $n := .note}}{{$n.text}}{{end}}",
		"{{$c := .couple_name}}{{$c}}",
		"{{.couple_name.first}}", // fields of a declared variable are the data's business
		`{{index $ "couple_name"}}`,
		"{{range .items}}{{range .parts}}{{$.couple_name}}{{end}}{{end}}",
		"{{/* a comment */}}x",
	}
	for _, text := range accepted {
		t.Run("accepts "+text, func(t *testing.T) {
			require.NoError(t, add(text))
		})
	}
}

func TestAddRangeOnlyOverData(t *testing.T) {
	add := func(text string) error {
		ts := notify.NewTemplates()
		require.NoError(t, ts.AddEvent(bookingSpec()))
		return ts.Add(notify.Template{Event: "booking.confirmed", Channel: notify.ChannelSMS, Text: text})
	}
	for _, text := range []string{
		"{{range 1000000000}}x{{end}}",
		"{{range $}}{{end}}",
		"{{range .}}{{end}}",
		"{{$n := 1000000000}}{{range $n}}{{end}}",
		"{{$n := .items}}{{$n = 1000000000}}{{range $n}}{{end}}",
		"{{range len .items}}{{end}}",
		"{{range (or 0 5)}}{{end}}",
		"{{with 5}}{{range .}}{{end}}{{end}}",
		"{{range $i, $e := .items}}{{range $i}}{{end}}{{end}}",
	} {
		t.Run(text, func(t *testing.T) {
			requireInvalid(t, add(text), "template booking.confirmed/sms/default.text", "must range over a list or map of the data")
		})
	}
	t.Run("nested more than 4 deep", func(t *testing.T) {
		// html/template escapes a range's body twice: each level doubles
		// the work, so depth is limited.
		deep := strings.Repeat("{{range .items}}", 5) + "x" + strings.Repeat("{{end}}", 5)
		requireInvalid(t, add(deep), "template booking.confirmed/sms/default.text", "{{range .items}} is nested more than 4 deep")
		require.NoError(t, add("{{range .items}}{{end}}"+strings.Repeat("{{range .items}}", 4)+"x"+strings.Repeat("{{end}}", 4)))
	})
	for _, text := range []string{
		"{{range .items}}{{end}}",
		"{{range $.items}}{{end}}",
		"{{$l := .items}}{{range $l}}{{end}}",
		"{{range index $ \"items\"}}{{end}}",
		"{{range slice .items 1}}{{end}}",
		"{{range .items}}{{range .}}{{end}}{{end}}",
		"{{with .note}}{{range .lines}}{{end}}{{end}}",
	} {
		t.Run(text, func(t *testing.T) {
			require.NoError(t, add(text))
		})
	}
}

func TestTemplatesValidate(t *testing.T) {
	ts := notify.NewTemplates()
	require.NoError(t, ts.Validate(), "the digest event comes complete")
	require.NoError(t, ts.AddEvent(bookingSpec()))
	require.NoError(t, ts.AddEvent(notify.EventSpec{
		Name: "another.event", Category: "system", Channels: []notify.Channel{notify.ChannelPush},
	}))
	tpls := bookingTemplates()
	require.NoError(t, ts.Add(tpls[0]))
	// A variant is not a default.
	sms := tpls[1]
	sms.VendorType = "venue"
	require.NoError(t, ts.Add(sms))

	err := ts.Validate()
	require.ErrorIs(t, err, notify.ErrInvalid)
	require.EqualError(t, err, strings.Join([]string{
		"notify: templates.another.event.push: no default variant",
		"notify: templates.booking.confirmed.sms: no default variant",
		"notify: templates.booking.confirmed.push: no default variant",
		"notify: templates.booking.confirmed.in_app: no default variant",
	}, "\n"))

	for _, tpl := range tpls[1:] {
		require.NoError(t, ts.Add(tpl))
	}
	require.NoError(t, ts.Add(notify.Template{Event: "another.event", Channel: notify.ChannelPush, Subject: "s", Text: "t"}))
	require.NoError(t, ts.Validate())
}

func TestRenderFallbackOrder(t *testing.T) {
	ts := notify.NewTemplates()
	require.NoError(t, ts.AddEvent(bookingSpec()))
	// Each variant's text is its own name.
	for _, v := range []struct{ vt, loc string }{
		{"", ""}, {"photographer", ""}, {"", "en"}, {"", "en-GB"},
		{"photographer", "en"}, {"photographer", "en-GB"}, {"venue", "fr"}, {"", "pt-BR"},
	} {
		require.NoError(t, ts.Add(notify.Template{
			Event: "booking.confirmed", Channel: notify.ChannelSMS, VendorType: v.vt, Locale: v.loc,
			Text: fmt.Sprintf("%s|%s", v.vt, v.loc),
		}))
	}
	cases := []struct{ vt, loc, want string }{
		{"photographer", "en-GB", "photographer|en-GB"}, // 1: vendor type and locale
		{"photographer", "en-gb", "photographer|en-GB"}, // case does not matter
		{"photographer", "EN_GB", "photographer|en-GB"}, // nor the separator
		{"photographer", "en-US", "photographer|en"},    // 2: vendor type and language
		{"photographer", "en", "photographer|en"},
		{"venue", "en-GB", "|en-GB"},               // 3: locale alone
		{"venue", "en-AU", "|en"},                  // 4: language alone
		{"", "en-GB", "|en-GB"},                    // no vendor type: 3
		{"", "en-IE", "|en"},                       // 4
		{"photographer", "de-DE", "photographer|"}, // 5: vendor type alone
		{"photographer", "", "photographer|"},
		{"venue", "de", "|"},                              // 6: the default
		{"venue", "fr-CA", "venue|fr"},                    // 2
		{"florist", "fr-CA", "|"},                         // 6
		{"", "pt", "|"},                                   // a language does not find its regions
		{"", "pt-br", "|pt-BR"},                           //
		{"photographer", "not a locale", "photographer|"}, // a malformed locale is ignored
		{"", "", "|"},
	}
	for _, tc := range cases {
		t.Run(tc.vt+"/"+tc.loc, func(t *testing.T) {
			r, err := ts.Render("booking.confirmed", notify.ChannelSMS, tc.vt, tc.loc, nil)
			require.NoError(t, err)
			require.Equal(t, tc.want, r.Text)
			vt, loc, _ := strings.Cut(tc.want, "|")
			require.Equal(t, vt, r.VendorType)
			require.Equal(t, loc, r.Locale)
		})
	}
}

func TestRenderLocaleForms(t *testing.T) {
	ts := notify.NewTemplates()
	require.NoError(t, ts.AddEvent(bookingSpec()))
	for _, tc := range []struct{ in, canonical string }{
		{"EN", "en"}, {"pt_br", "pt-BR"}, {"zh-hant-tw", "zh-Hant-TW"}, {"SR-LATN", "sr-Latn"}, {"es-419", "es-419"}, {"gsw", "gsw"},
	} {
		require.NoError(t, ts.Add(notify.Template{Event: "booking.confirmed", Channel: notify.ChannelSMS, Locale: tc.in, Text: tc.canonical}))
		r, err := ts.Render("booking.confirmed", notify.ChannelSMS, "", tc.canonical, nil)
		require.NoError(t, err)
		require.Equal(t, tc.canonical, r.Text)
		require.Equal(t, tc.canonical, r.Locale)
	}
}

func TestRender(t *testing.T) {
	ts := newBooking(t)

	t.Run("email", func(t *testing.T) {
		r, err := ts.Render("booking.confirmed", notify.ChannelEmail, "photographer", "en-GB", bookingData())
		require.NoError(t, err)
		require.Equal(t, &notify.Rendered{
			Subject: "Booking confirmed: Ana & Ben",
			Text:    "Hi Sam,\nAna & Ben booked you for 2026-06-20.",
			HTML:    `<p>Hi Sam,</p><p>Ana &amp; Ben booked you for 2026-06-20.</p><a href="https://wedsync.example/b/1">Open</a>`,
		}, r)
	})

	t.Run("HTML is escaped by context", func(t *testing.T) {
		d := bookingData()
		d["couple_name"] = `<script>alert("x")</script>`
		d["url"] = "javascript:alert(1)"
		r, err := ts.Render("booking.confirmed", notify.ChannelEmail, "", "", d)
		require.NoError(t, err)
		require.Contains(t, r.HTML, `&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;`)
		require.Contains(t, r.HTML, `href="#ZgotmplZ"`)
		require.NotContains(t, r.HTML, "<script>")
		require.Contains(t, r.Text, `<script>alert("x")</script>`, "the text part is not HTML")
	})

	t.Run("optional variables", func(t *testing.T) {
		d := bookingData()
		r, err := ts.Render("booking.confirmed", notify.ChannelEmail, "", "", d)
		require.NoError(t, err)
		require.NotContains(t, r.Text, "Note")
		d["note"] = "bring the drone"
		r, err = ts.Render("booking.confirmed", notify.ChannelEmail, "", "", d)
		require.NoError(t, err)
		require.True(t, strings.HasSuffix(r.Text, "\nNote: bring the drone"), r.Text)
		d["note"] = nil
		_, err = ts.Render("booking.confirmed", notify.ChannelEmail, "", "", d)
		require.NoError(t, err)
	})

	t.Run("absent optional variables", func(t *testing.T) {
		ts := notify.NewTemplates()
		spec := bookingSpec()
		spec.Optional = []string{"note", "extras"}
		require.NoError(t, ts.AddEvent(spec))
		require.NoError(t, ts.Add(notify.Template{Event: "booking.confirmed", Channel: notify.ChannelEmail,
			Subject: "[{{.note}}]",
			Text:    "[{{.note}}] {{if .note}}if{{else}}no-if{{end}} {{with .note}}with{{else}}no-with{{end}} {{range .extras}}x{{else}}no-range{{end}} {{len .extras}}",
			HTML:    "<p>[{{.note}}]</p>"}))
		r, err := ts.Render("booking.confirmed", notify.ChannelEmail, "", "", bookingData())
		require.NoError(t, err)
		require.Equal(t, "[]", r.Subject)
		require.Equal(t, "[] no-if no-with no-range 0", r.Text)
		require.Equal(t, "<p>[]</p>", r.HTML)

		d := bookingData()
		d["note"], d["extras"] = "n", []any{1, 2}
		r, err = ts.Render("booking.confirmed", notify.ChannelEmail, "", "", d)
		require.NoError(t, err)
		require.Equal(t, "[n] if with xx 2", r.Text)
	})

	t.Run("absent built-ins are empty", func(t *testing.T) {
		d := map[string]any{"couple_name": "Ana", "wedding_date": "soon", "items": nil}
		r, err := ts.Render("booking.confirmed", notify.ChannelEmail, "", "", d)
		require.NoError(t, err)
		require.Equal(t, "Hi ,\nAna booked you for soon.", r.Text)
		require.NotContains(t, r.HTML, "<a")
		require.Len(t, d, 3, "Render does not change the caller's map")
	})

	t.Run("missing variable", func(t *testing.T) {
		d := bookingData()
		delete(d, "wedding_date")
		_, err := ts.Render("booking.confirmed", notify.ChannelPush, "venue", "fr", d)
		var re *notify.RenderError
		require.ErrorAs(t, err, &re)
		require.Equal(t, notify.RenderError{Event: "booking.confirmed", Channel: notify.ChannelPush, Err: re.Err}, *re)
		require.ErrorContains(t, err, "notify: rendering booking.confirmed/push/default: template: booking.confirmed/push/default.text:1:")
		require.ErrorContains(t, err, `map has no entry for key "wedding_date"`)
	})

	t.Run("wrong type", func(t *testing.T) {
		ts := notify.NewTemplates()
		require.NoError(t, ts.AddEvent(bookingSpec()))
		require.NoError(t, ts.Add(notify.Template{Event: "booking.confirmed", Channel: notify.ChannelSMS,
			Text: "{{range .items}}{{.title}}{{end}}"}))
		_, err := ts.Render("booking.confirmed", notify.ChannelSMS, "", "", map[string]any{"items": "not a list"})
		var re *notify.RenderError
		require.ErrorAs(t, err, &re)
		require.ErrorContains(t, err, "range can't iterate over not a list")
		r, err := ts.Render("booking.confirmed", notify.ChannelSMS, "", "", map[string]any{
			"items": []any{map[string]any{"title": "a"}, map[string]any{"title": "b"}},
		})
		require.NoError(t, err)
		require.Equal(t, "ab", r.Text)
	})

	t.Run("subject and text are trimmed, subject on one line", func(t *testing.T) {
		ts := notify.NewTemplates()
		require.NoError(t, ts.AddEvent(bookingSpec()))
		require.NoError(t, ts.Add(notify.Template{Event: "booking.confirmed", Channel: notify.ChannelPush,
			Subject: "\n  Hello {{.couple_name}}  \n", Text: "\n\n  body\n line 2 \n\n"}))
		r, err := ts.Render("booking.confirmed", notify.ChannelPush, "", "", map[string]any{"couple_name": "A\r\nBcc: x@y.z"})
		require.NoError(t, err)
		require.Equal(t, "Hello A Bcc: x@y.z", r.Subject)
		require.Equal(t, "body\n line 2", r.Text)
	})

	t.Run("SMS", func(t *testing.T) {
		r, err := ts.Render("booking.confirmed", notify.ChannelSMS, "", "", bookingData())
		require.NoError(t, err)
		require.Equal(t, "Ana & Ben booked you for 2026-06-20.", r.Text)
		require.Equal(t, notify.SMSInfo{Encoding: notify.EncodingGSM7, Units: 36, Segments: 1}, r.SMS)
		r, err = ts.Render("booking.confirmed", notify.ChannelPush, "", "", bookingData())
		require.NoError(t, err)
		require.Zero(t, r.SMS, "only SMS is measured")
	})

	t.Run("unknown event and channel", func(t *testing.T) {
		_, err := ts.Render("nope", notify.ChannelSMS, "", "", nil)
		requireInvalid(t, err, "event", `"nope" is not registered`)
		ts := notify.NewTemplates()
		require.NoError(t, ts.AddEvent(notify.EventSpec{Name: "x", Category: "system", Channels: []notify.Channel{notify.ChannelSMS}}))
		_, err = ts.Render("x", notify.ChannelEmail, "", "", nil)
		requireInvalid(t, err, "channel", `event x does not go out on "email"`)
		_, err = ts.Render("x", notify.ChannelSMS, "", "", nil)
		requireInvalid(t, err, "channel", "event x has no default template for sms")
	})
}

func TestCheckData(t *testing.T) {
	ts := newBooking(t)
	require.NoError(t, ts.CheckData("booking.confirmed", bookingData()))
	d := bookingData()
	d["note"] = map[string]any{"any": []any{"JSON", 1.5}}
	require.NoError(t, ts.CheckData("booking.confirmed", d))
	require.NoError(t, ts.CheckData("booking.confirmed", map[string]any{"couple_name": 1, "wedding_date": nil, "items": nil}),
		"built-ins are optional, values are not checked")

	requireInvalid(t, ts.CheckData("nope", nil), "event", `"nope" is not registered`)

	err := ts.CheckData("booking.confirmed", map[string]any{"couple_name": "A", "zeta": 1, "coupl_name": "B", "url": ""})
	require.ErrorIs(t, err, notify.ErrInvalid)
	require.EqualError(t, err, strings.Join([]string{
		"notify: data.coupl_name: is not a variable of event booking.confirmed",
		"notify: data.items: is required by event booking.confirmed",
		"notify: data.wedding_date: is required by event booking.confirmed",
		"notify: data.zeta: is not a variable of event booking.confirmed",
	}, "\n"))
	var ve *notify.ValidationError
	require.ErrorAs(t, err, &ve)
	require.Equal(t, "data.coupl_name", ve.Field)
}

func TestDigest(t *testing.T) {
	ts := notify.NewTemplates()
	require.NoError(t, ts.Validate())
	items := []notify.DigestItem{
		{Subject: "Booking confirmed", Text: "Ana & Ben, 20 June"},
		{Subject: "New enquiry", Text: "<b>Cleo</b> asks about May"},
	}
	data := notify.DigestData(notify.CategoryBooking, 3, items)
	data["url"] = "https://wedsync.example/inbox"
	require.NoError(t, ts.CheckData(notify.DigestEvent, data))

	r, err := ts.Render(notify.DigestEvent, notify.ChannelEmail, "", "", data)
	require.NoError(t, err)
	require.Equal(t, "3 new booking notifications", r.Subject)
	require.Equal(t, "3 new booking notifications:\n\n"+
		"- Booking confirmed: Ana & Ben, 20 June\n"+
		"- New enquiry: <b>Cleo</b> asks about May\n\n"+
		"https://wedsync.example/inbox", r.Text)
	require.Equal(t, `<p>3 new booking notifications:</p>
<ul>
<li><strong>Booking confirmed</strong>: Ana &amp; Ben, 20 June</li>
<li><strong>New enquiry</strong>: &lt;b&gt;Cleo&lt;/b&gt; asks about May</li>
</ul>
<p><a href="https://wedsync.example/inbox">See them all</a></p>
`, r.HTML)

	// Data that went through JSON: count is a float64, items are []any.
	one := map[string]any{"category": "payment", "count": 1.0, "items": []any{map[string]any{"subject": "Paid", "text": "£500"}}}
	for _, ch := range notify.AllChannels() {
		r, err := ts.Render(notify.DigestEvent, ch, "", "", one)
		require.NoError(t, err, ch)
		require.Contains(t, r.Text, "- Paid: £500", ch)
		if ch != notify.ChannelSMS {
			require.Equal(t, "1 new payment notification", r.Subject, ch)
		} else {
			require.Equal(t, "1 new payment notification:\n- Paid: £500", r.Text)
			require.Equal(t, notify.SMSInfo{Encoding: notify.EncodingGSM7, Units: 40, Segments: 1}, r.SMS)
		}
	}

	// A host may add variants of the digest.
	require.NoError(t, ts.Add(notify.Template{Event: notify.DigestEvent, Channel: notify.ChannelSMS, Locale: "fr",
		Text: "{{.count}} nouvelles notifications"}))
	r, err = ts.Render(notify.DigestEvent, notify.ChannelSMS, "venue", "fr-FR", one)
	require.NoError(t, err)
	require.Equal(t, "1 nouvelles notifications", r.Text)
}

func TestSMSSegments(t *testing.T) {
	const gsmBasic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡" +
		"ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	require.Len(t, []rune(gsmBasic), 127, "GSM 03.38 has 128 codes, one of them the escape")
	gsm := notify.EncodingGSM7
	ucs := notify.EncodingUCS2
	a := func(n int) string { return strings.Repeat("a", n) }
	zh := func(n int) string { return strings.Repeat("ж", n) }
	cases := []struct {
		name     string
		text     string
		encoding string
		units    int
		segments int
	}{
		{"empty", "", gsm, 0, 0},
		{"one", "a", gsm, 1, 1},
		{"the basic set", gsmBasic, gsm, 127, 1},
		{"the extension table", "^{}\\[~]|€\f", gsm, 20, 1},
		{"160", a(160), gsm, 160, 1},
		{"161", a(161), gsm, 161, 2},
		{"306", a(306), gsm, 306, 2},
		{"307", a(307), gsm, 307, 3},
		{"459", a(459), gsm, 459, 3},
		{"460", a(460), gsm, 460, 4},
		{"é and Ä are GSM", strings.Repeat("é", 160), gsm, 160, 1},
		{"158 and an extension", a(158) + "€", gsm, 160, 1},
		{"159 and an extension", a(159) + "€", gsm, 161, 2},
		// 152 septets, then an escape pair that would straddle the 153
		// boundary: it moves to the second part, and 152+2+152 = 306
		// septets need three parts, not two.
		{"extension not split", a(152) + "{" + a(152), gsm, 306, 3},
		{"extension that fits", a(151) + "{" + a(153), gsm, 306, 2},
		{"backtick is not GSM", "`", ucs, 1, 1},
		{"tab is not GSM", "a\tb", ucs, 3, 1},
		{"escape code is not GSM", "\x1b", ucs, 1, 1},
		{"ç (lower case) is not GSM", "ç", ucs, 1, 1},
		{"70 cyrillic", zh(70), ucs, 70, 1},
		{"71 cyrillic", zh(71), ucs, 71, 2},
		{"134 cyrillic", zh(134), ucs, 134, 2},
		{"135 cyrillic", zh(135), ucs, 135, 3},
		{"one non-GSM turns the whole text UCS-2", a(100) + "ж", ucs, 101, 2},
		{"extension chars are one unit in UCS-2", "€{ж", ucs, 3, 1},
		{"emoji", "🎉", ucs, 2, 1},
		{"35 emoji", strings.Repeat("🎉", 35), ucs, 70, 1},
		{"36 emoji", strings.Repeat("🎉", 36), ucs, 72, 2},
		// 66 units, then a surrogate pair that would straddle 67.
		{"surrogate pair not split", zh(66) + "🎉" + zh(66), ucs, 134, 3},
		{"surrogate pair that fits", zh(65) + "🎉" + zh(67), ucs, 134, 2},
		{"invalid UTF-8 is U+FFFD", "a\xffb", ucs, 3, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, notify.SMSInfo{Encoding: tc.encoding, Units: tc.units, Segments: tc.segments}, notify.SMSSegments(tc.text))
		})
	}
}

// TestConcurrentAddRender runs Add, AddEvent, Validate, CheckData and
// Render at once; -race checks the locking.
func TestConcurrentAddRender(t *testing.T) {
	ts := newBooking(t)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 4 {
		wg.Go(func() {
			for i := range 50 {
				vt := fmt.Sprintf("vendor_%c", 'a'+w)
				err := ts.Add(notify.Template{Event: "booking.confirmed", Channel: notify.ChannelSMS, VendorType: vt,
					Locale: fmt.Sprintf("e%c", 'a'+i%26) + strings.Repeat("x", i/26), Text: "{{.couple_name}} " + vt})
				if err != nil {
					errs <- err
					return
				}
				if err := ts.AddEvent(notify.EventSpec{Name: fmt.Sprintf("e%d.%d", w, i), Category: "system",
					Channels: []notify.Channel{notify.ChannelSMS}}); err != nil {
					errs <- err
					return
				}
			}
		})
		wg.Go(func() {
			for range 200 {
				r, err := ts.Render("booking.confirmed", notify.ChannelSMS, fmt.Sprintf("vendor_%c", 'a'+w), "ea", bookingData())
				if err == nil && !strings.HasPrefix(r.Text, "Ana & Ben") {
					err = fmt.Errorf("rendered %q", r.Text)
				}
				if err == nil {
					err = ts.CheckData("booking.confirmed", bookingData())
				}
				if err != nil {
					errs <- err
					return
				}
				_ = ts.Validate() // the new events have no templates: an error, but no race
				_, _ = ts.Event("booking.confirmed")
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	r, err := ts.Render("booking.confirmed", notify.ChannelSMS, "vendor_c", "ea", bookingData())
	require.NoError(t, err)
	require.Equal(t, "Ana & Ben vendor_c", r.Text)
	require.Equal(t, "ea", r.Locale)
}

// FuzzTemplateAdd adds arbitrary template text to a registered event: Add
// either refuses it with a *ValidationError, or Render executes it with
// the sample data (every variable a string, the optional one absent)
// without panicking, returning a result or a *RenderError.
func FuzzTemplateAdd(f *testing.F) {
	for _, tpl := range bookingTemplates()[:1] {
		f.Add(tpl.Subject, tpl.Text, tpl.HTML)
	}
	f.Add("{{.count}}", "{{range .items}}- {{.subject}}: {{.text}}\n{{end}}", `<ul>{{range .items}}<li>{{.}}</li>{{end}}</ul>`)
	f.Add("{{with .note}}{{.}}{{else}}none{{end}}", "{{$d := $}}{{$d.nope}}", `<a href="{{.url}}">{{.couple_name}}</a>`)
	f.Add("{{range $i, $e := .items}}{{$i}}{{end}}", "{{index $ \"couple_name\"}}", `<script>var x = {{.couple_name}};</script>`)
	f.Add("{{if eq .couple_name \"x\"}}y{{end}}", "{{printf \"%q\" .wedding_date | len}}", `<p style="color: {{.note}}">`)
	f.Add("{{range 3}}x{{end}}", "{{template \"x\"}}", "{{html .url}}")
	// Nested ranges made html/template's escaping take 2^depth steps
	// before Add limited their depth.
	f.Add("s", "t", strings.Repeat("{{range .items}}<p>", 30)+strings.Repeat("{{end}}", 30))
	f.Fuzz(func(t *testing.T, subject, text, html string) {
		ts := &notify.Templates{} // the zero value works, and skips parsing the digest
		require.NoError(t, ts.AddEvent(bookingSpec()))
		err := ts.Add(notify.Template{Event: "booking.confirmed", Channel: notify.ChannelEmail, Subject: subject, Text: text, HTML: html})
		if err != nil {
			require.ErrorIs(t, err, notify.ErrInvalid)
			return
		}
		sample := map[string]any{}
		for _, v := range append(bookingSpec().Variables, notify.BuiltinVariables()...) {
			sample[v] = "[" + v + "]"
		}
		r, err := ts.Render("booking.confirmed", notify.ChannelEmail, "", "", sample)
		if err != nil {
			var re *notify.RenderError
			require.True(t, errors.As(err, &re), "%T %v", err, err)
			return
		}
		require.Equal(t, strings.TrimSpace(r.Subject), r.Subject)
		require.NotContains(t, r.Subject, "\n")
		require.Equal(t, strings.TrimSpace(r.Text), r.Text)
	})
}

// FuzzSMSSegments checks that the measure of any text is consistent.
func FuzzSMSSegments(f *testing.F) {
	for _, s := range []string{"", "a", strings.Repeat("a", 161), strings.Repeat("{", 80) + "a", "🎉ж", strings.Repeat("ж", 67) + "🎉", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		info := notify.SMSSegments(text)
		if text == "" {
			require.Equal(t, notify.SMSInfo{Encoding: notify.EncodingGSM7}, info)
			return
		}
		single, multi, widest := 160, 153, 2
		if info.Encoding == notify.EncodingUCS2 {
			single, multi = 70, 67
			u := 0
			for _, r := range text {
				if r >= 0x10000 {
					u += 2
				} else {
					u++
				}
			}
			require.Equal(t, u, info.Units)
		} else {
			require.Equal(t, notify.EncodingGSM7, info.Encoding)
			require.GreaterOrEqual(t, info.Units, len([]rune(text)))
			require.LessOrEqual(t, info.Units, 2*len([]rune(text)))
		}
		require.GreaterOrEqual(t, info.Units, 1)
		if info.Units <= single {
			require.Equal(t, 1, info.Segments)
			return
		}
		require.GreaterOrEqual(t, info.Segments, 2)
		// Every part holds at most multi units, and every part but the
		// last at least multi-widest+1 (a character moved on whole).
		require.GreaterOrEqual(t, info.Segments*multi, info.Units)
		require.Less(t, (info.Segments-1)*(multi-widest+1), info.Units)
	})
}

func BenchmarkRender(b *testing.B) {
	ts := newBooking(b)
	data := bookingData()
	data["note"] = "bring the drone"
	for _, ch := range []notify.Channel{notify.ChannelEmail, notify.ChannelSMS} {
		b.Run(string(ch), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ts.Render("booking.confirmed", ch, "photographer", "en-GB", data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("digest-email", func(b *testing.B) {
		ts := notify.NewTemplates()
		items := make([]notify.DigestItem, 5)
		for i := range items {
			items[i] = notify.DigestItem{Subject: fmt.Sprintf("Booking %d", i), Text: "Ana & Ben booked you for 2026-06-20."}
		}
		data := notify.DigestData(notify.CategoryBooking, 5, items)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ts.Render(notify.DigestEvent, notify.ChannelEmail, "", "", data); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkSMSSegments(b *testing.B) {
	text := strings.Repeat("Ana & Ben booked you for 2026-06-20. ", 5)
	b.ReportAllocs()
	for b.Loop() {
		notify.SMSSegments(text)
	}
}
