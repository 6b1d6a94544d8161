package googletest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/wedsync/integrations/calendar/google"
)

// Client credentials of the fake's OAuth client.
const (
	ClientID     = "wedsync-test.apps.googleusercontent.com"
	ClientSecret = "test-secret"
)

// MaxChannelTTL is the longest expiration a watch channel is granted.
const MaxChannelTTL = 7 * 24 * time.Hour

// Failure is a scripted error answer.
type Failure struct {
	// Status is the HTTP status (403, 429, 503, ...).
	Status int
	// Reason is Google's error reason ("rateLimitExceeded",
	// "userRateLimitExceeded"); empty for none.
	Reason string
	// RetryAfter is the Retry-After header; empty for none.
	RetryAfter string
}

// Channel is an open watch channel.
type Channel struct {
	ID, ResourceID, Token, Address, Calendar string
	Expires                                  time.Time
}

type stored struct {
	data map[string]any
	seq  int64
}

type fakeCal struct {
	id, name, tz string
	epoch        int
	seq          int64
	events       map[string]*stored
}

type pageState struct {
	cal  string
	ids  []string
	next string // nextSyncToken, "" for iCalUID listings
}

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	srv    *httptest.Server
	client *http.Client

	mu          sync.Mutex
	cals        map[string]*fakeCal
	access      map[string]bool
	refresh     map[string]bool
	pageSize    int
	pages       map[string]*pageState
	fails       map[string][]Failure
	calls       map[string]int
	expireAfter int
	channels    map[string]*Channel
	n           int
}

// NewServer starts a fake with one calendar, "primary" (Europe/London).
// Close it when done.
func NewServer() *Server {
	s := &Server{cals: map[string]*fakeCal{}, access: map[string]bool{}, refresh: map[string]bool{},
		pageSize: 250, pages: map[string]*pageState{}, fails: map[string][]Failure{}, calls: map[string]int{},
		expireAfter: -1, channels: map[string]*Channel{}}
	s.AddCalendar("primary", "Primary", "Europe/London")
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", s.token)
	mux.HandleFunc("GET /calendar/v3/users/me/calendarList", s.api("calendarList", s.calendarList))
	mux.HandleFunc("GET /calendar/v3/calendars/{cal}/events", s.api("list", s.list))
	mux.HandleFunc("POST /calendar/v3/calendars/{cal}/events", s.api("insert", s.insert))
	mux.HandleFunc("POST /calendar/v3/calendars/{cal}/events/watch", s.api("watch", s.watch))
	mux.HandleFunc("GET /calendar/v3/calendars/{cal}/events/{id}", s.api("get", s.get))
	mux.HandleFunc("PATCH /calendar/v3/calendars/{cal}/events/{id}", s.api("patch", s.write))
	mux.HandleFunc("PUT /calendar/v3/calendars/{cal}/events/{id}", s.api("update", s.write))
	mux.HandleFunc("DELETE /calendar/v3/calendars/{cal}/events/{id}", s.api("delete", s.delete))
	mux.HandleFunc("POST /calendar/v3/channels/stop", s.api("stop", s.stop))
	s.srv = httptest.NewServer(mux)
	s.client = &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	return s
}

// Start is NewServer closed when t ends.
func Start(t testing.TB) *Server {
	s := NewServer()
	t.Cleanup(s.Close)
	return s
}

// Close stops the server.
func (s *Server) Close() {
	s.srv.Close()
	s.client.CloseIdleConnections()
}

// URL is the server's base URL.
func (s *Server) URL() string { return s.srv.URL }

// Endpoint is the API base URL for google.WithEndpoint.
func (s *Server) Endpoint() string { return s.srv.URL + "/calendar/v3/" }

// OAuthConfig is the OAuth client whose tokens the fake issues.
func (s *Server) OAuthConfig() *oauth2.Config {
	return &oauth2.Config{ClientID: ClientID, ClientSecret: ClientSecret,
		Endpoint: oauth2.Endpoint{AuthURL: s.srv.URL + "/auth", TokenURL: s.srv.URL + "/token", AuthStyle: oauth2.AuthStyleInHeader},
		Scopes:   []string{"https://www.googleapis.com/auth/calendar"}}
}

// ProviderOptions point a google.Provider at the fake (loopback, http).
func (s *Server) ProviderOptions() []google.Option {
	return []google.Option{google.WithEndpoint(s.Endpoint()),
		google.WithAllowedNetworks(netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")),
		google.WithInsecureHTTP(true)}
}

// NewProvider returns a google.Provider pointed at the fake, with opts
// added.
func (s *Server) NewProvider(opts ...google.Option) (*google.Provider, error) {
	return google.New(s.OAuthConfig(), append(s.ProviderOptions(), opts...)...)
}

func (s *Server) newID(prefix string) string {
	s.n++
	return fmt.Sprintf("%s%d%s", prefix, s.n, strings.ToLower(rand.Text()[:6]))
}

// Creds issues a new access and refresh token pair, valid for an hour, as
// a connection's credentials (an oauth2.Token as JSON).
func (s *Server) Creds() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok := oauth2.Token{AccessToken: s.issueLocked(), TokenType: "Bearer", RefreshToken: "rt-" + rand.Text(), Expiry: time.Now().Add(time.Hour)}
	s.refresh[tok.RefreshToken] = true
	b, _ := json.Marshal(tok)
	return b
}

func (s *Server) issueLocked() string {
	t := "at-" + rand.Text()
	s.access[t] = true
	return t
}

// ExpireAccessTokens makes every access token issued so far refused (401),
// as if they had expired early: the client must refresh.
func (s *Server) ExpireAccessTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.access)
}

// ExpireAccessTokensAfter expires every access token once n more API
// requests have been served: a token expiring in the middle of a paged
// sync.
func (s *Server) ExpireAccessTokensAfter(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireAfter = n
}

// RevokeRefreshTokens revokes every refresh token (the user removed the
// app's access): refreshing gives invalid_grant.
func (s *Server) RevokeRefreshTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.refresh)
	clear(s.access)
}

// SetPageSize caps the events of one events.list page. Default 250.
func (s *Server) SetPageSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pageSize = n
}

// ExpireSyncTokens makes every sync token of calendar cal stale: the next
// incremental list gets 410 Gone.
func (s *Server) ExpireSyncTokens(cal string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.cals[cal]; c != nil {
		c.epoch++
	}
}

// FailNext makes the next requests of op answer fs, one per request. Ops:
// "token", "calendarList", "list", "get", "insert", "patch", "update",
// "delete", "watch", "stop".
func (s *Server) FailNext(op string, fs ...Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fails[op] = append(s.fails[op], fs...)
}

// Calls reports how many requests of op were received (authorised or not).
func (s *Server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// AddCalendar creates an empty calendar (owner access).
func (s *Server) AddCalendar(id, name, tz string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cals[id] = &fakeCal{id: id, name: name, tz: tz, events: map[string]*stored{}}
}

// Put writes an event resource as the calendar's owner would: it is
// stored as given (plus id, etag, iCalUID and status when missing) with a
// new etag. It returns the stored resource. It panics on an unknown
// calendar.
func (s *Server) Put(cal string, ev map[string]any) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cals[cal]
	if c == nil {
		panic("googletest: no calendar " + cal)
	}
	ev = clone(ev)
	id, _ := ev["id"].(string)
	if id == "" {
		id = s.newID("own")
		ev["id"] = id
	}
	if _, ok := ev["iCalUID"]; !ok {
		ev["iCalUID"] = id + "@google.com"
	}
	if _, ok := ev["status"]; !ok {
		ev["status"] = "confirmed"
	}
	s.storeLocked(c, id, ev)
	return clone(ev)
}

// Remove deletes an event as the calendar's owner would (it becomes
// cancelled, and a sync reports it deleted).
func (s *Server) Remove(cal, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.cals[cal]; c != nil {
		if st := c.events[id]; st != nil {
			s.cancelLocked(c, id)
		}
	}
}

// Event returns the stored resource of id (cancelled ones too).
func (s *Server) Event(cal, id string) (map[string]any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cals[cal]
	if c == nil || c.events[id] == nil {
		return nil, false
	}
	return clone(c.events[id].data), true
}

// Events returns the calendar's live (not cancelled) events, by id.
func (s *Server) Events(cal string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cals[cal]
	if c == nil {
		return nil
	}
	var out []map[string]any
	for _, st := range c.events {
		if st.data["status"] != "cancelled" {
			out = append(out, clone(st.data))
		}
	}
	slices.SortFunc(out, func(a, b map[string]any) int { return strings.Compare(a["id"].(string), b["id"].(string)) })
	return out
}

// Channels returns the open watch channels.
func (s *Server) Channels() []Channel {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Channel
	for _, ch := range s.channels {
		if time.Now().Before(ch.Expires) {
			out = append(out, *ch)
		}
	}
	slices.SortFunc(out, func(a, b Channel) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// ExpireChannel ends channel id as Google does when its expiration
// passes: no more notifications, and channels.stop answers 404.
func (s *Server) ExpireChannel(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.channels, id)
}

// Notify sends a genuine push notification of channel id (with state
// "exists", or "sync" for a channel's first message) to its address and
// returns the HTTP status the receiver answered.
func (s *Server) Notify(ctx context.Context, id, state string) (int, error) {
	s.mu.Lock()
	ch := s.channels[id]
	s.mu.Unlock()
	if ch == nil {
		return 0, fmt.Errorf("googletest: no channel %q", id)
	}
	return s.send(ctx, ch.Address, ch.ID, ch.Token, ch.ResourceID, state)
}

// NotifyForged sends a push notification for channel id carrying token and
// resourceID instead of the channel's own: what an attacker who knows the
// callback URL could send.
func (s *Server) NotifyForged(ctx context.Context, id, token, resourceID string) (int, error) {
	s.mu.Lock()
	ch := s.channels[id]
	s.mu.Unlock()
	if ch == nil {
		return 0, fmt.Errorf("googletest: no channel %q", id)
	}
	return s.send(ctx, ch.Address, id, token, resourceID, "exists")
}

// NotifyTo sends a push notification with arbitrary headers to address.
func (s *Server) NotifyTo(ctx context.Context, address, id, token, resourceID, state string) (int, error) {
	return s.send(ctx, address, id, token, resourceID, state)
}

func (s *Server) send(ctx context.Context, address, id, token, resourceID, state string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, address, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("X-Goog-Channel-ID", id)
	if token != "" {
		req.Header.Set("X-Goog-Channel-Token", token)
	}
	req.Header.Set("X-Goog-Resource-ID", resourceID)
	req.Header.Set("X-Goog-Resource-State", state)
	req.Header.Set("X-Goog-Message-Number", "1")
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// --- HTTP side ---

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func apiErr(w http.ResponseWriter, status int, reason, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": status, "message": msg,
		"errors": []map[string]any{{"domain": "global", "reason": reason, "message": msg}}}})
}

// takeFailLocked pops a scripted failure of op.
func (s *Server) takeFailLocked(op string) (Failure, bool) {
	fs := s.fails[op]
	if len(fs) == 0 {
		return Failure{}, false
	}
	s.fails[op] = fs[1:]
	return fs[0], true
}

func writeFailure(w http.ResponseWriter, f Failure) {
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	reason := f.Reason
	if reason == "" {
		reason = strings.ReplaceAll(strings.ToLower(http.StatusText(f.Status)), " ", "")
	}
	apiErr(w, f.Status, reason, "scripted failure")
}

// api wraps an API handler: counts, scripted failures, bearer check.
func (s *Server) api(op string, h func(w http.ResponseWriter, r *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.calls[op]++
		auth := r.Header.Get("Authorization")
		tok, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok || !s.access[tok] {
			s.mu.Unlock()
			w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/", error="invalid_token"`)
			apiErr(w, http.StatusUnauthorized, "authError", "Invalid Credentials")
			return
		}
		if s.expireAfter > 0 {
			s.expireAfter--
			if s.expireAfter == 0 {
				clear(s.access)
				s.expireAfter = -1
			}
		}
		f, failing := s.takeFailLocked(op)
		s.mu.Unlock()
		if failing {
			writeFailure(w, f)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodDelete && op != "stop" && op != "watch" &&
			!strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			apiErr(w, http.StatusBadRequest, "badContent", "Content-Type must be application/json")
			return
		}
		h(w, r)
	}
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls["token"]++
	if f, ok := s.takeFailLocked("token"); ok {
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		writeJSON(w, f.Status, map[string]string{"error": f.Reason})
		return
	}
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != ClientID || secret != ClientSecret {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	if r.PostForm.Get("grant_type") != "refresh_token" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	if !s.refresh[r.PostForm.Get("refresh_token")] {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "Token has been expired or revoked."})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"access_token": s.issueLocked(), "token_type": "Bearer", "expires_in": 3599,
		"scope": "https://www.googleapis.com/auth/calendar"})
}

func (s *Server) calendarList(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var items []map[string]any
	for _, c := range s.cals {
		items = append(items, map[string]any{"kind": "calendar#calendarListEntry", "id": c.id, "summary": c.name,
			"timeZone": c.tz, "accessRole": "owner"})
	}
	slices.SortFunc(items, func(a, b map[string]any) int { return strings.Compare(a["id"].(string), b["id"].(string)) })
	writeJSON(w, http.StatusOK, map[string]any{"kind": "calendar#calendarList", "items": items})
}

func (s *Server) calLocked(w http.ResponseWriter, r *http.Request) *fakeCal {
	c := s.cals[r.PathValue("cal")]
	if c == nil {
		apiErr(w, http.StatusNotFound, "notFound", "Not Found")
	}
	return c
}

func syncToken(c *fakeCal) string { return fmt.Sprintf("CPs%d_%d", c.epoch, c.seq) }

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calLocked(w, r)
	if c == nil {
		return
	}
	q := r.URL.Query()
	max := 250
	if v := q.Get("maxResults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 2500 {
			apiErr(w, http.StatusBadRequest, "invalid", "Invalid value for maxResults")
			return
		}
		max = n
	}
	max = min(max, s.pageSize)
	if q.Get("singleEvents") == "true" {
		apiErr(w, http.StatusBadRequest, "invalid", "googletest does not expand series (singleEvents)")
		return
	}
	var st *pageState
	if pt := q.Get("pageToken"); pt != "" {
		st = s.pages[pt]
		if st == nil || st.cal != c.id {
			apiErr(w, http.StatusBadRequest, "invalid", "Invalid page token")
			return
		}
		delete(s.pages, pt)
	} else {
		st = &pageState{cal: c.id}
		showDeleted := q.Get("showDeleted") == "true"
		var since int64 = -1
		if tok := q.Get("syncToken"); tok != "" {
			for _, k := range []string{"iCalUID", "timeMin", "timeMax", "orderBy", "q", "privateExtendedProperty", "updatedMin"} {
				if q.Has(k) {
					apiErr(w, http.StatusBadRequest, "invalid", "syncToken cannot be combined with "+k)
					return
				}
			}
			var epoch int
			var seq int64
			if _, err := fmt.Sscanf(tok, "CPs%d_%d", &epoch, &seq); err != nil || epoch != c.epoch {
				apiErr(w, http.StatusGone, "fullSyncRequired", "Sync token is no longer valid, a full sync is required.")
				return
			}
			since = seq
			showDeleted = true
		}
		uid := q.Get("iCalUID")
		type kv struct {
			id  string
			seq int64
		}
		var sel []kv
		for id, e := range c.events {
			if e.seq <= since || (!showDeleted && e.data["status"] == "cancelled") {
				continue
			}
			if uid != "" && e.data["iCalUID"] != uid {
				continue
			}
			sel = append(sel, kv{id, e.seq})
		}
		slices.SortFunc(sel, func(a, b kv) int { return int(a.seq - b.seq) })
		for _, e := range sel {
			st.ids = append(st.ids, e.id)
		}
		if uid == "" {
			st.next = syncToken(c)
		}
	}
	n := min(max, len(st.ids))
	items := []map[string]any{}
	for _, id := range st.ids[:n] {
		if e := c.events[id]; e != nil {
			items = append(items, e.data)
		}
	}
	resp := map[string]any{"kind": "calendar#events", "summary": c.name, "timeZone": c.tz, "items": items}
	if rest := st.ids[n:]; len(rest) > 0 {
		pt := s.newID("pg")
		s.pages[pt] = &pageState{cal: c.id, ids: rest, next: st.next}
		resp["nextPageToken"] = pt
	} else if st.next != "" {
		resp["nextSyncToken"] = st.next
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) get(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calLocked(w, r)
	if c == nil {
		return
	}
	e := c.events[r.PathValue("id")]
	if e == nil {
		apiErr(w, http.StatusNotFound, "notFound", "Not Found")
		return
	}
	writeJSON(w, http.StatusOK, e.data)
}

var idRE = regexp.MustCompile(`^[0-9a-v]+$`)

// checkTimes checks start and end the way Google does.
func checkTimes(ev map[string]any) string {
	kinds := map[string]string{}
	for _, k := range []string{"start", "end"} {
		t, ok := ev[k].(map[string]any)
		if !ok {
			return "Missing " + k + " time."
		}
		d, _ := t["date"].(string)
		dt, _ := t["dateTime"].(string)
		switch {
		case d != "" && dt == "":
			if _, err := time.Parse(time.DateOnly, d); err != nil {
				return "Invalid " + k + ".date"
			}
			kinds[k] = "date"
		case dt != "" && d == "":
			if _, err := time.Parse(time.RFC3339, dt); err != nil {
				return "Invalid " + k + ".dateTime"
			}
			if tz, _ := t["timeZone"].(string); tz != "" {
				if _, err := time.LoadLocation(tz); err != nil {
					return "Invalid " + k + ".timeZone"
				}
			} else if rec, _ := ev["recurrence"].([]any); len(rec) > 0 {
				return "Missing time zone definition for start time."
			}
			kinds[k] = "dateTime"
		default:
			return "Exactly one of " + k + ".date and " + k + ".dateTime is required"
		}
	}
	if kinds["start"] != kinds["end"] {
		return "Start and end must both be dates or both date-times"
	}
	return ""
}

func readBody(w http.ResponseWriter, r *http.Request) (map[string]any, bool) {
	var m map[string]any
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	if err := dec.Decode(&m); err != nil || m == nil {
		apiErr(w, http.StatusBadRequest, "parseError", "Parse Error")
		return nil, false
	}
	return m, true
}

func (s *Server) insert(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calLocked(w, r)
	if c == nil {
		return
	}
	if msg := checkTimes(body); msg != "" {
		apiErr(w, http.StatusBadRequest, "invalid", msg)
		return
	}
	id, _ := body["id"].(string)
	if id == "" {
		id = s.newID("ev")
	} else if len(id) < 5 || len(id) > 1024 || !idRE.MatchString(id) {
		apiErr(w, http.StatusBadRequest, "invalid", "Invalid resource id value.")
		return
	}
	if c.events[id] != nil {
		apiErr(w, http.StatusConflict, "duplicate", "The requested identifier already exists.")
		return
	}
	if uid, _ := body["iCalUID"].(string); uid != "" {
		for _, e := range c.events {
			if e.data["iCalUID"] == uid && e.data["recurringEventId"] == nil && e.data["status"] != "cancelled" {
				apiErr(w, http.StatusConflict, "duplicate", "The requested identifier already exists.")
				return
			}
		}
	} else {
		body["iCalUID"] = id + "@google.com"
	}
	body["id"] = id
	if _, ok := body["status"]; !ok {
		body["status"] = "confirmed"
	}
	s.storeLocked(c, id, body)
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) write(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calLocked(w, r)
	if c == nil {
		return
	}
	id := r.PathValue("id")
	e := c.events[id]
	if e == nil {
		e = s.instanceLocked(c, id)
	}
	if e == nil {
		apiErr(w, http.StatusNotFound, "notFound", "Not Found")
		return
	}
	if im := r.Header.Get("If-Match"); im != "" && im != e.data["etag"] {
		apiErr(w, http.StatusPreconditionFailed, "conditionNotMet", "Precondition Failed")
		return
	}
	var next map[string]any
	if r.Method == http.MethodPatch {
		next = clone(e.data)
		mergePatch(next, body)
	} else {
		next = body
	}
	for _, k := range []string{"id", "iCalUID", "recurringEventId", "originalStartTime"} {
		if v, ok := e.data[k]; ok {
			next[k] = v
		} else {
			delete(next, k)
		}
	}
	if msg := checkTimes(next); msg != "" {
		apiErr(w, http.StatusBadRequest, "invalid", msg)
		return
	}
	s.storeLocked(c, id, next)
	writeJSON(w, http.StatusOK, next)
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calLocked(w, r)
	if c == nil {
		return
	}
	id := r.PathValue("id")
	e := c.events[id]
	if e == nil {
		if e = s.instanceLocked(c, id); e != nil {
			c.events[id] = e
		}
	}
	if e == nil {
		apiErr(w, http.StatusNotFound, "notFound", "Not Found")
		return
	}
	if e.data["status"] == "cancelled" {
		apiErr(w, http.StatusGone, "deleted", "Resource has been deleted")
		return
	}
	if im := r.Header.Get("If-Match"); im != "" && im != e.data["etag"] {
		apiErr(w, http.StatusPreconditionFailed, "conditionNotMet", "Precondition Failed")
		return
	}
	s.cancelLocked(c, id)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) watch(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calLocked(w, r)
	if c == nil {
		return
	}
	id, _ := body["id"].(string)
	addr, _ := body["address"].(string)
	token, _ := body["token"].(string)
	if id == "" || body["type"] != "web_hook" || addr == "" {
		apiErr(w, http.StatusBadRequest, "required", "id, type web_hook and address are required")
		return
	}
	if u, err := url.Parse(addr); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		apiErr(w, http.StatusBadRequest, "invalid", "Invalid address")
		return
	}
	if _, dup := s.channels[id]; dup {
		apiErr(w, http.StatusBadRequest, "channelIdNotUnique", "Channel id not unique")
		return
	}
	exp := time.Now().Add(MaxChannelTTL)
	if v, _ := body["expiration"].(string); v != "" {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			apiErr(w, http.StatusBadRequest, "invalid", "Invalid expiration")
			return
		}
		if t := time.UnixMilli(ms); t.Before(exp) {
			exp = t
		}
	}
	sum := sha256.Sum256([]byte(c.id))
	ch := &Channel{ID: id, ResourceID: "res-" + hex.EncodeToString(sum[:8]), Token: token, Address: addr, Calendar: c.id, Expires: exp}
	s.channels[id] = ch
	writeJSON(w, http.StatusOK, map[string]any{"kind": "api#channel", "id": id, "resourceId": ch.ResourceID,
		"resourceUri": s.Endpoint() + "calendars/" + url.PathEscape(c.id) + "/events?alt=json", "token": token,
		"expiration": strconv.FormatInt(exp.UnixMilli(), 10)})
}

func (s *Server) stop(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id, _ := body["id"].(string)
	res, _ := body["resourceId"].(string)
	ch := s.channels[id]
	if ch == nil || ch.ResourceID != res {
		apiErr(w, http.StatusNotFound, "notFound", "Channel not found")
		return
	}
	delete(s.channels, id)
	w.WriteHeader(http.StatusNoContent)
}

var instanceRE = regexp.MustCompile(`^(.+)_(\d{8})(T\d{6}Z)?$`)

// instanceLocked returns the unmodified instance id of a series
// ("<master>_20260613T090000Z", or "<master>_20260613" for all-day), as
// Google lets clients patch or delete an instance it has not stored yet;
// nil when id is not such an id. It does not check that the rule produces
// that instance.
func (s *Server) instanceLocked(c *fakeCal, id string) *stored {
	m := instanceRE.FindStringSubmatch(id)
	if m == nil {
		return nil
	}
	master := c.events[m[1]]
	if master == nil || master.data["status"] == "cancelled" {
		return nil
	}
	if rec, _ := master.data["recurrence"].([]any); len(rec) == 0 {
		return nil
	}
	inst := clone(master.data)
	delete(inst, "recurrence")
	inst["id"] = id
	inst["recurringEventId"] = m[1]
	start, _ := inst["start"].(map[string]any)
	end, _ := inst["end"].(map[string]any)
	if m[3] == "" {
		d, err := time.Parse("20060102", m[2])
		if err != nil || start["date"] == nil {
			return nil
		}
		sd, _ := time.Parse(time.DateOnly, start["date"].(string))
		ed, _ := time.Parse(time.DateOnly, end["date"].(string))
		inst["originalStartTime"] = map[string]any{"date": d.Format(time.DateOnly)}
		inst["start"] = map[string]any{"date": d.Format(time.DateOnly)}
		inst["end"] = map[string]any{"date": d.Add(ed.Sub(sd)).Format(time.DateOnly)}
	} else {
		t, err := time.Parse("20060102T150405Z", m[2]+m[3])
		if err != nil || start["dateTime"] == nil {
			return nil
		}
		st, _ := time.Parse(time.RFC3339, start["dateTime"].(string))
		et, _ := time.Parse(time.RFC3339, end["dateTime"].(string))
		tz, _ := start["timeZone"].(string)
		ost := map[string]any{"dateTime": t.Format(time.RFC3339), "timeZone": tz}
		inst["originalStartTime"] = ost
		inst["start"] = clone(ost)
		inst["end"] = map[string]any{"dateTime": t.Add(et.Sub(st)).Format(time.RFC3339), "timeZone": tz}
	}
	inst["etag"] = `"0"`
	return &stored{data: inst}
}

// storeLocked stores ev under id with a new sequence number and etag.
func (s *Server) storeLocked(c *fakeCal, id string, ev map[string]any) {
	c.seq++
	ev["kind"] = "calendar#event"
	ev["etag"] = fmt.Sprintf(`"%d%03d"`, time.Now().UnixMilli(), c.seq%1000)
	ev["updated"] = time.Now().UTC().Format(time.RFC3339Nano)
	c.events[id] = &stored{data: ev, seq: c.seq}
}

// cancelLocked deletes id (and, for a series, its exceptions).
func (s *Server) cancelLocked(c *fakeCal, id string) {
	ev := c.events[id].data
	ev["status"] = "cancelled"
	s.storeLocked(c, id, ev)
	for oid, e := range c.events {
		if e.data["recurringEventId"] == id && e.data["status"] != "cancelled" {
			e.data["status"] = "cancelled"
			s.storeLocked(c, oid, e.data)
		}
	}
}

// mergePatch applies a JSON merge patch (RFC 7396): objects merge, null
// removes, anything else replaces.
func mergePatch(dst, patch map[string]any) {
	for k, v := range patch {
		switch pv := v.(type) {
		case nil:
			delete(dst, k)
		case map[string]any:
			d, ok := dst[k].(map[string]any)
			if !ok {
				d = map[string]any{}
			}
			mergePatch(d, pv)
			dst[k] = d
		default:
			dst[k] = v
		}
	}
}

func clone(m map[string]any) map[string]any {
	b, _ := json.Marshal(m)
	var out map[string]any
	_ = json.NewDecoder(bytes.NewReader(b)).Decode(&out)
	return out
}
