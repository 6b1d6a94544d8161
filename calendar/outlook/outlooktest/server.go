// Package outlooktest runs an in-process fake of the Microsoft Graph
// calendar API and of the Microsoft identity platform's token endpoint,
// for tests of calendar/outlook and for hosts' own tests and demos.
//
// The fake behaves like Graph where the provider depends on it, including
// what goes wrong: it checks the bearer token it issued and the
// Prefer: IdType="ImmutableId" header on every request; it stores events
// with etags and answers 412 on an If-Match mismatch; calendarView/delta
// pages (PageSize) with @odata.nextLink and ends with an @odata.deltaLink,
// reports deletions as @removed, and answers 410 syncStateNotFound to a
// delta link it invalidated; creates with a transactionId already used
// return the existing event; /token refreshes tokens and can be made to
// refuse them (invalid_grant); access tokens can be expired mid-sync;
// subscriptions run the validation handshake against their
// notificationUrl, and Notify posts a change notification with the right
// or a forged clientState; FailNext scripts 429, 503 and other failures.
// Tests act as the user editing the calendar with Put and Remove.
package outlooktest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/wedsync/integrations/calendar"
	"github.com/wedsync/integrations/calendar/outlook"
)

// Client credentials of the fake's app registration (OAuthConfig).
const (
	ClientID     = "wedsync-test-client"
	ClientSecret = "wedsync-test-secret"
)

// DefaultPageSize is how many items a calendarView/delta page holds
// unless SetPageSize says otherwise.
const DefaultPageSize = 50

// Failure is a scripted answer to the next Graph request (FailNext).
type Failure struct {
	// Status is the HTTP status (429, 503, 403...).
	Status int
	// RetryAfter is the Retry-After header, empty for none.
	RetryAfter string
	// Code is Graph's error code in the body ("TooManyRequests").
	Code string
}

// Subscription is one subscription the fake holds.
type Subscription struct {
	ID, Resource, NotificationURL, ClientState, ChangeType string
	Expires                                                time.Time
}

type event struct {
	id, cal, etag string
	fields        map[string]json.RawMessage
	seq           int64
	deleted       bool
	txn           string
	masterID      string // on an exception or a cancelled occurrence
}

type deltaState struct {
	cal        string
	seq        int64
	start, end time.Time
	gen        int
	expand     bool
	occ        map[string]bool // occurrence ids the client has seen
}

type snapshot struct {
	items [][]byte
	next  int
	delta deltaState
}

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	// URL is the Graph base URL (".../v1.0") to pass to WithBaseURL.
	URL string
	// TokenURL is the fake's token endpoint.
	TokenURL string

	srv *httptest.Server
	cb  *http.Client

	mu        sync.Mutex
	access    map[string]time.Time
	refresh   map[string]bool
	cals      map[string]string // id -> name
	order     []string
	events    map[string]*event
	seq       int64
	gen       int
	pageSize  int
	snaps     map[string]*snapshot
	deltas    map[string]deltaState
	subs      map[string]*Subscription
	fails     []Failure
	requests  []string
	refreshes int
	n         int
	expireIn  int
	noExpand  bool
}

// Start runs a fake on a loopback port; it stops when t's test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := New()
	t.Cleanup(s.Close)
	return s
}

// New runs a fake on a loopback port, for hosts and examples outside a
// test; Close stops it.
func New() *Server {
	s := &Server{
		access: map[string]time.Time{}, refresh: map[string]bool{}, cals: map[string]string{},
		events: map[string]*event{}, pageSize: DefaultPageSize, snaps: map[string]*snapshot{},
		deltas: map[string]deltaState{}, subs: map[string]*Subscription{},
	}
	s.cb = &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", s.token)
	mux.HandleFunc("/v1.0/", s.api)
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL + "/v1.0"
	s.TokenURL = s.srv.URL + "/token"
	return s
}

// Close stops the fake and closes its idle client connections.
func (s *Server) Close() {
	s.srv.Close()
	s.cb.CloseIdleConnections()
}

// OAuthConfig is the app registration the provider refreshes tokens with.
func (s *Server) OAuthConfig() *oauth2.Config {
	return &oauth2.Config{ClientID: ClientID, ClientSecret: ClientSecret,
		Endpoint: oauth2.Endpoint{TokenURL: s.TokenURL, AuthStyle: oauth2.AuthStyleInParams},
		Scopes:   []string{"offline_access", "Calendars.ReadWrite"}}
}

// ProviderOptions are the options that point an outlook.Provider at the
// fake: its base URL, loopback allowed, plain http.
func (s *Server) ProviderOptions() []outlook.Option {
	return []outlook.Option{outlook.WithBaseURL(s.URL),
		outlook.WithAllowedNetworks(netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")),
		outlook.WithInsecureHTTP(true)}
}

// NewProvider returns a provider for the fake, closed when t ends.
func (s *Server) NewProvider(t testing.TB, opts ...outlook.Option) *outlook.Provider {
	t.Helper()
	p, err := outlook.New(s.OAuthConfig(), append(s.ProviderOptions(), opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.CloseIdleConnections)
	return p
}

func randID(prefix string) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// Creds issues a new token pair and returns it as the provider's
// credentials JSON (an oauth2.Token).
func (s *Server) Creds() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	at, rt := randID("at-"), randID("rt-")
	exp := time.Now().Add(time.Hour)
	s.access[at], s.refresh[rt] = exp, true
	return outlook.MarshalCredentials(&oauth2.Token{AccessToken: at, TokenType: "Bearer", RefreshToken: rt, Expiry: exp})
}

// ExpireAccessTokens makes every access token issued so far invalid
// (401), as if they expired early: the provider must refresh.
func (s *Server) ExpireAccessTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.access)
}

// ExpireAccessTokensAfter lets n more Graph requests through, then
// expires every access token issued so far: a sync that pages finds its
// token refused half way (401) and must refresh and go on.
func (s *Server) ExpireAccessTokensAfter(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireIn = n + 1
}

// RefuseDeltaExpand makes calendarView/delta answer 400 to a request
// with $expand, as Graph may: the provider must sync without tags.
func (s *Server) RefuseDeltaExpand(refuse bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noExpand = refuse
}

// RevokeRefreshTokens makes /token refuse every refresh token issued so
// far with invalid_grant, and expires the access tokens.
func (s *Server) RevokeRefreshTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.refresh)
	clear(s.access)
}

// Refreshes counts the refresh grants /token honoured.
func (s *Server) Refreshes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refreshes
}

// InvalidateDeltaLinks makes every delta link issued so far answer 410
// syncStateNotFound.
func (s *Server) InvalidateDeltaLinks() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
}

// SetPageSize sets how many items a delta page holds (default 50).
func (s *Server) SetPageSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pageSize = max(1, n)
}

// FailNext scripts the answers to the next Graph requests, one each.
func (s *Server) FailNext(fs ...Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fails = append(s.fails, fs...)
}

// Requests returns the Graph requests served so far ("GET /v1.0/...").
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

// AddCalendar adds a calendar named name and returns its id.
func (s *Server) AddCalendar(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := randID("cal-")
	s.cals[id] = name
	s.order = append(s.order, id)
	return id
}

// Put writes ev into cal as the user would in Outlook: a new event when
// ev.ID is empty or unknown, else a replacement of that event (a new
// etag). It returns the event as Graph now holds it.
func (s *Server) Put(cal string, ev calendar.Event) calendar.Event {
	g, err := outlook.EncodeEvent(&ev)
	if err != nil {
		panic(err)
	}
	raw, _ := json.Marshal(g)
	var fields map[string]json.RawMessage
	_ = json.Unmarshal(raw, &fields)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.events[ev.ID]
	if e == nil || e.deleted {
		e = s.newEvent(cal, fields, "")
	} else {
		e.fields = map[string]json.RawMessage{}
		s.patch(e, fields)
	}
	out, _ := outlook.DecodeEvent(s.render(e, true, true))
	return *out
}

// Remove deletes the event id as the user would.
func (s *Server) Remove(cal, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.remove(id)
}

// remove deletes an event, an occurrence (a cancelled occurrence is kept
// as a tombstone) or a series with its exceptions.
func (s *Server) remove(id string) {
	e := s.events[id]
	if e == nil {
		if e = s.occurrence(id); e == nil {
			return
		}
		s.events[id] = e
	}
	if e.deleted {
		return
	}
	s.seq++
	e.deleted, e.seq = true, s.seq
	if isMaster(e) {
		for _, x := range s.events {
			if x.masterID == e.id && !x.deleted {
				x.deleted, x.seq = true, s.seq
			}
		}
	}
}

// Len counts the live events of cal.
func (s *Server) Len(cal string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, e := range s.events {
		if e.cal == cal && !e.deleted {
			n++
		}
	}
	return n
}

// Subscriptions returns the live subscriptions.
func (s *Server) Subscriptions() []Subscription {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Subscription
	for _, sub := range s.subs {
		if sub.Expires.After(time.Now()) {
			out = append(out, *sub)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// ExpireSubscription ends a subscription as Graph does when it was not
// renewed in time.
func (s *Server) ExpireSubscription(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sub := s.subs[id]; sub != nil {
		sub.Expires = time.Now().Add(-time.Second)
	}
}

// Notify posts a change notification for subscription id to its
// notificationUrl with clientState (pass the subscription's own for a
// genuine one, anything else for a forgery), and returns the status the
// receiver answered.
func (s *Server) Notify(ctx context.Context, id, clientState string) (int, error) {
	s.mu.Lock()
	var sub *Subscription
	if x := s.subs[id]; x != nil {
		cp := *x
		sub = &cp
	}
	s.mu.Unlock()
	if sub == nil || !sub.Expires.After(time.Now()) {
		return 0, fmt.Errorf("outlooktest: no live subscription %q", id)
	}
	body, _ := json.Marshal(map[string]any{"value": []map[string]any{{
		"subscriptionId": sub.ID, "clientState": clientState, "changeType": "updated",
		"resource": sub.Resource, "subscriptionExpirationDateTime": sub.Expires.Format(time.RFC3339),
		"tenantId": "00000000-0000-0000-0000-000000000000",
	}}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sub.NotificationURL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.cb.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// ---- token endpoint ----

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		tokenErr(w, http.StatusBadRequest, "invalid_request")
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != ClientID || secret != ClientSecret {
		tokenErr(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	if r.PostForm.Get("grant_type") != "refresh_token" {
		tokenErr(w, http.StatusBadRequest, "unsupported_grant_type")
		return
	}
	s.mu.Lock()
	if !s.refresh[r.PostForm.Get("refresh_token")] {
		s.mu.Unlock()
		tokenErr(w, http.StatusBadRequest, "invalid_grant")
		return
	}
	at, rt := randID("at-"), randID("rt-")
	s.access[at], s.refresh[rt] = time.Now().Add(time.Hour), true
	s.refreshes++
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": at, "token_type": "Bearer", "expires_in": 3600,
		"refresh_token": rt, "scope": "offline_access Calendars.ReadWrite"})
}

func tokenErr(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": "outlooktest: " + code})
}

// ---- Graph ----

func graphErr(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	switch b := v.(type) {
	case []byte:
		_, _ = w.Write(b)
	default:
		_ = json.NewEncoder(w).Encode(v)
	}
}

func (s *Server) api(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests = append(s.requests, r.Method+" "+r.URL.RequestURI())
	if s.expireIn > 0 {
		if s.expireIn--; s.expireIn == 0 {
			clear(s.access)
		}
	}
	auth, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	exp, known := s.access[auth]
	if !ok || !known || time.Now().After(exp) {
		s.mu.Unlock()
		graphErr(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.")
		return
	}
	if !strings.Contains(r.Header.Get("Prefer"), `IdType="ImmutableId"`) {
		s.mu.Unlock()
		graphErr(w, http.StatusBadRequest, "outlooktest.PreferImmutableId", `the provider must send Prefer: IdType="ImmutableId"`)
		return
	}
	if len(s.fails) > 0 {
		f := s.fails[0]
		s.fails = s.fails[1:]
		s.mu.Unlock()
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		graphErr(w, f.Status, f.Code, "scripted failure")
		return
	}
	s.mu.Unlock()
	utc := strings.Contains(r.Header.Get("Prefer"), `outlook.timezone="UTC"`)
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/v1.0/"), "/")
	switch {
	case r.Method == http.MethodGet && len(parts) == 2 && parts[0] == "me" && parts[1] == "calendars":
		s.listCalendars(w)
	case r.Method == http.MethodGet && len(parts) == 5 && parts[0] == "me" && parts[1] == "calendars" && parts[3] == "calendarView" && parts[4] == "delta":
		s.delta(w, r, parts[2], utc)
	case r.Method == http.MethodPost && len(parts) == 4 && parts[0] == "me" && parts[1] == "calendars" && parts[3] == "events":
		s.create(w, r, parts[2], utc)
	case len(parts) == 3 && parts[0] == "me" && parts[1] == "events":
		s.event(w, r, parts[2], utc)
	case r.Method == http.MethodPost && len(parts) == 1 && parts[0] == "subscriptions":
		s.subscribe(w, r)
	case len(parts) == 2 && parts[0] == "subscriptions" && (r.Method == http.MethodDelete || r.Method == http.MethodPatch):
		s.subscription(w, r, parts[1])
	default:
		graphErr(w, http.StatusBadRequest, "BadRequest", "outlooktest: unsupported request "+r.Method+" "+r.URL.Path)
	}
}

func (s *Server) listCalendars(w http.ResponseWriter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, id := range s.order {
		out = append(out, map[string]any{"id": id, "name": s.cals[id], "canEdit": true})
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": out})
}

// windowsZones is the part of Windows' zone table the fake understands.
var windowsZones = map[string]string{"GMT Standard Time": "Europe/London", "W. Europe Standard Time": "Europe/Berlin",
	"Eastern Standard Time": "America/New_York", "Pacific Standard Time": "America/Los_Angeles", "UTC": "UTC"}

func loadZone(name string) (*time.Location, error) {
	if iana, ok := windowsZones[name]; ok {
		name = iana
	}
	return time.LoadLocation(name)
}

type dtz struct {
	DateTime string `json:"dateTime"`
	TimeZone string `json:"timeZone"`
}

func parseDTZ(raw json.RawMessage) (time.Time, dtz, error) {
	var d dtz
	if err := json.Unmarshal(raw, &d); err != nil {
		return time.Time{}, d, err
	}
	loc, err := loadZone(d.TimeZone)
	if err != nil {
		return time.Time{}, d, fmt.Errorf("unknown timeZone %q", d.TimeZone)
	}
	for _, layout := range []string{"2006-01-02T15:04:05.9999999", "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, d.DateTime, loc); err == nil {
			return t, d, nil
		}
	}
	return time.Time{}, d, fmt.Errorf("bad dateTime %q", d.DateTime)
}

// span is the event's [start, end) as instants.
func (e *event) span() (time.Time, time.Time) {
	st, _, _ := parseDTZ(e.fields["start"])
	en, _, _ := parseDTZ(e.fields["end"])
	return st, en
}

func (s *Server) newEvent(cal string, fields map[string]json.RawMessage, txn string) *event {
	s.n++
	e := &event{id: randID("AAMkImm-"), cal: cal, fields: map[string]json.RawMessage{}, txn: txn}
	s.events[e.id] = e
	s.patch(e, fields)
	uid, _ := json.Marshal(randID("040000008200E00074C5B7101A82E008"))
	e.fields["iCalUId"] = uid
	e.fields["type"] = json.RawMessage(`"singleInstance"`)
	if isMaster(e) {
		e.fields["type"] = json.RawMessage(`"seriesMaster"`)
	}
	return e
}

// patch merges fields into e (PATCH semantics: top-level fields replaced)
// and gives it a new etag and change sequence.
func (s *Server) patch(e *event, fields map[string]json.RawMessage) {
	for k, v := range fields {
		switch k {
		case "id", "@odata.etag", "iCalUId", "type", "transactionId", "originalStartTimeZone", "originalEndTimeZone":
			continue
		}
		e.fields[k] = v
	}
	if _, d, err := parseDTZ(e.fields["start"]); err == nil {
		tz, _ := json.Marshal(d.TimeZone)
		e.fields["originalStartTimeZone"] = tz
	}
	if _, d, err := parseDTZ(e.fields["end"]); err == nil {
		tz, _ := json.Marshal(d.TimeZone)
		e.fields["originalEndTimeZone"] = tz
	}
	s.seq++
	e.seq = s.seq
	e.etag = fmt.Sprintf(`W/"DwAAABYAAA%d"`, s.seq)
}

// render returns the event as Graph would send it: times in UTC when the
// client asked, extended properties only when expanded.
func (s *Server) render(e *event, utc, expand bool) []byte {
	out := map[string]json.RawMessage{}
	for k, v := range e.fields {
		if k == "singleValueExtendedProperties" && !expand {
			continue
		}
		out[k] = v
	}
	id, _ := json.Marshal(e.id)
	etag, _ := json.Marshal(e.etag)
	out["id"], out["@odata.etag"] = id, etag
	var allDay bool
	_ = json.Unmarshal(e.fields["isAllDay"], &allDay)
	if utc && !allDay {
		for _, k := range []string{"start", "end"} {
			if t, _, err := parseDTZ(e.fields[k]); err == nil {
				b, _ := json.Marshal(dtz{DateTime: t.UTC().Format("2006-01-02T15:04:05.0000000"), TimeZone: "UTC"})
				out[k] = b
			}
		}
	}
	b, _ := json.Marshal(out)
	return b
}

func (s *Server) validateEvent(fields map[string]json.RawMessage) error {
	st, _, err := parseDTZ(fields["start"])
	if err != nil {
		return fmt.Errorf("start: %v", err)
	}
	en, _, err := parseDTZ(fields["end"])
	if err != nil {
		return fmt.Errorf("end: %v", err)
	}
	if en.Before(st) {
		return fmt.Errorf("end before start")
	}
	return nil
}

func decodeFields(r *http.Request) (map[string]json.RawMessage, error) {
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		return nil, fmt.Errorf("Content-Type must be application/json")
	}
	var fields map[string]json.RawMessage
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&fields); err != nil {
		return nil, err
	}
	return fields, nil
}

func (s *Server) create(w http.ResponseWriter, r *http.Request, cal string, utc bool) {
	fields, err := decodeFields(r)
	if err == nil {
		err = s.validateEvent(fields)
	}
	if err != nil {
		graphErr(w, http.StatusBadRequest, "ErrorInvalidRequest", err.Error())
		return
	}
	var txn string
	_ = json.Unmarshal(fields["transactionId"], &txn)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.cals[cal]; !ok {
		graphErr(w, http.StatusNotFound, "ErrorItemNotFound", "no such calendar")
		return
	}
	if txn != "" {
		for _, e := range s.events {
			if e.cal == cal && e.txn == txn && !e.deleted {
				writeJSON(w, http.StatusCreated, s.render(e, utc, false)) // Graph dedupes by transactionId
				return
			}
		}
	}
	e := s.newEvent(cal, fields, txn)
	writeJSON(w, http.StatusCreated, s.render(e, utc, false))
}

func (s *Server) event(w http.ResponseWriter, r *http.Request, id string, utc bool) {
	var fields map[string]json.RawMessage
	if r.Method == http.MethodPatch {
		var err error
		if fields, err = decodeFields(r); err != nil {
			graphErr(w, http.StatusBadRequest, "ErrorInvalidRequest", err.Error())
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.events[id]
	transient := false
	if e == nil {
		e, transient = s.occurrence(id), true
	}
	if e == nil || e.deleted {
		graphErr(w, http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
		return
	}
	if m := r.Header.Get("If-Match"); m != "" && m != e.etag && r.Method != http.MethodGet {
		graphErr(w, http.StatusPreconditionFailed, "ErrorIrresolvableConflict", "The change key passed in the request does not match the current change key for the item.")
		return
	}
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, s.render(e, utc, strings.Contains(r.URL.Query().Get("$expand"), "singleValueExtendedProperties")))
	case http.MethodPatch:
		merged := map[string]json.RawMessage{}
		for k, v := range e.fields {
			merged[k] = v
		}
		for k, v := range fields {
			merged[k] = v
		}
		if err := s.validateEvent(merged); err != nil {
			graphErr(w, http.StatusBadRequest, "ErrorInvalidRequest", err.Error())
			return
		}
		if transient { // an occurrence edited becomes an exception
			e.fields["type"] = json.RawMessage(`"exception"`)
			s.events[id] = e
		}
		s.patch(e, fields)
		writeJSON(w, http.StatusOK, s.render(e, utc, false))
	case http.MethodDelete:
		s.remove(id)
		w.WriteHeader(http.StatusNoContent)
	default:
		graphErr(w, http.StatusMethodNotAllowed, "BadRequest", "method not allowed")
	}
}

func (s *Server) delta(w http.ResponseWriter, r *http.Request, cal string, utc bool) {
	q := r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.cals[cal]; !ok {
		graphErr(w, http.StatusNotFound, "ErrorItemNotFound", "no such calendar")
		return
	}
	link := func(param, tok string) string {
		return s.URL + "/me/calendars/" + url.PathEscape(cal) + "/calendarView/delta?" + param + "=" + url.QueryEscape(tok)
	}
	if s.noExpand && q.Has("$expand") {
		graphErr(w, http.StatusBadRequest, "ErrorInvalidUrlQuery", "The following parameters are not supported with change tracking over the 'CalendarView' resource: '$expand'.")
		return
	}
	var snap *snapshot
	switch {
	case q.Get("$skiptoken") != "":
		snap = s.snaps[q.Get("$skiptoken")]
		if snap == nil || snap.delta.gen != s.gen {
			graphErr(w, http.StatusGone, "syncStateNotFound", "The sync state generation is not found.")
			return
		}
	case q.Get("$deltatoken") != "":
		st, ok := s.deltas[q.Get("$deltatoken")]
		if !ok || st.gen != s.gen || st.cal != cal {
			graphErr(w, http.StatusGone, "syncStateNotFound", "The sync state generation is not found.")
			return
		}
		snap = &snapshot{delta: st}
		cur := map[string]bool{}
		var occs []*event
		for _, m := range s.sorted(cal) {
			if isMaster(m) && !m.deleted {
				for _, o := range s.occurrences(m, st.start, st.end) {
					cur[o.id] = true
					if !st.occ[o.id] || m.seq > st.seq {
						occs = append(occs, o)
					}
				}
			}
		}
		for id := range st.occ {
			if !cur[id] && s.events[id] == nil {
				rm, _ := json.Marshal(map[string]any{"id": id, "@removed": map[string]string{"reason": "deleted"}})
				snap.items = append(snap.items, rm)
			}
		}
		for _, o := range occs {
			snap.items = append(snap.items, s.render(o, utc, st.expand))
		}
		snap.delta.occ = cur
		for _, e := range s.sorted(cal) {
			if e.seq <= st.seq || isMaster(e) {
				continue
			}
			if b, e0 := e.span(); e.deleted || !b.Before(st.end) || !e0.After(st.start) {
				rm, _ := json.Marshal(map[string]any{"id": e.id, "@removed": map[string]string{"reason": "deleted"}})
				snap.items = append(snap.items, rm)
				continue
			}
			snap.items = append(snap.items, s.render(e, utc, st.expand))
		}
		snap.delta.seq = s.seq
	default:
		start, err1 := time.Parse(time.RFC3339, q.Get("startDateTime"))
		end, err2 := time.Parse(time.RFC3339, q.Get("endDateTime"))
		if err1 != nil || err2 != nil || !end.After(start) {
			graphErr(w, http.StatusBadRequest, "ErrorInvalidParameter", "startDateTime and endDateTime are required ISO 8601 date-times")
			return
		}
		st := deltaState{cal: cal, seq: s.seq, start: start, end: end, gen: s.gen,
			expand: strings.Contains(q.Get("$expand"), "singleValueExtendedProperties")}
		st.occ = map[string]bool{}
		snap = &snapshot{delta: st}
		for _, e := range s.sorted(cal) {
			if isMaster(e) {
				if !e.deleted {
					for _, o := range s.occurrences(e, start, end) {
						st.occ[o.id] = true
						snap.items = append(snap.items, s.render(o, utc, st.expand))
					}
				}
				continue
			}
			if b, e0 := e.span(); !e.deleted && b.Before(end) && e0.After(start) {
				snap.items = append(snap.items, s.render(e, utc, st.expand))
			}
		}
	}
	endAt := min(snap.next+s.pageSize, len(snap.items))
	items := snap.items[snap.next:endAt]
	var buf bytes.Buffer
	buf.WriteString(`{"@odata.context":"outlooktest","value":[`)
	for i, it := range items {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(it)
	}
	buf.WriteString("],")
	if endAt < len(snap.items) {
		snap.next = endAt
		tok := randID("skip-")
		s.snaps[tok] = snap
		l, _ := json.Marshal(link("$skiptoken", tok))
		buf.WriteString(`"@odata.nextLink":` + string(l) + "}")
	} else {
		tok := randID("delta-")
		s.deltas[tok] = snap.delta
		l, _ := json.Marshal(link("$deltatoken", tok))
		buf.WriteString(`"@odata.deltaLink":` + string(l) + "}")
	}
	if t := q.Get("$skiptoken"); t != "" {
		delete(s.snaps, t)
	}
	writeJSON(w, http.StatusOK, buf.Bytes())
}

func (s *Server) sorted(cal string) []*event {
	var out []*event
	for _, e := range s.events {
		if e.cal == cal {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

func (s *Server) subscribe(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ChangeType, NotificationURL, Resource, ExpirationDateTime, ClientState string
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
		graphErr(w, http.StatusBadRequest, "InvalidRequest", err.Error())
		return
	}
	exp, err := time.Parse(time.RFC3339, req.ExpirationDateTime)
	switch {
	case err != nil || !exp.After(time.Now()) || exp.After(time.Now().Add(4230*time.Minute)):
		graphErr(w, http.StatusBadRequest, "InvalidRequest", "expirationDateTime must be in the future and within 4230 minutes")
		return
	case req.ChangeType == "" || req.Resource == "" || len(req.ClientState) > 128:
		graphErr(w, http.StatusBadRequest, "InvalidRequest", "changeType and resource are required, clientState at most 128 characters")
		return
	}
	// The validation handshake: Graph POSTs ?validationToken= and expects
	// the token back as text/plain within 10 seconds.
	vt := randID("validation ")
	u, err := url.Parse(req.NotificationURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		graphErr(w, http.StatusBadRequest, "InvalidRequest", "notificationUrl must be an https URL")
		return
	}
	q := u.Query()
	q.Set("validationToken", vt)
	u.RawQuery = q.Encode()
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	vreq, _ := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), nil)
	vreq.Header.Set("Content-Type", "text/plain; charset=utf-8")
	resp, err := s.cb.Do(vreq)
	if err != nil {
		graphErr(w, http.StatusBadRequest, "InvalidRequest", "Subscription validation request failed: "+err.Error())
		return
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != vt || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		graphErr(w, http.StatusBadRequest, "InvalidRequest", "Subscription validation request failed. Response must exactly match validationToken query parameter.")
		return
	}
	sub := &Subscription{ID: randID("sub-"), Resource: req.Resource, NotificationURL: req.NotificationURL,
		ClientState: req.ClientState, ChangeType: req.ChangeType, Expires: exp}
	s.mu.Lock()
	s.subs[sub.ID] = sub
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, map[string]any{"id": sub.ID, "resource": sub.Resource, "changeType": sub.ChangeType,
		"notificationUrl": sub.NotificationURL, "expirationDateTime": exp.UTC().Format(time.RFC3339), "clientState": sub.ClientState})
}

func (s *Server) subscription(w http.ResponseWriter, r *http.Request, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub := s.subs[id]
	if sub == nil || !sub.Expires.After(time.Now()) {
		graphErr(w, http.StatusNotFound, "ResourceNotFound", "subscription not found")
		return
	}
	if r.Method == http.MethodDelete {
		delete(s.subs, id)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	var req struct{ ExpirationDateTime string }
	_ = json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req)
	if exp, err := time.Parse(time.RFC3339, req.ExpirationDateTime); err == nil {
		sub.Expires = exp
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": sub.ID, "expirationDateTime": sub.Expires.UTC().Format(time.RFC3339)})
}
