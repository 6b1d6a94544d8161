package caldav

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/wedsync/integrations/calendar"
)

const xmlHeader = `<?xml version="1.0" encoding="utf-8"?>` + "\n"

// propfind sends a PROPFIND for props (inner XML of DAV:prop) and parses
// the 207.
func (c *conn) propfind(ctx context.Context, op, p, depth, props string) (*xmlMultistatus, error) {
	body := xmlHeader + `<d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop>` + props + `</d:prop></d:propfind>`
	h := http.Header{"Content-Type": {"application/xml; charset=utf-8"}, "Depth": {depth}}
	r, err := c.do(ctx, op, "PROPFIND", p, h, []byte(body))
	if err != nil {
		return nil, err
	}
	if r.status != http.StatusMultiStatus {
		return nil, statusErr(op, r)
	}
	ms, err := decodeMultistatus(r.body)
	if err != nil {
		return nil, fmt.Errorf("caldav %s: %w", op, err)
	}
	return ms, nil
}

// findHref returns the first href-valued property pick finds in ms.
func findHref(ms *xmlMultistatus, pick func(*xmlProp) *xmlHref) string {
	for _, r := range ms.Responses {
		for _, ps := range r.Propstats {
			if parseStatus(ps.Status) != 200 {
				continue
			}
			if h := pick(&ps.Prop); h != nil && strings.TrimSpace(h.Href) != "" {
				if p, err := hrefPath(h.Href); err == nil {
					return p
				}
			}
		}
	}
	return ""
}

// Calendars implements calendar.Provider: it finds the current user's
// principal (RFC 5397) from the credentials' URL (following redirects on
// the same host, and trying /.well-known/caldav (RFC 6764) when the URL
// is not a WebDAV resource), the principal's
// calendar-home-set (RFC 4791 6.2.1), and lists the calendar collections
// there. CalendarInfo.ID is the collection's path; ReadOnly is set when the
// server's current-user-privilege-set grants no write; TimeZone is the TZID
// of the collection's calendar-timezone when it names an IANA zone.
// Collections that cannot hold events (a supported-calendar-component-set
// without VEVENT, such as task lists) are left out.
func (p *Provider) Calendars(ctx context.Context, creds []byte) ([]calendar.CalendarInfo, error) {
	c, err := p.open(creds)
	if err != nil {
		return nil, err
	}
	ctx, cancel := p.withTimeout(ctx)
	defer cancel()
	const op = "calendars"

	principal, err := c.findPrincipal(ctx, op)
	if err != nil {
		return nil, err
	}
	ms, err := c.propfind(ctx, op, principal, "0", `<c:calendar-home-set/>`)
	if err != nil {
		return nil, err
	}
	home := findHref(ms, func(p *xmlProp) *xmlHref { return p.CalendarHomeSet })
	if home == "" {
		return nil, fmt.Errorf("caldav %s: principal %s has no calendar-home-set", op, principal)
	}
	ms, err = c.propfind(ctx, op, home, "1",
		`<d:resourcetype/><d:displayname/><d:current-user-privilege-set/><c:calendar-timezone/><c:supported-calendar-component-set/>`)
	if err != nil {
		return nil, err
	}
	var out []calendar.CalendarInfo
	for _, r := range ms.Responses {
		if len(r.Hrefs) == 0 {
			continue
		}
		href, err := hrefPath(r.Hrefs[0])
		if err != nil {
			continue
		}
		info := calendar.CalendarInfo{ID: href}
		isCal, events, privs := false, true, (*xmlPrivileges)(nil)
		for _, ps := range r.Propstats {
			if parseStatus(ps.Status) != 200 {
				continue
			}
			pr := ps.Prop
			if pr.ResourceType != nil && pr.ResourceType.Calendar != nil {
				isCal = true
			}
			if pr.DisplayName != nil {
				info.Name = strings.TrimSpace(*pr.DisplayName)
			}
			if pr.CalendarTimezone != nil {
				info.TimeZone = timezoneID(*pr.CalendarTimezone)
			}
			if pr.PrivilegeSet != nil {
				privs = pr.PrivilegeSet
			}
			if pr.ComponentSet != nil && len(pr.ComponentSet.Comps) > 0 {
				events = false
				for _, cp := range pr.ComponentSet.Comps {
					if strings.EqualFold(cp.Name, "VEVENT") {
						events = true
					}
				}
			}
		}
		if !isCal || !events {
			continue
		}
		info.ReadOnly = privs != nil && !privs.canWrite()
		if info.Name == "" {
			info.Name = strings.TrimSuffix(href[strings.LastIndex(strings.TrimSuffix(href, "/"), "/")+1:], "/")
		}
		out = append(out, info)
	}
	return out, nil
}

// maxRedirects bounds the redirects discovery follows.
const maxRedirects = 5

// findPrincipal asks the credentials' URL for the current-user-principal.
// Redirects are followed only to the same scheme and host (the SSRF guard
// checks every request anyway); when the URL is the server's root and not
// a WebDAV resource, /.well-known/caldav is tried.
func (c *conn) findPrincipal(ctx context.Context, op string) (string, error) {
	const body = xmlHeader + `<d:propfind xmlns:d="DAV:"><d:prop><d:current-user-principal/></d:prop></d:propfind>`
	p := c.base.Path
	if p == "" {
		p = "/"
	}
	triedWellKnown := false
	for hop := 0; hop <= maxRedirects; hop++ {
		h := http.Header{"Content-Type": {"application/xml; charset=utf-8"}, "Depth": {"0"}}
		r, err := c.do(ctx, op, "PROPFIND", p, h, []byte(body))
		if err != nil {
			return "", err
		}
		switch {
		case r.status == http.StatusMultiStatus:
			ms, err := decodeMultistatus(r.body)
			if err != nil {
				return "", fmt.Errorf("caldav %s: %w", op, err)
			}
			if principal := findHref(ms, func(p *xmlProp) *xmlHref { return p.CurrentUserPrincipal }); principal != "" {
				return principal, nil
			}
			return "", fmt.Errorf("caldav %s: the server named no current-user-principal at %s", op, p)
		case r.status >= 300 && r.status < 400 && r.header.Get("Location") != "":
			loc, err := c.resolve(p).Parse(r.header.Get("Location"))
			if err != nil || loc.Scheme != c.base.Scheme || loc.Host != c.base.Host {
				return "", fmt.Errorf("caldav %s: %s redirects off the server; use the URL it names as the server URL", op, p)
			}
			p = loc.Path
		case (r.status == http.StatusNotFound || r.status == http.StatusMethodNotAllowed) && !triedWellKnown && p == "/":
			triedWellKnown = true
			p = "/.well-known/caldav"
		default:
			return "", statusErr(op, r)
		}
	}
	return "", fmt.Errorf("caldav %s: more than %d redirects", op, maxRedirects)
}
