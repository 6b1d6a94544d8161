package google

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"time"

	"github.com/wedsync/integrations/calendar"
)

// EventID is the client-chosen id Create gives the event with iCalendar
// UID uid: the lowercase hex of SHA-256(uid), 64 characters of Google's
// base32hex alphabet. A retried Create of one UID therefore asks for the
// same id, and Google refuses the second (409), which Create reports as
// calendar.ErrPrecondition: a retry can never duplicate an event.
func EventID(uid string) string {
	sum := sha256.Sum256([]byte(uid))
	return hex.EncodeToString(sum[:])
}

// Create implements calendar.Provider with events.insert and the id
// EventID(ev.UID) (a random UID is made when ev has none). An event that
// exists already gives a *calendar.ExistsError with its id (matching
// calendar.ErrPrecondition). Google keeps a deleted
// event's id (the event stays, cancelled), so a Create of a UID whose
// event was deleted (the engine restoring a booking the supplier deleted
// from their calendar) brings that event back: a patch of the cancelled
// event, If-Match its etag, with status confirmed. A series' Overrides are written after it, each
// as a patch of its instance (see InstanceID); the event returned is the
// series as read back, with them.
func (p *Provider) Create(ctx context.Context, creds []byte, cal string, ev *calendar.Event) (*calendar.Event, error) {
	if err := checkEvent(ev); err != nil {
		return nil, err
	}
	cp, err := calPath(cal)
	if err != nil {
		return nil, err
	}
	uid := ev.UID
	if uid == "" {
		uid = rand.Text() + "@wedsync"
	}
	id := EventID(uid)
	body := patchBody(ev)
	body["id"] = id
	body["iCalUID"] = uid
	if ev.Tag == "" {
		delete(body, "extendedProperties")
	}
	var out *calendar.Event
	err = p.call(ctx, creds, func(ctx context.Context, s *session) error {
		r, err := s.do(ctx, request{op: "create", method: http.MethodPost, path: cp + "/events", body: body})
		if err != nil {
			return err
		}
		if r.status == http.StatusConflict {
			r, err = s.restore(ctx, cal, body)
			if err != nil {
				return err
			}
			if r.status == http.StatusConflict {
				// A live event has the id: the engine reads it, and adopts
				// it when it is the booking's (a write whose bookkeeping a
				// crash lost).
				return &calendar.ExistsError{ID: id, Err: statusErr("create", r)}
			}
		}
		if r.status != http.StatusOK && r.status != http.StatusCreated {
			return statusErr("create", r)
		}
		out, err = DecodeEvent(r.body)
		if err != nil || len(ev.Overrides) == 0 {
			return err
		}
		return s.writeOverrides(ctx, "create", cal, out, ev.Overrides)
	})
	return out, err
}

// Update implements calendar.Provider with events.patch and If-Match:
// etag: the modelled fields (title, description, location, times,
// recurrence, transparency, status, the tag) are written, and what the
// model does not hold (attendees, reminders, colour) stays as the calendar
// has it. A stale etag gives calendar.ErrPrecondition (412), a gone event
// calendar.ErrNotFound. A series' Overrides are then written as patches of
// their instances (see InstanceID); an override dropped from ev is not
// reverted.
func (p *Provider) Update(ctx context.Context, creds []byte, cal string, ev *calendar.Event, etag string) (*calendar.Event, error) {
	if err := checkEvent(ev); err != nil {
		return nil, err
	}
	ep, err := eventPath(cal, ev.ID)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	if etag != "" {
		h.Set("If-Match", ifMatch(etag))
	}
	var out *calendar.Event
	err = p.call(ctx, creds, func(ctx context.Context, s *session) error {
		r, err := s.do(ctx, request{op: "update", method: http.MethodPatch, path: ep, header: h, body: patchBody(ev)})
		if err != nil {
			return err
		}
		if r.status != http.StatusOK {
			return statusErr("update", r)
		}
		out, err = DecodeEvent(r.body)
		if err != nil || len(ev.Overrides) == 0 {
			return err
		}
		return s.writeOverrides(ctx, "update", cal, out, ev.Overrides)
	})
	return out, err
}

// Delete implements calendar.Provider with events.delete and If-Match
// (none when etag is empty). An event already gone (404, 410) is not an
// error; a stale etag gives calendar.ErrPrecondition.
func (p *Provider) Delete(ctx context.Context, creds []byte, cal, id, etag string) error {
	ep, err := eventPath(cal, id)
	if err != nil {
		return err
	}
	h := http.Header{}
	if etag != "" {
		h.Set("If-Match", ifMatch(etag))
	}
	return p.call(ctx, creds, func(ctx context.Context, s *session) error {
		r, err := s.do(ctx, request{op: "delete", method: http.MethodDelete, path: ep, header: h})
		if err != nil {
			return err
		}
		switch r.status {
		case http.StatusOK, http.StatusNoContent, http.StatusNotFound, http.StatusGone:
			return nil
		}
		return statusErr("delete", r)
	})
}

// InstanceID is Google's id of the instance of series masterID that
// originally starts at rid: "<masterID>_20260613T090000Z" (UTC), or
// "<masterID>_20260613" for an all-day series.
func InstanceID(masterID string, rid time.Time, allDay bool) string {
	if allDay {
		return masterID + "_" + rid.UTC().Format("20060102")
	}
	return masterID + "_" + rid.UTC().Format("20060102T150405Z")
}

// writeOverrides patches each override's instance of master, then reads
// the series back into *master.
func (s *session) writeOverrides(ctx context.Context, op, cal string, master *calendar.Event, ovs []calendar.Event) error {
	for i := range ovs {
		ov := &ovs[i]
		if ov.RecurrenceID.IsZero() {
			return invalidf(fmt.Sprintf("ev.Overrides[%d].RecurrenceID", i), "is required")
		}
		ep, err := eventPath(cal, InstanceID(master.ID, ov.RecurrenceID, master.AllDay))
		if err != nil {
			return err
		}
		var body map[string]any
		if ov.Cancelled || ov.Start.IsZero() {
			body = map[string]any{"status": "cancelled"}
		} else {
			body = patchBody(ov)
			delete(body, "recurrence")
		}
		r, err := s.do(ctx, request{op: op, method: http.MethodPatch, path: ep, body: body})
		if err != nil {
			return err
		}
		if r.status != http.StatusOK {
			return statusErr(op, r)
		}
	}
	got, err := s.series(ctx, cal, master.ID)
	if err != nil {
		return err
	}
	*master = *got
	return nil
}

// restore answers an insert's 409: when the event with the id asked for
// is cancelled, it is patched back to life with body; otherwise the 409
// stands (the caller maps it to calendar.ErrPrecondition).
func (s *session) restore(ctx context.Context, cal string, body map[string]any) (*response, error) {
	conflict := &response{status: http.StatusConflict}
	ep, err := eventPath(cal, body["id"].(string))
	if err != nil {
		return nil, err
	}
	r, err := s.do(ctx, request{op: "create", method: http.MethodGet, path: ep})
	if err != nil {
		return nil, err
	}
	if r.status != http.StatusOK {
		return conflict, nil
	}
	var cur apiEvent
	if err := decodeJSON("create", r, &cur); err != nil {
		return nil, err
	}
	if cur.Status != "cancelled" || cur.RecurringEventID != "" {
		return conflict, nil
	}
	patch := make(map[string]any, len(body))
	for k, v := range body {
		if k != "id" && k != "iCalUID" {
			patch[k] = v
		}
	}
	patch["status"] = "confirmed"
	h := http.Header{}
	h.Set("If-Match", cur.ETag)
	r, err = s.do(ctx, request{op: "create", method: http.MethodPatch, path: ep, header: h, body: patch})
	if err != nil {
		return nil, err
	}
	if r.status == http.StatusPreconditionFailed {
		return conflict, nil // changed meanwhile: the engine syncs and retries
	}
	return r, nil
}
