package caldavtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-ical"
	"github.com/emersion/go-webdav"
	"github.com/emersion/go-webdav/caldav"
)

// MemoryServer is an in-process CalDAV server: go-webdav's caldav.Handler
// over a memory backend, for tests and for the demo's memory mode. It keeps
// everything in memory and loses it when the process exits.
//
// Any HTTP basic-auth user is accepted with any password (there is no
// authentication), and each user sees only their own tree: principal
// /<user>/, calendar home /<user>/calendars/, calendars below it. Requests
// without basic auth get 401; requests for another user's paths get 403.
//
// What it supports: PROPFIND (discovery, Depth 1 listings with getetag),
// calendar-query and calendar-multiget REPORTs, GET, PUT with If-Match and
// If-None-Match, DELETE with If-Match (checked here, since go-webdav's
// handler does not pass DELETE's headers to the backend), MKCALENDAR
// (handled here; go-webdav has only MKCOL), and a UID uniqueness check per
// calendar (no-uid-conflict). What it lacks: the sync-collection REPORT
// (answered 400, as go-webdav does), so clients fall back to an etag scan;
// PROPPATCH; COPY and MOVE. ETags are the SHA-256 of the stored iCalendar
// text, so every write that changes the object changes its ETag.
//
// It is safe for concurrent use.
type MemoryServer struct {
	mu    sync.Mutex
	cals  map[string]*caldav.Calendar // by path
	objs  map[string]*object          // by path
	inner *caldav.Handler
}

type object struct {
	data    []byte // the encoded iCalendar
	uid     string
	etag    string // unquoted
	modTime time.Time
}

// NewMemoryServer returns an empty MemoryServer.
func NewMemoryServer() *MemoryServer {
	s := &MemoryServer{cals: map[string]*caldav.Calendar{}, objs: map[string]*object{}}
	s.inner = &caldav.Handler{Backend: &memBackend{s: s}}
	return s
}

type userKey struct{}

func userOf(ctx context.Context) string {
	u, _ := ctx.Value(userKey{}).(string)
	return u
}

// ServeHTTP implements http.Handler.
func (s *MemoryServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	user, _, ok := r.BasicAuth()
	if !ok || user == "" || strings.ContainsAny(user, "/") {
		w.Header().Set("WWW-Authenticate", `Basic realm="caldavtest"`)
		http.Error(w, "authentication required", http.StatusUnauthorized)
		return
	}
	p := path.Clean("/" + r.URL.Path)
	if p != "/" && p != "/.well-known/caldav" && p != "/"+user && !strings.HasPrefix(p, "/"+user+"/") {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	r = r.WithContext(context.WithValue(r.Context(), userKey{}, user))
	switch r.Method {
	case "MKCALENDAR":
		if err := s.create(user, r.URL.Path); err != nil {
			http.Error(w, err.Error(), http.StatusMethodNotAllowed)
			return
		}
		w.WriteHeader(http.StatusCreated)
		return
	case http.MethodDelete:
		if m := r.Header.Get("If-Match"); m != "" {
			s.mu.Lock()
			o, ok := s.objs[r.URL.Path]
			s.mu.Unlock()
			if !ok || (m != "*" && strings.Trim(m, `"`) != o.etag) {
				http.Error(w, "precondition failed", http.StatusPreconditionFailed)
				return
			}
		}
	}
	s.inner.ServeHTTP(w, r)
}

// CreateCalendar makes the calendar name for user (as MKCALENDAR does) and
// returns its path, /<user>/calendars/<name>/. An existing calendar is
// kept.
func (s *MemoryServer) CreateCalendar(user, name string) string {
	p := "/" + user + "/calendars/" + name + "/"
	_ = s.create(user, p)
	return p
}

func (s *MemoryServer) create(user, p string) error {
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	dir, name := path.Split(strings.TrimSuffix(p, "/"))
	if dir != "/"+user+"/calendars/" || name == "" {
		return fmt.Errorf("calendars live at /%s/calendars/<name>/", user)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.cals[p]; ok {
		return errors.New("calendar exists")
	}
	s.cals[p] = &caldav.Calendar{Path: p, Name: name, SupportedComponentSet: []string{ical.CompEvent}}
	return nil
}

// memBackend implements caldav.Backend over the server's maps.
type memBackend struct{ s *MemoryServer }

var _ caldav.Backend = (*memBackend)(nil)

func notFound(p string) error {
	return webdav.NewHTTPError(http.StatusNotFound, fmt.Errorf("%s not found", p))
}

func (b *memBackend) CurrentUserPrincipal(ctx context.Context) (string, error) {
	return "/" + userOf(ctx) + "/", nil
}

func (b *memBackend) CalendarHomeSetPath(ctx context.Context) (string, error) {
	return "/" + userOf(ctx) + "/calendars/", nil
}

func (b *memBackend) CreateCalendar(ctx context.Context, cal *caldav.Calendar) error {
	return b.s.create(userOf(ctx), cal.Path)
}

func (b *memBackend) ListCalendars(ctx context.Context) ([]caldav.Calendar, error) {
	home, _ := b.CalendarHomeSetPath(ctx)
	b.s.mu.Lock()
	defer b.s.mu.Unlock()
	var out []caldav.Calendar
	for p, c := range b.s.cals {
		if strings.HasPrefix(p, home) {
			out = append(out, *c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

func calendarDir(p string) string {
	if strings.HasSuffix(p, "/") {
		return p
	}
	return p + "/"
}

func (b *memBackend) GetCalendar(ctx context.Context, p string) (*caldav.Calendar, error) {
	b.s.mu.Lock()
	defer b.s.mu.Unlock()
	c, ok := b.s.cals[calendarDir(p)]
	if !ok {
		return nil, notFound(p)
	}
	cp := *c
	return &cp, nil
}

func (b *memBackend) objectLocked(p string) (*caldav.CalendarObject, error) {
	o, ok := b.s.objs[p]
	if !ok {
		return nil, notFound(p)
	}
	cal, err := ical.NewDecoder(bytes.NewReader(o.data)).Decode()
	if err != nil {
		return nil, err
	}
	return &caldav.CalendarObject{Path: p, ModTime: o.modTime, ContentLength: int64(len(o.data)), ETag: o.etag, Data: cal}, nil
}

func (b *memBackend) GetCalendarObject(ctx context.Context, p string, _ *caldav.CalendarCompRequest) (*caldav.CalendarObject, error) {
	b.s.mu.Lock()
	defer b.s.mu.Unlock()
	return b.objectLocked(p)
}

func (b *memBackend) ListCalendarObjects(ctx context.Context, p string, _ *caldav.CalendarCompRequest) ([]caldav.CalendarObject, error) {
	dir := calendarDir(p)
	b.s.mu.Lock()
	defer b.s.mu.Unlock()
	if _, ok := b.s.cals[dir]; !ok {
		return nil, notFound(p)
	}
	var paths []string
	for op := range b.s.objs {
		if path.Dir(op)+"/" == dir {
			paths = append(paths, op)
		}
	}
	sort.Strings(paths)
	out := make([]caldav.CalendarObject, 0, len(paths))
	for _, op := range paths {
		co, err := b.objectLocked(op)
		if err != nil {
			return nil, err
		}
		out = append(out, *co)
	}
	return out, nil
}

func (b *memBackend) QueryCalendarObjects(ctx context.Context, p string, q *caldav.CalendarQuery) ([]caldav.CalendarObject, error) {
	all, err := b.ListCalendarObjects(ctx, p, nil)
	if err != nil {
		return nil, err
	}
	return caldav.Filter(q, all)
}

func (b *memBackend) PutCalendarObject(ctx context.Context, p string, cal *ical.Calendar, opts *caldav.PutCalendarObjectOptions) (*caldav.CalendarObject, error) {
	_, uid, err := caldav.ValidateCalendarObject(cal)
	if err != nil {
		return nil, caldav.NewPreconditionError(caldav.PreconditionValidCalendarObjectResource)
	}
	var buf bytes.Buffer
	if err := ical.NewEncoder(&buf).Encode(cal); err != nil {
		return nil, caldav.NewPreconditionError(caldav.PreconditionValidCalendarData)
	}
	dir := path.Dir(p) + "/"
	b.s.mu.Lock()
	defer b.s.mu.Unlock()
	if _, ok := b.s.cals[dir]; !ok {
		return nil, webdav.NewHTTPError(http.StatusConflict, fmt.Errorf("no calendar at %s", dir))
	}
	old, exists := b.s.objs[p]
	if opts != nil {
		if opts.IfNoneMatch.IsSet() && exists {
			if opts.IfNoneMatch.IsWildcard() {
				return nil, webdav.NewHTTPError(http.StatusPreconditionFailed, errors.New("object exists"))
			}
			if ok, _ := opts.IfNoneMatch.MatchETag(old.etag); ok {
				return nil, webdav.NewHTTPError(http.StatusPreconditionFailed, errors.New("etag matches"))
			}
		}
		if opts.IfMatch.IsSet() {
			if !exists {
				return nil, webdav.NewHTTPError(http.StatusPreconditionFailed, errors.New("object does not exist"))
			}
			if !opts.IfMatch.IsWildcard() {
				if ok, err := opts.IfMatch.MatchETag(old.etag); err != nil || !ok {
					return nil, webdav.NewHTTPError(http.StatusPreconditionFailed, errors.New("etag does not match"))
				}
			}
		}
	}
	for op, o := range b.s.objs {
		if op != p && o.uid == uid && path.Dir(op)+"/" == dir {
			return nil, caldav.NewPreconditionError(caldav.PreconditionNoUIDConflict)
		}
	}
	sum := sha256.Sum256(buf.Bytes())
	o := &object{data: buf.Bytes(), uid: uid, etag: hex.EncodeToString(sum[:16]), modTime: time.Now().UTC()}
	b.s.objs[p] = o
	return &caldav.CalendarObject{Path: p, ModTime: o.modTime, ContentLength: int64(len(o.data)), ETag: o.etag, Data: cal}, nil
}

func (b *memBackend) DeleteCalendarObject(ctx context.Context, p string) error {
	b.s.mu.Lock()
	defer b.s.mu.Unlock()
	if _, ok := b.s.objs[p]; !ok {
		return notFound(p)
	}
	delete(b.s.objs, p)
	return nil
}
