// Package calendartest helps test code that uses package calendar: an
// in-memory Provider that behaves like a calendar service (ETags,
// preconditions, sync cursors that can be invalidated) and whose failures
// a test can script. It stands in for a provider on the internet; for
// CalDAV, test against a real server (calendar/caldav/caldavtest).
package calendartest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wedsync/integrations/calendar"
)

// Provider is an in-memory calendar.Provider. Credentials are ignored
// except that they must not be empty. Its zero value is not usable: call
// NewProvider.
type Provider struct {
	name string

	mu       sync.Mutex
	cals     map[string]*cal
	fails    map[string][]error
	calls    map[string]int
	serial   int
	refresh  []byte // credentials to hand back on the next call
	creds    []byte // the credentials of the last call
	watches  map[string]calendar.Watch
	stopped  []string
	watchTTL time.Duration
}

type cal struct {
	events map[string]calendar.Event
	// log[i] is the id changed by change i+1; the cursor is a change
	// number. epoch invalidates older cursors.
	log   []string
	epoch int
}

// NewProvider returns an empty provider named name ("fake" if empty).
func NewProvider(name string) *Provider {
	if name == "" {
		name = "fake"
	}
	return &Provider{name: name, cals: map[string]*cal{}, fails: map[string][]error{}, calls: map[string]int{},
		watches: map[string]calendar.Watch{}, watchTTL: 7 * 24 * time.Hour}
}

var _ calendar.Provider = (*Provider)(nil)

// Name implements calendar.Provider.
func (p *Provider) Name() string { return p.name }

// AddCalendar creates an empty calendar with id.
func (p *Provider) AddCalendar(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cals[id] == nil {
		p.cals[id] = &cal{events: map[string]calendar.Event{}}
	}
}

// FailNext makes the next calls of op ("calendars", "changes", "get",
// "create", "update", "delete") return errs, one per call.
func (p *Provider) FailNext(op string, errs ...error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fails[op] = append(p.fails[op], errs...)
}

// Calls reports how many calls of op were made.
func (p *Provider) Calls(op string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[op]
}

// InvalidateCursors makes every cursor of calendar id given so far
// refused (as a Google 410 or a CalDAV valid-sync-token error).
func (p *Provider) InvalidateCursors(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := p.cals[id]; c != nil {
		c.epoch++
	}
}

// Events returns the calendar's events, by start then id.
func (p *Provider) Events(id string) []calendar.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.cals[id]
	if c == nil {
		return nil
	}
	out := slices.Collect(maps.Values(c.events))
	slices.SortFunc(out, func(a, b calendar.Event) int {
		if d := a.Start.Compare(b.Start); d != 0 {
			return d
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// Put writes an event as the calendar's owner would (in the provider's
// own app): a new ID when ev.ID is empty, a new ETag always. It returns
// the stored event.
func (p *Provider) Put(calID string, ev calendar.Event) calendar.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.mustCal(calID)
	if ev.ID == "" {
		p.serial++
		ev.ID = fmt.Sprintf("ev%d", p.serial)
	}
	p.store(c, ev)
	return c.events[ev.ID]
}

// Remove deletes an event as the calendar's owner would.
func (p *Provider) Remove(calID, id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.mustCal(calID)
	if _, ok := c.events[id]; ok {
		delete(c.events, id)
		c.log = append(c.log, id)
	}
}

func (p *Provider) mustCal(id string) *cal {
	c := p.cals[id]
	if c == nil {
		panic("calendartest: no calendar " + strconv.Quote(id) + " (AddCalendar first)")
	}
	return c
}

func (p *Provider) store(c *cal, ev calendar.Event) {
	p.serial++
	ev.ETag = fmt.Sprintf(`"%d"`, p.serial)
	ev.Native = nil
	c.events[ev.ID] = ev
	c.log = append(c.log, ev.ID)
}

// RefreshCredentials makes the next call hand creds back to the engine
// (calendar.UpdateCredentials), as an OAuth provider does after it
// refreshed an access token.
func (p *Provider) RefreshCredentials(creds []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refresh = append([]byte(nil), creds...)
}

// LastCredentials returns the credentials of the last call.
func (p *Provider) LastCredentials() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]byte(nil), p.creds...)
}

// SetWatchTTL sets how long the watches Watch opens last. Default 7 days.
func (p *Provider) SetWatchTTL(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.watchTTL = d
}

// Watches returns the open watches by id; Stopped the ids stopped.
func (p *Provider) Watches() map[string]calendar.Watch {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.watches)
}

// Stopped returns the ids of the watches StopWatch ended, in order.
func (p *Provider) Stopped() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.stopped)
}

// Watch implements calendar.Watcher.
func (p *Provider) Watch(ctx context.Context, creds []byte, calID, callbackURL, token string) (calendar.Watch, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := p.begin(ctx, "watch", creds, calID); err != nil {
		return calendar.Watch{}, err
	}
	p.serial++
	w := calendar.Watch{ID: fmt.Sprintf("watch%d", p.serial), ResourceID: "res-" + calID, Token: token, Expires: time.Now().Add(p.watchTTL)}
	p.watches[w.ID] = w
	return w, nil
}

// StopWatch implements calendar.Watcher.
func (p *Provider) StopWatch(ctx context.Context, creds []byte, w calendar.Watch) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := p.begin(ctx, "stop_watch", creds, ""); err != nil {
		return err
	}
	delete(p.watches, w.ID)
	p.stopped = append(p.stopped, w.ID)
	return nil
}

// begin counts a call and returns its scripted failure, if any.
func (p *Provider) begin(ctx context.Context, op string, creds []byte, calID string) (*cal, error) {
	p.calls[op]++
	p.creds = append([]byte(nil), creds...)
	if p.refresh != nil {
		calendar.UpdateCredentials(ctx, p.refresh)
		p.refresh = nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if f := p.fails[op]; len(f) > 0 {
		p.fails[op] = f[1:]
		if f[0] != nil {
			return nil, f[0]
		}
	}
	if len(creds) == 0 {
		return nil, calendar.ErrUnauthorized
	}
	if calID == "" {
		return nil, nil
	}
	c := p.cals[calID]
	if c == nil {
		return nil, fmt.Errorf("calendartest: no calendar %q: %w", calID, calendar.ErrNotFound)
	}
	return c, nil
}

// Calendars implements calendar.Provider.
func (p *Provider) Calendars(ctx context.Context, creds []byte) ([]calendar.CalendarInfo, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := p.begin(ctx, "calendars", creds, ""); err != nil {
		return nil, err
	}
	var out []calendar.CalendarInfo
	for _, id := range slices.Sorted(maps.Keys(p.cals)) {
		out = append(out, calendar.CalendarInfo{ID: id, Name: id})
	}
	return out, nil
}

// Changes implements calendar.Provider: the cursor is "epoch:change".
func (p *Provider) Changes(ctx context.Context, creds []byte, calID, cursor string) (*calendar.ChangeSet, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, err := p.begin(ctx, "changes", creds, calID)
	if err != nil {
		return nil, err
	}
	next := fmt.Sprintf("%d:%d", c.epoch, len(c.log))
	if cursor == "" {
		cs := &calendar.ChangeSet{Full: true, Cursor: next}
		for _, id := range slices.Sorted(maps.Keys(c.events)) {
			cs.Updated = append(cs.Updated, c.events[id])
		}
		return cs, nil
	}
	epoch, n, ok := strings.Cut(cursor, ":")
	from, err1 := strconv.Atoi(n)
	if !ok || epoch != strconv.Itoa(c.epoch) || err1 != nil || from < 0 || from > len(c.log) {
		return nil, calendar.ErrCursorInvalid
	}
	cs := &calendar.ChangeSet{Cursor: next}
	seen := map[string]bool{}
	for _, id := range c.log[from:] {
		if seen[id] {
			continue
		}
		seen[id] = true
		if ev, ok := c.events[id]; ok {
			cs.Updated = append(cs.Updated, ev)
		} else {
			cs.Deleted = append(cs.Deleted, id)
		}
	}
	return cs, nil
}

// Get implements calendar.Provider.
func (p *Provider) Get(ctx context.Context, creds []byte, calID, id string) (*calendar.Event, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, err := p.begin(ctx, "get", creds, calID)
	if err != nil {
		return nil, err
	}
	ev, ok := c.events[id]
	if !ok {
		return nil, calendar.ErrNotFound
	}
	return &ev, nil
}

// Create implements calendar.Provider: the id is derived from the UID, so
// a second create of one UID fails its precondition, as CalDAV's does,
// with a *calendar.ExistsError naming the event.
func (p *Provider) Create(ctx context.Context, creds []byte, calID string, ev *calendar.Event) (*calendar.Event, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, err := p.begin(ctx, "create", creds, calID)
	if err != nil {
		return nil, err
	}
	e := *ev
	if e.UID == "" {
		p.serial++
		e.UID = fmt.Sprintf("uid%d", p.serial)
	}
	e.ID = e.UID + ".ics"
	if _, exists := c.events[e.ID]; exists {
		return nil, &calendar.ExistsError{ID: e.ID}
	}
	p.store(c, e)
	out := c.events[e.ID]
	return &out, nil
}

// Update implements calendar.Provider.
func (p *Provider) Update(ctx context.Context, creds []byte, calID string, ev *calendar.Event, etag string) (*calendar.Event, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, err := p.begin(ctx, "update", creds, calID)
	if err != nil {
		return nil, err
	}
	cur, ok := c.events[ev.ID]
	if !ok {
		return nil, calendar.ErrNotFound
	}
	if etag != "" && cur.ETag != etag {
		return nil, calendar.ErrPrecondition
	}
	p.store(c, *ev)
	out := c.events[ev.ID]
	return &out, nil
}

// Delete implements calendar.Provider.
func (p *Provider) Delete(ctx context.Context, creds []byte, calID, id, etag string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, err := p.begin(ctx, "delete", creds, calID)
	if err != nil {
		return err
	}
	cur, ok := c.events[id]
	if !ok {
		return nil
	}
	if etag != "" && cur.ETag != etag {
		return calendar.ErrPrecondition
	}
	delete(c.events, id)
	c.log = append(c.log, id)
	return nil
}
