package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wedsync/integrations/calendar"
	"github.com/wedsync/integrations/calendar/caldav"
	"github.com/wedsync/integrations/calendar/caldav/caldavtest"
)

// The calendar rows: one change synced until visible, each way, against a
// CalDAV server (Radicale when installed, else caldavtest's in-process
// server):
//   - push: Sync.Book moves a booking -> the engine's PUT of its event has
//     been stored by the server. Floor: a raw PUT of an event.
//   - pull: the supplier moves an event in their calendar app, the host
//     calls Sync.SyncNow (as on a change notification) -> Sync.Check
//     shows the busy block moved. Floor: a raw calendar-multiget REPORT
//     that reads the moved event back.
// Both the engine and the floors reach the server through davFront, which
// notes when each PUT was stored, so both sides are timed to the same
// point.

// davServer is the CalDAV server of the calendar rows.
type davServer struct {
	kind  string              // what the table names it
	srv   *caldavtest.Server  // URL is the front's
	front *davFront           // observes the writes
	hs    *http.Server        // serves the front
	stop  func() (log string) // Radicale's, nil for the in-process server
	tmp   string              // Radicale's storage
	proxy *http.Transport     // to Radicale
}

// startDAV starts the CalDAV server: "radicale", "memory", or "auto"
// (Radicale when the radicale binary is on PATH).
func startDAV(ctx context.Context, which string) (*davServer, error) {
	if which == "auto" {
		which = "memory"
		if _, err := exec.LookPath("radicale"); err == nil {
			which = "radicale"
		}
	}
	d := &davServer{front: &davFront{waiters: map[string]chan time.Time{}}}
	srv := &caldavtest.Server{}
	if which == "radicale" {
		tmp, err := os.MkdirTemp("", "wedsync-bench-radicale-")
		if err != nil {
			return nil, err
		}
		d.tmp = tmp
		rs, stop, err := caldavtest.LaunchRadicale(tmp)
		if err != nil {
			_ = os.RemoveAll(tmp)
			return nil, err
		}
		d.stop = stop
		u, err := url.Parse(rs.URL)
		if err != nil {
			d.close()
			return nil, err
		}
		rp := httputil.NewSingleHostReverseProxy(u)
		d.proxy = &http.Transport{Proxy: nil, DialContext: (&net.Dialer{Timeout: 10 * time.Second}).DialContext, MaxIdleConnsPerHost: 64}
		rp.Transport = d.proxy
		rp.ErrorLog = log.New(io.Discard, "", 0) // a request cut short by Ctrl-C is not news
		d.front.next = rp
		srv.Kind = rs.Kind
		d.kind = "Radicale (" + radicaleVersion(ctx) + ") on loopback, behind an observing reverse proxy"
	} else {
		mem := caldavtest.NewMemoryServer()
		d.front.next = mem
		srv.Kind, srv.Memory = caldavtest.KindMemory, mem
		d.kind = "caldavtest.MemoryServer (in-process, no sync-collection: the provider scans ETags)"
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		d.close()
		return nil, err
	}
	d.hs = &http.Server{Handler: d.front, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = d.hs.Serve(ln) }()
	srv.URL = "http://" + ln.Addr().String() + "/"
	d.srv = srv
	return d, nil
}

func radicaleVersion(ctx context.Context) string {
	out, err := exec.CommandContext(ctx, "radicale", "--version").Output()
	if err != nil {
		return "version unknown"
	}
	return "Radicale " + strings.TrimSpace(string(out))
}

func (d *davServer) close() {
	if d.hs != nil {
		_ = d.hs.Close()
	}
	if d.proxy != nil {
		d.proxy.CloseIdleConnections()
	}
	if d.stop != nil {
		d.stop()
	}
	if d.tmp != "" {
		_ = os.RemoveAll(d.tmp)
	}
}

// davFront passes requests to the CalDAV server and notes when a PUT of
// an awaited path has been stored (the server answered 2xx).
type davFront struct {
	next    http.Handler
	mu      sync.Mutex
	waiters map[string]chan time.Time // by path, one-shot
}

// expect returns a channel that receives the time the next successful PUT
// of path was stored.
func (f *davFront) expect(path string) <-chan time.Time {
	ch := make(chan time.Time, 1)
	f.mu.Lock()
	f.waiters[path] = ch
	f.mu.Unlock()
	return ch
}

func (f *davFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	f.next.ServeHTTP(sw, r)
	if r.Method != http.MethodPut || sw.status/100 != 2 {
		return
	}
	at := time.Now()
	f.mu.Lock()
	ch := f.waiters[r.URL.Path]
	delete(f.waiters, r.URL.Path)
	f.mu.Unlock()
	if ch != nil {
		ch <- at
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// calendar runs the calendar rows in one mode.
func (e *tableEnv) calendar(ctx context.Context, pg bool, dav *davServer) ([]tableRow, error) {
	tc, mode := e.tc, modeName(pg)
	const user = "bench"
	supplier := "sup_bench_" + mode
	creds := dav.srv.Creds(user)
	cal, err := dav.srv.CreateCalendar(ctx, user, "work-"+mode)
	if err != nil {
		return nil, err
	}
	// The supplier's calendar app: a CalDAV client of its own.
	app, err := caldav.New(dav.srv.ProviderOptions()...)
	if err != nil {
		return nil, err
	}
	defer app.CloseIdleConnections()
	base := time.Date(2027, 1, 4, 9, 0, 0, 0, time.UTC)
	e.prog.set("filling the calendar with %d events", tc.calEvents)
	for i := range tc.calEvents {
		start := base.Add(time.Duration(i) * 24 * time.Hour)
		if _, err := app.Create(ctx, creds, cal, &calendar.Event{Summary: fmt.Sprintf("Own %d", i), Start: start, End: start.Add(time.Hour)}); err != nil {
			return nil, err
		}
	}
	moving, err := app.Create(ctx, creds, cal, &calendar.Event{Summary: "Moving", Start: base.Add(-24 * time.Hour), End: base.Add(-23 * time.Hour)})
	if err != nil {
		return nil, err
	}
	rawEv, err := app.Create(ctx, creds, cal, &calendar.Event{Summary: "Raw", Start: base.Add(-72 * time.Hour), End: base.Add(-71 * time.Hour)})
	if err != nil {
		return nil, err
	}

	// The engine, as a host wires it.
	prov, err := caldav.New(dav.srv.ProviderOptions()...)
	if err != nil {
		return nil, err
	}
	defer prov.CloseIdleConnections()
	opts := []calendar.Option{calendar.WithProvider(prov)}
	where := "memory mode"
	if pg {
		schema := e.pg.schema("_calendar_jobs")
		if err := calendar.Migrate(ctx, e.pg.pool, calendar.WithSchema(schema)); err != nil {
			return nil, err
		}
		opts = append(opts, calendar.WithPostgres(e.pg.pool), calendar.WithSchema(schema), calendar.WithEncryptionKey(e.pg.key))
		where = "Postgres mode, jobs on River"
	}
	s, err := calendar.NewSync(opts...)
	if err != nil {
		return nil, err
	}
	if err := s.Start(ctx); err != nil {
		return nil, err
	}
	defer stopWithin(ctx, s.Stop)
	idle := func() error {
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		return s.WaitIdle(wctx)
	}
	e.prog.set("connecting the calendar (first full sync)")
	conn, err := s.Connect(ctx, calendar.Connection{Supplier: supplier, Provider: caldav.ProviderName, Calendar: cal}, creds)
	if err != nil {
		return nil, err
	}
	if err := idle(); err != nil {
		return nil, err
	}
	bk, err := s.Book(ctx, calendar.Booking{ID: "bk_bench_" + mode, Supplier: supplier, Title: "Wedding",
		Start: base.Add(-48 * time.Hour), End: base.Add(-47 * time.Hour)})
	if err != nil {
		return nil, err
	}
	if err := idle(); err != nil {
		return nil, err
	}
	all, err := app.Changes(ctx, creds, cal, "")
	if err != nil {
		return nil, err
	}
	var pushedID string
	for _, ev := range all.Updated {
		if ev.Tag == bk.ID {
			pushedID = ev.ID
		}
	}
	if pushedID == "" {
		return nil, errors.New("the booking's event is not in the calendar")
	}

	raw := &davRaw{client: &http.Client{Transport: plainTransport(4), Timeout: 30 * time.Second},
		base: strings.TrimSuffix(dav.srv.URL, "/"), user: user, pass: "pw-" + user}
	defer raw.client.CloseIdleConnections()
	_, haveFloors := e.floors["calendar sync (push)"]
	var push, pull, rawPush, rawPull []time.Duration
	rawETag := rawEv.ETag
	wait := func(ch <-chan time.Time) (time.Time, error) {
		select {
		case at := <-ch:
			return at, nil
		case <-time.After(30 * time.Second):
			return time.Time{}, errors.New("the write did not reach the server within 30s")
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		}
	}
	for i := range tc.calRounds {
		e.prog.set("round %d of %d: a booking moved (push), an event moved (pull)", i+1, tc.calRounds)
		shift := time.Duration(i+1) * time.Minute

		// Push: WedSync moves the booking.
		bk.Start, bk.End = base.Add(-48*time.Hour+shift), base.Add(-47*time.Hour+shift)
		stored := dav.front.expect(pushedID)
		t0 := time.Now()
		if bk, err = s.Book(ctx, bk); err != nil {
			return nil, err
		}
		at, err := wait(stored)
		if err != nil {
			return nil, fmt.Errorf("push: %w", err)
		}
		push = append(push, at.Sub(t0))
		if err := idle(); err != nil { // the write's bookkeeping, before the next change
			return nil, err
		}

		// Pull: the supplier moves their event; the host is told at once.
		moving.Start, moving.End = base.Add(-24*time.Hour+shift), base.Add(-23*time.Hour+shift)
		if moving, err = app.Update(ctx, creds, cal, moving, moving.ETag); err != nil {
			return nil, err
		}
		t0 = time.Now()
		if err := s.SyncNow(ctx, conn.ID); err != nil {
			return nil, err
		}
		want := moving.Start
		err = waitEvery(ctx, 30*time.Second, time.Millisecond, func() bool {
			cs, err := s.Check(ctx, supplier, calendar.Interval{Start: want, End: want.Add(time.Hour)})
			return err == nil && slices.ContainsFunc(cs, func(c calendar.Conflict) bool {
				return c.Kind == calendar.ConflictBusy && c.Interval.Start.Equal(want)
			})
		})
		if err != nil {
			return nil, fmt.Errorf("pull: the moved event: %w", err)
		}
		pull = append(pull, time.Since(t0))
		if err := idle(); err != nil {
			return nil, err
		}

		if haveFloors {
			continue
		}
		// The floors, between the same rounds: a raw PUT of an event,
		// timed to the same point (stored), and a raw REPORT reading a
		// moved event back.
		rawEv.Start, rawEv.End = base.Add(-72*time.Hour+shift), base.Add(-71*time.Hour+shift)
		body, err := caldav.EncodeEvent(rawEv)
		if err != nil {
			return nil, err
		}
		stored = dav.front.expect(rawEv.ID)
		t0 = time.Now()
		if rawETag, err = raw.put(ctx, rawEv.ID, body, rawETag); err != nil {
			return nil, fmt.Errorf("raw PUT: %w", err)
		}
		if at, err = wait(stored); err != nil {
			return nil, fmt.Errorf("raw PUT: %w", err)
		}
		rawPush = append(rawPush, at.Sub(t0))

		moving.Start, moving.End = moving.Start.Add(30*time.Second), moving.End.Add(30*time.Second)
		if moving, err = app.Update(ctx, creds, cal, moving, moving.ETag); err != nil {
			return nil, err
		}
		t0 = time.Now()
		got, err := raw.multiget(ctx, cal, moving.ID)
		if err != nil {
			return nil, fmt.Errorf("raw REPORT: %w", err)
		}
		rawPull = append(rawPull, time.Since(t0))
		if stamp := moving.Start.UTC().Format("20060102T150405Z"); !bytes.Contains(got, []byte(stamp)) {
			return nil, fmt.Errorf("raw REPORT: the answer does not hold the moved start %s", stamp)
		}
	}
	sortDurations(push)
	sortDurations(pull)
	floorPush, _ := e.floor("calendar sync (push)", func() (measure, error) {
		return latencyMeasure("a raw HTTP PUT of an event (If-Match) -> stored by the server", sortDurations(rawPush), 0), nil
	})
	floorPull, _ := e.floor("calendar sync (pull)", func() (measure, error) {
		return latencyMeasure("a raw calendar-multiget REPORT reading the moved event back", sortDurations(rawPull), 0), nil
	})
	return []tableRow{
		latencyRow("calendar sync (push)", mode, targetCalendarMS,
			latencyMeasure(fmt.Sprintf("calendar.Sync.Book moves a booking (%s) -> its event's PUT stored by the CalDAV server", where), push, 0), floorPush),
		latencyRow("calendar sync (pull)", mode, targetCalendarMS,
			latencyMeasure(fmt.Sprintf("an event moved in the calendar, Sync.SyncNow (%s) -> Sync.Check shows the busy block moved (polled every 1 ms), %d other events", where, tc.calEvents), pull, 0), floorPull),
	}, nil
}

// davRaw is the floor's CalDAV client: net/http and nothing else.
type davRaw struct {
	client     *http.Client
	base       string // the server's origin
	user, pass string
}

func (r *davRaw) do(ctx context.Context, method, path string, body []byte, header http.Header) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, r.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header = header
	req.SetBasicAuth(r.user, r.pass)
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// put writes body to path, with If-Match when etag is known, and returns
// the new ETag ("" when the server sent none).
func (r *davRaw) put(ctx context.Context, path string, body []byte, etag string) (string, error) {
	h := http.Header{"Content-Type": {"text/calendar; charset=utf-8"}}
	if etag != "" {
		h.Set("If-Match", etag)
	}
	resp, _, err := r.do(ctx, http.MethodPut, path, body, h)
	if err != nil {
		return "", err
	}
	if resp.StatusCode/100 != 2 {
		return "", fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return resp.Header.Get("ETag"), nil
}

// multiget reads the object at href of collection col with a
// calendar-multiget REPORT (RFC 4791 7.9).
func (r *davRaw) multiget(ctx context.Context, col, href string) ([]byte, error) {
	body := `<?xml version="1.0" encoding="utf-8"?>` +
		`<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">` +
		`<D:prop><D:getetag/><C:calendar-data/></D:prop><D:href>` + esc(href) + `</D:href></C:calendar-multiget>`
	resp, b, err := r.do(ctx, "REPORT", col, []byte(body), http.Header{"Content-Type": {"application/xml; charset=utf-8"}, "Depth": {"1"}})
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusMultiStatus {
		return nil, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return b, nil
}
