package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/wedsync/integrations/realtime"
)

// The dashboard's KPIs as state, not only as a stream. A dashboard opened
// after the KPIs were broadcast must show them at once: replay fills the
// gaps of a dashboard that was connected, it is not a state API. So the
// host keeps each supplier's latest KPIs, as a real supplier platform keeps
// them in its tables, and GET /api/kpis returns them with the position in
// the supplier's broadcast stream they are as of; the page loads them when
// it joins and applies only the live kpi.updated broadcasts after that
// position.

// eventKPIUpdated is the broadcast whose payload is a supplier's KPIs, one
// key per tile; keys it leaves out keep their value.
const eventKPIUpdated = "kpi.updated"

// kpiValue is one KPI and the broadcast that set it.
type kpiValue struct {
	value  json.RawMessage
	epoch  string
	offset uint64
	at     time.Time
}

// kpiBook is the host's record of each supplier's latest KPIs.
type kpiBook struct {
	// broker's history holds kpi.updated broadcasts this process did not
	// make (another instance's, or in Postgres mode an earlier run's).
	broker realtime.Broker

	mu    sync.Mutex
	books map[string]map[string]kpiValue // supplier -> KPI -> value
}

func newKPIBook(broker realtime.Broker) *kpiBook {
	return &kpiBook{broker: broker, books: map[string]map[string]kpiValue{}}
}

// record keeps the KPIs of a kpi.updated broadcast to supplier's topic;
// other broadcasts it ignores.
func (k *kpiBook) record(supplier string, pub realtime.Publication) {
	if pub.Event != eventKPIUpdated {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	book := k.books[supplier]
	if book == nil {
		book = map[string]kpiValue{}
		k.books[supplier] = book
	}
	apply(book, pub)
}

// apply merges the KPIs of pub into book, unless book holds a newer value
// of a KPI (a later offset of the same epoch, or a later time).
func apply(book map[string]kpiValue, pub realtime.Publication) {
	var kpis map[string]json.RawMessage
	if json.Unmarshal(pub.Payload, &kpis) != nil {
		return // not an object: POST /api/events refuses those
	}
	for key, v := range kpis {
		cur, ok := book[key]
		switch {
		case !ok:
		case cur.epoch == pub.Epoch && cur.offset >= pub.Offset:
			continue
		case cur.epoch != pub.Epoch && cur.at.After(pub.Time):
			continue
		}
		book[key] = kpiValue{value: v, epoch: pub.Epoch, offset: pub.Offset, at: pub.Time}
	}
}

// kpiSnapshot is GET /api/kpis's answer.
type kpiSnapshot struct {
	SupplierID string                     `json:"supplier_id"`
	KPIs       map[string]json.RawMessage `json:"kpis"`
	// UpdatedAt is when the newest of them was broadcast; zero with none.
	UpdatedAt time.Time `json:"updated_at,omitzero"`
	// AsOf is the position in the supplier's broadcast stream that the
	// snapshot includes: a kpi.updated at or before it (same epoch) is in
	// it; the dashboard applies the live ones after it.
	AsOf streamPosition `json:"as_of"`
}

type streamPosition struct {
	Epoch  string `json:"epoch"`
	Offset uint64 `json:"offset"`
}

// snapshot is supplier's latest KPIs: this process's record, with the
// kpi.updated broadcasts of the topic's history that it lacks merged in.
func (k *kpiBook) snapshot(ctx context.Context, supplier string) (kpiSnapshot, error) {
	topic := realtime.SupplierTopic(supplier)
	k.mu.Lock()
	book := maps.Clone(k.books[supplier])
	k.mu.Unlock()
	if book == nil {
		book = map[string]kpiValue{}
	}
	// The topic's epoch and newest offset, and its whole history when the
	// broker still holds it from the start.
	hist, err := k.broker.History(ctx, topic, realtime.HistoryQuery{})
	if err != nil {
		return kpiSnapshot{}, err
	}
	var have uint64 // the newest offset of this epoch in the record
	for _, v := range book {
		if v.epoch == hist.Epoch {
			have = max(have, v.offset)
		}
	}
	if !hist.Complete && hist.Epoch != "" {
		// What came after the record's newest, if the history reaches back.
		if hist, err = k.broker.History(ctx, topic, realtime.HistoryQuery{Epoch: hist.Epoch, After: have}); err != nil {
			return kpiSnapshot{}, err
		}
	}
	for _, pub := range hist.Publications {
		if pub.Event == eventKPIUpdated {
			apply(book, pub)
		}
	}
	out := kpiSnapshot{SupplierID: supplier, KPIs: map[string]json.RawMessage{}, AsOf: streamPosition{Epoch: hist.Epoch}}
	if hist.Complete {
		out.AsOf.Offset = hist.Latest
	} else {
		// Only as far as the record goes: a live update after it must not
		// be taken for one the snapshot holds.
		out.AsOf.Offset = have
	}
	for key, v := range book {
		out.KPIs[key] = v.value
		if v.at.After(out.UpdatedAt) {
			out.UpdatedAt = v.at
		}
		// A broadcast recorded after the history was read is in the
		// snapshot too.
		if v.epoch == out.AsOf.Epoch && v.offset > out.AsOf.Offset {
			out.AsOf.Offset = v.offset
		}
	}
	return out, nil
}

// GET /api/kpis?supplier_id=
//
// It takes the admin token (any supplier; supplier_id defaults to the
// sample supplier) or a supplier's dashboard token (that supplier only), so
// that a dashboard opened with its token alone shows its KPIs.
func (a *api) getKPIs(w http.ResponseWriter, r *http.Request) error {
	supplier := r.URL.Query().Get("supplier_id")
	if supplier != "" && !eventSupplierRe.MatchString(supplier) {
		return badRequest("supplier_id", "must be 1 to 128 characters of letters, digits and _.@-")
	}
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	tok = strings.TrimSpace(tok)
	switch {
	case tok != "" && sameToken(tok, sha256.Sum256([]byte(a.token))):
		if supplier == "" {
			supplier = demoSupplier
		}
	default:
		p, err := a.dashAuth.Authenticate(r.Context(), tok)
		if err != nil || p.SupplierID == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="wedsync-dashboard"`)
			return &apiError{status: http.StatusUnauthorized,
				msg: "authorization: the admin token or a supplier's dashboard token is required (Authorization: Bearer <token>)"}
		}
		if supplier != "" && supplier != p.SupplierID {
			return &apiError{status: http.StatusForbidden, field: "supplier_id",
				msg: "supplier_id: a dashboard token reads its own supplier's KPIs only (" + p.SupplierID + ")"}
		}
		supplier = p.SupplierID
	}
	snap, err := a.kpis.snapshot(r.Context(), supplier)
	if errors.Is(err, realtime.ErrBrokerClosed) {
		return &apiError{status: http.StatusServiceUnavailable, msg: "the realtime hub is shutting down"}
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, snap)
	return nil
}
