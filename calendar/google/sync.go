package google

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/wedsync/integrations/calendar"
	"github.com/wedsync/integrations/internal/validate"
)

func invalidf(field, rule string, args ...any) error {
	return validate.New("google", field, rule, args...)
}

// Calendars implements calendar.Provider: the user's calendar list
// (calendarList.list). A calendar the user may only read (accessRole
// reader or freeBusyReader) is ReadOnly.
func (p *Provider) Calendars(ctx context.Context, creds []byte) ([]calendar.CalendarInfo, error) {
	var out []calendar.CalendarInfo
	err := p.call(ctx, creds, func(ctx context.Context, s *session) error {
		page := ""
		for {
			q := url.Values{"maxResults": {"250"}}
			if page != "" {
				q.Set("pageToken", page)
			}
			r, err := s.do(ctx, request{op: "calendars", method: http.MethodGet, path: "users/me/calendarList", query: q})
			if err != nil {
				return err
			}
			if r.status != http.StatusOK {
				return statusErr("calendars", r)
			}
			var body struct {
				Items []struct {
					ID              string `json:"id"`
					Summary         string `json:"summary"`
					SummaryOverride string `json:"summaryOverride"`
					TimeZone        string `json:"timeZone"`
					AccessRole      string `json:"accessRole"`
					Deleted         bool   `json:"deleted"`
				} `json:"items"`
				NextPageToken string `json:"nextPageToken"`
			}
			if err := decodeJSON("calendars", r, &body); err != nil {
				return err
			}
			for _, it := range body.Items {
				if it.Deleted || it.ID == "" {
					continue
				}
				name := it.SummaryOverride
				if name == "" {
					name = it.Summary
				}
				out = append(out, calendar.CalendarInfo{ID: it.ID, Name: name, TimeZone: it.TimeZone,
					ReadOnly: it.AccessRole != "owner" && it.AccessRole != "writer"})
			}
			if body.NextPageToken == "" {
				return nil
			}
			page = body.NextPageToken
		}
	})
	return out, err
}

// listPage is one page of events.list.
type listPage struct {
	Items         []json.RawMessage `json:"items"`
	NextPageToken string            `json:"nextPageToken"`
	NextSyncToken string            `json:"nextSyncToken"`
}

// list pages through events.list with q (showDeleted, and syncToken or a
// filter) and returns the decoded items and the last page's
// nextSyncToken. A 410 on a syncToken wraps calendar.ErrCursorInvalid.
func (s *session) list(ctx context.Context, op, cal string, q url.Values) ([]*apiEvent, []json.RawMessage, string, error) {
	cp, err := calPath(cal)
	if err != nil {
		return nil, nil, "", err
	}
	q.Set("showDeleted", "true")
	q.Set("maxResults", strconv.Itoa(s.p.pageSize))
	var items []*apiEvent
	var raws []json.RawMessage
	for {
		r, err := s.do(ctx, request{op: op, method: http.MethodGet, path: cp + "/events", query: q})
		if err != nil {
			return nil, nil, "", err
		}
		if r.status == http.StatusGone && q.Get("syncToken") != "" {
			return nil, nil, "", fmt.Errorf("google %s: HTTP 410 (%s): %w", op, reasonOf(r.body), calendar.ErrCursorInvalid)
		}
		if r.status != http.StatusOK {
			return nil, nil, "", statusErr(op, r)
		}
		var pg listPage
		if err := decodeJSON(op, r, &pg); err != nil {
			return nil, nil, "", err
		}
		for _, raw := range pg.Items {
			var a apiEvent
			if err := json.Unmarshal(raw, &a); err != nil || a.ID == "" {
				s.p.logger.Warn("google: skipping an event that does not decode", "calendar", cal, "op", op)
				continue
			}
			items = append(items, &a)
			raws = append(raws, raw)
		}
		if pg.NextPageToken == "" {
			if pg.NextSyncToken == "" && q.Get("iCalUID") == "" {
				return nil, nil, "", fmt.Errorf("google %s: the last page has no nextSyncToken", op)
			}
			return items, raws, pg.NextSyncToken, nil
		}
		q.Set("pageToken", pg.NextPageToken)
	}
}

// Changes implements calendar.Provider with events.list: an empty cursor
// lists the whole calendar (ChangeSet.Full), any other is the
// nextSyncToken of the previous call's last page, and the answer's Cursor
// is this call's. A token Google no longer accepts (410 Gone) gives
// calendar.ErrCursorInvalid. The listing asks for showDeleted and not
// singleEvents: a series comes as its master with its recurrence lines,
// and its modified or cancelled instances are folded into the master's
// Overrides. When an incremental answer touches a series, the whole
// series is read again (events.list by iCalUID), so that Updated always
// holds whole series. Cancelled events are Deleted.
func (p *Provider) Changes(ctx context.Context, creds []byte, cal, cursor string) (*calendar.ChangeSet, error) {
	var cs *calendar.ChangeSet
	err := p.call(ctx, creds, func(ctx context.Context, s *session) error {
		q := url.Values{}
		if cursor != "" {
			q.Set("syncToken", cursor)
		}
		items, raws, next, err := s.list(ctx, "changes", cal, q)
		if err != nil {
			return err
		}
		cs = &calendar.ChangeSet{Full: cursor == "", Cursor: next}
		err = s.group(ctx, cal, items, raws, cs)
		return err
	})
	if err != nil {
		return nil, err
	}
	return cs, nil
}

// group turns a listing into whole events: masters with their overrides.
func (s *session) group(ctx context.Context, cal string, items []*apiEvent, raws []json.RawMessage, cs *calendar.ChangeSet) error {
	masters := map[string]*calendar.Event{}
	var order []string
	instances := map[string][]calendar.Event{}
	refetch := map[string]bool{}
	var refetchOrder []string
	for i, a := range items {
		ev, err := a.toEvent()
		if err != nil {
			s.p.logger.Warn("google: skipping an event that does not decode", "calendar", cal, "event", a.ID, "error", err.Error())
			continue
		}
		ev.Native = Raw(raws[i])
		if a.RecurringEventID != "" {
			if ev.RecurrenceID.IsZero() {
				s.p.logger.Warn("google: skipping an instance without originalStartTime", "calendar", cal, "event", a.ID)
				continue
			}
			instances[a.RecurringEventID] = append(instances[a.RecurringEventID], *ev)
			if !cs.Full && !refetch[a.RecurringEventID] {
				refetch[a.RecurringEventID] = true
				refetchOrder = append(refetchOrder, a.RecurringEventID)
			}
			continue
		}
		if ev.Cancelled {
			cs.Deleted = append(cs.Deleted, ev.ID)
			continue
		}
		if _, ok := masters[ev.ID]; !ok {
			order = append(order, ev.ID)
		}
		masters[ev.ID] = ev
		if !cs.Full && len(ev.Recurrence) > 0 && !refetch[ev.ID] {
			refetch[ev.ID] = true
			refetchOrder = append(refetchOrder, ev.ID)
		}
	}
	if cs.Full {
		for id, ovs := range instances {
			if m, ok := masters[id]; ok {
				m.Overrides = append(m.Overrides, ovs...)
				m.ETag = seriesETag(m)
			}
		}
	}
	for _, id := range refetchOrder {
		m, err := s.series(ctx, cal, id)
		if errors.Is(err, calendar.ErrNotFound) {
			delete(masters, id)
			cs.Deleted = append(cs.Deleted, id)
			continue
		}
		if err != nil {
			return err
		}
		if _, ok := masters[id]; !ok {
			order = append(order, id)
		}
		masters[id] = m
	}
	for _, id := range order {
		if m, ok := masters[id]; ok {
			cs.Updated = append(cs.Updated, *m)
		}
	}
	return nil
}

// getRaw reads one event resource; a cancelled one is ErrNotFound.
func (s *session) getRaw(ctx context.Context, op, cal, id string) (*apiEvent, json.RawMessage, error) {
	ep, err := eventPath(cal, id)
	if err != nil {
		return nil, nil, err
	}
	r, err := s.do(ctx, request{op: op, method: http.MethodGet, path: ep})
	if err != nil {
		return nil, nil, err
	}
	if r.status != http.StatusOK {
		return nil, nil, statusErr(op, r)
	}
	var a apiEvent
	if err := decodeJSON(op, r, &a); err != nil {
		return nil, nil, err
	}
	if a.Status == "cancelled" {
		return nil, nil, fmt.Errorf("google %s: event cancelled: %w", op, calendar.ErrNotFound)
	}
	return &a, r.body, nil
}

// series reads a master and, when it recurs, its modified and cancelled
// instances (events.list by iCalUID).
func (s *session) series(ctx context.Context, cal, id string) (*calendar.Event, error) {
	a, raw, err := s.getRaw(ctx, "get", cal, id)
	if err != nil {
		return nil, err
	}
	ev, err := a.toEvent()
	if err != nil {
		return nil, err
	}
	ev.Native = Raw(raw)
	if len(a.Recurrence) == 0 || a.ICalUID == "" || a.RecurringEventID != "" {
		return ev, nil
	}
	items, raws, _, err := s.list(ctx, "get", cal, url.Values{"iCalUID": {a.ICalUID}})
	if err != nil {
		return nil, err
	}
	for i, it := range items {
		if it.RecurringEventID != a.ID {
			continue
		}
		ov, err := it.toEvent()
		if err != nil || ov.RecurrenceID.IsZero() {
			continue
		}
		ov.Native = Raw(raws[i])
		ev.Overrides = append(ev.Overrides, *ov)
	}
	ev.ETag = seriesETag(ev)
	return ev, nil
}

// seriesSep separates a master's etag from the digest of its instances'
// in the ETag of a series with overrides.
const seriesSep = "~ov"

// seriesETag is the ETag of a series with overrides: the master's etag,
// seriesSep and a digest of the instances' ids and etags. Google keeps the
// master's etag when only an instance changes, and the engine recognises
// its own writes (and unchanged events) by ETag, so a series' ETag must
// change with its instances. Writes send the master's part (ifMatch).
func seriesETag(ev *calendar.Event) string {
	if len(ev.Overrides) == 0 {
		return ev.ETag
	}
	parts := make([]string, 0, len(ev.Overrides))
	for _, o := range ev.Overrides {
		parts = append(parts, o.ID+"="+o.ETag)
	}
	slices.Sort(parts)
	sum := sha256.Sum256([]byte(strings.Join(parts, "\n")))
	return ev.ETag + seriesSep + hex.EncodeToString(sum[:8])
}

// ifMatch is the If-Match value of an ETag the provider returned.
func ifMatch(etag string) string {
	m, _, _ := strings.Cut(etag, seriesSep)
	return m
}

// Get implements calendar.Provider: the event, with its overrides when it
// is a series; calendar.ErrNotFound when it is gone or cancelled.
func (p *Provider) Get(ctx context.Context, creds []byte, cal, id string) (*calendar.Event, error) {
	var ev *calendar.Event
	err := p.call(ctx, creds, func(ctx context.Context, s *session) error {
		var err error
		ev, err = s.series(ctx, cal, id)
		return err
	})
	return ev, err
}
