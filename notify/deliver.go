package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wedsync/integrations/internal/attempt"
	"github.com/wedsync/integrations/internal/jobs"
)

// inAppProvider names the notifier's own in-app "provider" in statuses and
// the attempt log.
const inAppProvider = "inapp"

// final reports whether a channel's status is settled: nothing more is sent.
func final(s Status) bool {
	switch s {
	case StatusQueued, StatusDeferred, StatusDigested:
		return false
	}
	return true
}

// send works one attempt of one notification on one channel, on the attempt
// chain of internal/attempt: crash check, then each provider of the channel
// in turn (a provider whose breaker is open or whose rate limit is spent is
// skipped: failover), then the attempt rows, the channel's status and the
// next attempt's job in one transaction.
func (n *Notifier) send(ctx context.Context, job *jobs.Job[sendArgs]) error {
	a := job.Args
	done, err := attempt.AlreadyDone(ctx, job.Attempt, func(ctx context.Context) (bool, error) {
		return n.store.attemptRecorded(ctx, a.NotificationID, a.Channel, job.ID)
	})
	if err != nil || done {
		return err
	}
	sn, err := n.store.getNotification(ctx, a.NotificationID)
	if errors.Is(err, ErrNotFound) {
		return jobs.Cancel(fmt.Errorf("notification %s is past retention", a.NotificationID))
	}
	if err != nil {
		return err
	}
	rows, err := n.store.channels(ctx, sn.ID)
	if err != nil {
		return err
	}
	var row *channelRow
	for _, r := range rows {
		if r.Channel == a.Channel {
			row = r
		}
	}
	if row == nil || final(row.Status) {
		return nil // already settled (a duplicate job, or acknowledged)
	}
	if !sn.AcknowledgedAt.IsZero() {
		return n.settle(ctx, sn.ID, a.Channel, StatusAcknowledged, "")
	}
	if a.Channel == ChannelInApp {
		return n.deliverInApp(ctx, job.ID, sn, a)
	}
	msg, err := n.message(sn, a.Channel, a.Number)
	if err != nil {
		return n.fail(ctx, job.ID, sn, a, nil, err)
	}

	var tries []*attemptRow
	var res callResult
	if a.Channel == ChannelPush {
		res, tries, err = n.sendPush(ctx, sn, msg)
	} else {
		res, tries = n.callProviders(ctx, n.providers[a.Channel], sn, msg)
	}
	switch {
	case err != nil:
		return err
	case res.stopping:
		return jobs.Snooze(0) // the notifier is stopping: keep the attempt for the next start
	case res.wait > 0 && len(tries) == 0:
		n.tel.deferred(ctx, string(res.why))
		return jobs.Snooze(res.wait)
	case res.ok:
		return n.record(ctx, job.ID, sn, a, tries, StatusSent, "", res.provider, res.externalID, time.Time{})
	case res.permanent != nil:
		return n.fail(ctx, job.ID, sn, a, tries, res.permanent)
	}
	// Every provider failed: retry on the policy's schedule.
	next := time.Time{}
	if d, ok := n.o.policy.Next(a.Number, res.outcome); ok {
		next = n.o.clock.Now().Add(d)
		return n.record(ctx, job.ID, sn, a, tries, StatusQueued, res.err.Error(), res.provider, "", next)
	}
	return n.record(ctx, job.ID, sn, a, tries, StatusFailed, "every provider failed: "+res.err.Error(), res.provider, "", time.Time{})
}

// message renders the notification for ch and fills in its recipient.
func (n *Notifier) message(sn *storedNotification, ch Channel, number int) (*Message, error) {
	r, err := n.render(sn, ch)
	if err != nil {
		return nil, err
	}
	m := &Message{
		NotificationID: sn.ID, Attempt: number, Channel: ch, Priority: sn.Priority, Category: sn.Category, Event: sn.Event,
		Name: sn.Recipient.Name, Subject: r.Subject, Text: r.Text, HTML: r.HTML, ReplyTo: sn.ReplyTo, URL: sn.URL,
	}
	switch ch {
	case ChannelEmail:
		if sn.Recipient.Email == "" {
			return nil, BadRecipient("recipient.email", "is empty: the supplier has no email address")
		}
		if err := checkEmail(sn.Recipient.Email); err != nil {
			return nil, err
		}
		m.To = sn.Recipient.Email
		if n.o.unsubscribe != nil {
			m.ListUnsubscribe = n.o.unsubscribe(sn.Recipient, sn.Category)
		}
	case ChannelSMS:
		if sn.Recipient.Phone == "" {
			return nil, BadRecipient("recipient.phone", "is empty: the supplier has no phone number")
		}
		if err := checkPhone(sn.Recipient.Phone); err != nil {
			return nil, err
		}
		m.To = sn.Recipient.Phone
	}
	return m, nil
}

// render executes the notification's templates for ch.
func (n *Notifier) render(sn *storedNotification, ch Channel) (*Rendered, error) {
	data := map[string]any{}
	if len(sn.Data) > 0 && string(sn.Data) != "null" {
		if err := json.Unmarshal(sn.Data, &data); err != nil {
			return nil, fmt.Errorf("notify: notification data: %w", err)
		}
	}
	data["recipient_name"] = sn.Recipient.Name
	data["url"] = sn.URL
	data["supplier_id"] = sn.SupplierID
	data["vendor_type"] = sn.Recipient.VendorType
	return n.o.templates.Render(sn.Event, ch, sn.Recipient.VendorType, sn.Recipient.Locale, data)
}

// callResult is how one attempt on a channel ended.
type callResult struct {
	ok         bool
	provider   string
	externalID string
	// permanent is set when the recipient is wrong: no retry.
	permanent error
	// err and outcome describe the last provider failure, for the retry.
	err     error
	outcome attempt.Outcome
	// wait > 0 with no attempt made: every provider is guarded.
	wait     time.Duration
	why      attempt.Reason
	stopping bool
	gone     bool
}

// callProviders tries the providers in order until one accepts the message.
func (n *Notifier) callProviders(ctx context.Context, ps []Provider, sn *storedNotification, m *Message) (callResult, []*attemptRow) {
	var res callResult
	var tries []*attemptRow
	if len(ps) == 0 {
		res.permanent = fmt.Errorf("notify: no provider is configured for %s", m.Channel)
		return res, nil
	}
	for _, p := range ps {
		permit, wait, why := n.guards.Acquire(p.Name(), n.o.rates[p.Name()])
		if permit == nil {
			if res.wait == 0 || wait < res.wait {
				res.wait, res.why = wait, why
			}
			n.o.logger.Debug("notify: provider unavailable, trying the next", "provider", p.Name(), "reason", why)
			continue
		}
		start := n.o.clock.Now()
		cctx, cancel := context.WithTimeout(ctx, n.o.timeout)
		r, err := n.tel.call(cctx, p, m)
		cancel()
		if err != nil && ctx.Err() != nil {
			permit.NotAttempted()
			res.stopping = true
			return res, tries
		}
		at := n.o.clock.Now()
		row := &attemptRow{SupplierID: sn.SupplierID, Attempt: Attempt{
			NotificationID: sn.ID, Channel: m.Channel, Provider: p.Name(), Recipient: MaskRecipient(m.Channel, recipientOf(m)),
			Number: m.Attempt, OK: err == nil, ExternalID: r.ExternalID, Latency: at.Sub(start), At: at,
		}}
		tries = append(tries, row)
		res.provider = p.Name()
		if err == nil {
			permit.Done(true)
			res.ok, res.externalID = true, r.ExternalID
			return res, tries
		}
		row.Error = err.Error()
		if errors.Is(err, ErrBadRecipient) || errors.Is(err, ErrSubscriptionGone) {
			// The provider works; the recipient does not. Another
			// provider would refuse it too.
			permit.Done(true)
			res.permanent, res.gone = err, errors.Is(err, ErrSubscriptionGone)
			return res, tries
		}
		if errors.Is(err, ErrInvalid) {
			// The message itself is unsendable (an SMS over the
			// provider's length limit, say): no retry cures it.
			permit.Done(true)
			res.permanent = err
			return res, tries
		}
		permit.Done(false)
		res.err, res.outcome = err, outcomeOf(err)
		n.o.logger.Warn("notify: provider failed", "provider", p.Name(), "notification", sn.ID, "channel", m.Channel,
			"recipient", row.Recipient, "err", err)
	}
	if len(tries) > 0 {
		res.wait = 0
	}
	return res, tries
}

func recipientOf(m *Message) string {
	if m.Subscription != nil {
		if m.Subscription.Kind == PushFCM {
			return m.Subscription.Token
		}
		return m.Subscription.Endpoint
	}
	return m.To
}

// outcomeOf turns a provider's error into what the retry policy reads.
func outcomeOf(err error) attempt.Outcome {
	var pe *ProviderError
	if !errors.As(err, &pe) {
		return attempt.Outcome{Timeout: errors.Is(err, context.DeadlineExceeded)}
	}
	return attempt.Outcome{Status: pe.StatusCode, Timeout: pe.Timeout || errors.Is(err, context.DeadlineExceeded),
		RetryAfter: pe.RetryAfter, HasRetryAfter: pe.RetryAfter > 0}
}

// sendPush sends to each live subscription of the supplier, through the
// providers of its kind. The channel is sent when one subscription got it;
// a subscription the push service calls gone is marked dead.
func (n *Notifier) sendPush(ctx context.Context, sn *storedNotification, m *Message) (callResult, []*attemptRow, error) {
	subs, err := n.subscriptions(ctx, sn.SupplierID, true)
	if err != nil {
		return callResult{}, nil, err
	}
	if len(subs) == 0 {
		return callResult{permanent: BadRecipient("push_subscriptions", "the supplier has no live push subscription")}, nil, nil
	}
	var all []*attemptRow
	var agg callResult
	agg.permanent = BadRecipient("push_subscriptions", "every push subscription was refused or has expired")
	for i := range subs {
		s := subs[i]
		mm := *m
		mm.Subscription = &s
		ps := n.push[s.Kind]
		res, tries := n.callProviders(ctx, ps, sn, &mm)
		all = append(all, tries...)
		switch {
		case res.stopping:
			return res, all, nil
		case res.ok:
			agg.ok, agg.provider, agg.externalID = true, res.provider, res.externalID
		case res.gone || errors.Is(res.permanent, ErrBadRecipient):
			// Gone (404/410), or refused for good (malformed keys, an
			// endpoint the SSRF guard refuses): never usable again.
			if err := n.store.markSubscriptionDead(ctx, s.ID, n.o.clock.Now()); err != nil {
				n.o.logger.Warn("notify: could not mark a push subscription dead", "subscription", s.ID, "err", err)
			} else {
				n.o.logger.Info("notify: push subscription is dead", "supplier", sn.SupplierID, "subscription", s.ID, "err", res.permanent)
			}
		case res.permanent != nil:
		default:
			// Temporary: retry the channel unless another subscription got it.
			agg.err, agg.outcome, agg.provider = res.err, res.outcome, res.provider
			if res.wait > 0 && (agg.wait == 0 || res.wait < agg.wait) {
				agg.wait, agg.why = res.wait, res.why
			}
		}
	}
	if agg.ok {
		agg.permanent, agg.err = nil, nil
		return agg, all, nil
	}
	if agg.err != nil || agg.wait > 0 {
		agg.permanent = nil
		if agg.err == nil {
			agg.err = errors.New("every push provider is unavailable")
		}
	}
	return agg, all, nil
}

// fail settles the channel as failed for a reason no retry can cure.
func (n *Notifier) fail(ctx context.Context, jobID int64, sn *storedNotification, a sendArgs, tries []*attemptRow, cause error) error {
	provider := ""
	if len(tries) > 0 {
		provider = tries[len(tries)-1].Provider
	}
	n.o.logger.Warn("notify: channel failed", "notification", sn.ID, "channel", a.Channel, "err", cause)
	return n.record(ctx, jobID, sn, a, tries, StatusFailed, cause.Error(), provider, "", time.Time{})
}

// record writes the attempts and the channel's new status and, when next is
// set, queues the next attempt, in one transaction (internal/attempt).
func (n *Notifier) record(ctx context.Context, jobID int64, sn *storedNotification, a sendArgs, tries []*attemptRow,
	st Status, why, provider, externalID string, next time.Time) error {
	for _, t := range tries {
		t.JobID = jobID
	}
	calls := len(tries)
	if len(tries) == 0 {
		// Log the attempt even when no provider was called (a bad
		// recipient found before the call), so the crash check finds it.
		tries = append(tries, &attemptRow{SupplierID: sn.SupplierID, JobID: jobID, Attempt: Attempt{
			NotificationID: sn.ID, Channel: a.Channel, Provider: provider, Number: a.Number, OK: st == StatusSent,
			Error: why, At: n.o.clock.Now(),
		}})
	}
	now := n.o.clock.Now()
	e := attempt.Entry{
		Write: func(ctx context.Context, tx pgx.Tx) error {
			if err := n.store.insertAttempts(ctx, tx, tries...); err != nil {
				return err
			}
			return n.store.updateChannel(ctx, tx, sn.ID, a.Channel, func(r *channelRow) error {
				r.Status, r.Error, r.Provider, r.ExternalID, r.NotBefore, r.UpdatedAt = st, why, provider, externalID, next, now
				r.Attempts += calls
				return nil
			})
		},
		OnRetry: func(err error, try int, wait time.Duration) {
			n.o.logger.Warn("notify: could not record an attempt; retrying", "notification", sn.ID, "channel", a.Channel,
				"attempt", a.Number, "try", try+1, "retry_in", wait, "err", err)
		},
	}
	if !next.IsZero() {
		e.Next = &jobs.InsertParams{
			Args:  sendArgs{NotificationID: sn.ID, Channel: a.Channel, Number: a.Number + 1},
			RunAt: next, Priority: jobPriority(sn.Priority), Unique: true,
		}
	}
	if err := n.recorder.Record(ctx, e); err != nil {
		n.o.logger.Warn("notify: could not record an attempt; it will be made again", "notification", sn.ID,
			"channel", a.Channel, "attempt", a.Number, "err", err)
		return fmt.Errorf("notify: record attempt: %w", err)
	}
	n.tel.sent(ctx, a.Channel, st, !next.IsZero())
	if st == StatusFailed && sn.Priority == PriorityCritical {
		n.escalateNow(ctx, sn)
	}
	if st == StatusSent {
		n.o.logger.Debug("notify: sent", "notification", sn.ID, "channel", a.Channel, "provider", provider, "attempt", a.Number)
	}
	n.changed(ctx, sn.ID)
	return nil
}

// settle sets a channel's final status without an attempt.
func (n *Notifier) settle(ctx context.Context, id string, ch Channel, st Status, why string) error {
	now := n.o.clock.Now()
	err := n.queue.InTx(ctx, func(tx pgx.Tx) error {
		return n.store.updateChannel(ctx, tx, id, ch, func(r *channelRow) error {
			if final(r.Status) {
				return nil
			}
			r.Status, r.Error, r.NotBefore, r.UpdatedAt = st, why, time.Time{}, now
			return nil
		})
	})
	if err == nil {
		n.changed(ctx, id)
	}
	return err
}

// deliverInApp stores the in-app message and hands it to the host.
func (n *Notifier) deliverInApp(ctx context.Context, jobID int64, sn *storedNotification, a sendArgs) error {
	r, err := n.render(sn, ChannelInApp)
	if err != nil {
		return n.fail(ctx, jobID, sn, a, nil, err)
	}
	now := n.o.clock.Now()
	msg := InAppMessage{
		ID: newID("inapp_"), SupplierID: sn.SupplierID, NotificationID: sn.ID, Event: sn.Event, Category: sn.Category,
		Priority: sn.Priority, Title: r.Subject, Body: r.Text, URL: sn.URL, CreatedAt: now,
	}
	if len(sn.Data) > 0 && string(sn.Data) != "null" {
		msg.Data = sn.Data
	}
	tries := []*attemptRow{{SupplierID: sn.SupplierID, JobID: jobID, Attempt: Attempt{
		NotificationID: sn.ID, Channel: ChannelInApp, Provider: inAppProvider, Recipient: sn.SupplierID, Number: a.Number, OK: true, At: now,
	}}}
	err = n.recorder.Record(ctx, attempt.Entry{Write: func(ctx context.Context, tx pgx.Tx) error {
		if err := n.store.insertInApp(ctx, tx, &msg); err != nil {
			return err
		}
		if err := n.store.insertAttempts(ctx, tx, tries...); err != nil {
			return err
		}
		return n.store.updateChannel(ctx, tx, sn.ID, ChannelInApp, func(r *channelRow) error {
			r.Status, r.Provider, r.ExternalID, r.UpdatedAt, r.Error = StatusSent, inAppProvider, msg.ID, now, ""
			r.Attempts++
			return nil
		})
	}})
	if err != nil {
		return fmt.Errorf("notify: store in-app message: %w", err)
	}
	n.tel.sent(ctx, ChannelInApp, StatusSent, false)
	if n.o.inApp != nil {
		n.o.inApp(ctx, msg)
	}
	n.changed(ctx, sn.ID)
	return nil
}

// escalate sends a critical notification on its next channel unless it was
// acknowledged, and schedules the one after.
func (n *Notifier) escalate(ctx context.Context, job *jobs.Job[escalateArgs]) error {
	a := job.Args
	sn, err := n.store.getNotification(ctx, a.NotificationID)
	if errors.Is(err, ErrNotFound) {
		return jobs.Cancel(fmt.Errorf("notification %s is past retention", a.NotificationID))
	}
	if err != nil {
		return err
	}
	if !sn.AcknowledgedAt.IsZero() {
		return nil // Acknowledge settled the waiting channels
	}
	now := n.o.clock.Now()
	send := false
	err = n.queue.InTx(ctx, func(tx pgx.Tx) error {
		send = false
		err := n.store.updateChannel(ctx, tx, sn.ID, a.Channel, func(r *channelRow) error {
			if final(r.Status) || r.NotBefore.IsZero() {
				return nil // settled, or already going out
			}
			r.NotBefore, r.UpdatedAt, send = time.Time{}, now, true
			return nil
		})
		if err != nil || !send {
			return err
		}
		ps := []jobs.InsertParams{{Args: sendArgs{NotificationID: sn.ID, Channel: a.Channel, Number: 1}, Priority: priorityCritical, Unique: true}}
		if len(a.Rest) > 0 {
			ps = append(ps, jobs.InsertParams{
				Args:  escalateArgs{NotificationID: sn.ID, Channel: a.Rest[0], Rest: a.Rest[1:]},
				RunAt: now.Add(n.o.escalateAfter), Priority: priorityCritical, Unique: true,
			})
		}
		return n.queue.InsertTx(ctx, tx, ps...)
	})
	if err != nil {
		return fmt.Errorf("notify: escalate %s: %w", sn.ID, err)
	}
	if !send {
		return nil
	}
	n.o.logger.Info("notify: critical notification not acknowledged; escalating", "notification", sn.ID, "channel", a.Channel)
	n.tel.escalated(ctx, a.Channel)
	n.changed(ctx, sn.ID)
	return nil
}

// escalateNow sends a critical notification on its next waiting channel at
// once when a channel failed for good and no other (in-app aside) has
// reached the supplier or is still trying: waiting out the delay on a
// channel that cannot reach the supplier helps nobody. The escalation job
// already scheduled for that channel then finds it going out and does
// nothing. If this insert is lost in a crash, that job still escalates on
// time.
func (n *Notifier) escalateNow(ctx context.Context, sn *storedNotification) {
	rows, err := n.store.channels(ctx, sn.ID)
	if err != nil {
		n.o.logger.Warn("notify: could not escalate early", "notification", sn.ID, "err", err)
		return
	}
	var pending []*channelRow
	for _, r := range rows {
		switch {
		case r.Channel == ChannelInApp:
		case r.Status == StatusQueued && !r.NotBefore.IsZero():
			pending = append(pending, r)
		case r.Status == StatusQueued, r.Status == StatusSent, r.Status == StatusDelivered:
			return // another channel reaches the supplier, or is still trying
		}
	}
	if len(pending) == 0 {
		return
	}
	slices.SortFunc(pending, func(a, b *channelRow) int { return a.NotBefore.Compare(b.NotBefore) })
	next := escalateArgs{NotificationID: sn.ID, Channel: pending[0].Channel, Early: true}
	for _, r := range pending[1:] {
		next.Rest = append(next.Rest, r.Channel)
	}
	err = n.queue.Insert(context.WithoutCancel(ctx), jobs.InsertParams{Args: next, Priority: priorityCritical, Unique: true})
	if err != nil {
		n.o.logger.Warn("notify: could not escalate early", "notification", sn.ID, "err", err)
	}
}

// flushDigest closes a digest at the end of its window and sends one
// notification of DigestEvent that lists its items.
func (n *Notifier) flushDigest(ctx context.Context, job *jobs.Job[digestArgs]) error {
	now := n.o.clock.Now()
	var id string
	err := n.queue.InTx(ctx, func(tx pgx.Tx) error {
		d, err := n.store.closeDigest(ctx, tx, job.Args.DigestID)
		if errors.Is(err, ErrNotFound) {
			return nil // flushed by an earlier run
		}
		if err != nil {
			return err
		}
		items := make([]any, 0, len(d.Items))
		var last *storedNotification
		for _, itemID := range d.Items {
			sn, err := n.store.getNotification(ctx, itemID)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			last = sn
			subject, text := n.digestLine(sn)
			items = append(items, map[string]any{"subject": subject, "text": text})
		}
		if last == nil {
			return nil
		}
		data, err := json.Marshal(map[string]any{"category": string(d.Category), "count": len(items), "items": items})
		if err != nil {
			return err
		}
		sn := &storedNotification{
			ID: newID("ntf_"), SupplierID: d.SupplierID, Event: DigestEvent, Category: d.Category, Priority: PriorityNormal,
			Recipient: last.Recipient, Data: data, CreatedAt: now,
		}
		if _, _, err := n.store.insertNotification(ctx, tx, sn, now); err != nil {
			return err
		}
		id = sn.ID
		return n.queue.InsertTx(ctx, tx, jobs.InsertParams{Args: routeArgs{NotificationID: sn.ID, Round: 1}, Priority: priorityBulk, Unique: true})
	})
	if err != nil {
		return fmt.Errorf("notify: flush digest %s: %w", job.Args.DigestID, err)
	}
	if id != "" {
		n.tel.accepted(ctx, PriorityNormal)
	}
	return nil
}

// digestLine renders one digest item: its in-app title and body when the
// event has them, else its email's.
func (n *Notifier) digestLine(sn *storedNotification) (string, string) {
	spec, _ := n.o.templates.Event(sn.Event)
	for _, ch := range []Channel{ChannelInApp, ChannelEmail, ChannelPush, ChannelSMS} {
		if !contains(spec.Channels, ch) {
			continue
		}
		if r, err := n.render(sn, ch); err == nil {
			return r.Subject, r.Text
		}
	}
	return sn.Event, ""
}

func isRecipient(err error) bool { return errors.Is(err, ErrBadRecipient) }
func isGone(err error) bool      { return errors.Is(err, ErrSubscriptionGone) }
