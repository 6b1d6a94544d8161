package notify

import (
	"bytes"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"text/template"
	"text/template/parse"
	"unicode/utf16"

	"github.com/wedsync/integrations/internal/validate"
)

// EventSpec declares an event: its category, the variables its templates
// may use and its Data must supply, and the channels it has templates for.
type EventSpec struct {
	// Name is the event ("booking.confirmed"): 1 to 100 lower-case letters,
	// digits, '.', '_' and '-', starting with a letter.
	Name string
	// Category is the default category of its notifications: lower-case
	// letters, digits and '_'. Required.
	Category Category
	// Variables are the names of the Data entries every notification of
	// the event must supply. A name is a template identifier
	// ([a-z_][a-z0-9_]*) and not one of the built-in variables
	// (BuiltinVariables), which every template may use without declaring.
	Variables []string
	// Optional are Data entries that may be absent. An absent one prints
	// as an empty string, is false in {{if .x}} and {{with .x}}, and
	// {{range .x}} runs its {{else}}. Same rules as Variables.
	Optional []string
	// Channels the event can go out on. Each needs a default template
	// (no vendor type, no locale); a channel not listed is not used for
	// this event. At least one.
	Channels []Channel
}

// Template is one variant of one event's message on one channel.
type Template struct {
	// Event is a registered event (AddEvent) that lists Channel.
	Event   string
	Channel Channel
	// VendorType and Locale select the variant; empty means the default.
	// VendorType is lower-case letters and '_' ("photographer"); Locale is
	// a BCP 47 language tag of a language, an optional script and an
	// optional region ("en", "en-GB", "pt-BR", "zh-Hant-TW"), stored in
	// canonical case ("EN_gb" becomes "en-GB").
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
	// Subject and Text have surrounding white space trimmed; line breaks
	// inside Subject become spaces.
	Subject string
	Text    string
	HTML    string
	// VendorType and Locale name the variant that was used.
	VendorType string
	Locale     string
	// SMS describes Text as an SMS (for ChannelSMS only).
	SMS SMSInfo
}

// SMS encodings (SMSInfo.Encoding).
const (
	EncodingGSM7 = "GSM-7"
	EncodingUCS2 = "UCS-2"
)

// SMSInfo is the size of a text as an SMS.
type SMSInfo struct {
	// Encoding is "GSM-7" when every character is in the GSM 03.38
	// alphabet (with its extension table), "UCS-2" otherwise.
	Encoding string
	// Units is the length in the encoding's units: septets for GSM-7
	// (extension characters count two), UTF-16 code units for UCS-2
	// (characters outside the Basic Multilingual Plane, such as emoji,
	// count two).
	Units int
	// Segments is how many SMS the text is sent as: 0 for an empty text,
	// 1 up to 160 septets or 70 units, else concatenated parts of at most
	// 153 septets or 67 units, where an extension character or a
	// surrogate pair is never split across two parts.
	Segments int
}

// Built-in variables: the notifier puts them in every notification's data,
// so every template may use them without declaring them ({{.url}}). Render
// treats an absent one as an empty string.
const (
	// VarRecipientName is Recipient.Name.
	VarRecipientName = "recipient_name"
	// VarURL is Notification.URL.
	VarURL = "url"
	// VarSupplierID is Recipient.SupplierID.
	VarSupplierID = "supplier_id"
	// VarVendorType is Recipient.VendorType.
	VarVendorType = "vendor_type"
)

// BuiltinVariables returns the names of the built-in variables.
func BuiltinVariables() []string {
	return []string{VarRecipientName, VarURL, VarSupplierID, VarVendorType}
}

func isBuiltin(name string) bool {
	switch name {
	case VarRecipientName, VarURL, VarSupplierID, VarVendorType:
		return true
	}
	return false
}

// maxPartSize is the largest Subject, Text or HTML a template may have.
const maxPartSize = 64 << 10

// maxRangeDepth is how deep ranges may nest.
const maxRangeDepth = 4

// Templates holds events and their template variants. Build it before the
// notifier starts: AddEvent, then Add for each variant, then Validate. It is
// safe for concurrent use; Add may run while other goroutines Render.
//
// Templates are parsed once, by Add, with missingkey=error: a variable that
// is missing from the data at Render is an error, not "<no value>". Add
// checks each part at load time:
//
//   - it parses (text/template for Subject and Text, html/template for
//     HTML), uses only the built-in functions of its package, and is at
//     most 64 KiB;
//   - every reference to a variable of the data ({{.name}}, {{$.name}},
//     {{.name.sub}}, {{index $ "name"}}) names one of the event's Variables
//     or Optional, or a built-in variable. Inside {{range}} and {{with}} the
//     dot is an element of the data, so only $-rooted references are
//     checked there;
//   - {{range}} ranges over the data (a variable such as {{range .items}}
//     or a $-variable bound to data), never over a constant or a function's
//     result, so no template loops on its own ({{range 1000000000}} is
//     refused);
//   - ranges nest at most 4 deep (html/template escapes a range's body
//     twice, so each level doubles the work of checking it);
//   - {{define}}, {{block}} and {{template}} are refused: each part is one
//     self-contained template;
//   - it executes with sample data in which every variable is a
//     placeholder string and every optional one is absent. That run
//     rejects what no data could cure: html/template's escaping errors, a
//     variable reached through an alias ({{$d := $}}{{$d.nope}}), a
//     function called with the wrong number of arguments. Errors that
//     depend on the data's types (ranging over a placeholder that will be
//     a list, a field of a placeholder that will be a map) are left to
//     Render.
//
// The zero Templates works but lacks the digest event: use NewTemplates.
type Templates struct {
	mu     sync.RWMutex
	events map[string]*eventInfo
}

// eventInfo is a registered event. Everything but variants is immutable
// once registered; variants is guarded by Templates.mu, and each *variant
// is immutable.
type eventInfo struct {
	spec EventSpec
	// known holds Variables, Optional and the built-ins.
	known map[string]bool
	// fill are the entries Render adds when absent: built-ins as "",
	// optional variables as absentValue.
	fill []fillEntry
	// sample is the load-time data: placeholders for variables and
	// built-ins, absentValue for optional ones. Read-only.
	sample   map[string]any
	variants map[variantKey]*variant
}

// absentValue is what templates see for an optional variable that the data
// lacks: it prints as "" (where nil prints "<no value>"), is false in {{if}}
// and {{with}}, ranges over nothing, and has length 0.
type absentValue []any

func (absentValue) String() string { return "" }

type fillEntry struct {
	key   string
	value any
}

type variantKey struct {
	ch         Channel
	vendorType string
	locale     string
}

type variant struct {
	vendorType, locale string
	subject, text      *template.Template
	html               *htmltemplate.Template
}

// NewTemplates returns a registry that already holds the digest event
// (DigestEvent) with default templates on every channel.
func NewTemplates() *Templates {
	t := &Templates{events: make(map[string]*eventInfo)}
	if err := t.AddEvent(EventSpec{
		Name:      DigestEvent,
		Category:  CategorySystem,
		Variables: []string{DigestVarCategory, DigestVarCount, DigestVarItems},
		Channels:  AllChannels(),
	}); err != nil {
		panic("notify: digest event: " + err.Error())
	}
	for _, tpl := range digestTemplates() {
		if err := t.Add(tpl); err != nil {
			panic("notify: digest template: " + err.Error())
		}
	}
	return t
}

// DigestEvent is the event of digest messages. Its data has three
// variables: "category" (the category's name), "count" (how many
// notifications the digest holds, a number) and "items" (a list of maps
// with the keys "subject" and "text", one per notification shown; it may
// hold fewer than count). DigestData builds it. Its category is
// CategorySystem and it has default templates on every channel; a host may
// Add vendor-type or locale variants of it.
const DigestEvent = "notify.digest"

// The variables of DigestEvent, and the keys of each of its items.
const (
	DigestVarCategory = "category"
	DigestVarCount    = "count"
	DigestVarItems    = "items"
	DigestItemSubject = "subject"
	DigestItemText    = "text"
)

// DigestItem is one notification shown in a digest.
type DigestItem struct {
	Subject string
	Text    string
}

// DigestData returns the data of a DigestEvent notification: count
// notifications of category, of which items are shown.
func DigestData(category Category, count int, items []DigestItem) map[string]any {
	list := make([]map[string]any, len(items))
	for i, it := range items {
		list[i] = map[string]any{DigestItemSubject: it.Subject, DigestItemText: it.Text}
	}
	return map[string]any{
		DigestVarCategory: string(category),
		DigestVarCount:    count,
		DigestVarItems:    list,
	}
}

// digestTemplates are DigestEvent's default variants. count is printed and
// compared as text, so that it works as an int and as a float64 (data that
// went through JSON).
func digestTemplates() []Template {
	const (
		summary = `{{.count}} new {{.category}} {{if eq (print .count) "1"}}notification{{else}}notifications{{end}}`
		list    = "{{range .items}}- {{.subject}}: {{.text}}\n{{end}}"
		link    = "{{with .url}}\n{{.}}{{end}}"
		html    = `<p>` + summary + `:</p>
<ul>
{{range .items}}<li><strong>{{.subject}}</strong>: {{.text}}</li>
{{end}}</ul>
{{with .url}}<p><a href="{{.}}">See them all</a></p>
{{end}}`
	)
	return []Template{
		{Event: DigestEvent, Channel: ChannelEmail, Subject: summary, Text: summary + ":\n\n" + list + link, HTML: html},
		{Event: DigestEvent, Channel: ChannelSMS, Text: summary + ":\n" + list + link},
		{Event: DigestEvent, Channel: ChannelPush, Subject: summary, Text: list},
		{Event: DigestEvent, Channel: ChannelInApp, Subject: summary, Text: list},
	}
}

// AddEvent registers an event. It returns a *ValidationError for each
// field that breaks its rule (joined), and one naming event.name when an
// event of that name is already registered.
func (t *Templates) AddEvent(spec EventSpec) error {
	c := validate.NewChecker("notify")
	c.Check(validEventName(spec.Name), "event.name",
		"must be 1 to 100 lower-case letters, digits, '.', '_' or '-', starting with a letter; got %q", spec.Name)
	c.Check(spec.Category != "" && len(spec.Category) <= 100 && charset(string(spec.Category), true, "_"), "event.category",
		"must be 1 to 100 lower-case letters, digits or '_'; got %q", spec.Category)
	seen := make(map[string]string)
	checkVars := func(list string, names []string) {
		for i, name := range names {
			field := fmt.Sprintf("event.%s[%d]", list, i)
			switch {
			case !validIdent(name):
				c.Check(false, field, "must be a template identifier ([a-z_][a-z0-9_]*, at most 100 characters); got %q", name)
			case isBuiltin(name):
				c.Check(false, field, "%q is built in (%s): templates use it without declaring it",
					name, strings.Join(BuiltinVariables(), ", "))
			case seen[name] != "":
				c.Check(false, field, "repeats %q (%s)", name, seen[name])
			default:
				seen[name] = field
			}
		}
	}
	checkVars("variables", spec.Variables)
	checkVars("optional", spec.Optional)
	c.Check(len(spec.Channels) > 0, "event.channels", "must name at least one channel")
	for i, ch := range spec.Channels {
		field := fmt.Sprintf("event.channels[%d]", i)
		if !ch.Valid() {
			c.Check(false, field, "must be email, sms, push or in_app; got %q", ch)
		} else if slices.Contains(spec.Channels[:i], ch) {
			c.Check(false, field, "repeats %q", ch)
		}
	}
	if err := c.Err(); err != nil {
		return err
	}

	spec.Variables = slices.Clone(spec.Variables)
	spec.Optional = slices.Clone(spec.Optional)
	spec.Channels = slices.Clone(spec.Channels)
	ev := &eventInfo{
		spec:     spec,
		known:    make(map[string]bool),
		sample:   make(map[string]any),
		variants: make(map[variantKey]*variant),
	}
	for _, name := range BuiltinVariables() {
		ev.known[name] = true
		ev.sample[name] = placeholder(name)
		ev.fill = append(ev.fill, fillEntry{name, ""})
	}
	for _, name := range spec.Variables {
		ev.known[name] = true
		ev.sample[name] = placeholder(name)
	}
	for _, name := range spec.Optional {
		ev.known[name] = true
		ev.sample[name] = absentValue(nil)
		ev.fill = append(ev.fill, fillEntry{name, absentValue(nil)})
	}

	t.mu.Lock()
	defer t.mu.Unlock()
	if _, dup := t.events[spec.Name]; dup {
		return invalid("event.name", "%q is already registered", spec.Name)
	}
	if t.events == nil {
		t.events = make(map[string]*eventInfo)
	}
	t.events[spec.Name] = ev
	return nil
}

func placeholder(name string) string { return "[" + name + "]" }

// Add registers a template variant; it is parsed and checked now (see
// Templates for what is checked). The event must be registered and list
// the template's channel, and the variant (event, channel, vendor type,
// locale) must be new. Errors are *ValidationError: "template.event",
// "template.channel", "template.vendor_type", "template.locale", or for a
// part "template booking.confirmed/email/default.text".
func (t *Templates) Add(tpl Template) error {
	t.mu.RLock()
	ev := t.events[tpl.Event]
	t.mu.RUnlock()
	if ev == nil {
		return invalid("template.event", "%q is not registered (AddEvent first)", tpl.Event)
	}
	if !tpl.Channel.Valid() {
		return invalid("template.channel", "must be email, sms, push or in_app; got %q", tpl.Channel)
	}
	if !slices.Contains(ev.spec.Channels, tpl.Channel) {
		return invalid("template.channel", "event %s does not go out on %s (its channels are %v)",
			tpl.Event, tpl.Channel, ev.spec.Channels)
	}
	if tpl.VendorType != "" && (len(tpl.VendorType) > 100 || !charset(tpl.VendorType, false, "_")) {
		return invalid("template.vendor_type", "must be empty or at most 100 lower-case letters and '_'; got %q", tpl.VendorType)
	}
	locale, ok := normLocale(tpl.Locale)
	if !ok {
		return invalid("template.locale", `must be empty or a language tag such as "en", "en-GB" or "zh-Hant-TW"; got %q`, tpl.Locale)
	}
	key := variantKey{ch: tpl.Channel, vendorType: tpl.VendorType, locale: locale}
	name := variantName(tpl.Event, key)
	t.mu.RLock()
	_, dup := ev.variants[key]
	t.mu.RUnlock()
	if dup {
		return invalid("template", "%s is already registered", name)
	}

	v, err := ev.compile(name, tpl)
	if err != nil {
		return err
	}
	v.vendorType, v.locale = key.vendorType, key.locale

	t.mu.Lock()
	defer t.mu.Unlock()
	if _, dup := ev.variants[key]; dup {
		return invalid("template", "%s is already registered", name)
	}
	ev.variants[key] = v
	return nil
}

// variantName is "event/channel/variant", the variant being "default",
// the vendor type, the locale, or "vendor_type/locale".
func variantName(event string, k variantKey) string {
	v := k.vendorType
	switch {
	case v == "" && k.locale == "":
		v = "default"
	case v == "":
		v = k.locale
	case k.locale != "":
		v += "/" + k.locale
	}
	return event + "/" + string(k.ch) + "/" + v
}

// compile parses and checks the parts of tpl, whose variant is name.
func (ev *eventInfo) compile(name string, tpl Template) (*variant, error) {
	part := func(p string) string { return "template " + name + "." + p }
	if strings.TrimSpace(tpl.Text) == "" {
		return nil, invalid(part("text"), "is required")
	}
	if tpl.Channel != ChannelSMS && strings.TrimSpace(tpl.Subject) == "" {
		return nil, invalid(part("subject"), "is required for %s", tpl.Channel)
	}
	if tpl.HTML != "" && tpl.Channel != ChannelEmail {
		return nil, invalid(part("html"), "is for email only, not %s", tpl.Channel)
	}
	for _, p := range []struct{ name, src string }{{"subject", tpl.Subject}, {"text", tpl.Text}, {"html", tpl.HTML}} {
		if len(p.src) > maxPartSize {
			return nil, invalid(part(p.name), "is %d bytes, more than the limit of %d", len(p.src), maxPartSize)
		}
	}
	v := &variant{}
	var err error
	if tpl.Subject != "" {
		if v.subject, err = ev.compileText(name+".subject", tpl.Subject); err != nil {
			return nil, err
		}
	}
	if v.text, err = ev.compileText(name+".text", tpl.Text); err != nil {
		return nil, err
	}
	if tpl.HTML != "" {
		if v.html, err = ev.compileHTML(name+".html", tpl.HTML); err != nil {
			return nil, err
		}
	}
	return v, nil
}

func (ev *eventInfo) compileText(name, src string) (*template.Template, error) {
	tp, err := template.New(name).Option("missingkey=error").Parse(src)
	if err != nil {
		return nil, invalid("template "+name, "does not parse: %v", err)
	}
	var defined []string
	for _, d := range tp.Templates() {
		defined = append(defined, d.Name())
	}
	return tp, ev.verify(name, tp.Tree, defined, tp.Execute)
}

func (ev *eventInfo) compileHTML(name, src string) (*htmltemplate.Template, error) {
	tp, err := htmltemplate.New(name).Option("missingkey=error").Parse(src)
	if err != nil {
		return nil, invalid("template "+name, "does not parse: %v", err)
	}
	var defined []string
	for _, d := range tp.Templates() {
		defined = append(defined, d.Name())
	}
	// The first execution also escapes the template, so that later ones
	// (concurrent Renders) only read it.
	return tp, ev.verify(name, tp.Tree, defined, tp.Execute)
}

// verify runs the load-time checks of a parsed part: its variables against
// the event's (check), then one execution on the sample data, which fails
// only on errors no real data could fix (loadTimeError).
func (ev *eventInfo) verify(name string, tree *parse.Tree, defined []string, execute func(io.Writer, any) error) error {
	if err := ev.check(name, tree, defined); err != nil {
		return err
	}
	if err := execute(discard{}, ev.sample); err != nil && loadTimeError(err) {
		return invalid("template "+name, "fails on sample data: %v", err)
	}
	return nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// loadTimeError reports whether an error of the sample execution is one
// that no data could cure. The others (types: a placeholder string ranged
// over or asked for a field) are left to Render.
func loadTimeError(err error) bool {
	var he *htmltemplate.Error
	if errors.As(err, &he) {
		return true // escaping: depends on the template only
	}
	msg := err.Error()
	for _, s := range []string{
		"map has no entry for key",        // an undeclared variable (every declared one is in the sample)
		"wrong number of args for",        // {{len}}, {{not 1 2}}
		"missing argument for comparison", // {{eq .x}}
		"no such template",
		"incomplete or empty template",
	} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// check walks a parsed part: see Templates for the rules.
func (ev *eventInfo) check(name string, tree *parse.Tree, defined []string) error {
	for _, d := range defined {
		if d != name {
			return invalid("template "+name, "{{define %q}} is not supported: each part is one template", d)
		}
	}
	if tree == nil || tree.Root == nil {
		return nil
	}
	c := &checker{name: name, ev: ev, assigned: make(map[string]bool), vars: scopes{m: make(map[string]kind)}}
	eachPipe(tree.Root, func(p *parse.PipeNode) {
		if p.IsAssign {
			for _, d := range p.Decl {
				c.assigned[d.Ident[0]] = true
			}
		}
	})
	c.list(tree.Root, kindRoot)
	return c.err
}

// kind is what a value of a template is, as far as the checker knows.
type kind uint8

const (
	kindOther kind = iota // a constant, a function's result, a reassigned variable
	kindData              // a value inside the data
	kindRoot              // the data map itself
)

type checker struct {
	name string
	ev   *eventInfo
	// assigned are the variables assigned with = anywhere: their kind is
	// unknown.
	assigned map[string]bool
	vars     scopes
	ranges   int // ranges around the node being checked
	err      error
}

func (c *checker) fail(rule string, args ...any) {
	if c.err == nil {
		c.err = invalid("template "+c.name, rule, args...)
	}
}

func (c *checker) known(variable string, n fmt.Stringer) {
	if !c.ev.known[variable] {
		c.fail("{{%s}} is not a variable of event %s", n, c.ev.spec.Name)
	}
}

func (c *checker) list(l *parse.ListNode, dot kind) {
	if l == nil {
		return
	}
	for _, n := range l.Nodes {
		switch n := n.(type) {
		case *parse.ActionNode:
			c.declare(n.Pipe, c.pipe(n.Pipe, dot))
		case *parse.IfNode:
			mark := c.vars.mark()
			c.declare(n.Pipe, c.pipe(n.Pipe, dot))
			c.list(n.List, dot)
			c.list(n.ElseList, dot)
			c.vars.reset(mark)
		case *parse.WithNode:
			mark := c.vars.mark()
			k := c.pipe(n.Pipe, dot)
			c.declare(n.Pipe, k)
			c.list(n.List, k)
			c.list(n.ElseList, dot)
			c.vars.reset(mark)
		case *parse.RangeNode:
			mark := c.vars.mark()
			k := c.pipe(n.Pipe, dot)
			elem := kindOther
			if k == kindData {
				elem = kindData
			} else {
				c.fail("{{range %s}} must range over a list or map of the data (such as {{range .items}})", n.Pipe)
			}
			switch d := n.Pipe.Decl; len(d) {
			case 1:
				c.vars.set(d[0].Ident[0], elem)
			case 2:
				c.vars.set(d[0].Ident[0], kindOther)
				c.vars.set(d[1].Ident[0], elem)
			}
			if c.ranges++; c.ranges > maxRangeDepth {
				// html/template escapes a range's body twice, so each
				// level doubles the time Add takes.
				c.fail("{{range %s}} is nested more than %d deep", n.Pipe, maxRangeDepth)
			}
			c.list(n.List, elem)
			c.ranges--
			c.list(n.ElseList, dot)
			c.vars.reset(mark)
		case *parse.TemplateNode:
			c.fail("{{template %q}} is not supported: each part is one template", n.Name)
		}
		if c.err != nil {
			return
		}
	}
}

func (c *checker) declare(p *parse.PipeNode, k kind) {
	if p == nil {
		return
	}
	for _, d := range p.Decl {
		c.vars.set(d.Ident[0], k)
	}
}

// scopes are the checker's variables: one map, and an undo log that
// restores it at the end of a control structure.
type scopes struct {
	m    map[string]kind
	undo []undoEntry
}

type undoEntry struct {
	name    string
	prev    kind
	existed bool
}

func (s *scopes) mark() int { return len(s.undo) }

func (s *scopes) set(name string, k kind) {
	prev, existed := s.m[name]
	s.undo = append(s.undo, undoEntry{name, prev, existed})
	s.m[name] = k
}

func (s *scopes) reset(mark int) {
	for i := len(s.undo) - 1; i >= mark; i-- {
		if u := s.undo[i]; u.existed {
			s.m[u.name] = u.prev
		} else {
			delete(s.m, u.name)
		}
	}
	s.undo = s.undo[:mark]
}

// pipe checks a pipeline and returns the kind of its value.
func (c *checker) pipe(p *parse.PipeNode, dot kind) kind {
	if p == nil {
		return kindOther
	}
	k := kindOther
	for _, cmd := range p.Cmds {
		k = c.command(cmd, dot)
	}
	if len(p.Cmds) != 1 {
		return kindOther // a | b: b is a function's result
	}
	return k
}

func (c *checker) command(cmd *parse.CommandNode, dot kind) kind {
	kinds := make([]kind, len(cmd.Args))
	for i, a := range cmd.Args {
		kinds[i] = c.arg(a, dot)
	}
	switch len(cmd.Args) {
	case 0:
		return kindOther
	case 1:
		return kinds[0]
	}
	if id, ok := cmd.Args[0].(*parse.IdentifierNode); ok && (id.Ident == "index" || id.Ident == "slice") {
		if id.Ident == "index" && kinds[1] == kindRoot && len(cmd.Args) > 2 {
			if s, ok := cmd.Args[2].(*parse.StringNode); ok {
				c.known(s.Text, cmd)
			}
		}
		if kinds[1] != kindOther {
			if len(cmd.Args) == 2 {
				return kinds[1] // index x is x
			}
			return kindData
		}
	}
	return kindOther
}

func (c *checker) arg(n parse.Node, dot kind) kind {
	switch n := n.(type) {
	case *parse.DotNode:
		return dot
	case *parse.FieldNode:
		if dot == kindRoot {
			c.known(n.Ident[0], n)
		}
		return inside(dot)
	case *parse.VariableNode:
		base := c.variable(n.Ident[0])
		if len(n.Ident) == 1 {
			return base
		}
		if base == kindRoot {
			c.known(n.Ident[1], n)
		}
		return inside(base)
	case *parse.ChainNode:
		base := c.arg(n.Node, dot)
		if len(n.Field) == 0 {
			return base
		}
		if base == kindRoot {
			c.known(n.Field[0], n)
		}
		return inside(base)
	case *parse.PipeNode:
		k := c.pipe(n, dot)
		c.declare(n, k)
		return k
	}
	return kindOther
}

// inside is the kind of a field of a value of kind k.
func inside(k kind) kind {
	if k == kindOther {
		return kindOther
	}
	return kindData
}

func (c *checker) variable(name string) kind {
	if c.assigned[name] {
		return kindOther
	}
	if name == "$" {
		return kindRoot
	}
	return c.vars.m[name] // kindOther when unknown
}

// eachPipe calls f for every pipeline under n.
func eachPipe(n parse.Node, f func(*parse.PipeNode)) {
	branch := func(b *parse.BranchNode) {
		eachPipe(b.Pipe, f)
		eachPipe(b.List, f)
		eachPipe(b.ElseList, f)
	}
	switch n := n.(type) {
	case *parse.ListNode:
		if n != nil {
			for _, m := range n.Nodes {
				eachPipe(m, f)
			}
		}
	case *parse.ActionNode:
		eachPipe(n.Pipe, f)
	case *parse.IfNode:
		branch(&n.BranchNode)
	case *parse.RangeNode:
		branch(&n.BranchNode)
	case *parse.WithNode:
		branch(&n.BranchNode)
	case *parse.TemplateNode:
		eachPipe(n.Pipe, f)
	case *parse.ChainNode:
		eachPipe(n.Node, f)
	case *parse.PipeNode:
		if n != nil {
			f(n)
			for _, cmd := range n.Cmds {
				for _, a := range cmd.Args {
					eachPipe(a, f)
				}
			}
		}
	}
}

// Validate checks that every event has a default variant (no vendor type,
// no locale) on each of its channels. It reports every missing one, joined
// (errors.Join), each a *ValidationError such as
// "notify: templates.booking.confirmed.sms: no default variant".
func (t *Templates) Validate() error {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(t.events)) {
		ev := t.events[name]
		for _, ch := range ev.spec.Channels {
			if _, ok := ev.variants[variantKey{ch: ch}]; !ok {
				errs = append(errs, invalid("templates."+name+"."+string(ch), "no default variant"))
			}
		}
	}
	return errors.Join(errs...)
}

// Event returns an event's spec (a copy).
func (t *Templates) Event(name string) (EventSpec, bool) {
	t.mu.RLock()
	ev := t.events[name]
	t.mu.RUnlock()
	if ev == nil {
		return EventSpec{}, false
	}
	s := ev.spec
	s.Variables = slices.Clone(s.Variables)
	s.Optional = slices.Clone(s.Optional)
	s.Channels = slices.Clone(s.Channels)
	return s, true
}

// CheckData checks a notification's data against its event's variables:
// every one of Variables must be present, and no key may be absent from
// Variables, Optional and the built-ins. Values may be anything that
// encodes as JSON; they are not checked. Errors are *ValidationError
// ("event", "data.<name>"), joined in the order of the names.
func (t *Templates) CheckData(event string, data map[string]any) error {
	t.mu.RLock()
	ev := t.events[event]
	t.mu.RUnlock()
	if ev == nil {
		return invalid("event", "%q is not registered", event)
	}
	ok := true
	for _, v := range ev.spec.Variables {
		if _, present := data[v]; !present {
			ok = false
			break
		}
	}
	if ok {
		for k := range data {
			if !ev.known[k] {
				ok = false
				break
			}
		}
	}
	if ok {
		return nil
	}
	type problem struct {
		key string
		err error
	}
	var ps []problem
	for _, v := range ev.spec.Variables {
		if _, present := data[v]; !present {
			ps = append(ps, problem{v, invalid("data."+v, "is required by event %s", event)})
		}
	}
	for k := range data {
		if !ev.known[k] {
			ps = append(ps, problem{k, invalid("data."+k, "is not a variable of event %s", event)})
		}
	}
	slices.SortFunc(ps, func(a, b problem) int { return strings.Compare(a.key, b.key) })
	errs := make([]error, len(ps))
	for i, p := range ps {
		errs[i] = p.err
	}
	return errors.Join(errs...)
}

// RenderError is a template variant that failed to execute with a
// notification's data (a required variable missing, a value of the wrong
// type). Retrying does not help.
type RenderError struct {
	Event      string
	Channel    Channel
	VendorType string
	Locale     string
	// Err is text/template's or html/template's error; it names the part
	// and the position.
	Err error
}

func (e *RenderError) Error() string {
	return "notify: rendering " + variantName(e.Event, variantKey{e.Channel, e.VendorType, e.Locale}) + ": " + e.Err.Error()
}

func (e *RenderError) Unwrap() error { return e.Err }

// Render executes the best variant for ch, vendorType and locale. Variants
// are tried in this order, the first registered one wins:
//
//  1. vendorType and locale ("photographer", "en-GB");
//  2. vendorType and locale's language ("photographer", "en");
//  3. no vendor type and locale;
//  4. no vendor type and locale's language;
//  5. vendorType and no locale;
//  6. the default (no vendor type, no locale).
//
// locale is matched in canonical case ("en_gb" finds "en-GB"); one that is
// not a language tag is ignored (only variants without locale match).
// vendorType is matched as it is. Built-in variables absent from data are
// empty strings; optional ones are absent values (see EventSpec.Optional). The subject
// and text are trimmed of surrounding white space; for ChannelSMS,
// Rendered.SMS measures the text. Errors: a *ValidationError for an
// unknown event or a channel without a variant, a *RenderError when
// execution fails.
func (t *Templates) Render(event string, ch Channel, vendorType, locale string, data map[string]any) (*Rendered, error) {
	locale, ok := normLocale(locale)
	if !ok {
		locale = ""
	}
	t.mu.RLock()
	ev := t.events[event]
	var v *variant
	if ev != nil {
		v = ev.lookup(ch, vendorType, locale)
	}
	t.mu.RUnlock()
	if ev == nil {
		return nil, invalid("event", "%q is not registered", event)
	}
	if v == nil {
		if !slices.Contains(ev.spec.Channels, ch) {
			return nil, invalid("channel", "event %s does not go out on %q", event, ch)
		}
		return nil, invalid("channel", "event %s has no default template for %s", event, ch)
	}
	data = ev.complete(data)
	r := &Rendered{VendorType: v.vendorType, Locale: v.locale}
	var err error
	fail := func(err error) (*Rendered, error) {
		return nil, &RenderError{Event: event, Channel: ch, VendorType: v.vendorType, Locale: v.locale, Err: err}
	}
	if v.subject != nil {
		if r.Subject, err = execute(v.subject.Execute, data, true); err != nil {
			return fail(err)
		}
		if strings.ContainsAny(r.Subject, "\r\n") {
			r.Subject = strings.Join(strings.Fields(r.Subject), " ")
		}
	}
	if r.Text, err = execute(v.text.Execute, data, true); err != nil {
		return fail(err)
	}
	if v.html != nil {
		if r.HTML, err = execute(v.html.Execute, data, false); err != nil {
			return fail(err)
		}
	}
	if ch == ChannelSMS {
		r.SMS = SMSSegments(r.Text)
	}
	return r, nil
}

// lookup finds the variant for ch (see Render for the order); locale is
// canonical. The caller holds t.mu.
func (ev *eventInfo) lookup(ch Channel, vendorType, locale string) *variant {
	lang := locale
	if i := strings.IndexByte(locale, '-'); i >= 0 {
		lang = locale[:i]
	}
	try := func(vt, loc string) *variant { return ev.variants[variantKey{ch, vt, loc}] }
	if vendorType != "" && locale != "" {
		if v := try(vendorType, locale); v != nil {
			return v
		}
		if lang != locale {
			if v := try(vendorType, lang); v != nil {
				return v
			}
		}
	}
	if locale != "" {
		if v := try("", locale); v != nil {
			return v
		}
		if lang != locale {
			if v := try("", lang); v != nil {
				return v
			}
		}
	}
	if vendorType != "" {
		if v := try(vendorType, ""); v != nil {
			return v
		}
	}
	return try("", "")
}

// complete returns data with the absent built-ins and optional variables
// added, copying it only when one is absent.
func (ev *eventInfo) complete(data map[string]any) map[string]any {
	for i, f := range ev.fill {
		if _, ok := data[f.key]; ok {
			continue
		}
		out := make(map[string]any, len(data)+len(ev.fill)-i)
		maps.Copy(out, data)
		for _, f := range ev.fill[i:] {
			if _, ok := out[f.key]; !ok {
				out[f.key] = f.value
			}
		}
		return out
	}
	return data
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func execute(exec func(io.Writer, any) error, data map[string]any, trim bool) (string, error) {
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= maxPartSize {
			bufPool.Put(buf)
		}
	}()
	if err := exec(buf, data); err != nil {
		return "", err
	}
	b := buf.Bytes()
	if trim {
		b = bytes.TrimSpace(b)
	}
	return string(b), nil
}

// validEventName: [a-z][a-z0-9._-]{0,99}.
func validEventName(s string) bool {
	return len(s) >= 1 && len(s) <= 100 && s[0] >= 'a' && s[0] <= 'z' && charset(s, true, "._-")
}

// validIdent: [a-z_][a-z0-9_]*, at most 100 bytes.
func validIdent(s string) bool {
	return len(s) >= 1 && len(s) <= 100 && (s[0] == '_' || s[0] >= 'a' && s[0] <= 'z') && charset(s, true, "_")
}

// charset reports whether every byte of s is a lower-case ASCII letter, a
// digit (when digits is true) or one of extra.
func charset(s string, digits bool, extra string) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch {
		case b >= 'a' && b <= 'z':
		case digits && b >= '0' && b <= '9':
		case strings.IndexByte(extra, b) >= 0:
		default:
			return false
		}
	}
	return true
}

// normLocale returns the canonical form of a language tag of a language
// (2 or 3 letters), an optional script (4 letters) and an optional region
// (2 letters or 3 digits), separated by '-' or '_': "en", "en-GB",
// "zh-Hant-TW", "es-419". ok is false for anything else; "" is valid.
// It does not allocate when s is already canonical.
func normLocale(s string) (_ string, ok bool) {
	if s == "" {
		return "", true
	}
	if len(s) > 12 {
		return "", false
	}
	var buf [12]byte
	n := 0
	part := 0 // 0 language, 1 script, 2 region, 3 done
	for i := 0; ; {
		j := i
		for j < len(s) && s[j] != '-' && s[j] != '_' {
			j++
		}
		sub := s[i:j]
		if part > 0 {
			buf[n] = '-'
			n++
		}
		switch {
		case part == 0 && (len(sub) == 2 || len(sub) == 3) && letters(sub):
			for k := 0; k < len(sub); k++ {
				buf[n] = lower(sub[k])
				n++
			}
			part = 1
		case part == 1 && len(sub) == 4 && letters(sub):
			buf[n] = upper(sub[0])
			n++
			for k := 1; k < 4; k++ {
				buf[n] = lower(sub[k])
				n++
			}
			part = 2
		case part >= 1 && part <= 2 && len(sub) == 2 && letters(sub):
			buf[n], buf[n+1] = upper(sub[0]), upper(sub[1])
			n += 2
			part = 3
		case part >= 1 && part <= 2 && len(sub) == 3 && digits(sub):
			copy(buf[n:], sub)
			n += 3
			part = 3
		default:
			return "", false
		}
		if j == len(s) {
			break
		}
		i = j + 1
	}
	if string(buf[:n]) == s {
		return s, true
	}
	return string(buf[:n]), true
}

func letters(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := lower(s[i]); b < 'a' || b > 'z' {
			return false
		}
	}
	return true
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func lower(b byte) byte {
	if b >= 'A' && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

func upper(b byte) byte {
	if b >= 'a' && b <= 'z' {
		return b - ('a' - 'A')
	}
	return b
}

// The GSM 03.38 default alphabet (without the escape code 0x1B) and its
// extension table (characters sent as escape + one septet).
const (
	gsmBasic     = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	gsmExtension = "\f^{}\\[]~|€"
)

// gsmASCII is the septet count of each ASCII character (0: not GSM);
// gsmOther that of the other runes of the alphabet.
var gsmASCII, gsmOther = func() ([128]uint8, map[rune]uint8) {
	var ascii [128]uint8
	other := make(map[rune]uint8)
	for w, set := range []string{1: gsmBasic, 2: gsmExtension} {
		for _, r := range set {
			if r < 128 {
				ascii[r] = uint8(w)
			} else {
				other[r] = uint8(w)
			}
		}
	}
	return ascii, other
}()

// SMSSegments measures text as an SMS: its encoding, its length in that
// encoding's units, and how many segments it is sent as (see SMSInfo).
func SMSSegments(text string) SMSInfo {
	if text == "" {
		return SMSInfo{Encoding: EncodingGSM7}
	}
	// One pass measures GSM-7: the total, and the parts of at most 153
	// septets that a concatenated message is cut into (an escape and its
	// septet are never split). The first character outside the alphabet
	// starts over in UCS-2.
	units, parts, cur := 0, 1, 0
	for _, r := range text {
		var w int
		if r < 128 {
			w = int(gsmASCII[r])
		} else {
			w = int(gsmOther[r])
		}
		if w == 0 {
			return measureUCS2(text)
		}
		units += w
		if cur+w > 153 {
			parts++
			cur = 0
		}
		cur += w
	}
	if units <= 160 {
		parts = 1
	}
	return SMSInfo{Encoding: EncodingGSM7, Units: units, Segments: parts}
}

// measureUCS2 measures text in UTF-16 code units, in parts of at most 67
// that never split a surrogate pair.
func measureUCS2(text string) SMSInfo {
	units, parts, cur := 0, 1, 0
	for _, r := range text {
		w := utf16.RuneLen(r)
		if w < 0 {
			w = 1 // invalid UTF-8 is sent as U+FFFD
		}
		units += w
		if cur+w > 67 {
			parts++
			cur = 0
		}
		cur += w
	}
	if units <= 70 {
		parts = 1
	}
	return SMSInfo{Encoding: EncodingUCS2, Units: units, Segments: parts}
}
