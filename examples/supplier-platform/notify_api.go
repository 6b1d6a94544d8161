package main

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wedsync/integrations/notify"
	"github.com/wedsync/integrations/notify/smtp/smtptest"
)

// maxMailShown is how many received messages GET /api/notify/mail returns.
const maxMailShown = 50

func (a *api) notifyRoutes(mux *http.ServeMux) {
	mux.Handle("GET /api/notify/preferences", a.handle(a.getPreferences))
	mux.Handle("PUT /api/notify/preferences", a.handle(a.putPreferences))
	mux.Handle("POST /api/notify/test", a.handle(a.testNotification))
	mux.Handle("GET /api/notify/notifications", a.handle(a.listNotifications))
	mux.Handle("POST /api/notify/notifications/{id}/ack", a.handle(a.acknowledge))
	mux.Handle("GET /api/notify/mail", a.handle(a.listMail))
	mux.Handle("GET /api/notify/sms", a.handle(a.listSMS))
	mux.Handle("GET /api/notify/inapp", a.handle(a.listInApp))
	mux.Handle("POST /api/notify/inapp/read", a.handle(a.markRead))
}

// knownSupplier reads ?supplier= and requires one of the directory's
// suppliers (their time zone and vendor type are needed).
func knownSupplier(r *http.Request) (notify.Recipient, error) {
	id, err := supplierParam(r)
	if err != nil {
		return notify.Recipient{}, err
	}
	rc, ok := directory[id]
	if !ok {
		return rc, unknownSupplier()
	}
	return rc, nil
}

func (a *api) writePreferences(w http.ResponseWriter, r *http.Request, rc notify.Recipient) error {
	p, err := a.ns.n.Preferences(r.Context(), rc.SupplierID, rc.VendorType)
	if err != nil {
		return err
	}
	loc, err := time.LoadLocation(rc.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	body := map[string]any{"supplier": rc.SupplierID, "vendor_type": rc.VendorType, "time_zone": rc.TimeZone,
		"preferences": toPrefsJSON(p), "quiet_now": false}
	if until, quiet := p.QuietUntil(time.Now(), loc); quiet {
		body["quiet_now"], body["quiet_until"] = true, until
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

// GET /api/notify/preferences?supplier=
func (a *api) getPreferences(w http.ResponseWriter, r *http.Request) error {
	rc, err := knownSupplier(r)
	if err != nil {
		return err
	}
	return a.writePreferences(w, r, rc)
}

// PUT /api/notify/preferences?supplier=  the preferences, as GET returns them
func (a *api) putPreferences(w http.ResponseWriter, r *http.Request) error {
	rc, err := knownSupplier(r)
	if err != nil {
		return err
	}
	var in prefsJSON
	if err := decode(w, r, &in, false); err != nil {
		return err
	}
	p, err := fromPrefsJSON(in)
	if err != nil {
		return err
	}
	if err := a.ns.n.SetPreferences(r.Context(), rc.SupplierID, p); err != nil {
		return err
	}
	quiet := "quiet hours off"
	if len(p.QuietHours) > 0 {
		parts := make([]string, len(p.QuietHours))
		for i, q := range p.QuietHours {
			parts[i] = q.Start + "-" + q.End
		}
		quiet = "quiet hours " + strings.Join(parts, ", ") + " " + rc.TimeZone
	}
	muted := ""
	if p.Muted {
		muted = ", muted"
	}
	a.out.printf("%-17s preferences of %s saved (%s%s)", "NOTIFY", rc.SupplierID, quiet, muted)
	return a.writePreferences(w, r, rc)
}

// POST /api/notify/test  {"event", "priority", "supplier"}
func (a *api) testNotification(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Event    string          `json:"event"`
		Priority notify.Priority `json:"priority"`
		Supplier string          `json:"supplier"`
	}
	if err := decode(w, r, &in, false); err != nil {
		return err
	}
	switch {
	case in.Event == "":
		return badRequest("event", "is required: one of %s", strings.Join(demoEvents, ", "))
	case !slices.Contains(demoEvents, in.Event):
		return badRequest("event", "must be one of %s, got %q", strings.Join(demoEvents, ", "), truncate(in.Event, 40))
	}
	if in.Priority == "default" {
		in.Priority = notify.PriorityDefault
	}
	if in.Supplier == "" {
		in.Supplier = demoSupplier
	}
	rec, err := a.ns.send(r.Context(), in.Event, in.Priority, in.Supplier)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"id": rec.ID, "duplicate": rec.Duplicate, "priority": rec.Priority,
		"event": in.Event, "supplier": in.Supplier})
	return nil
}

// GET /api/notify/notifications?supplier=&limit=
func (a *api) listNotifications(w http.ResponseWriter, r *http.Request) error {
	supplier, err := supplierParam(r)
	if err != nil {
		return err
	}
	limit := 20
	if s := r.URL.Query().Get("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 1 || limit > 500 {
			return badRequest("limit", "must be a whole number from 1 to 500")
		}
	}
	list, err := a.ns.n.List(r.Context(), supplier, "", limit)
	if err != nil {
		return err
	}
	out := make([]notificationJSON, len(list))
	for i, st := range list {
		out[i] = toNotificationJSON(st)
	}
	writeJSON(w, http.StatusOK, map[string]any{"supplier": supplier, "notifications": out})
	return nil
}

// POST /api/notify/notifications/{id}/ack
func (a *api) acknowledge(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := a.ns.n.Acknowledge(r.Context(), id); err != nil {
		return err
	}
	st, err := a.ns.n.Status(r.Context(), id)
	if err != nil {
		return err
	}
	a.out.printf("%-17s %-17s %s acknowledged (through the API): its escalation stops", "NOTIFY", st.Event, id)
	writeJSON(w, http.StatusOK, toNotificationJSON(*st))
	return nil
}

type mailJSON struct {
	MessageID    string    `json:"message_id"`
	EnvelopeFrom string    `json:"envelope_from"`
	EnvelopeTo   []string  `json:"envelope_to"`
	From         string    `json:"from"`
	To           []string  `json:"to"`
	ReplyTo      []string  `json:"reply_to,omitempty"`
	Subject      string    `json:"subject"`
	Date         time.Time `json:"date,omitzero"`
	ReceivedAt   time.Time `json:"received_at"`
	ContentTypes []string  `json:"content_types"`
	Unsubscribe  string    `json:"list_unsubscribe,omitempty"`
	Text         string    `json:"text"`
	HTML         string    `json:"html"`
	Size         int       `json:"size"`
	Error        string    `json:"error,omitempty"`
}

// GET /api/notify/mail: what the demo's SMTP server received, newest first.
func (a *api) listMail(w http.ResponseWriter, r *http.Request) error {
	msgs := a.ns.mail.Messages()
	out := make([]mailJSON, 0, min(len(msgs), maxMailShown))
	for i := len(msgs) - 1; i >= 0 && len(out) < maxMailShown; i-- {
		m := msgs[i]
		mj := mailJSON{EnvelopeFrom: m.From, EnvelopeTo: m.To, ReceivedAt: m.ReceivedAt, Size: len(m.Data),
			MessageID: m.Header.Get("Message-Id"), ContentTypes: []string{}}
		p, err := smtptest.Parse(m)
		if err != nil {
			mj.Error = err.Error()
			out = append(out, mj)
			continue
		}
		mj.Subject, mj.Date, mj.Text, mj.HTML, mj.ContentTypes = p.Subject, p.Date, p.Text, p.HTML, p.ContentTypes()
		mj.Unsubscribe = p.Header.Get("List-Unsubscribe")
		if p.From != nil {
			mj.From = p.From.String()
		}
		for _, ad := range p.To {
			mj.To = append(mj.To, ad.String())
		}
		for _, ad := range p.ReplyTo {
			mj.ReplyTo = append(mj.ReplyTo, ad.String())
		}
		out = append(out, mj)
	}
	writeJSON(w, http.StatusOK, map[string]any{"smtp_server": a.ns.mail.Addr(), "count": len(msgs), "messages": out})
	return nil
}

// GET /api/notify/sms: what the fake Twilio received, newest first.
func (a *api) listSMS(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]any{"twilio": a.ns.sms.base, "messages": a.ns.sms.received()})
	return nil
}

// GET /api/notify/inapp?supplier=&unread_only=true
func (a *api) listInApp(w http.ResponseWriter, r *http.Request) error {
	supplier, err := supplierParam(r)
	if err != nil {
		return err
	}
	q := notify.InAppQuery{Limit: 20}
	switch s := r.URL.Query().Get("unread_only"); s {
	case "", "false":
	case "true":
		q.UnreadOnly = true
	default:
		return badRequest("unread_only", "must be true or false")
	}
	msgs, err := a.ns.n.InApp(r.Context(), supplier, q)
	if err != nil {
		return err
	}
	if msgs == nil {
		msgs = []notify.InAppMessage{}
	}
	unread, err := a.ns.n.UnreadCount(r.Context(), supplier)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"supplier": supplier, "unread": unread, "messages": msgs})
	return nil
}

// POST /api/notify/inapp/read  {"supplier", "ids": [...]}: no ids marks all
func (a *api) markRead(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Supplier string   `json:"supplier"`
		IDs      []string `json:"ids"`
	}
	if err := decode(w, r, &in, true); err != nil {
		return err
	}
	supplier, err := supplierOrDemo("supplier", in.Supplier)
	if err != nil {
		return err
	}
	in.Supplier = supplier
	n, err := a.ns.n.MarkRead(r.Context(), in.Supplier, in.IDs...)
	if err != nil {
		return err
	}
	if n > 0 {
		a.out.printf("%-17s %d in-app messages of %s read (their notifications count as acknowledged)", "NOTIFY", n, in.Supplier)
	}
	unread, err := a.ns.n.UnreadCount(r.Context(), in.Supplier)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"marked": n, "unread": unread})
	return nil
}
