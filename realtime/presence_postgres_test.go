package realtime_test

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/internal/idletest"
	"github.com/wedsync/integrations/internal/migrate"
	"github.com/wedsync/integrations/internal/pgtest"
	"github.com/wedsync/integrations/realtime"
	"github.com/wedsync/integrations/realtime/pgbroker"
	"github.com/wedsync/integrations/realtime/protocol"
)

// presenceTTL is the brokers' presence TTL in these tests; their clock is
// fake, so only the test moves time.
const presenceTTL = 30 * time.Second

// presencePoolSize is the size of each instance's pool (the LISTEN
// connection is taken out of it).
const presencePoolSize = 4

// presenceInstance is one hub instance over a Postgres broker with a pool
// of its own, as a process of its own would have.
type presenceInstance struct {
	hub    *realtime.Hub
	broker *pgbroker.Broker
	pool   *pgxpool.Pool
	srv    *httptest.Server
	url    string
	stop   func()
}

func startPresenceInstance(t *testing.T, db *pgtest.DB, clk clockwork.Clock, opts ...realtime.Option) *presenceInstance {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(db.ConnString())
	require.NoError(t, err)
	cfg.MaxConns = presencePoolSize
	pool, err := pgxpool.NewWithConfig(ctxBG, cfg)
	require.NoError(t, err)
	b, err := pgbroker.New(ctxBG, pool, pgbroker.WithSchema(db.Schema), pgbroker.WithChannel(db.Schema),
		pgbroker.WithClock(clk), pgbroker.WithPresenceTTL(presenceTTL), pgbroker.WithTrimInterval(time.Hour))
	require.NoError(t, err)
	hub, err := realtime.NewHub(append([]realtime.Option{realtime.WithAuthenticator(testAuth), realtime.WithConnectRate(1e6, 1e6), realtime.WithBroker(b)}, opts...)...)
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/realtime/v1/websocket", hub)
	srv := httptest.NewServer(mux)
	i := &presenceInstance{hub: hub, broker: b, pool: pool, srv: srv, url: "ws" + strings.TrimPrefix(srv.URL, "http") + "/realtime/v1/websocket"}
	i.stop = sync.OnceFunc(func() {
		require.NoError(t, hub.Close())
		srv.Close()
		require.NoError(t, b.Close())
		pool.Close()
	})
	t.Cleanup(i.stop)
	return i
}

// kill cuts the instance off as a crash would: from now on none of its
// statements reaches the database (its pool is closed), so the untracks of
// its closing sockets and its broker's cleanup fail, and its presence
// rows stay until they expire. Then the rest of it stops.
func (i *presenceInstance) kill() {
	i.pool.Close()
	i.stop()
}

// presenceView is a dashboard's view of a topic's presence, kept from
// presence_state and presence_diff as realtime-js keeps it: diffs that
// arrive before the state are applied after it, metas are told apart by
// phx_ref.
type presenceView struct {
	t       *testing.T
	p       *peer
	topic   string
	state   map[string]map[string]protocol.PresenceMeta // key -> phx_ref -> meta
	synced  bool
	pending []protocol.PresenceDiff
}

// watchPresence joins topic with presence enabled on a fresh socket of
// token and reads until its presence_state.
func watchPresence(t *testing.T, url, token, topic string) *presenceView {
	t.Helper()
	v := &presenceView{t: t, p: dialPeer(t, url, token, protocol.VSN1), topic: topic, state: map[string]map[string]protocol.PresenceMeta{}}
	v.p.mustJoin(topic, presenceJoin)
	for !v.synced {
		v.apply(v.p.read())
	}
	return v
}

// apply takes one message into the view.
func (v *presenceView) apply(m protocol.Message) {
	v.t.Helper()
	switch m.Event {
	case protocol.EventPresenceState:
		var st protocol.PresenceState
		require.NoError(v.t, json.Unmarshal(m.Payload, &st))
		v.state = map[string]map[string]protocol.PresenceMeta{}
		v.merge(st, nil)
		v.synced = true
		for _, d := range v.pending {
			v.merge(d.Joins, d.Leaves)
		}
		v.pending = nil
	case protocol.EventPresenceDiff:
		var d protocol.PresenceDiff
		require.NoError(v.t, json.Unmarshal(m.Payload, &d))
		if !v.synced {
			v.pending = append(v.pending, d)
			return
		}
		v.merge(d.Joins, d.Leaves)
	}
}

func (v *presenceView) merge(joins, leaves protocol.PresenceState) {
	v.t.Helper()
	for key, e := range joins {
		for _, meta := range e.Metas {
			ref := string(meta["phx_ref"])
			require.NotEmpty(v.t, ref, "a meta without phx_ref")
			if v.state[key] == nil {
				v.state[key] = map[string]protocol.PresenceMeta{}
			}
			v.state[key][ref] = meta
		}
	}
	for key, e := range leaves {
		for _, meta := range e.Metas {
			delete(v.state[key], string(meta["phx_ref"]))
		}
		if len(v.state[key]) == 0 {
			delete(v.state, key)
		}
	}
}

// pages summarises the view: each key's metas' "page" fields, sorted.
func (v *presenceView) pages() map[string][]string {
	out := map[string][]string{}
	for key, metas := range v.state {
		for _, meta := range metas {
			var page string
			_ = json.Unmarshal(meta["page"], &page)
			out[key] = append(out[key], page)
		}
		slices.Sort(out[key])
	}
	return out
}

// waitFor reads until the view shows want (each read bounded by 10 s).
func (v *presenceView) waitFor(want map[string][]string) {
	v.t.Helper()
	for !maps.EqualFunc(v.pages(), want, slices.Equal) {
		v.apply(v.p.read())
	}
}

// push sends a presence event on the view's channel and returns the reply,
// taking in the presence messages read before it.
func (v *presenceView) push(event, meta string) protocol.ReplyPayload {
	v.t.Helper()
	ref := v.p.nextRef()
	payload := `{"type":"presence","event":"` + event + `"}`
	if meta != "" {
		payload = `{"type":"presence","event":"` + event + `","payload":` + meta + `}`
	}
	v.p.send(protocol.Message{JoinRef: "1", Ref: ref, Topic: protocol.WireTopic(v.topic), Event: protocol.EventPresence, Payload: json.RawMessage(payload)})
	for {
		m := v.p.read()
		if m.Event == protocol.EventReply && m.Ref == ref {
			var r protocol.ReplyPayload
			require.NoError(v.t, json.Unmarshal(m.Payload, &r))
			return r
		}
		v.apply(m)
	}
}

func (v *presenceView) track(page string) {
	v.t.Helper()
	r := v.push("track", `{"page":"`+page+`"}`)
	require.Equal(v.t, "ok", r.Status, "track: %s", r.Response)
}

func (v *presenceView) untrack() {
	v.t.Helper()
	r := v.push("untrack", "")
	require.Equal(v.t, "ok", r.Status, "untrack: %s", r.Response)
}

// answerClose reads p's socket on, dropping what comes, so that it answers
// the hub's close frame. (Not websocket.Conn.CloseRead: a CloseNow after it
// may wait 15 s for its goroutine.)
func answerClose(t *testing.T, p *peer) {
	ctx, cancel := context.WithCancel(ctxBG)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if _, _, err := p.ws.Read(ctx); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// presenceNow is what a dashboard joining topic now is shown.
func presenceNow(t *testing.T, url, token, topic string) map[string][]string {
	t.Helper()
	v := watchPresence(t, url, token, topic)
	v.p.ws.CloseNow()
	return v.pages()
}

// Two hub instances over pgbroker on one database show one presence: a
// track on either reaches the dashboards on both, as a diff and in a
// joiner's presence_state; a meta change and an untrack too; an instance
// shut down takes its members with it at once; and an instance killed
// (cut off from the database, so that nothing of its presence is deleted)
// keeps its members until the TTL has passed, when the live instance's
// sweep removes them and its dashboards see them leave.
func TestPostgresPresenceAcrossInstances(t *testing.T) {
	db := pgtest.New(t, "realtime")
	require.NoError(t, pgbroker.Migrate(ctxBG, db.Pool, pgbroker.WithSchema(db.Schema)))
	clk := clockwork.NewFakeClock() // the brokers'; the hubs run on the wall clock
	a := startPresenceInstance(t, db, clk)
	b := startPresenceInstance(t, db, clk)
	const topic = "supplier:1"

	ben := watchPresence(t, b.url, "sup:1::ben", topic)
	anna := watchPresence(t, a.url, "sup:1::anna", topic)
	anna.track("dashboard")
	anna.waitFor(map[string][]string{"anna": {"dashboard"}})
	ben.waitFor(map[string][]string{"anna": {"dashboard"}})
	require.Equal(t, map[string][]string{"anna": {"dashboard"}}, presenceNow(t, b.url, "sup:1::carl", topic),
		"a joiner on B is shown A's member")

	ben.track("calendar")
	both := map[string][]string{"anna": {"dashboard"}, "ben": {"calendar"}}
	anna.waitFor(both)
	ben.waitFor(both)
	require.Equal(t, both, presenceNow(t, a.url, "sup:1::dora", topic))

	// anna moves on: her old meta leaves and the new one joins, on both.
	anna.track("bookings")
	both["anna"] = []string{"bookings"}
	ben.waitFor(both)
	anna.waitFor(both)
	// A second socket of anna's is a second meta under her key.
	anna2 := watchPresence(t, b.url, "sup:1::anna", topic)
	anna2.track("phone")
	both["anna"] = []string{"bookings", "phone"}
	ben.waitFor(both)
	anna.waitFor(both)
	anna2.untrack()
	anna.untrack()
	ben.waitFor(map[string][]string{"ben": {"calendar"}})
	anna.waitFor(map[string][]string{"ben": {"calendar"}})

	// An instance shut down: its sockets' members leave at once (the
	// hub's untracks; its broker, still open, does not clean up).
	c := startPresenceInstance(t, db, clk)
	erin := watchPresence(t, c.url, "sup:1::erin", topic)
	erin.track("settings")
	ben.waitFor(map[string][]string{"ben": {"calendar"}, "erin": {"settings"}})
	answerClose(t, erin.p)
	require.NoError(t, c.hub.Close())
	ben.waitFor(map[string][]string{"ben": {"calendar"}})
	c.stop()

	// An instance killed: nothing it does reaches the database any more.
	anna.track("dashboard")
	withAnna := map[string][]string{"anna": {"dashboard"}, "ben": {"calendar"}}
	ben.waitFor(withAnna)
	answerClose(t, anna.p)
	a.kill()
	require.Equal(t, withAnna, presenceNow(t, b.url, "sup:1::fred", topic),
		"A's untracks never reached the database: anna is still there until her TTL passes")

	// Past the TTL (B's trim sweep and presence refresh wait on the clock;
	// A's have stopped), B's refresh deletes anna's member and B's
	// dashboards see her leave; ben, refreshed in the same round trip,
	// stays.
	ctx, cancel := context.WithTimeout(ctxBG, 10*time.Second)
	defer cancel()
	require.NoError(t, clk.BlockUntilContext(ctx, 2))
	clk.Advance(presenceTTL + presenceTTL/3)
	ben.waitFor(map[string][]string{"ben": {"calendar"}})
	require.Equal(t, map[string][]string{"ben": {"calendar"}}, presenceNow(t, b.url, "sup:1::gina", topic))
}

// WithMaxPresencePerTopic counts the topic's members on every instance:
// a track that would pass it is refused on whichever instance it comes.
func TestPostgresPresenceCapCountsEveryInstance(t *testing.T) {
	db := pgtest.New(t, "realtime")
	require.NoError(t, pgbroker.Migrate(ctxBG, db.Pool, pgbroker.WithSchema(db.Schema)))
	clk := clockwork.NewFakeClock()
	a := startPresenceInstance(t, db, clk, realtime.WithMaxPresencePerTopic(2))
	b := startPresenceInstance(t, db, clk, realtime.WithMaxPresencePerTopic(2))
	const topic = "supplier:1"

	u1 := watchPresence(t, a.url, "sup:1::u1", topic)
	u2 := watchPresence(t, b.url, "sup:1::u2", topic)
	u3 := watchPresence(t, a.url, "sup:1::u3", topic)
	u1.track("a")
	u2.track("b")
	full := map[string][]string{"u1": {"a"}, "u2": {"b"}}
	u3.waitFor(full)
	r := u3.push("track", `{"page":"c"}`)
	require.Equal(t, "error", r.Status)
	require.Contains(t, string(r.Response), "presence is full: this topic tracks 2 already")
	u1.track("a2") // a tracked channel may still change its meta
	u3.waitFor(map[string][]string{"u1": {"a2"}, "u2": {"b"}})

	u2.untrack()
	u3.waitFor(map[string][]string{"u1": {"a2"}})
	u3.track("c")
	u2.waitFor(map[string][]string{"u1": {"a2"}, "u3": {"c"}})
}

// An instance whose LISTEN connection drops misses the hints sent
// meanwhile; once it listens again it reads the presence of its topics
// afresh, and its dashboards see what they missed. The instance cannot
// listen again until the test lets it: every connection of its pool is
// held, so its reconnect waits.
func TestPostgresPresenceAfterALostListenConnection(t *testing.T) {
	db := pgtest.New(t, "realtime")
	require.NoError(t, pgbroker.Migrate(ctxBG, db.Pool, pgbroker.WithSchema(db.Schema)))
	clk := clockwork.NewFakeClock()
	b := startPresenceInstance(t, db, clk)
	var listener uint32 // b's, the only one yet
	require.NoError(t, db.Pool.QueryRow(ctxBG, `SELECT pid FROM pg_stat_activity
		WHERE application_name = $1 AND query LIKE '%' || $2 || '%'`, pgbroker.ApplicationName, db.Schema).Scan(&listener))
	a := startPresenceInstance(t, db, clk)
	const topic = "supplier:1"
	ben := watchPresence(t, b.url, "sup:1::ben", topic)
	anna := watchPresence(t, a.url, "sup:1::anna", topic)

	var held []*pgxpool.Conn
	for range presencePoolSize {
		c, err := b.pool.Acquire(ctxBG)
		require.NoError(t, err)
		held = append(held, c)
	}
	var cut bool
	require.NoError(t, db.Pool.QueryRow(ctxBG, `SELECT pg_terminate_backend($1)`, listener).Scan(&cut))
	require.True(t, cut)
	// The terminated backend is gone once pg_stat_activity no longer
	// lists it: b cannot have heard what is notified from now on.
	require.Eventually(t, func() bool {
		var n int
		err := db.Pool.QueryRow(ctxBG, `SELECT count(*) FROM pg_stat_activity WHERE pid = $1`, listener).Scan(&n)
		return err == nil && n == 0
	}, 10*time.Second, 5*time.Millisecond)

	anna.track("dashboard")
	anna.waitFor(map[string][]string{"anna": {"dashboard"}})
	for _, c := range held {
		c.Release()
	}
	ben.waitFor(map[string][]string{"anna": {"dashboard"}})
	require.GreaterOrEqual(t, b.hub.Stats().Resyncs, int64(1), "b resynced after listening again")
}

// On the wall clock: a hub whose topic has shared presence, with idle
// dashboards, uses no CPU; its Shutdown waits for the untracks of its
// closing sockets (so the other instances see them leave), but no longer
// than its context when the database hangs (a session holds the presence
// table), and Close then finishes at once.
func TestPostgresPresenceRealClockIdleAndShutdown(t *testing.T) {
	db := pgtest.New(t, "realtime")
	require.NoError(t, pgbroker.Migrate(ctxBG, db.Pool, pgbroker.WithSchema(db.Schema)))
	a := startPresenceInstance(t, db, clockwork.NewFakeClock())
	const topic = "supplier:1"
	anna := watchPresence(t, a.url, "sup:1::anna", topic)
	dora := watchPresence(t, a.url, "sup:1::dora", topic)
	anna.track("dashboard")
	dora.waitFor(map[string][]string{"anna": {"dashboard"}})
	idletest.RequireIdle(t, "a hub with shared presence waits with 2 idle dashboards")

	holder, err := db.Pool.Begin(ctxBG)
	require.NoError(t, err)
	t.Cleanup(func() { _ = holder.Rollback(ctxBG) })
	_, err = holder.Exec(ctxBG, "LOCK TABLE "+migrate.Quote(db.Schema)+".realtime_presence IN ACCESS EXCLUSIVE MODE")
	require.NoError(t, err)
	answerClose(t, anna.p)
	answerClose(t, dora.p)

	ctx, cancel := context.WithTimeout(ctxBG, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = a.hub.Shutdown(ctx)
	took := time.Since(start)
	t.Logf("Shutdown with a 200ms context and an untrack waiting on a lock: %s, %v", took, err)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, took, 200*time.Millisecond+stopBound)
	start = time.Now()
	require.NoError(t, a.hub.Close(), "the untrack ends with Shutdown's context")
	t.Logf("Close after: %s", time.Since(start))
	require.Less(t, time.Since(start), stopBound)
	require.NoError(t, holder.Rollback(ctxBG))
}
