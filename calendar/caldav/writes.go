package caldav

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/emersion/go-ical"
	"github.com/google/uuid"

	"github.com/wedsync/integrations/calendar"
	"github.com/wedsync/integrations/internal/validate"
)

// Get implements calendar.Provider: a GET of the object id (its path, as
// Changes and Create return it). A missing object gives ErrNotFound.
func (p *Provider) Get(ctx context.Context, creds []byte, cal, id string) (*calendar.Event, error) {
	c, err := p.open(creds)
	if err != nil {
		return nil, err
	}
	col, err := collectionPath(cal)
	if err != nil {
		return nil, err
	}
	obj, err := objectPath(col, id)
	if err != nil {
		return nil, err
	}
	ctx, cancel := p.withTimeout(ctx)
	defer cancel()
	const op = "get"
	r, err := c.do(ctx, op, http.MethodGet, obj, http.Header{"Accept": {ical.MIMEType}}, nil)
	if err != nil {
		return nil, err
	}
	if r.status != http.StatusOK {
		return nil, statusErr(op, r)
	}
	ev, err := ParseEvent(r.body)
	if err != nil {
		return nil, fmt.Errorf("caldav %s: %w", op, err)
	}
	ev.ID = obj
	ev.ETag = strongETag(r.header.Get("ETag"))
	if ev.ETag == "" {
		if ev.ETag, err = c.fetchETag(ctx, op, obj); err != nil {
			return nil, err
		}
	}
	return ev, nil
}

// safeName matches UIDs usable as an object name as they are.
var safeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@+-]{0,200}$`)

// objectName is the file name Create gives an event: its UID plus ".ics"
// when the UID is safe in a path, else the hex SHA-256 of the UID.
func objectName(uid string) string {
	if safeName.MatchString(uid) {
		return uid + ".ics"
	}
	s := sha256.Sum256([]byte(uid))
	return hex.EncodeToString(s[:]) + ".ics"
}

// Create implements calendar.Provider: a PUT of <calendar>/<uid>.ics with
// If-None-Match: * (an empty UID is filled with a new UUID). An object
// already there, or the server's no-uid-conflict precondition (the UID
// exists under another name), gives a *calendar.ExistsError (matching
// ErrPrecondition) with the existing object's path: the one asked for, or
// the DAV:href the server names in its no-uid-conflict ("" when it names
// none inside the calendar). The returned event
// has the ID, ETag and UID, and Native set to what was written.
func (p *Provider) Create(ctx context.Context, creds []byte, cal string, ev *calendar.Event) (*calendar.Event, error) {
	if ev == nil {
		return nil, validate.New("caldav", "event", "is required")
	}
	c, err := p.open(creds)
	if err != nil {
		return nil, err
	}
	col, err := collectionPath(cal)
	if err != nil {
		return nil, err
	}
	out := *ev
	if out.UID == "" {
		out.UID = uuid.NewString()
	}
	ctx, cancel := p.withTimeout(ctx)
	defer cancel()
	return c.put(ctx, "create", col+objectName(out.UID), &out, http.Header{"If-None-Match": {"*"}})
}

// Update implements calendar.Provider: a PUT of ev.ID with If-Match: etag
// (If-Match: * when etag is empty, so that a deleted event is not
// recreated). A changed event gives ErrPrecondition, a deleted one
// ErrNotFound. Build ev from an event Changes or Get returned, so that its
// Native carries what the model does not (alarms, attendees).
func (p *Provider) Update(ctx context.Context, creds []byte, cal string, ev *calendar.Event, etag string) (*calendar.Event, error) {
	if ev == nil {
		return nil, validate.New("caldav", "event", "is required")
	}
	c, err := p.open(creds)
	if err != nil {
		return nil, err
	}
	col, err := collectionPath(cal)
	if err != nil {
		return nil, err
	}
	if ev.ID == "" {
		return nil, validate.New("caldav", "event.ID", "is required")
	}
	obj, err := objectPath(col, ev.ID)
	if err != nil {
		return nil, err
	}
	if etag == "" {
		etag = "*"
	}
	ctx, cancel := p.withTimeout(ctx)
	defer cancel()
	out, err := c.put(ctx, "update", obj, ev, http.Header{"If-Match": {etag}})
	if err != nil && isPrecondition(err) {
		// If-Match fails on a missing object too (RFC 9110 13.1.1): tell
		// the two apart.
		if _, gerr := c.fetchETag(ctx, "update", obj); isNotFound(gerr) {
			return nil, fmt.Errorf("caldav update: %s: %w", obj, calendar.ErrNotFound)
		}
	}
	return out, err
}

// Delete implements calendar.Provider: a DELETE of id with If-Match: etag
// (none when etag is empty). An object already gone is not an error; one
// that changed gives ErrPrecondition.
func (p *Provider) Delete(ctx context.Context, creds []byte, cal, id, etag string) error {
	c, err := p.open(creds)
	if err != nil {
		return err
	}
	col, err := collectionPath(cal)
	if err != nil {
		return err
	}
	obj, err := objectPath(col, id)
	if err != nil {
		return err
	}
	ctx, cancel := p.withTimeout(ctx)
	defer cancel()
	const op = "delete"
	h := http.Header{}
	if etag != "" {
		h.Set("If-Match", etag)
	}
	r, err := c.do(ctx, op, http.MethodDelete, obj, h, nil)
	if err != nil {
		return err
	}
	switch {
	case r.status >= 200 && r.status < 300, r.status == http.StatusNotFound, r.status == http.StatusGone:
		return nil
	case r.status == http.StatusPreconditionFailed:
		if _, gerr := c.fetchETag(ctx, op, obj); isNotFound(gerr) {
			return nil
		}
	}
	return statusErr(op, r)
}

// put writes ev at obj with the given precondition headers and returns it
// with its new ETag.
func (c *conn) put(ctx context.Context, op, obj string, ev *calendar.Event, h http.Header) (*calendar.Event, error) {
	ic, err := calendarFromEvent(ev, time.Now())
	if err != nil {
		return nil, err
	}
	data, err := encodeCalendar(ic)
	if err != nil {
		return nil, err
	}
	h.Set("Content-Type", ical.MIMEType+"; charset=utf-8")
	r, err := c.do(ctx, op, http.MethodPut, obj, h, data)
	if err != nil {
		return nil, err
	}
	switch {
	case r.status == http.StatusCreated || r.status == http.StatusNoContent || r.status == http.StatusOK:
	case r.status == http.StatusConflict && hasPrecondition(r.body, "no-uid-conflict"):
		err := fmt.Errorf("caldav %s: UID %q exists", op, ev.UID)
		if op == "create" {
			return nil, &calendar.ExistsError{ID: uidConflictHref(r.body, obj), Err: err}
		}
		return nil, fmt.Errorf("%w: %w", err, calendar.ErrPrecondition)
	case r.status == http.StatusPreconditionFailed && op == "create":
		// If-None-Match: * met an object at obj.
		return nil, &calendar.ExistsError{ID: obj, Err: fmt.Errorf("caldav %s: %s exists", op, obj)}
	case r.status == http.StatusPreconditionFailed:
		return nil, fmt.Errorf("caldav %s: %s: %w", op, obj, calendar.ErrPrecondition)
	default:
		return nil, statusErr(op, r)
	}
	out := *ev
	out.ID = obj
	for _, ch := range ic.Children {
		if ch.Name == ical.CompEvent {
			out.UID = text(ch, ical.PropUID)
			break
		}
	}
	out.Native = ic
	out.ETag = strongETag(r.header.Get("ETag"))
	if out.ETag == "" {
		// The server changed what it stored, or does not say (RFC 4791
		// 5.3.4): ask.
		if out.ETag, err = c.fetchETag(ctx, op, obj); err != nil {
			return nil, err
		}
	}
	return &out, nil
}

// fetchETag reads obj's getetag with a PROPFIND Depth 0.
func (c *conn) fetchETag(ctx context.Context, op, obj string) (string, error) {
	ms, err := c.propfind(ctx, op, obj, "0", `<d:getetag/>`)
	if err != nil {
		return "", err
	}
	for _, r := range ms.Responses {
		for _, ps := range r.Propstats {
			if parseStatus(ps.Status) == 200 && ps.Prop.ETag != nil {
				return strings.TrimSpace(*ps.Prop.ETag), nil
			}
		}
		if parseStatus(r.Status) == http.StatusNotFound {
			return "", fmt.Errorf("caldav %s: %s: %w", op, obj, calendar.ErrNotFound)
		}
	}
	return "", fmt.Errorf("caldav %s: the server gave no etag for %s", op, obj)
}

// strongETag returns a strong ETag header value, "" for a weak or missing
// one (a weak ETag cannot be used with If-Match).
func strongETag(v string) string {
	v = strings.TrimSpace(v)
	if v == "" || strings.HasPrefix(v, "W/") {
		return ""
	}
	return v
}
