package main

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/wedsync/integrations/internal/validate"
	"github.com/wedsync/integrations/wedmesync"
)

// The WedMe API: the couple's page (/wedme) reads what the couple's side
// holds and edits it, with the couple's token; the supplier dashboard's
// "Couple details (from WedMe)" panel reads what the supplier platform
// holds for one supplier, with the admin token.

// wedmeRoutes adds the couple's page and its API to mux (the couple's
// token), and the supplier side's API to apiMux (behind the admin token).
func (a *api) wedmeRoutes(mux, apiMux *http.ServeMux) {
	files, _ := fs.Sub(static, "static")
	mux.Handle("GET /wedme", securePage(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, files, "wedme.html")
	})))
	mux.Handle("GET /api/wedme/couple", a.coupleAuth(a.handle(a.wedmeCouple)))
	mux.Handle("POST /api/wedme/edit", a.coupleAuth(a.handle(a.wedmeEdit)))
	apiMux.Handle("GET /api/wedme/records", a.handle(a.wedmeRecords))
}

// coupleAuth lets through requests that carry the couple's token: the
// couple's page may read and edit the couple's records, nothing else.
func (a *api) coupleAuth(next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(a.coupleToken))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !sameToken(strings.TrimSpace(got), want) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="wedme-couple"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{
				"error": "authorization: the couple's bearer token is required (Authorization: Bearer <" + envCoupleToken + ">)"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// recordJSON is one record as a side holds it: field values, and each
// field's write time as the HLC's wall clock.
type recordJSON struct {
	Type    wedmesync.RecordType       `json:"type"`
	ID      string                     `json:"id"`
	Fields  map[string]json.RawMessage `json:"fields"`
	Written map[string]int64           `json:"written_ms"`
}

func toRecordJSON(r wedmesync.Record) recordJSON {
	out := recordJSON{Type: r.Type, ID: r.ID, Fields: map[string]json.RawMessage{}, Written: map[string]int64{}}
	for name, fv := range r.Fields {
		out.Fields[name] = fv.Value
		out.Written[name] = fv.At.Wall
	}
	return out
}

// typeJSON is a record type of the page and its fields.
type typeJSON struct {
	Type   wedmesync.RecordType `json:"type"`
	Title  string               `json:"title"`
	Fields []string             `json:"fields"`
}

func pageTypes() []typeJSON {
	out := make([]typeJSON, len(wedmeTypes))
	for i, t := range wedmeTypes {
		out[i] = typeJSON{Type: t.Type, Title: t.Title, Fields: t.Fields}
	}
	return out
}

// linkJSON is a supplier linked to the couple and what it sees.
type linkJSON struct {
	Supplier string                 `json:"supplier"`
	Kind     string                 `json:"kind"`
	Sees     []wedmesync.RecordType `json:"sees"`
}

// coupleRecords returns the records side holds of the demo couple (for
// supplier on the supplier side), live ones only.
func coupleRecords(r *http.Request, n *wedmesync.Node, supplier string) ([]recordJSON, error) {
	all, err := n.Records(r.Context())
	if err != nil {
		return nil, err
	}
	out := []recordJSON{}
	for _, rec := range all {
		if rec.Couple == demoCouple && rec.Supplier == supplier && !rec.IsDeleted() {
			out = append(out, toRecordJSON(rec))
		}
	}
	return out, nil
}

// GET /api/wedme/couple: what the couple's side (WedMe) holds, and which
// supplier sees what.
func (a *api) wedmeCouple(w http.ResponseWriter, r *http.Request) error {
	recs, err := coupleRecords(r, a.wedme.wedme, "")
	if err != nil {
		return err
	}
	ls := make([]linkJSON, len(wedmeLinks))
	for i, l := range wedmeLinks {
		ls[i] = linkJSON{Supplier: l.Supplier, Kind: l.Kind, Sees: a.wedme.shares(l.Kind)}
	}
	writeJSON(w, http.StatusOK, map[string]any{"couple": demoCouple, "names": demoCoupleNames, "types": pageTypes(),
		"records": recs, "suppliers": ls})
	return nil
}

// POST /api/wedme/edit  {"type": "dietary_requirements", "fields": {"vegetarian": 4, ...}}
//
// It records the edit on the couple's side; the peers carry it to the
// supplier platform, to each linked supplier that may see it.
func (a *api) wedmeEdit(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Type   wedmesync.RecordType       `json:"type"`
		Fields map[string]json.RawMessage `json:"fields"`
	}
	if err := decode(w, r, &in, false); err != nil {
		return err
	}
	var names []string
	for _, t := range wedmeTypes {
		names = append(names, string(t.Type))
	}
	switch {
	case in.Type == "":
		return badRequest("type", "is required: one of %s", strings.Join(names, ", "))
	case !slices.Contains(names, string(in.Type)):
		return badRequest("type", "must be one of %s (the records this page edits), got %q", strings.Join(names, ", "), truncate(string(in.Type), 40))
	case len(in.Fields) == 0:
		return badRequest("fields", "is required: an object of field names and JSON values (null clears one)")
	}
	c, err := a.wedme.wedme.Record(r.Context(), wedmesync.Edit{Couple: demoCouple, Type: in.Type, Record: wedmeRecord, Set: in.Fields})
	if err != nil {
		return wedmeInvalid(err)
	}
	rec, err := a.wedme.wedme.Get(r.Context(), "", demoCouple, in.Type, wedmeRecord)
	if err != nil {
		return err
	}
	fields := make([]string, 0, len(c.Fields))
	for name := range c.Fields {
		fields = append(fields, name)
	}
	slices.Sort(fields)
	a.out.printf("wedme: couple %s edited %s on the WedMe side: %s (through the couple's page)", demoCouple, in.Type, strings.Join(fields, ", "))
	writeJSON(w, http.StatusOK, map[string]any{"change": c.ID, "record": toRecordJSON(rec)})
	return nil
}

var changeFieldRe = regexp.MustCompile(`^Change\.Fields\["([^"]*)"\]`)

// wedmeInvalid turns wedmesync's validation errors into a 400 that names
// the request's field ("fields.vegetarian" for Change.Fields["vegetarian"]),
// and lists every rule broken.
func wedmeInvalid(err error) error {
	var found []*validate.Error
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		var ve *validate.Error
		if errors.As(e, &ve) {
			found = append(found, ve)
		}
	}
	walk(err)
	if len(found) == 0 {
		return err
	}
	msgs := make([]string, len(found))
	var first string
	for i, ve := range found {
		field := ve.Field
		if m := changeFieldRe.FindStringSubmatch(field); m != nil {
			field = "fields." + m[1] + strings.TrimPrefix(field, m[0])
		}
		if i == 0 {
			first = field
		}
		msgs[i] = field + ": " + ve.Rule
	}
	return &apiError{status: http.StatusBadRequest, field: first, msg: strings.Join(msgs, "; ")}
}

// GET /api/wedme/records?supplier_id=  (default: the sample supplier): the
// couple's records as the supplier platform holds them for that supplier,
// which sees only what the couple shares with its kind.
func (a *api) wedmeRecords(w http.ResponseWriter, r *http.Request) error {
	supplier := r.URL.Query().Get("supplier_id")
	if supplier == "" {
		supplier = demoSupplier
	}
	kind, ok, err := links{}.Linked(r.Context(), supplier, demoCouple)
	if err != nil {
		return err
	}
	if !ok {
		var ids []string
		for _, l := range wedmeLinks {
			ids = append(ids, l.Supplier)
		}
		return badRequest("supplier_id", "is not linked to the demo couple %s (linked: %s), got %q", demoCouple, strings.Join(ids, ", "),
			truncate(supplier, 60))
	}
	recs, err := coupleRecords(r, a.wedme.supplier, supplier)
	if err != nil {
		return err
	}
	sees := a.wedme.shares(kind)
	var hidden []wedmesync.RecordType
	for _, t := range wedmeTypes {
		if !slices.Contains(sees, t.Type) {
			hidden = append(hidden, t.Type)
		}
	}
	if hidden == nil {
		hidden = []wedmesync.RecordType{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"supplier": supplier, "kind": kind, "couple": demoCouple, "names": demoCoupleNames,
		"types": pageTypes(), "records": recs, "sees": sees, "not_shared": hidden})
	return nil
}

// wedmeCurl is a curl line that edits the couple's dietary requirements.
func wedmeCurl(token, apiURL string) string {
	return fmt.Sprintf(`curl -s -H "Authorization: Bearer %s" -d '{"type":"dietary_requirements","fields":{"vegetarian":4}}' %s/api/wedme/edit`,
		token, apiURL)
}
