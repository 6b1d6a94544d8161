package main

import (
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/wedsync/integrations/calendar"
	"github.com/wedsync/integrations/notify"
	"github.com/wedsync/integrations/realtime"
	"github.com/wedsync/integrations/webhook/delivery"
)

// maxBodyBytes caps API request bodies: room for a 256 KiB payload (the
// manager's default cap) and its envelope.
const maxBodyBytes = 1 << 20

//go:embed static
var static embed.FS

// api is the host's own surface: a JSON API over the Manager, the hub and
// the other packages, behind a bearer token; the realtime hub itself; and
// the supplier's page, whose views load their state from the API and then
// follow the hub.
type api struct {
	m    *delivery.Manager
	hub  *realtime.Hub
	kpis *kpiBook
	// dashAuth checks dashboard tokens (GET /api/kpis), as the hub does.
	dashAuth realtime.Authenticator
	sockets  *sockets
	vendor   *vendor
	ns       *notifySide
	cal      *calendarSide
	wedme    *wedmeSide
	out      *console
	token    string
	// coupleToken guards the couple's WedMe API.
	coupleToken string
}

func (a *api) routes() http.Handler {
	mux := http.NewServeMux()
	files, _ := fs.Sub(static, "static")
	page := http.FileServerFS(files)
	mux.Handle("GET /{$}", securePage(page))
	mux.Handle("GET /static/", securePage(http.StripPrefix("/static/", page)))
	// The hub checks its own tokens (apikey query parameter), not the
	// admin token.
	mux.Handle("GET "+hubPath, a.sockets.wrap(a.hub))
	// The admin token, or a supplier's dashboard token for its own KPIs.
	mux.Handle("GET /api/kpis", a.handle(a.getKPIs))

	apiMux := http.NewServeMux()
	apiMux.Handle("POST /api/endpoints", a.handle(a.createEndpoint))
	apiMux.Handle("GET /api/endpoints", a.handle(a.listEndpoints))
	apiMux.Handle("GET /api/endpoints/{id}", a.handle(a.getEndpoint))
	apiMux.Handle("POST /api/endpoints/{id}/pause", a.handle(a.pause))
	apiMux.Handle("POST /api/endpoints/{id}/resume", a.handle(a.resume))
	apiMux.Handle("POST /api/endpoints/{id}/rotate-secret", a.handle(a.rotateSecret))
	apiMux.Handle("POST /api/endpoints/{id}/recover", a.handle(a.recoverEndpoint))
	apiMux.Handle("GET /api/endpoints/{id}/stats", a.handle(a.stats))
	apiMux.Handle("POST /api/endpoints/{id}/test", a.handle(a.testWebhook))
	apiMux.Handle("POST /api/messages", a.handle(a.sendMessage))
	apiMux.Handle("GET /api/attempts", a.handle(a.listAttempts))
	apiMux.Handle("POST /api/events", a.handle(a.publishEvent))
	apiMux.Handle("POST /api/realtime/drop", a.handle(a.dropSockets))
	apiMux.Handle("POST /api/realtime/restore", a.handle(a.restoreSockets))
	apiMux.Handle("GET /api/vendor", a.handle(a.vendorView))
	apiMux.Handle("POST /api/vendor/hooks/{name}/fail", a.handle(a.vendorFail))
	a.notifyRoutes(apiMux)
	a.calendarRoutes(apiMux)
	a.wedmeRoutes(mux, apiMux)
	apiMux.Handle("/api/", a.handle(func(w http.ResponseWriter, r *http.Request) error {
		return &apiError{status: http.StatusNotFound, msg: "no such API route: " + r.Method + " " + r.URL.Path}
	}))
	mux.Handle("/api/", a.auth(apiMux))
	return mux
}

var hostRe = regexp.MustCompile(`^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?$`)

// securePage adds headers that keep the page's own script the only one.
// The page may open a WebSocket to its own host and nowhere else (older
// browsers do not count ws: as 'self').
func securePage(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		csp := "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
		if hostRe.MatchString(r.Host) {
			csp += "; connect-src 'self' ws://" + r.Host + " wss://" + r.Host
		}
		w.Header().Set("Content-Security-Policy", csp)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		h.ServeHTTP(w, r)
	})
}

// auth lets through requests that carry the admin token.
func (a *api) auth(next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(a.token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !sameToken(strings.TrimSpace(got), want) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="wedsync-admin"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{
				"error": "authorization: a valid bearer token is required (Authorization: Bearer <" + envAdminToken + ">)"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// sameToken reports whether got is the token whose SHA-256 is want,
// comparing the hashes in constant time (equal lengths, so the time tells
// nothing about the token).
func sameToken(got string, want [sha256.Size]byte) bool {
	sum := sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(sum[:], want[:]) == 1
}

// apiError is an error with its HTTP status and, for bad input, the field.
type apiError struct {
	status int
	field  string
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(field, format string, args ...any) error {
	return &apiError{status: http.StatusBadRequest, field: field, msg: field + ": " + fmt.Sprintf(format, args...)}
}

// handle adapts a handler that returns an error and writes the error as
// {"error": "...", "field": "..."} with a status that fits it.
func (a *api) handle(fn func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := fn(w, r)
		if err == nil {
			return
		}
		body := map[string]any{}
		var ae *apiError
		var ve *delivery.ValidationError
		var ce *calendar.ConflictError
		status := http.StatusInternalServerError
		switch {
		case errors.As(err, &ae):
			status, body["error"] = ae.status, ae.msg
			if ae.field != "" {
				body["field"] = ae.field
			}
		case errors.As(err, &ve):
			// Some rules repeat their field ("url: url: ..."): say it once.
			rule := strings.TrimPrefix(ve.Rule, ve.Field+": ")
			status, body["error"], body["field"] = http.StatusBadRequest, ve.Field+": "+rule, ve.Field
		case errors.Is(err, delivery.ErrInvalid):
			status, body["error"] = http.StatusBadRequest, err.Error()
		case errors.Is(err, delivery.ErrPayloadTooLarge):
			status, body["error"], body["field"] = http.StatusRequestEntityTooLarge, strings.TrimPrefix(err.Error(), "webhook: "), "payload"
		case errors.As(err, &ce):
			// The calendar refused an overlap: say with what.
			status, body["error"], body["conflicts"] = http.StatusConflict, strings.TrimPrefix(ce.Error(), "calendar: "), toConflictsJSON(ce.Conflicts)
		case errors.Is(err, delivery.ErrNotFound), errors.Is(err, notify.ErrNotFound):
			status, body["error"] = http.StatusNotFound, "not found: "+r.PathValue("id")
		case errors.Is(err, calendar.ErrNotFound):
			status, body["error"] = http.StatusNotFound, strings.TrimPrefix(err.Error(), "calendar: ")
		default:
			// The details are for the operator's console, not the caller.
			body["error"] = "internal error"
			a.out.printf("API        %s %s failed: %v", r.Method, r.URL.Path, err)
		}
		writeJSON(w, status, body)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// decode reads one JSON object into dst. With optional, an empty body is
// fine and leaves dst as it is.
func decode(w http.ResponseWriter, r *http.Request, dst any, optional bool) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
		big *http.MaxBytesError
	)
	switch {
	case err == nil:
	case errors.Is(err, io.EOF):
		if optional {
			return nil
		}
		return badRequest("body", "is required: a JSON object")
	case errors.As(err, &big):
		return &apiError{status: http.StatusRequestEntityTooLarge, field: "body", msg: fmt.Sprintf("body: must be at most %d bytes", big.Limit)}
	case errors.As(err, &syn):
		return badRequest("body", "is not valid JSON (at byte %d: %v)", syn.Offset, err)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return badRequest("body", "must be a JSON object")
		}
		return badRequest(typ.Field, "must be %s, not a JSON %s", jsonKind(typ.Type.Kind().String()), typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return badRequest(f, "is not a known field")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("body", "is truncated JSON")
	default:
		return badRequest("body", "%v", err)
	}
	if dec.More() {
		return badRequest("body", "must hold a single JSON object")
	}
	return nil
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "float64", "float32", "int", "int64":
		return "a number"
	case "slice":
		return "an array"
	case "bool":
		return "true or false"
	case "struct", "map":
		return "an object"
	}
	return "a " + goKind
}

// Wire formats. The webhook package's types carry no JSON tags, on purpose:
// the host chooses its API's shape.

type endpointJSON struct {
	ID string `json:"id"`
	// Name is what the page calls it (see api.endpointName).
	Name           string    `json:"name"`
	SupplierID     string    `json:"supplier_id"`
	URL            string    `json:"url"`
	Description    string    `json:"description"`
	EventTypes     []string  `json:"event_types"`
	Status         string    `json:"status"`
	DisabledReason string    `json:"disabled_reason,omitempty"`
	RateLimit      float64   `json:"rate_limit"`
	FailingSince   time.Time `json:"failing_since,omitzero"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

func (a *api) toEndpointJSON(ep *delivery.Endpoint) endpointJSON {
	ev := ep.EventTypes
	if ev == nil {
		ev = []string{}
	}
	return endpointJSON{ID: ep.ID, Name: a.endpointName(ep), SupplierID: ep.SupplierID, URL: ep.URL, Description: ep.Description, EventTypes: ev,
		Status: string(ep.Status), DisabledReason: ep.DisabledReason, RateLimit: ep.RateLimit, FailingSince: ep.FailingSince,
		CreatedAt: ep.CreatedAt, UpdatedAt: ep.UpdatedAt}
}

type attemptJSON struct {
	ID             int64     `json:"id"`
	MessageID      string    `json:"message_id"`
	EndpointID     string    `json:"endpoint_id"`
	EndpointName   string    `json:"endpoint_name"`
	SupplierID     string    `json:"supplier_id"`
	EventType      string    `json:"event_type"`
	Number         int       `json:"number"`
	Status         string    `json:"status"`
	ResponseStatus int       `json:"response_status"`
	LatencyMS      float64   `json:"latency_ms"`
	ResponseBody   string    `json:"response_body"`
	Error          string    `json:"error,omitempty"`
	At             time.Time `json:"at"`
	NextAttemptAt  time.Time `json:"next_attempt_at,omitzero"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// POST /api/endpoints
func (a *api) createEndpoint(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		SupplierID  string   `json:"supplier_id"`
		URL         string   `json:"url"`
		EventTypes  []string `json:"event_types"`
		Description string   `json:"description"`
		RateLimit   float64  `json:"rate_limit"`
	}
	if err := decode(w, r, &in, false); err != nil {
		return err
	}
	ep, err := a.m.CreateEndpoint(r.Context(), delivery.EndpointInput{
		SupplierID: in.SupplierID, URL: in.URL, EventTypes: in.EventTypes, Description: in.Description, RateLimit: in.RateLimit,
	})
	if err != nil {
		return err
	}
	secret, err := a.m.EndpointSecret(r.Context(), ep.ID)
	if err != nil {
		return err
	}
	a.vendorLearns(ep, secret)
	writeJSON(w, http.StatusCreated, struct {
		endpointJSON
		Secret string `json:"secret"`
	}{a.toEndpointJSON(ep), secret})
	return nil
}

// vendorLearns hands a secret to the in-process vendor when the endpoint
// is one of its hooks, so that endpoints made through the API to
// {vendor}/hooks/{name} are verified like the demo's.
func (a *api) vendorLearns(ep *delivery.Endpoint, secret string) {
	name, ok := a.vendor.hookName(ep.URL)
	if !ok {
		return
	}
	if err := a.vendor.configure(name, secret, nil, ""); err != nil {
		a.out.printf("vendor: cannot use the secret of %s: %v", ep.ID, err)
		return
	}
	a.out.name(ep.ID, name)
	a.out.printf("VENDOR     %s now verifies webhooks of endpoint %s with its current secret", name, ep.ID)
}

// GET /api/endpoints?supplier_id=
func (a *api) listEndpoints(w http.ResponseWriter, r *http.Request) error {
	supplier := r.URL.Query().Get("supplier_id")
	if supplier == "" {
		return badRequest("supplier_id", "is required (query parameter)")
	}
	eps, err := a.m.ListEndpoints(r.Context(), supplier)
	if err != nil {
		return err
	}
	out := make([]endpointJSON, len(eps))
	for i, ep := range eps {
		out[i] = a.toEndpointJSON(ep)
	}
	writeJSON(w, http.StatusOK, map[string]any{"endpoints": out})
	return nil
}

// GET /api/endpoints/{id}
func (a *api) getEndpoint(w http.ResponseWriter, r *http.Request) error {
	ep, err := a.m.GetEndpoint(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a.toEndpointJSON(ep))
	return nil
}

// POST /api/endpoints/{id}/pause
func (a *api) pause(w http.ResponseWriter, r *http.Request) error {
	ep, err := a.m.PauseEndpoint(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	a.out.printf("API        paused %s: its deliveries wait until it is resumed", a.out.endpointName(ep.ID))
	writeJSON(w, http.StatusOK, a.toEndpointJSON(ep))
	return nil
}

// POST /api/endpoints/{id}/resume
func (a *api) resume(w http.ResponseWriter, r *http.Request) error {
	ep, err := a.m.ResumeEndpoint(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	a.out.printf("API        resumed %s", a.out.endpointName(ep.ID))
	writeJSON(w, http.StatusOK, a.toEndpointJSON(ep))
	return nil
}

// POST /api/endpoints/{id}/rotate-secret
func (a *api) rotateSecret(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	secret, err := a.m.RotateSecret(r.Context(), id)
	if err != nil {
		return err
	}
	a.out.printf("API        rotated the secret of %s: the old one keeps signing alongside for 24 hours", a.out.endpointName(id))
	if ep, err := a.m.GetEndpoint(r.Context(), id); err == nil {
		a.vendorLearns(ep, secret)
	}
	writeJSON(w, http.StatusOK, map[string]string{"endpoint_id": id, "secret": secret})
	return nil
}

// POST /api/endpoints/{id}/recover  {"since": RFC 3339 time}, optional
func (a *api) recoverEndpoint(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Since time.Time `json:"since"`
	}
	if err := decode(w, r, &in, true); err != nil {
		return err
	}
	n, err := a.m.Recover(r.Context(), r.PathValue("id"), in.Since)
	if err != nil {
		return err
	}
	a.out.printf("API        recover %s: %d failed messages queued again", a.out.endpointName(r.PathValue("id")), n)
	writeJSON(w, http.StatusOK, map[string]int{"queued": n})
	return nil
}

// GET /api/endpoints/{id}/stats?since=RFC3339 (default: the last 24 hours)
func (a *api) stats(w http.ResponseWriter, r *http.Request) error {
	since := time.Now().Add(-24 * time.Hour)
	if s := r.URL.Query().Get("since"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return badRequest("since", "must be an RFC 3339 time such as 2026-01-02T15:04:05Z")
		}
		since = t
	}
	st, err := a.m.Stats(r.Context(), r.PathValue("id"), since)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"since": since.UTC(), "attempts": st.Attempts, "succeeded": st.Succeeded, "failed": st.Failed,
		"success_rate": st.SuccessRate, "latency_p50_ms": ms(st.LatencyP50), "latency_p90_ms": ms(st.LatencyP90),
		"latency_p99_ms": ms(st.LatencyP99),
	})
	return nil
}

// POST /api/messages
func (a *api) sendMessage(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		SupplierID     string          `json:"supplier_id"`
		EventType      string          `json:"event_type"`
		Payload        json.RawMessage `json:"payload"`
		IdempotencyKey string          `json:"idempotency_key"`
	}
	if err := decode(w, r, &in, false); err != nil {
		return err
	}
	id, err := a.m.Send(r.Context(), delivery.Message{
		SupplierID: in.SupplierID, EventType: in.EventType, Payload: in.Payload, IdempotencyKey: in.IdempotencyKey,
	})
	if err != nil {
		return err
	}
	a.out.printf("SENT       %-17s %s (through the API)", in.EventType, id)
	writeJSON(w, http.StatusAccepted, map[string]string{"id": id})
	return nil
}

// GET /api/attempts?message_id=&endpoint_id=&supplier_id=&status=&limit=&before_id=
func (a *api) listAttempts(w http.ResponseWriter, r *http.Request) error {
	qs := r.URL.Query()
	q := delivery.AttemptQuery{
		MessageID: qs.Get("message_id"), EndpointID: qs.Get("endpoint_id"), SupplierID: qs.Get("supplier_id"),
		Status: delivery.AttemptStatus(qs.Get("status")),
	}
	if s := qs.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return badRequest("limit", "must be a whole number (1 to 1000)")
		}
		q.Limit = n
	}
	if s := qs.Get("before_id"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			return badRequest("before_id", "must be a positive attempt id")
		}
		q.BeforeID = n
	}
	atts, err := a.m.ListAttempts(r.Context(), q)
	if err != nil {
		return err
	}
	out := make([]attemptJSON, len(atts))
	names := map[string]string{} // endpoint id -> name
	for i, at := range atts {
		name, ok := names[at.EndpointID]
		if !ok {
			ep, err := a.m.GetEndpoint(r.Context(), at.EndpointID)
			switch {
			case err == nil:
				name = a.endpointName(ep)
			case errors.Is(err, delivery.ErrNotFound):
				name = a.out.endpointName(at.EndpointID) // deleted: the console may know it
			default:
				return err
			}
			names[at.EndpointID] = name
		}
		out[i] = attemptJSON{ID: at.ID, MessageID: at.MessageID, EndpointID: at.EndpointID, EndpointName: name, SupplierID: at.SupplierID,
			EventType: at.EventType, Number: at.Number, Status: string(at.Status), ResponseStatus: at.ResponseStatus,
			LatencyMS: ms(at.Latency), ResponseBody: at.ResponseBody, Error: at.Error, At: at.At, NextAttemptAt: at.NextAttemptAt}
	}
	writeJSON(w, http.StatusOK, map[string]any{"attempts": out})
	return nil
}
