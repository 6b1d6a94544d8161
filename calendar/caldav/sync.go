package caldav

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/wedsync/integrations/calendar"
)

// Cursor formats. A cursor is opaque to the engine; its prefix tells which
// of the two ways of syncing made it, so that the next call continues the
// same way.
const (
	// cursorSync + an RFC 6578 sync-token.
	cursorSync = "s1:"
	// cursorScan + base64url(deflate(entries)): the etag scan's state.
	cursorScan = "e1:"
)

// multigetBatch is how many hrefs one calendar-multiget asks for.
const multigetBatch = 500

// maxSyncRounds bounds the truncated sync-collection answers one Changes
// call follows (RFC 6578 3.6, a 507 for the collection).
const maxSyncRounds = 1000

// errSyncUnsupported: the server does not do sync-collection on this
// collection; the etag scan is the fallback.
var errSyncUnsupported = errors.New("caldav: server does not support sync-collection")

// Changes implements calendar.Provider. It uses the WebDAV sync-collection
// REPORT (RFC 6578, sync-level 1, getetag and calendar-data per member)
// when the server has it: members with 200 are Updated (missing
// calendar-data is fetched with calendar-multiget), members with 404 are
// Deleted, and the new sync-token is the Cursor. A truncated answer (507
// for the collection) is followed with its new token until complete. A
// token the server refuses (the DAV:valid-sync-token precondition, with 403
// as Radicale sends it, or 409/412) gives an error matching
// calendar.ErrCursorInvalid.
//
// A server that does not support sync-collection (it answers the REPORT
// with 400, 403, 405 or 501 and no valid-sync-token precondition) is
// synced by an etag scan instead: a PROPFIND Depth 1 lists every object's
// getetag, the ones new or changed since the cursor are fetched with
// calendar-multiget, and the ones no longer listed are Deleted. The
// provider is stateless, so that cursor carries the state: each object's
// name and an 8-byte hash of its etag, deflated and base64url-encoded:
// about 43 bytes per event with UUID names (86 KB for 2,000 events, as
// BenchmarkFullSync2000 measures). A sync-token cursor is the server's
// token, some 100 bytes.
//
// Objects that are not events (VTODO) are left out; objects that do not
// parse are left out and logged (WithLogger). Each Event's ID is its
// object's path and Native the parsed *ical.Calendar.
func (p *Provider) Changes(ctx context.Context, creds []byte, cal, cursor string) (*calendar.ChangeSet, error) {
	c, err := p.open(creds)
	if err != nil {
		return nil, err
	}
	col, err := collectionPath(cal)
	if err != nil {
		return nil, err
	}
	ctx, cancel := p.withTimeout(ctx)
	defer cancel()
	switch {
	case cursor == "":
		cs, err := c.syncCollection(ctx, col, "")
		if errors.Is(err, errSyncUnsupported) {
			return c.etagScan(ctx, col, nil)
		}
		return cs, err
	case strings.HasPrefix(cursor, cursorSync):
		tok := strings.TrimPrefix(cursor, cursorSync)
		if tok == "" {
			return nil, fmt.Errorf("caldav changes: empty sync-token: %w", calendar.ErrCursorInvalid)
		}
		cs, err := c.syncCollection(ctx, col, tok)
		if errors.Is(err, errSyncUnsupported) {
			return nil, fmt.Errorf("caldav changes: %w: %w", err, calendar.ErrCursorInvalid)
		}
		return cs, err
	case strings.HasPrefix(cursor, cursorScan):
		prev, err := decodeScanCursor(strings.TrimPrefix(cursor, cursorScan))
		if err != nil {
			return nil, fmt.Errorf("caldav changes: %w: %w", err, calendar.ErrCursorInvalid)
		}
		return c.etagScan(ctx, col, prev)
	}
	return nil, fmt.Errorf("caldav changes: unknown cursor format: %w", calendar.ErrCursorInvalid)
}

func escapeXML(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// member is a changed object as the sync learnt it.
type member struct {
	etag    string
	data    string
	hasData bool
	deleted bool
}

func (c *conn) syncCollection(ctx context.Context, col, token string) (*calendar.ChangeSet, error) {
	const op = "changes"
	full := token == ""
	members := map[string]*member{}
	var order []string
	for round := 0; ; round++ {
		if round == maxSyncRounds {
			return nil, fmt.Errorf("caldav %s: more than %d truncated sync answers", op, maxSyncRounds)
		}
		body := xmlHeader + `<d:sync-collection xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">` +
			`<d:sync-token>` + escapeXML(token) + `</d:sync-token><d:sync-level>1</d:sync-level>` +
			`<d:prop><d:getetag/><c:calendar-data/></d:prop></d:sync-collection>`
		h := http.Header{"Content-Type": {"application/xml; charset=utf-8"}, "Depth": {"0"}}
		r, err := c.do(ctx, op, "REPORT", col, h, []byte(body))
		if err != nil {
			return nil, err
		}
		switch r.status {
		case http.StatusMultiStatus:
		case http.StatusForbidden, http.StatusConflict, http.StatusPreconditionFailed:
			if hasPrecondition(r.body, "valid-sync-token") {
				return nil, fmt.Errorf("caldav %s: HTTP %d valid-sync-token: %w", op, r.status, calendar.ErrCursorInvalid)
			}
			if r.status == http.StatusForbidden && token == "" {
				return nil, errSyncUnsupported // or a refusal: the scan's PROPFIND tells
			}
			return nil, statusErr(op, r)
		case http.StatusBadRequest, http.StatusMethodNotAllowed, http.StatusNotImplemented:
			return nil, errSyncUnsupported
		default:
			return nil, statusErr(op, r)
		}
		res, err := parseSyncResponse(r.body, col)
		if err != nil {
			return nil, fmt.Errorf("caldav %s: %w", op, err)
		}
		if res.Token == "" {
			return nil, fmt.Errorf("caldav %s: the server sent no sync-token", op)
		}
		for _, it := range res.Items {
			if it.Collection {
				continue
			}
			m, ok := members[it.Href]
			if !ok {
				m = &member{}
				members[it.Href] = m
				order = append(order, it.Href)
			}
			*m = member{etag: it.ETag, data: it.Data, hasData: it.HasData, deleted: it.Status == http.StatusNotFound}
		}
		if !res.Truncated {
			token = res.Token
			break
		}
		if res.Token == token {
			return nil, fmt.Errorf("caldav %s: truncated sync answer without a new sync-token", op)
		}
		token = res.Token
	}

	cs := &calendar.ChangeSet{Full: full, Cursor: cursorSync + token}
	var fetch []string
	for _, href := range order {
		m := members[href]
		switch {
		case m.deleted:
			if !full {
				cs.Deleted = append(cs.Deleted, href)
			}
		case !m.hasData:
			fetch = append(fetch, href)
		default:
			if ev := c.parseMember(href, m.etag, m.data); ev != nil {
				cs.Updated = append(cs.Updated, *ev)
			}
		}
	}
	got, gone, err := c.multiget(ctx, col, fetch)
	if err != nil {
		return nil, err
	}
	cs.Updated = append(cs.Updated, got...)
	if !full {
		cs.Deleted = append(cs.Deleted, gone...)
	}
	return cs, nil
}

// parseMember turns one object into an Event, or nil (logged) when it is
// not an event or does not parse.
func (c *conn) parseMember(href, etag, data string) *calendar.Event {
	ev, err := ParseEvent([]byte(data))
	if err != nil {
		if !errors.Is(err, ErrNotEvent) {
			c.p.logger.Warn("caldav: skipping a calendar object that does not parse", "href", href, "error", err)
		}
		return nil
	}
	ev.ID, ev.ETag = href, etag
	return ev
}

// multiget fetches hrefs with calendar-multiget (RFC 4791 7.9), in
// batches; gone lists the hrefs the server answered 404 for. An href the
// server does not answer at all is an error.
func (c *conn) multiget(ctx context.Context, col string, hrefs []string) (evs []calendar.Event, gone []string, err error) {
	const op = "changes"
	for len(hrefs) > 0 {
		n := min(len(hrefs), multigetBatch)
		batch := hrefs[:n]
		hrefs = hrefs[n:]
		var b strings.Builder
		b.WriteString(xmlHeader + `<c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data/></d:prop>`)
		for _, h := range batch {
			b.WriteString("<d:href>" + escapeXML((&url.URL{Path: h}).EscapedPath()) + "</d:href>")
		}
		b.WriteString(`</c:calendar-multiget>`)
		hd := http.Header{"Content-Type": {"application/xml; charset=utf-8"}, "Depth": {"1"}}
		r, err := c.do(ctx, op, "REPORT", col, hd, []byte(b.String()))
		if err != nil {
			return nil, nil, err
		}
		if r.status != http.StatusMultiStatus {
			return nil, nil, statusErr(op, r)
		}
		res, err := parseSyncResponse(r.body, col)
		if err != nil {
			return nil, nil, fmt.Errorf("caldav %s: %w", op, err)
		}
		seen := map[string]bool{}
		for _, it := range res.Items {
			seen[it.Href] = true
			switch {
			case it.Status == http.StatusNotFound:
				gone = append(gone, it.Href)
			case it.Status == http.StatusOK && it.HasData:
				if ev := c.parseMember(it.Href, it.ETag, it.Data); ev != nil {
					evs = append(evs, *ev)
				}
			}
		}
		missing := 0
		for _, h := range batch {
			if !seen[h] {
				missing++
			}
		}
		if missing > 0 {
			// Reporting them as deleted could delete bookings that exist;
			// skipping them would lose their change. Fail, and retry.
			return nil, nil, fmt.Errorf("caldav %s: calendar-multiget left %d of %d objects unanswered", op, missing, len(batch))
		}
	}
	return evs, gone, nil
}

// etagScan is the fallback sync (see Changes). prev nil means a full
// listing.
func (c *conn) etagScan(ctx context.Context, col string, prev map[string][8]byte) (*calendar.ChangeSet, error) {
	const op = "changes"
	body := xmlHeader + `<d:propfind xmlns:d="DAV:"><d:prop><d:getetag/><d:resourcetype/></d:prop></d:propfind>`
	h := http.Header{"Content-Type": {"application/xml; charset=utf-8"}, "Depth": {"1"}}
	r, err := c.do(ctx, op, "PROPFIND", col, h, []byte(body))
	if err != nil {
		return nil, err
	}
	if r.status != http.StatusMultiStatus {
		return nil, statusErr(op, r)
	}
	res, err := parseSyncResponse(r.body, col)
	if err != nil {
		return nil, fmt.Errorf("caldav %s: %w", op, err)
	}
	cur := map[string][8]byte{}
	etags := map[string]string{}
	var fetch []string
	for _, it := range res.Items {
		if it.Collection || it.Status != http.StatusOK {
			continue
		}
		name := relName(col, it.Href)
		hash := etagHash(it.ETag)
		cur[name] = hash
		etags[it.Href] = it.ETag
		if old, ok := prev[name]; !ok || old != hash || it.ETag == "" {
			fetch = append(fetch, it.Href)
		}
	}
	cs := &calendar.ChangeSet{Full: prev == nil}
	got, gone, err := c.multiget(ctx, col, fetch)
	if err != nil {
		return nil, err
	}
	for i := range got {
		if got[i].ETag == "" {
			got[i].ETag = etags[got[i].ID]
		}
	}
	cs.Updated = got
	for _, g := range gone {
		delete(cur, relName(col, g))
	}
	if prev != nil {
		for name := range prev {
			if _, ok := cur[name]; !ok {
				cs.Deleted = append(cs.Deleted, absName(col, name))
			}
		}
		sort.Strings(cs.Deleted)
	}
	cs.Cursor = cursorScan + encodeScanCursor(cur)
	return cs, nil
}

// relName shortens an href inside col to its name; absName undoes it.
func relName(col, href string) string {
	if rest, ok := strings.CutPrefix(href, col); ok && rest != "" {
		return rest
	}
	return href
}

func absName(col, name string) string {
	if strings.HasPrefix(name, "/") {
		return name
	}
	return col + name
}

func etagHash(etag string) [8]byte {
	s := sha256.Sum256([]byte(etag))
	return [8]byte(s[:8])
}

// maxScanCursorEntries bounds what a scan cursor may hold when decoded.
const maxScanCursorEntries = 1 << 20

func encodeScanCursor(m map[string][8]byte) string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	var raw bytes.Buffer
	var lb [binary.MaxVarintLen64]byte
	for _, n := range names {
		raw.Write(lb[:binary.PutUvarint(lb[:], uint64(len(n)))])
		raw.WriteString(n)
		h := m[n]
		raw.Write(h[:])
	}
	var z bytes.Buffer
	w, _ := flate.NewWriter(&z, flate.BestCompression) // valid level: cannot fail
	_, _ = w.Write(raw.Bytes())
	_ = w.Close()
	return base64.RawURLEncoding.EncodeToString(z.Bytes())
}

func decodeScanCursor(s string) (map[string][8]byte, error) {
	z, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, errors.New("bad scan cursor encoding")
	}
	raw, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(z)), MaxResponseBytes+1))
	if err != nil || len(raw) > MaxResponseBytes {
		return nil, errors.New("bad scan cursor data")
	}
	m := map[string][8]byte{}
	for len(raw) > 0 {
		n, k := binary.Uvarint(raw)
		if k <= 0 || n > uint64(len(raw)-k) || uint64(len(raw)-k)-n < 8 || len(m) >= maxScanCursorEntries {
			return nil, errors.New("bad scan cursor entry")
		}
		raw = raw[k:]
		name := string(raw[:n])
		m[name] = [8]byte(raw[n : n+8])
		raw = raw[n+8:]
	}
	return m, nil
}
