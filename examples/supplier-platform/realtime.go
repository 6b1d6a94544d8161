package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wedsync/integrations/realtime"
	"github.com/wedsync/integrations/realtime/pgbroker"
	"github.com/wedsync/integrations/realtime/realtimetest"
)

// hubPath is where the realtime hub listens, as on Supabase: realtime-js
// adds /websocket to the URL it is given.
const hubPath = "/realtime/v1/websocket"

// dashboardTokenTTL is how long the printed dashboard token lives.
const dashboardTokenTTL = 24 * time.Hour

// maxEventPayload caps the payload of POST /api/events, as the webhook
// manager caps a message's.
const maxEventPayload = 256 << 10

// minJWTSecret is the shortest HS256 secret the hub's authenticator takes.
const minJWTSecret = 32

// jwtSecret returns the secret of the dashboard tokens: s, or 32 random
// bytes (as 64 hex characters) when s is empty.
func jwtSecret(s string) (secret []byte, generated bool, err error) {
	s = strings.TrimSpace(s)
	if s == "" {
		b := make([]byte, 32)
		_, _ = rand.Read(b) // never fails (crypto/rand)
		return []byte(hex.EncodeToString(b)), true, nil
	}
	if len(s) < minJWTSecret {
		return nil, false, fmt.Errorf("%s must be at least %d bytes (it has %d), e.g. export %s=$(openssl rand -hex 32)",
			envJWTSecret, minJWTSecret, len(s), envJWTSecret)
	}
	return []byte(s), false, nil
}

// hubSide is the demo's realtime hub and what the demo reads besides it:
// the broker's history (the KPI snapshot folds it in) and the
// authenticator of the dashboard tokens (GET /api/kpis and the socket
// tracker take the same tokens as the hub).
type hubSide struct {
	hub    *realtime.Hub
	broker realtime.Broker
	auth   realtime.Authenticator
	// close shuts the hub down within its context (sockets that have not
	// closed by then are cut), then closes the broker.
	close func(context.Context) error
}

// newHub makes the realtime hub: HS256 dashboard tokens signed with
// secret, whose claim app_metadata.supplier_id names the one supplier whose
// topics ("supplier:<id>") they may join. With a pool (Postgres mode) the
// broadcasts go through Postgres, so that the dashboards of every instance
// see all of them and replay survives a restart; otherwise through a
// memory broker.
func newHub(ctx context.Context, pool *pgxpool.Pool, secret []byte, logger *slog.Logger) (*hubSide, error) {
	auth, err := realtime.NewJWTAuthenticator(realtime.WithHS256Secret(secret))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", envJWTSecret, err)
	}
	var broker realtime.Broker
	if pool != nil {
		if err := pgbroker.Migrate(ctx, pool); err != nil {
			return nil, fmt.Errorf("migrate the realtime broker: %w", err)
		}
		if broker, err = pgbroker.New(ctx, pool, pgbroker.WithLogger(logger)); err != nil {
			return nil, fmt.Errorf("realtime broker: %w", err)
		}
	} else if broker, err = realtime.NewMemoryBroker(); err != nil {
		return nil, err
	}
	// The page and the hub share an origin, so no WithOriginPatterns.
	hub, err := realtime.NewHub(realtime.WithAuthenticator(auth), realtime.WithLogger(logger), realtime.WithBroker(broker))
	if err != nil {
		return nil, errors.Join(err, broker.Close())
	}
	closeAll := func(ctx context.Context) error {
		return errors.Join(hub.Shutdown(ctx), broker.Close())
	}
	return &hubSide{hub: hub, broker: broker, auth: auth, close: closeAll}, nil
}

// dashboardToken signs a token for supplierID's dashboard, as Supabase Auth
// would sign a user's, with the hub's secret.
func dashboardToken(secret []byte, supplierID string, expires time.Time) (string, error) {
	return realtimetest.HS256Token(secret, supplierID, expires)
}

// broadcast sends event to supplierID's dashboards, keeps the KPIs of a
// kpi.updated in kpis, and prints it.
func broadcast(ctx context.Context, hub *realtime.Hub, kpis *kpiBook, out *console, supplierID, event string, payload json.RawMessage,
	via string) (realtime.Publication, error) {
	topic := realtime.SupplierTopic(supplierID)
	pub, err := hub.Broadcast(ctx, topic, event, payload)
	if err != nil {
		return pub, err
	}
	kpis.record(supplierID, pub)
	var b bytes.Buffer
	if json.Compact(&b, payload) != nil {
		b.Reset()
		b.Write(payload)
	}
	out.printf("BROADCAST  %-17s -> %s, offset %d: %s%s", event, topic, pub.Offset, truncate(b.String(), 100), via)
	return pub, nil
}

var eventSupplierRe = regexp.MustCompile(`^[A-Za-z0-9_.@-]{1,128}$`)

// POST /api/events  {"supplier_id", "type", "payload": {...}}
//
// It broadcasts payload to the dashboards of the supplier (topic
// "supplier:<id>") with event type. Any type is accepted; the dashboard
// page shows kpi.updated as KPI tiles and lists every event.
func (a *api) publishEvent(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		SupplierID string          `json:"supplier_id"`
		Type       string          `json:"type"`
		Payload    json.RawMessage `json:"payload"`
	}
	if err := decode(w, r, &in, false); err != nil {
		return err
	}
	switch {
	case in.SupplierID == "":
		return badRequest("supplier_id", "is required")
	case !eventSupplierRe.MatchString(in.SupplierID):
		return badRequest("supplier_id", "must be 1 to 128 characters of letters, digits and _.@- (no ':', which would reach another supplier's topics)")
	}
	switch {
	case in.Type == "":
		return badRequest("type", "is required: the event name the dashboards receive, such as kpi.updated")
	case len(in.Type) > 200:
		return badRequest("type", "must be at most 200 bytes (it has %d)", len(in.Type))
	case strings.ContainsFunc(in.Type, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return badRequest("type", "must not contain control characters")
	}
	p := bytes.TrimSpace(in.Payload)
	switch {
	case len(p) == 0 || string(p) == "null":
		return badRequest("payload", "is required: a JSON object")
	case p[0] != '{':
		return badRequest("payload", "must be a JSON object, not %s", truncate(string(p), 40))
	case len(p) > maxEventPayload:
		return &apiError{status: http.StatusRequestEntityTooLarge, field: "payload",
			msg: fmt.Sprintf("payload: must be at most %d bytes (it has %d)", maxEventPayload, len(p))}
	}
	pub, err := broadcast(r.Context(), a.hub, a.kpis, a.out, in.SupplierID, in.Type, p, " (through the API)")
	if errors.Is(err, realtime.ErrHubClosed) {
		return &apiError{status: http.StatusServiceUnavailable, msg: "the realtime hub is shutting down"}
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"id": pub.ID(), "offset": pub.Offset, "topic": pub.Topic})
	return nil
}
