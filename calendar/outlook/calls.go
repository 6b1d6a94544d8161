package outlook

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/wedsync/integrations/calendar"
)

// maxPages bounds the pages one Changes call follows, against a server
// that never ends its nextLink chain.
const maxPages = 10000

// page is one page of a Graph collection.
type page struct {
	Value     []json.RawMessage `json:"value"`
	NextLink  string            `json:"@odata.nextLink"`
	DeltaLink string            `json:"@odata.deltaLink"`
}

// Calendars implements calendar.Provider: GET /me/calendars, every page.
// A calendar the user cannot edit (canEdit false) is ReadOnly. Graph
// gives calendars no time zone, so TimeZone is empty.
func (p *Provider) Calendars(ctx context.Context, creds []byte) ([]calendar.CalendarInfo, error) {
	s, ctx, done, err := p.open(ctx, creds)
	defer done()
	if err != nil {
		return nil, err
	}
	var out []calendar.CalendarInfo
	next := "/me/calendars?$select=id,name,canEdit"
	for range maxPages {
		r, err := s.do(ctx, "calendars", http.MethodGet, next, nil, nil)
		if err != nil {
			return nil, err
		}
		if r.status != http.StatusOK {
			return nil, statusErr("calendars", r)
		}
		var pg struct {
			Value []struct {
				ID      string `json:"id"`
				Name    string `json:"name"`
				CanEdit *bool  `json:"canEdit"`
			} `json:"value"`
			NextLink string `json:"@odata.nextLink"`
		}
		if err := json.Unmarshal(r.body, &pg); err != nil {
			return nil, fmt.Errorf("outlook calendars: undecodable answer: %w", err)
		}
		for _, c := range pg.Value {
			out = append(out, calendar.CalendarInfo{ID: c.ID, Name: c.Name, ReadOnly: c.CanEdit != nil && !*c.CanEdit})
		}
		if pg.NextLink == "" {
			return out, nil
		}
		if !p.underBase(pg.NextLink) {
			return nil, fmt.Errorf("outlook calendars: nextLink leaves the Graph endpoint")
		}
		next = pg.NextLink
	}
	return nil, fmt.Errorf("outlook calendars: more than %d pages", maxPages)
}

// Changes implements calendar.Provider with calendarView/delta. An empty
// cursor starts a full listing over the window (WithWindow) from now; the
// provider follows @odata.nextLink to @odata.deltaLink, which is the next
// cursor. Items marked @removed are Deleted. A cursor Graph no longer
// accepts (410 Gone, syncStateNotFound, resyncRequired), or one that is
// not a deltaLink of this endpoint, gives calendar.ErrCursorInvalid.
//
// calendarView returns instances, not series masters: each occurrence or
// exception of a recurring series is an Event of its own, with its own id
// and no Recurrence. Busy time is the same; the series cannot be edited as
// one through this provider.
func (p *Provider) Changes(ctx context.Context, creds []byte, cal, cursor string) (*calendar.ChangeSet, error) {
	if err := required("calendar", cal); err != nil {
		return nil, err
	}
	s, ctx, done, err := p.open(ctx, creds)
	defer done()
	if err != nil {
		return nil, err
	}
	cs := &calendar.ChangeSet{Full: cursor == ""}
	next := cursor
	if cursor == "" {
		now := p.now().UTC()
		q := url.Values{}
		q.Set("startDateTime", now.Add(-p.past).Format(time.RFC3339))
		q.Set("endDateTime", now.Add(p.ahead).Format(time.RFC3339))
		q.Set("$expand", expandTag)
		next = "/me/calendars/" + url.PathEscape(cal) + "/calendarView/delta?" + q.Encode()
	} else if !p.underBase(cursor) {
		return nil, fmt.Errorf("outlook changes: the cursor is not a deltaLink of %s: %w", p.base.Host, calendar.ErrCursorInvalid)
	}
	idx := map[string]int{} // position in Updated
	removed := map[string]bool{}
	retried := false
	for pageNo := 0; pageNo < maxPages; pageNo++ {
		r, err := s.do(ctx, "changes", http.MethodGet, next, nil, nil)
		if err != nil {
			return nil, err
		}
		if r.status == http.StatusBadRequest && cursor == "" && pageNo == 0 && !retried && strings.Contains(next, "%24expand=") {
			// A Graph that refuses $expand on delta: list without the tag
			// property (the engine still knows its writes by event id).
			p.logger.WarnContext(ctx, "outlook: calendarView/delta refused $expand; syncing without tags", "calendar", cal, "code", errorCode(r))
			next = strings.Replace(next, "&%24expand="+url.QueryEscape(expandTag), "", 1)
			next = strings.Replace(next, "%24expand="+url.QueryEscape(expandTag)+"&", "", 1)
			pageNo--
			retried = true
			continue
		}
		if r.status != http.StatusOK {
			code := errorCode(r)
			if r.status == http.StatusGone || code == "syncStateNotFound" || code == "resyncRequired" ||
				code == "SyncStateNotFound" || code == "ResyncRequired" || code == "syncStateInvalid" {
				return nil, fmt.Errorf("outlook changes: HTTP %d (%s): %w", r.status, code, calendar.ErrCursorInvalid)
			}
			return nil, statusErr("changes", r)
		}
		var pg page
		if err := json.Unmarshal(r.body, &pg); err != nil {
			return nil, fmt.Errorf("outlook changes: undecodable page: %w", err)
		}
		for _, raw := range pg.Value {
			ev, err := DecodeEvent(raw)
			if err != nil {
				p.logger.WarnContext(ctx, "outlook: skipping an event that does not decode", "calendar", cal, "error", err)
				continue
			}
			g := ev.Native.(*GraphEvent)
			if g.Removed != nil {
				removed[ev.ID] = true
				if i, ok := idx[ev.ID]; ok {
					cs.Updated[i].ID = "" // dropped below
					delete(idx, ev.ID)
				}
				continue
			}
			delete(removed, ev.ID)
			if i, ok := idx[ev.ID]; ok {
				cs.Updated[i] = *ev
			} else {
				idx[ev.ID] = len(cs.Updated)
				cs.Updated = append(cs.Updated, *ev)
			}
		}
		switch {
		case pg.DeltaLink != "":
			if !p.underBase(pg.DeltaLink) {
				return nil, fmt.Errorf("outlook changes: deltaLink leaves the Graph endpoint")
			}
			kept := cs.Updated[:0]
			for _, ev := range cs.Updated {
				if ev.ID != "" {
					kept = append(kept, ev)
				}
			}
			cs.Updated = kept
			if !cs.Full {
				for id := range removed {
					cs.Deleted = append(cs.Deleted, id)
				}
			}
			cs.Cursor = pg.DeltaLink
			return cs, nil
		case pg.NextLink != "":
			if !p.underBase(pg.NextLink) {
				return nil, fmt.Errorf("outlook changes: nextLink leaves the Graph endpoint")
			}
			next = pg.NextLink
		default:
			return nil, fmt.Errorf("outlook changes: a page with neither nextLink nor deltaLink")
		}
	}
	return nil, fmt.Errorf("outlook changes: more than %d pages", maxPages)
}

func eventPath(id string) string { return "/me/events/" + url.PathEscape(id) }

// Get implements calendar.Provider: GET /me/events/{id} with the tag
// property expanded; calendar.ErrNotFound when it is gone.
func (p *Provider) Get(ctx context.Context, creds []byte, cal, id string) (*calendar.Event, error) {
	if err := required("id", id); err != nil {
		return nil, err
	}
	s, ctx, done, err := p.open(ctx, creds)
	defer done()
	if err != nil {
		return nil, err
	}
	r, err := s.do(ctx, "get", http.MethodGet, eventPath(id)+"?$expand="+url.QueryEscape(expandTag), nil, nil)
	if err != nil {
		return nil, err
	}
	if r.status != http.StatusOK {
		return nil, statusErr("get", r)
	}
	return DecodeEvent(r.body)
}

// Create implements calendar.Provider: POST /me/calendars/{id}/events
// with transactionId set to ev.UID, so that Graph answers a retried
// create with the event the first attempt made instead of a second one.
// Graph keeps its own iCalUId; the returned event carries it. If Graph
// answers with an existing event that is not the one asked for (another
// time, title or tag), Create returns a *calendar.ExistsError with that
// event's id (matching calendar.ErrPrecondition), as the contract asks of
// a create that meets an existing event.
func (p *Provider) Create(ctx context.Context, creds []byte, cal string, ev *calendar.Event) (*calendar.Event, error) {
	if err := required("calendar", cal); err != nil {
		return nil, err
	}
	g, err := EncodeEvent(ev)
	if err != nil {
		return nil, err
	}
	g.TransactionID = ev.UID
	s, ctx, done, err := p.open(ctx, creds)
	defer done()
	if err != nil {
		return nil, err
	}
	r, err := s.do(ctx, "create", http.MethodPost, "/me/calendars/"+url.PathEscape(cal)+"/events", nil, g)
	if err != nil {
		return nil, err
	}
	if r.status != http.StatusCreated && r.status != http.StatusOK {
		return nil, statusErr("create", r)
	}
	got, err := DecodeEvent(r.body)
	if err != nil {
		return nil, fmt.Errorf("outlook create: %w", err)
	}
	if gg := got.Native.(*GraphEvent); gg.ExtendedProperties == nil {
		got.Tag = ev.Tag // Graph returns extended properties only when expanded
	}
	if !got.Start.Equal(ev.Start) || !got.End.Equal(ev.End) || got.Summary != ev.Summary || got.Tag != ev.Tag {
		return nil, &calendar.ExistsError{ID: got.ID, Err: fmt.Errorf("outlook create: an event with transactionId %q exists with other content", ev.UID)}
	}
	return got, nil
}

// Update implements calendar.Provider: PATCH /me/events/{id} with
// If-Match: etag. PATCH changes only the fields sent, so what the event
// model does not hold (attendees, reminders, categories) survives.
func (p *Provider) Update(ctx context.Context, creds []byte, cal string, ev *calendar.Event, etag string) (*calendar.Event, error) {
	if err := required("id", ev.ID); err != nil {
		return nil, err
	}
	g, err := EncodeEvent(ev)
	if err != nil {
		return nil, err
	}
	s, ctx, done, err := p.open(ctx, creds)
	defer done()
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	if etag != "" {
		h.Set("If-Match", etag)
	}
	r, err := s.do(ctx, "update", http.MethodPatch, eventPath(ev.ID), h, g)
	if err != nil {
		return nil, err
	}
	if r.status != http.StatusOK {
		return nil, statusErr("update", r)
	}
	got, err := DecodeEvent(r.body)
	if err != nil {
		return nil, fmt.Errorf("outlook update: %w", err)
	}
	if gg := got.Native.(*GraphEvent); gg.ExtendedProperties == nil {
		got.Tag = ev.Tag
	}
	return got, nil
}

// Delete implements calendar.Provider: DELETE /me/events/{id} with
// If-Match when etag is set; an event already gone (404, 410) is nil.
func (p *Provider) Delete(ctx context.Context, creds []byte, cal, id, etag string) error {
	if err := required("id", id); err != nil {
		return err
	}
	s, ctx, done, err := p.open(ctx, creds)
	defer done()
	if err != nil {
		return err
	}
	h := http.Header{}
	if etag != "" {
		h.Set("If-Match", etag)
	}
	r, err := s.do(ctx, "delete", http.MethodDelete, eventPath(id), h, nil)
	if err != nil {
		return err
	}
	switch r.status {
	case http.StatusNoContent, http.StatusOK, http.StatusNotFound, http.StatusGone:
		return nil
	}
	return statusErr("delete", r)
}
