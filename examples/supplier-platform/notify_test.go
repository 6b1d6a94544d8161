package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/notify"
)

// statusWatch follows the notifier's status hook.
type statusWatch struct {
	*hookWatch[notify.NotificationStatus]
}

func newStatusWatch(t *testing.T) (*statusWatch, func(*config)) {
	w := &statusWatch{newHookWatch[notify.NotificationStatus](t)}
	return w, func(c *config) { c.onNotify = w.report }
}

// until waits for a status of notification id for which ok holds.
func (w *statusWatch) until(id, what string, ok func(map[notify.Channel]notify.ChannelStatus) bool) map[notify.Channel]notify.ChannelStatus {
	w.t.Helper()
	chans := func(st notify.NotificationStatus) map[notify.Channel]notify.ChannelStatus {
		out := map[notify.Channel]notify.ChannelStatus{}
		for _, c := range st.Channels {
			out[c.Channel] = c
		}
		return out
	}
	st := w.wait("notification "+id+" with "+what, func(st notify.NotificationStatus) bool { return st.ID == id && ok(chans(st)) })
	return chans(st)
}

func statusIs(want map[notify.Channel]notify.Status) func(map[notify.Channel]notify.ChannelStatus) bool {
	return func(got map[notify.Channel]notify.ChannelStatus) bool {
		for ch, st := range want {
			if got[ch].Status != st {
				return false
			}
		}
		return true
	}
}

// channelsOf returns a notification's channels from the API's answer.
func channelsOf(t *testing.T, n map[string]any) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	list, _ := n["channels"].([]any)
	for _, c := range list {
		cm, _ := c.(map[string]any)
		out[cm["channel"].(string)] = cm
	}
	return out
}

// The notification panel's API in memory mode: a test notification reaches
// the demo's SMTP server and the fake Twilio, its statuses read sent, and a
// critical one can be acknowledged.
func TestDemoNotifyAPI(t *testing.T) {
	watch, hook := newStatusWatch(t)
	base, hc, out := startServer(t, hook)
	api := &apiClient{t: t, base: base, token: testAdminToken, c: hc}

	// The sample supplier's preferences: stored at start-up, without quiet
	// hours, so that the demo sends at any hour.
	code, prefs := api.do("GET", "/api/notify/preferences", "")
	require.Equal(t, http.StatusOK, code, prefs)
	require.Equal(t, demoSupplier, prefs["supplier"])
	require.Equal(t, "Europe/London", prefs["time_zone"])
	require.Equal(t, "florist", prefs["vendor_type"])
	p, _ := prefs["preferences"].(map[string]any)
	require.Empty(t, p["quiet_hours"])
	require.Equal(t, false, prefs["quiet_now"])
	cats, _ := p["categories"].(map[string]any)
	require.Contains(t, cats, "timeline")
	require.Equal(t, "1h", cats["timeline"].(map[string]any)["digest"], "digests as durations people write")

	// A normal booking.confirmed: email to the SMTP server (the florist's
	// variant), in-app, push fails (no browser subscribed), SMS is off for
	// bookings.
	code, sent := api.do("POST", "/api/notify/test", `{"event":"booking.confirmed","priority":"normal"}`)
	require.Equal(t, http.StatusAccepted, code, sent)
	id, _ := sent["id"].(string)
	require.True(t, strings.HasPrefix(id, "ntf_"), sent)
	require.Equal(t, "normal", sent["priority"])
	chans := watch.until(id, "email and in-app sent", statusIs(map[notify.Channel]notify.Status{
		notify.ChannelEmail: notify.StatusSent, notify.ChannelInApp: notify.StatusSent,
		notify.ChannelPush: notify.StatusFailed, notify.ChannelSMS: notify.StatusSuppressed,
	}))
	require.Equal(t, "smtp", chans[notify.ChannelEmail].Provider)

	code, mail := api.do("GET", "/api/notify/mail", "")
	require.Equal(t, http.StatusOK, code)
	msgs, _ := mail["messages"].([]any)
	require.Len(t, msgs, 1, mail)
	m, _ := msgs[0].(map[string]any)
	require.Equal(t, "New flowers booking: Alex & Sam, 2027-05-01", m["subject"])
	require.Equal(t, []any{`"Fern & Bloom" <hello@fernandbloom.example>`}, m["to"])
	require.Equal(t, `"WedSync" <notifications@wedsync.example>`, m["from"])
	require.Equal(t, chans[notify.ChannelEmail].ExternalID, m["message_id"])
	require.Equal(t, []any{"text/plain", "text/html"}, m["content_types"])
	require.Contains(t, m["text"], "Alex & Sam booked your flowers (booking bk_1001) for 2027-05-01")
	require.Contains(t, m["text"], "Their note: Could the bouquet have white peonies?")
	require.Contains(t, m["html"], "<strong>Alex &amp; Sam</strong>", "html/template escapes the data")
	require.NotEmpty(t, m["date"])

	code, list := api.do("GET", "/api/notify/notifications?supplier="+demoSupplier, "")
	require.Equal(t, http.StatusOK, code)
	ns, _ := list["notifications"].([]any)
	require.Len(t, ns, 1)
	n0, _ := ns[0].(map[string]any)
	require.Equal(t, id, n0["id"])
	require.Equal(t, false, n0["can_acknowledge"], "a normal notification has nothing to acknowledge")
	cs := channelsOf(t, n0)
	require.Equal(t, "sent", cs["email"]["status"])
	require.Equal(t, "failed", cs["push"]["status"])
	require.Contains(t, cs["push"]["reason"], "no live push subscription")
	require.Equal(t, "suppressed", cs["sms"]["status"])
	require.Contains(t, cs["sms"]["reason"], "turned sms off for booking")

	code, inbox := api.do("GET", "/api/notify/inapp", "")
	require.Equal(t, http.StatusOK, code)
	require.EqualValues(t, 1, inbox["unread"])
	im, _ := inbox["messages"].([]any)
	require.Len(t, im, 1)
	require.Equal(t, "Booking confirmed: Alex & Sam", im[0].(map[string]any)["title"])

	// payment.failed goes by SMS too: the fake Twilio receives it.
	code, sent = api.do("POST", "/api/notify/test", `{"event":"payment.failed","priority":"normal"}`)
	require.Equal(t, http.StatusAccepted, code, sent)
	payID := sent["id"].(string)
	chans = watch.until(payID, "SMS sent", statusIs(map[notify.Channel]notify.Status{notify.ChannelSMS: notify.StatusSent}))
	require.True(t, strings.HasPrefix(chans[notify.ChannelSMS].ExternalID, "SM"), "Twilio's message SID")
	code, sms := api.do("GET", "/api/notify/sms", "")
	require.Equal(t, http.StatusOK, code)
	sl, _ := sms["messages"].([]any)
	require.Len(t, sl, 1, sms)
	s0, _ := sl[0].(map[string]any)
	require.Equal(t, "+447700900123", s0["to"])
	require.Equal(t, fakeTwilioFrom, s0["from"])
	require.Equal(t, chans[notify.ChannelSMS].ExternalID, s0["sid"])
	require.Equal(t, "WedSync: payment of GBP 450.00 from Priya & Jordan failed (the card was declined).", s0["body"])

	// A critical payment.failed escalates: push first (it fails: no
	// subscription), then SMS and email one at a time unless acknowledged.
	code, sent = api.do("POST", "/api/notify/test", `{"event":"payment.failed","priority":"critical"}`)
	require.Equal(t, http.StatusAccepted, code, sent)
	critID := sent["id"].(string)
	require.Equal(t, "critical", sent["priority"])
	watch.until(critID, "push failed and in-app sent", statusIs(map[notify.Channel]notify.Status{
		notify.ChannelPush: notify.StatusFailed, notify.ChannelInApp: notify.StatusSent,
	}))
	code, list = api.do("GET", "/api/notify/notifications", "")
	require.Equal(t, http.StatusOK, code)
	crit := list["notifications"].([]any)[0].(map[string]any)
	require.Equal(t, critID, crit["id"])
	require.Equal(t, true, crit["can_acknowledge"])
	require.Contains(t, channelsOf(t, crit)["email"]["reason"], "unless acknowledged first")

	code, acked := api.do("POST", "/api/notify/notifications/"+critID+"/ack", "")
	require.Equal(t, http.StatusOK, code, acked)
	require.NotEmpty(t, acked["acknowledged_at"])
	require.Equal(t, false, acked["can_acknowledge"])
	cs = channelsOf(t, acked)
	require.Equal(t, "acknowledged", cs["email"]["status"], "email's turn had not come")
	for ch, c := range cs {
		require.NotEqual(t, "queued", c["status"], "%s still waits after the acknowledgement", ch)
	}
	code, _ = api.do("POST", "/api/notify/notifications/"+critID+"/ack", "")
	require.Equal(t, http.StatusOK, code, "acknowledging twice is fine")
	code, body := api.do("POST", "/api/notify/notifications/ntf_nope/ack", "")
	require.Equal(t, http.StatusNotFound, code, body)

	// Reading the inbox.
	code, read := api.do("POST", "/api/notify/inapp/read", `{}`)
	require.Equal(t, http.StatusOK, code, read)
	require.EqualValues(t, 3, read["marked"])
	require.EqualValues(t, 0, read["unread"])

	// Bad input: 400 naming the field.
	for _, tc := range []struct{ method, path, body, field, rule string }{
		{"PUT", "/api/notify/preferences", `{"quiet_hours":[{"start":"25:00","end":"07:00"}]}`, "quiet_hours[0].start", "00:00 to 23:59"},
		{"PUT", "/api/notify/preferences", `{"quiet_hours":[{"start":"00:00","end":"24:00"}]}`, "quiet_hours", "whole week"},
		{"PUT", "/api/notify/preferences", `{"categories":{"booking":{"channels":{"fax":true}}}}`, "categories.booking.channels.fax", "not a channel"},
		{"PUT", "/api/notify/preferences", `{"categories":{"booking":{"digest":"soon"}}}`, "categories.booking.digest", "duration"},
		{"PUT", "/api/notify/preferences", `{"default":{"digest":"10s"}}`, "default.digest", "1m0s"},
		{"PUT", "/api/notify/preferences", `{"escalation":["push","push"]}`, "escalation[1]", "already"},
		{"PUT", "/api/notify/preferences", `{"quiet":true}`, "quiet", "not a known field"},
		{"PUT", "/api/notify/preferences?supplier=sup_nobody", `{}`, "supplier", "not one of the demo's suppliers"},
		{"GET", "/api/notify/preferences?supplier=a:b", ``, "supplier", "letters, digits"},
		{"POST", "/api/notify/test", `{}`, "event", "is required"},
		{"POST", "/api/notify/test", `{"event":"wedding.cancelled"}`, "event", "must be one of"},
		{"POST", "/api/notify/test", `{"event":"booking.confirmed","priority":"urgent"}`, "priority", "must be"},
		{"POST", "/api/notify/test", `{"event":"booking.confirmed","supplier":"sup_nobody"}`, "supplier", "not one of"},
		{"GET", "/api/notify/notifications?limit=0", ``, "limit", "1 to 500"},
		{"GET", "/api/notify/inapp?unread_only=maybe", ``, "unread_only", "true or false"},
		{"POST", "/api/notify/inapp/read", `{"supplier":"a:b"}`, "supplier", "letters, digits"},
	} {
		code, body := api.do(tc.method, tc.path, tc.body)
		require.Equal(t, http.StatusBadRequest, code, "%s %s %s: %v", tc.method, tc.path, tc.body, body)
		require.Equal(t, tc.field, body["field"], body)
		require.Contains(t, body["error"], tc.field+": ")
		require.Contains(t, body["error"], tc.rule)
	}

	// Quiet hours on, as the panel's switch does.
	code, prefs = api.do("PUT", "/api/notify/preferences",
		`{"categories":{"booking":{"channels":{"email":true,"in_app":true},"digest":"24h"}},"default":{"channels":{"email":true}},
		  "escalation":["sms","email"],"quiet_hours":[{"start":"22:00","end":"07:00"}]}`)
	require.Equal(t, http.StatusOK, code, prefs)
	p, _ = prefs["preferences"].(map[string]any)
	require.Equal(t, []any{map[string]any{"start": "22:00", "end": "07:00"}}, p["quiet_hours"])
	require.Equal(t, []any{"sms", "email"}, p["escalation"])
	require.Equal(t, "24h", p["categories"].(map[string]any)["booking"].(map[string]any)["digest"])
	require.Contains(t, prefs, "quiet_now")

	// The console tells the story.
	s := out.String()
	for _, want := range []string{
		"NOTIFY            booking.confirmed " + id + " for sup_demo_florist, normal priority: push, sms, email, in_app",
		"NOTIFY SENT       booking.confirmed " + id + " email through smtp",
		"NOTIFY FAILED     booking.confirmed " + id + " push: no live push subscription",
		"NOTIFY SUPPRESSED booking.confirmed " + id + " sms: the supplier turned sms off for booking",
		`MAIL       the demo's SMTP server received "New flowers booking: Alex & Sam, 2027-05-01" for hello@fernandbloom.example`,
		"SMS        the fake Twilio received SM",
		"NOTIFY WAITING    payment.failed    " + critID + " sms: escalates to it at",
		"NOTIFY ACKNOWLEDGED payment.failed    " + critID + " email: not sent",
		"NOTIFY            preferences of sup_demo_florist saved (quiet hours 22:00-07:00 Europe/London)",
	} {
		require.Contains(t, s, want)
	}
	require.NotContains(t, s, "level=WARN", "the hooks' lines replace the notifier's warnings")
}

// The photographer gets the photographer's variant of booking.confirmed.
func TestDemoNotifyVariant(t *testing.T) {
	watch, hook := newStatusWatch(t)
	base, hc, _ := startServer(t, hook)
	api := &apiClient{t: t, base: base, token: testAdminToken, c: hc}
	code, sent := api.do("POST", "/api/notify/test", `{"event":"booking.confirmed","supplier":"`+photographerSupplier+`"}`)
	require.Equal(t, http.StatusAccepted, code, sent)
	chans := watch.until(sent["id"].(string), "email and SMS sent", statusIs(map[notify.Channel]notify.Status{
		notify.ChannelEmail: notify.StatusSent, notify.ChannelSMS: notify.StatusSent,
	}))
	require.NotEmpty(t, chans[notify.ChannelSMS].ExternalID)
	_, mail := api.do("GET", "/api/notify/mail", "")
	m := mail["messages"].([]any)[0].(map[string]any)
	require.Equal(t, "Shoot booked: Alex & Sam, 2027-05-01", m["subject"])
	_, sms := api.do("GET", "/api/notify/sms", "")
	require.Equal(t, "WedSync: shoot booked! Alex & Sam, 2027-05-01 (bk_1001).", sms["messages"].([]any)[0].(map[string]any)["body"])
}
