package notify

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wedsync/integrations/internal/jobs"
)

// route decides, for one notification, what each channel does now: send,
// wait for the end of quiet hours, join a digest, wait for its turn in an
// escalation, or nothing (preferences). Its rows and the jobs that follow
// are written in one transaction, with the routing round, so a route job
// that runs twice after a crash does nothing the second time.
func (n *Notifier) route(ctx context.Context, job *jobs.Job[routeArgs]) error {
	a := job.Args
	sn, err := n.store.getNotification(ctx, a.NotificationID)
	if errors.Is(err, ErrNotFound) {
		return jobs.Cancel(fmt.Errorf("notification %s is past retention", a.NotificationID))
	}
	if err != nil {
		return err
	}
	if sn.Routed >= a.Round {
		return nil
	}
	prefs, err := n.preferences(ctx, sn.SupplierID, sn.Recipient.VendorType)
	if err != nil {
		return err
	}
	existing := map[Channel]*channelRow{}
	if a.Round > 1 {
		rows, err := n.store.channels(ctx, sn.ID)
		if err != nil {
			return err
		}
		for _, r := range rows {
			existing[r.Channel] = r
		}
	}
	loc, err := checkTimeZone(sn.Recipient.TimeZone)
	if err != nil {
		loc = time.UTC // validated at Send; a zone database that lost it must not stop the notification
	}
	now := n.o.clock.Now()
	plan := n.plan(sn, &prefs, existing, now, loc, a.Round)

	err = n.queue.InTx(ctx, func(tx pgx.Tx) error {
		if plan.digest {
			d, opened, err := n.store.addToDigest(ctx, tx, sn.SupplierID, sn.Category, sn.ID, newID("dgst_"), now.Add(plan.digestWindow))
			if err != nil {
				return err
			}
			for _, r := range plan.rows {
				if r.Status == StatusDigested {
					r.NotBefore = d.WindowEnd
				}
			}
			if opened {
				plan.jobs = append(plan.jobs, jobs.InsertParams{Args: digestArgs{DigestID: d.ID}, RunAt: d.WindowEnd, Priority: priorityBulk, Unique: true})
			}
		}
		if err := n.store.setChannels(ctx, tx, plan.rows...); err != nil {
			return err
		}
		if err := n.store.setRouted(ctx, tx, sn.ID, a.Round); err != nil {
			return err
		}
		if len(plan.jobs) > 0 {
			return n.queue.InsertTx(ctx, tx, plan.jobs...)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("notify: route %s: %w", sn.ID, err)
	}
	for _, r := range plan.rows {
		n.tel.routedOne(ctx, r.Channel, r.Status)
	}
	n.changed(ctx, sn.ID)
	return nil
}

// routePlan is what routing decided.
type routePlan struct {
	rows         []*channelRow
	jobs         []jobs.InsertParams
	digest       bool
	digestWindow time.Duration
}

// plan applies the preferences. existing holds the channel rows of earlier
// rounds: only channels without a row, or deferred by quiet hours, are
// decided again.
func (n *Notifier) plan(sn *storedNotification, prefs *Preferences, existing map[Channel]*channelRow, now time.Time, loc *time.Location, round int) *routePlan {
	p := &routePlan{}
	spec, _ := n.o.templates.Event(sn.Event)
	offered := map[Channel]bool{}
	for _, ch := range spec.Channels {
		offered[ch] = true
	}
	isDigest := sn.Event == DigestEvent
	if isDigest {
		// Each item of a digest was already put in the inbox.
		delete(offered, ChannelInApp)
	}
	open := func(ch Channel) bool {
		if !offered[ch] {
			return false
		}
		r := existing[ch]
		return r == nil || r.Status == StatusDeferred
	}
	row := func(ch Channel, st Status, why string, notBefore time.Time) *channelRow {
		r := &channelRow{NotificationID: sn.ID, ChannelStatus: ChannelStatus{Channel: ch, Status: st, Error: why, NotBefore: notBefore, UpdatedAt: now}}
		p.rows = append(p.rows, r)
		return r
	}
	sendNow := func(ch Channel, prio int) {
		row(ch, StatusQueued, "", time.Time{})
		p.jobs = append(p.jobs, jobs.InsertParams{
			Args: sendArgs{NotificationID: sn.ID, Channel: ch, Number: 1}, Priority: prio, Unique: true,
		})
	}

	var wanted []Channel // allowed, in AllChannels order
	for _, ch := range AllChannels() {
		if !open(ch) {
			continue
		}
		if !prefs.Allows(sn.Category, ch) {
			why := fmt.Sprintf("the supplier turned %s off for %s", ch, sn.Category)
			if prefs.Muted {
				why = "the supplier muted notifications"
			}
			row(ch, StatusSuppressed, why, time.Time{})
			continue
		}
		wanted = append(wanted, ch)
	}
	if !sn.AcknowledgedAt.IsZero() {
		for _, ch := range wanted {
			row(ch, StatusAcknowledged, "", time.Time{})
		}
		return p
	}

	if sn.Priority == PriorityCritical {
		// In-app at once; the rest one at a time in the escalation order.
		order := prefs.EscalationOrder(sn.Category)
		var esc []Channel
		for _, ch := range order {
			if open(ch) && contains(wanted, ch) {
				esc = append(esc, ch)
			}
		}
		for _, ch := range wanted {
			if !contains(esc, ch) {
				sendNow(ch, priorityCritical) // in-app, or a channel missing from the order
			}
		}
		for i, ch := range esc {
			if i == 0 {
				sendNow(ch, priorityCritical)
				continue
			}
			row(ch, StatusQueued, "", now.Add(time.Duration(i)*n.o.escalateAfter))
		}
		if len(esc) > 1 {
			p.jobs = append(p.jobs, jobs.InsertParams{
				Args:  escalateArgs{NotificationID: sn.ID, Channel: esc[1], Rest: esc[2:]},
				RunAt: now.Add(n.o.escalateAfter), Priority: priorityCritical, Unique: true,
			})
		}
		return p
	}

	var loud []Channel
	for _, ch := range wanted {
		if ch == ChannelInApp {
			sendNow(ch, priorityNormal) // silent: no quiet hours, no digest
			continue
		}
		loud = append(loud, ch)
	}
	if len(loud) == 0 {
		return p
	}
	if until, quiet := prefs.QuietUntil(now, loc); quiet {
		for _, ch := range loud {
			row(ch, StatusDeferred, "quiet hours", until)
		}
		// The next round re-reads the preferences when the quiet ends.
		p.jobs = append(p.jobs, jobs.InsertParams{
			Args: routeArgs{NotificationID: sn.ID, Round: round + 1}, RunAt: until, Priority: priorityBulk, Unique: true,
		})
		return p
	}
	if w := prefs.DigestWindow(sn.Category); w > 0 && !isDigest {
		p.digest, p.digestWindow = true, w
		for _, ch := range loud {
			row(ch, StatusDigested, "", time.Time{})
		}
		return p
	}
	for _, ch := range loud {
		sendNow(ch, priorityNormal)
	}
	return p
}

func contains(list []Channel, ch Channel) bool {
	for _, c := range list {
		if c == ch {
			return true
		}
	}
	return false
}

// preferences returns the supplier's stored preferences, or the defaults
// of its vendor type.
func (n *Notifier) preferences(ctx context.Context, supplierID, vendorType string) (Preferences, error) {
	p, err := n.store.getPreferences(ctx, supplierID)
	if err != nil {
		return Preferences{}, err
	}
	if p != nil {
		return *p, nil
	}
	return n.defaultPreferences(vendorType), nil
}

func (n *Notifier) defaultPreferences(vendorType string) Preferences {
	if p, ok := n.o.defaults[vendorType]; ok {
		return p
	}
	if p, ok := n.o.defaults[""]; ok {
		return p
	}
	return DefaultPreferences(vendorType)
}
