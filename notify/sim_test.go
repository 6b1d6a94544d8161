package notify_test

// Routing on a simulated clock: nothing here sleeps. The memory queue runs on
// the fake clock, so the end of quiet hours, a digest window or an escalation
// delay comes the moment a test moves the clock there.

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	. "github.com/wedsync/integrations/notify"
)

func allOn() map[Channel]bool {
	return map[Channel]bool{ChannelEmail: true, ChannelSMS: true, ChannelPush: true, ChannelInApp: true}
}

func testPrefs(quiet ...QuietWindow) Preferences {
	return Preferences{
		Default: CategoryPreferences{Channels: map[Channel]bool{ChannelEmail: true, ChannelInApp: true}},
		Categories: map[Category]CategoryPreferences{
			CategoryBooking: {Channels: allOn()},
			CategoryReview:  {Channels: map[Channel]bool{ChannelEmail: true, ChannelInApp: true}, Digest: 24 * time.Hour},
		},
		Escalation: []Channel{ChannelPush, ChannelSMS, ChannelEmail},
		QuietHours: quiet,
	}
}

func (s *sim) setPrefs(supplier string, p Preferences) {
	s.t.Helper()
	require.NoError(s.t, s.n.SetPreferences(context.Background(), supplier, p))
}

func TestEveryAllowedChannelGoesOutAtOnce(t *testing.T) {
	s := newSim(t)
	s.setPrefs("sup_1", testPrefs())
	s.subscribe("sup_1")
	r := s.send(booking("sup_1", "Europe/London"))
	require.False(t, r.Duplicate)
	require.Equal(t, PriorityNormal, r.Priority)
	require.Equal(t, map[Channel]Status{ChannelEmail: StatusSent, ChannelSMS: StatusSent, ChannelPush: StatusSent, ChannelInApp: StatusSent}, s.statuses(r.ID))

	mail := s.email.messages()
	require.Len(t, mail, 1)
	require.Equal(t, "ava@studio.example", mail[0].To)
	require.Equal(t, "Booking confirmed: Sam & Alex", mail[0].Subject)
	require.Equal(t, "Hi Ava, Sam & Alex confirmed 13 June.", mail[0].Text)
	require.Contains(t, mail[0].HTML, "Sam &amp; Alex")
	require.Empty(t, s.email2.messages(), "the second provider is only for failover")
	require.Equal(t, "+447700900123", s.sms.messages()[0].To)
	require.Equal(t, "https://push.example.com/sup_1", s.push.messages()[0].Subscription.Endpoint)
	in := <-s.inapp
	require.Equal(t, "Booking confirmed", in.Title)
	require.Equal(t, r.ID, in.NotificationID)

	atts, err := s.n.Attempts(context.Background(), r.ID)
	require.NoError(t, err)
	require.Len(t, atts, 4)
	for _, a := range atts {
		require.True(t, a.OK)
		require.NotContains(t, a.Recipient, "ava@studio.example", "recipients are masked in the attempt log")
		require.NotContains(t, a.Recipient, "900123"[:5]+"1")
	}
}

func TestPreferencesSuppressChannelsAndMute(t *testing.T) {
	s := newSim(t)
	p := testPrefs()
	p.Categories[CategoryBooking] = CategoryPreferences{Channels: map[Channel]bool{ChannelEmail: true, ChannelInApp: true}}
	s.setPrefs("sup_1", p)
	r := s.send(booking("sup_1", "UTC"))
	st := s.status(r.ID)
	require.Equal(t, StatusSent, st[ChannelEmail].Status)
	require.Equal(t, StatusSuppressed, st[ChannelSMS].Status)
	require.Contains(t, st[ChannelSMS].Error, "turned sms off for booking")
	require.Equal(t, StatusSuppressed, st[ChannelPush].Status)
	require.Empty(t, s.sms.messages())

	p.Muted = true
	s.setPrefs("sup_1", p)
	r = s.send(booking("sup_1", "UTC"))
	require.Equal(t, map[Channel]Status{ChannelEmail: StatusSuppressed, ChannelSMS: StatusSuppressed, ChannelPush: StatusSuppressed,
		ChannelInApp: StatusSent}, s.statuses(r.ID), "muted: only the inbox, so nothing is lost")
	require.Len(t, s.email.messages(), 1)

	require.NoError(t, s.n.ResetPreferences(context.Background(), "sup_1"))
	got, err := s.n.Preferences(context.Background(), "sup_1", VendorPhotographer)
	require.NoError(t, err)
	require.Equal(t, DefaultPreferences(VendorPhotographer), got)
}

func TestQuietHoursHoldNormalNotificationsUntilMorningAcrossDST(t *testing.T) {
	for _, tc := range []struct {
		name, tz string
		// now is 23:00 local on the night of a DST change; morning is
		// 07:00 local the next day.
		now, morning time.Time
	}{
		{"London spring forward", "Europe/London", time.Date(2026, 3, 28, 23, 0, 0, 0, time.UTC), time.Date(2026, 3, 29, 6, 0, 0, 0, time.UTC)},
		{"London fall back", "Europe/London", time.Date(2026, 10, 24, 22, 0, 0, 0, time.UTC), time.Date(2026, 10, 25, 7, 0, 0, 0, time.UTC)},
		{"New York fall back", "America/New_York", time.Date(2026, 11, 1, 3, 0, 0, 0, time.UTC), time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)},
		{"Sydney spring forward", "Australia/Sydney", time.Date(2026, 10, 3, 13, 0, 0, 0, time.UTC), time.Date(2026, 10, 3, 20, 0, 0, 0, time.UTC)},
		{"Kolkata", "Asia/Kolkata", time.Date(2026, 6, 8, 17, 30, 0, 0, time.UTC), time.Date(2026, 6, 9, 1, 30, 0, 0, time.UTC)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t)
			s.clk.Advance(tc.now.Sub(s.clk.Now()))
			s.setPrefs("sup_1", testPrefs(QuietWindow{Start: "22:00", End: "07:00"}))
			r := s.send(booking("sup_1", tc.tz))
			st := s.status(r.ID)
			require.Equal(t, StatusDeferred, st[ChannelEmail].Status)
			require.Equal(t, StatusDeferred, st[ChannelSMS].Status)
			require.True(t, st[ChannelEmail].NotBefore.Equal(tc.morning), "deferred until %s, want %s", st[ChannelEmail].NotBefore.UTC(), tc.morning)
			require.Equal(t, StatusSent, st[ChannelInApp].Status, "in-app is silent: quiet hours do not hold it")
			require.Empty(t, s.email.messages())

			s.advance(tc.morning.Sub(s.clk.Now()) - time.Second)
			require.Empty(t, s.email.messages(), "still quiet a second before the end")
			s.advance(time.Second)
			require.Len(t, s.email.messages(), 1)
			require.Len(t, s.sms.messages(), 1)
			require.Equal(t, StatusSent, s.status(r.ID)[ChannelEmail].Status)
		})
	}
}

func TestQuietHoursReadPreferencesAgainWhenTheyEnd(t *testing.T) {
	s := newSim(t)
	s.clk.Advance(12 * time.Hour) // 23:00 UTC
	s.setPrefs("sup_1", testPrefs(QuietWindow{Start: "22:00", End: "07:00"}))
	r := s.send(booking("sup_1", "UTC"))
	require.Equal(t, StatusDeferred, s.statuses(r.ID)[ChannelSMS])
	p := testPrefs(QuietWindow{Start: "22:00", End: "07:00"})
	p.Categories[CategoryBooking] = CategoryPreferences{Channels: map[Channel]bool{ChannelEmail: true, ChannelInApp: true}}
	s.setPrefs("sup_1", p) // switched SMS off overnight
	s.advance(8 * time.Hour)
	st := s.statuses(r.ID)
	require.Equal(t, StatusSent, st[ChannelEmail])
	require.Equal(t, StatusSuppressed, st[ChannelSMS])
	require.Empty(t, s.sms.messages())
}

func TestDigestBatchesACategoryIntoOneMessagePerWindow(t *testing.T) {
	s := newSim(t)
	s.setPrefs("sup_1", testPrefs())
	var ids []string
	for i, stars := range []int{5, 4, 5} {
		r := s.send(Notification{Event: "review.posted", Recipient: Recipient{SupplierID: "sup_1", Email: "ava@studio.example", TimeZone: "UTC"},
			Data: map[string]any{"stars": stars}})
		ids = append(ids, r.ID)
		st := s.status(r.ID)
		require.Equal(t, StatusDigested, st[ChannelEmail].Status)
		require.True(t, st[ChannelEmail].NotBefore.Equal(simT0.Add(24*time.Hour)), "item %d joins the window opened by the first", i)
		require.Equal(t, StatusSent, st[ChannelInApp].Status)
		s.advance(time.Hour)
	}
	require.Empty(t, s.email.messages())
	s.advance(21*time.Hour - time.Second)
	require.Empty(t, s.email.messages())
	s.advance(time.Second)
	mail := s.email.messages()
	require.Len(t, mail, 1, "one digest for three reviews")
	require.Contains(t, mail[0].Subject, "3")
	require.Equal(t, 3, strings.Count(mail[0].Text, "New "), mail[0].Text)

	// The next review opens a new window.
	r := s.send(Notification{Event: "review.posted", Recipient: Recipient{SupplierID: "sup_1", Email: "ava@studio.example", TimeZone: "UTC"},
		Data: map[string]any{"stars": 3}})
	require.Equal(t, StatusDigested, s.statuses(r.ID)[ChannelEmail])
	s.advance(24 * time.Hour)
	require.Len(t, s.email.messages(), 2)
}

func TestCriticalBypassesQuietHoursAndEscalatesUntilAcknowledged(t *testing.T) {
	s := newSim(t, WithEscalationDelay(5*time.Minute))
	s.clk.Advance(12 * time.Hour) // 23:00 in London... in UTC: quiet
	s.setPrefs("sup_1", testPrefs(QuietWindow{Start: "22:00", End: "07:00"}))
	s.subscribe("sup_1")
	nt := booking("sup_1", "UTC")
	nt.Priority = PriorityCritical
	r := s.send(nt)
	require.Equal(t, PriorityCritical, r.Priority)
	st := s.status(r.ID)
	require.Equal(t, StatusSent, st[ChannelPush].Status, "first in the escalation order, despite quiet hours")
	require.Equal(t, StatusSent, st[ChannelInApp].Status)
	require.Equal(t, StatusQueued, st[ChannelSMS].Status)
	require.True(t, st[ChannelSMS].NotBefore.Equal(s.clk.Now().Add(5*time.Minute)))
	require.Equal(t, StatusQueued, st[ChannelEmail].Status)
	require.Empty(t, s.sms.messages())

	s.advance(5 * time.Minute)
	require.Len(t, s.sms.messages(), 1, "not acknowledged: SMS next")
	require.Empty(t, s.email.messages())

	require.NoError(t, s.n.Acknowledge(context.Background(), r.ID))
	s.advance(time.Hour)
	require.Empty(t, s.email.messages(), "acknowledged: the escalation stops")
	st = s.status(r.ID)
	require.Equal(t, StatusAcknowledged, st[ChannelEmail].Status)
	require.Equal(t, StatusSent, st[ChannelSMS].Status)
	full, err := s.n.Status(context.Background(), r.ID)
	require.NoError(t, err)
	require.False(t, full.AcknowledgedAt.IsZero())
	require.NoError(t, s.n.Acknowledge(context.Background(), r.ID), "acknowledging twice is fine")
}

func TestCriticalEscalatesToTheEndOfTheList(t *testing.T) {
	s := newSim(t, WithEscalationDelay(time.Minute))
	s.setPrefs("sup_1", testPrefs())
	s.subscribe("sup_1")
	nt := booking("sup_1", "UTC")
	nt.Priority = PriorityCritical
	r := s.send(nt)
	s.advance(time.Minute)
	s.advance(time.Minute)
	require.Len(t, s.push.messages(), 1)
	require.Len(t, s.sms.messages(), 1)
	require.Len(t, s.email.messages(), 1)
	s.advance(time.Hour)
	require.Len(t, s.email.messages(), 1, "the list has ended")
	for ch, st := range s.statuses(r.ID) {
		require.Equal(t, StatusSent, st, ch)
	}
}

func TestCriticalEscalatesAtOnceWhenAChannelFailsForGood(t *testing.T) {
	s := newSim(t, WithEscalationDelay(5*time.Minute))
	s.setPrefs("sup_1", testPrefs())
	nt := booking("sup_1", "UTC")
	nt.Priority = PriorityCritical
	nt.Recipient.Phone = "not a number"
	r := s.send(nt) // no push subscription, a bad phone: email at once
	st := s.status(r.ID)
	require.Equal(t, StatusFailed, st[ChannelPush].Status)
	require.Equal(t, StatusFailed, st[ChannelSMS].Status)
	require.Equal(t, StatusSent, st[ChannelEmail].Status)
	require.Len(t, s.email.messages(), 1)
	s.advance(time.Hour)
	require.Len(t, s.email.messages(), 1, "the scheduled escalations find their channels settled")
}

func TestReadingTheInAppMessageAcknowledges(t *testing.T) {
	s := newSim(t, WithEscalationDelay(time.Minute))
	s.setPrefs("sup_1", testPrefs())
	nt := booking("sup_1", "UTC")
	nt.Priority = PriorityCritical
	s.email.setFail(func(*Message) error { return &ProviderError{Provider: "mail-a", StatusCode: 503} })
	s.email2.setFail(func(*Message) error { return &ProviderError{Provider: "mail-b", StatusCode: 503} })
	p := testPrefs()
	p.Escalation = []Channel{ChannelEmail, ChannelSMS}
	s.setPrefs("sup_1", p)
	r := s.send(nt) // email keeps retrying: SMS after the delay
	require.Equal(t, StatusQueued, s.statuses(r.ID)[ChannelEmail])
	list, err := s.n.InApp(context.Background(), "sup_1", InAppQuery{UnreadOnly: true})
	require.NoError(t, err)
	require.Len(t, list, 1)
	n, err := s.n.MarkRead(context.Background(), "sup_2", list[0].ID)
	require.NoError(t, err)
	require.Zero(t, n, "another supplier cannot mark it read")
	n, err = s.n.MarkRead(context.Background(), "sup_1", list[0].ID)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	unread, err := s.n.UnreadCount(context.Background(), "sup_1")
	require.NoError(t, err)
	require.Zero(t, unread)
	s.advance(time.Hour)
	require.Empty(t, s.sms.messages())
	require.Equal(t, StatusAcknowledged, s.statuses(r.ID)[ChannelSMS])
}

func TestAWeddingTodayInTheSuppliersTimeZoneIsCritical(t *testing.T) {
	s := newSim(t)
	s.setPrefs("sup_1", testPrefs())
	// 11:00 UTC on 8 June is 23:00 on 8 June in Auckland, and 9 June at
	// 01:00 in Kiritimati (+14).
	nt := booking("sup_1", "Pacific/Auckland")
	nt.WeddingDate = "2026-06-08"
	require.Equal(t, PriorityCritical, s.send(nt).Priority)
	nt.Recipient.TimeZone = "Pacific/Kiritimati"
	require.Equal(t, PriorityNormal, s.send(nt).Priority, "already the 9th there")
	nt.WeddingDate = "2026-06-09"
	require.Equal(t, PriorityCritical, s.send(nt).Priority)
	nt.Priority = PriorityNormal
	require.Equal(t, PriorityNormal, s.send(nt).Priority, "an explicit priority wins")
}

func TestFailoverToTheNextProviderAndPastAnOpenBreaker(t *testing.T) {
	s := newSim(t, WithCircuitBreaker(3, 0.5, time.Minute, time.Minute))
	p := testPrefs()
	p.Categories[CategoryBooking] = CategoryPreferences{Channels: map[Channel]bool{ChannelEmail: true}}
	s.setPrefs("sup_1", p)
	calls := 0
	s.email.setFail(func(*Message) error {
		calls++
		return &ProviderError{Provider: "mail-a", StatusCode: 421, Err: errors.New("service not available")}
	})
	for i := 0; i < 5; i++ {
		r := s.send(booking("sup_1", "UTC"))
		st := s.status(r.ID)[ChannelEmail]
		require.Equal(t, StatusSent, st.Status)
		require.Equal(t, "mail-b", st.Provider)
	}
	require.Len(t, s.email2.messages(), 5)
	require.Equal(t, 3, calls, "after three failures mail-a's breaker is open and it is skipped")
	r := s.send(booking("sup_1", "UTC"))
	atts, err := s.n.Attempts(context.Background(), r.ID)
	require.NoError(t, err)
	require.Len(t, atts, 1)
	require.Equal(t, "mail-b", atts[0].Provider)

	// The breaker lets a probe through after a minute.
	s.email.setFail(nil)
	s.advance(time.Minute + 2*time.Second)
	r = s.send(booking("sup_1", "UTC"))
	require.Equal(t, "mail-a", s.status(r.ID)[ChannelEmail].Provider)
}

func TestEveryProviderFailingRetriesOnTheSchedule(t *testing.T) {
	s := newSim(t, WithRetrySchedule(0, 10*time.Second, time.Minute))
	p := testPrefs()
	p.Categories[CategoryBooking] = CategoryPreferences{Channels: map[Channel]bool{ChannelSMS: true}}
	s.setPrefs("sup_1", p)
	s.sms.setFail(func(*Message) error { return &ProviderError{Provider: "sms", StatusCode: 503} })
	r := s.send(booking("sup_1", "UTC"))
	st := s.status(r.ID)[ChannelSMS]
	require.Equal(t, StatusQueued, st.Status)
	require.Contains(t, st.Error, "503")
	require.True(t, st.NotBefore.Equal(simT0.Add(10*time.Second)))
	s.sms.setFail(nil)
	s.advance(10 * time.Second)
	st = s.status(r.ID)[ChannelSMS]
	require.Equal(t, StatusSent, st.Status)
	require.Equal(t, 2, st.Attempts)

	s.sms.setFail(func(*Message) error { return &ProviderError{Provider: "sms", StatusCode: 500} })
	r = s.send(booking("sup_1", "UTC"))
	s.advance(10 * time.Second)
	s.advance(time.Minute)
	st = s.status(r.ID)[ChannelSMS]
	require.Equal(t, StatusFailed, st.Status, "three attempts, then it gives up")
	require.Equal(t, 3, st.Attempts)
}

func TestProviderRateLimitWaitsWithoutFailing(t *testing.T) {
	s := newSim(t, WithProviderRateLimit("sms", 1.0/60))
	p := testPrefs()
	p.Categories[CategoryBooking] = CategoryPreferences{Channels: map[Channel]bool{ChannelSMS: true}}
	s.setPrefs("sup_1", p)
	a := s.send(booking("sup_1", "UTC"))
	b := s.send(booking("sup_1", "UTC"))
	require.Equal(t, StatusSent, s.statuses(a.ID)[ChannelSMS])
	require.Equal(t, StatusQueued, s.statuses(b.ID)[ChannelSMS], "waits for the limit")
	s.advance(61 * time.Second)
	require.Equal(t, StatusSent, s.statuses(b.ID)[ChannelSMS])
	require.Equal(t, 1, s.status(b.ID)[ChannelSMS].Attempts, "waiting is not a failed attempt")
}

func TestIdempotencyKeyReturnsTheFirstNotificationFor24Hours(t *testing.T) {
	s := newSim(t)
	s.setPrefs("sup_1", testPrefs())
	nt := booking("sup_1", "UTC")
	nt.IdempotencyKey = "booking-42-confirmed"
	first := s.send(nt)
	again := s.send(nt)
	require.True(t, again.Duplicate)
	require.Equal(t, first.ID, again.ID)
	require.Len(t, s.email.messages(), 1)
	other := nt
	other.Recipient.SupplierID = "sup_2"
	require.NotEqual(t, first.ID, s.send(other).ID, "keys are per supplier")
	s.advance(24*time.Hour + time.Second)
	later := s.send(nt)
	require.False(t, later.Duplicate)
	require.NotEqual(t, first.ID, later.ID)
}

func TestBadRecipientsFailTheirChannelOnly(t *testing.T) {
	s := newSim(t)
	s.setPrefs("sup_1", testPrefs())
	sub := s.subscribe("sup_1")
	s.push.setFail(func(*Message) error { return errors.Join(ErrSubscriptionGone, errors.New("410")) })
	nt := booking("sup_1", "UTC")
	nt.Recipient.Email = "ava at studio"
	nt.Recipient.Phone = "07700 900123"
	r := s.send(nt)
	st := s.status(r.ID)
	require.Equal(t, StatusFailed, st[ChannelEmail].Status)
	require.Contains(t, st[ChannelEmail].Error, "recipient.email")
	require.Equal(t, StatusFailed, st[ChannelSMS].Status)
	require.Contains(t, st[ChannelSMS].Error, "recipient.phone")
	require.Equal(t, StatusFailed, st[ChannelPush].Status)
	require.Equal(t, StatusSent, st[ChannelInApp].Status, "the other channels still go")
	require.Empty(t, s.sms.messages())

	subs, err := s.n.PushSubscriptions(context.Background(), "sup_1")
	require.NoError(t, err)
	require.Len(t, subs, 1)
	require.Equal(t, sub.ID, subs[0].ID)
	require.False(t, subs[0].DeadAt.IsZero(), "410 marks the subscription dead")
	require.Empty(t, subs[0].P256DH, "keys are not listed")

	r = s.send(booking("sup_1", "UTC"))
	st = s.status(r.ID)
	require.Equal(t, StatusFailed, st[ChannelPush].Status)
	require.Contains(t, st[ChannelPush].Error, "no live push subscription")
	require.Equal(t, StatusSent, st[ChannelEmail].Status)
	require.Len(t, s.push.messages(), 0)
}

func TestSendRefusesBadInputNamingTheField(t *testing.T) {
	s := newSim(t)
	ctx := context.Background()
	for _, tc := range []struct {
		mut   func(*Notification)
		field string
	}{
		{func(n *Notification) { n.Event = "" }, "event"},
		{func(n *Notification) { n.Event = "nope" }, "event"},
		{func(n *Notification) { n.Recipient.SupplierID = "" }, "recipient.supplier_id"},
		{func(n *Notification) { n.Recipient.TimeZone = "Mars/Olympus" }, "recipient.time_zone"},
		{func(n *Notification) { n.Priority = "urgent" }, "priority"},
		{func(n *Notification) { n.WeddingDate = "13/06/2026" }, "wedding_date"},
		{func(n *Notification) { delete(n.Data, "couple_name") }, "data.couple_name"},
		{func(n *Notification) { n.Data["colour"] = "blue" }, "data.colour"},
		{func(n *Notification) { n.IdempotencyKey = strings.Repeat("k", 256) }, "idempotency_key"},
		{func(n *Notification) { n.ReplyTo = "not an address" }, "reply_to"},
	} {
		nt := booking("sup_1", "UTC")
		tc.mut(&nt)
		_, err := s.n.Send(ctx, nt)
		require.ErrorIs(t, err, ErrInvalid, tc.field)
		var ve *ValidationError
		require.ErrorAs(t, err, &ve)
		require.Equal(t, tc.field, ve.Field)
	}
	_, err := s.n.SendTx(ctx, nil, booking("sup_1", "UTC"))
	require.ErrorIs(t, err, ErrNoDatabase)
	require.ErrorIs(t, s.n.SetPreferences(ctx, "sup_1", Preferences{QuietHours: []QuietWindow{{Start: "25:00", End: "07:00"}}}), ErrInvalid)
	_, err = s.n.Status(ctx, "ntf_missing")
	require.ErrorIs(t, err, ErrNotFound)
}

func TestNewNotifierRefusesBadOptions(t *testing.T) {
	tp := testTemplates(t)
	_, err := NewNotifier()
	require.ErrorContains(t, err, "WithTemplates")
	_, err = NewNotifier(WithTemplates(tp), WithEscalationDelay(time.Second))
	require.ErrorContains(t, err, "WithEscalationDelay")
	_, err = NewNotifier(WithTemplates(tp), WithProvider(newFake("a", ChannelEmail)), WithProvider(newFake("a", ChannelSMS)))
	require.ErrorContains(t, err, `name "a" is used by another provider`)
	_, err = NewNotifier(WithTemplates(tp), WithProvider(newFake("p", ChannelPush)))
	require.ErrorContains(t, err, "PushProvider")
	_, err = NewNotifier(WithTemplates(tp), WithProviderRateLimit("ghost", 1))
	require.ErrorContains(t, err, `"ghost"`)

	missing := NewTemplates()
	require.NoError(t, missing.AddEvent(EventSpec{Name: "x.y", Category: CategorySystem, Channels: []Channel{ChannelSMS}}))
	_, err = NewNotifier(WithTemplates(missing))
	require.ErrorContains(t, err, "x.y", "a missing default variant fails at start-up")
}

func TestPreviewReportsSMSSegments(t *testing.T) {
	s := newSim(t)
	nt := booking("sup_1", "UTC")
	nt.Data["couple_name"] = strings.Repeat("Chloé ", 40)
	out, err := s.n.Preview(context.Background(), nt)
	require.NoError(t, err)
	require.Equal(t, "GSM-7", out[ChannelSMS].SMS.Encoding)
	require.Equal(t, 2, out[ChannelSMS].SMS.Segments)
	nt.Data["couple_name"] = "Сэм и Алекс 💍"
	out, err = s.n.Preview(context.Background(), nt)
	require.NoError(t, err)
	require.Equal(t, "UCS-2", out[ChannelSMS].SMS.Encoding)
	require.Equal(t, 1, out[ChannelSMS].SMS.Segments)
}
