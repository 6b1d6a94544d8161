package caldav

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// The WebDAV (RFC 4918), CalDAV (RFC 4791) and sync (RFC 6578) XML this
// package reads. encoding/xml matches the namespace of each element, so a
// server's prefixes do not matter.

type xmlMultistatus struct {
	XMLName   xml.Name      `xml:"DAV: multistatus"`
	Responses []xmlResponse `xml:"DAV: response"`
	SyncToken string        `xml:"DAV: sync-token"`
}

type xmlResponse struct {
	Hrefs     []string      `xml:"DAV: href"`
	Status    string        `xml:"DAV: status"`
	Propstats []xmlPropstat `xml:"DAV: propstat"`
}

type xmlPropstat struct {
	Prop   xmlProp `xml:"DAV: prop"`
	Status string  `xml:"DAV: status"`
}

type xmlHref struct {
	Href string `xml:"DAV: href"`
}

type xmlProp struct {
	ETag                 *string          `xml:"DAV: getetag"`
	CalendarData         *string          `xml:"urn:ietf:params:xml:ns:caldav calendar-data"`
	ResourceType         *xmlResourceType `xml:"DAV: resourcetype"`
	DisplayName          *string          `xml:"DAV: displayname"`
	CurrentUserPrincipal *xmlHref         `xml:"DAV: current-user-principal"`
	CalendarHomeSet      *xmlHref         `xml:"urn:ietf:params:xml:ns:caldav calendar-home-set"`
	CalendarTimezone     *string          `xml:"urn:ietf:params:xml:ns:caldav calendar-timezone"`
	PrivilegeSet         *xmlPrivileges   `xml:"DAV: current-user-privilege-set"`
	ComponentSet         *xmlCompSet      `xml:"urn:ietf:params:xml:ns:caldav supported-calendar-component-set"`
}

type xmlResourceType struct {
	Collection *struct{} `xml:"DAV: collection"`
	Calendar   *struct{} `xml:"urn:ietf:params:xml:ns:caldav calendar"`
}

type xmlPrivileges struct {
	Privileges []struct {
		Inner []xmlAnyName `xml:",any"`
	} `xml:"DAV: privilege"`
}

// canWrite reports whether the set grants write, write-content or all.
func (p *xmlPrivileges) canWrite() bool {
	for _, pr := range p.Privileges {
		for _, n := range pr.Inner {
			if n.XMLName.Space == "DAV:" && (n.XMLName.Local == "write" || n.XMLName.Local == "write-content" || n.XMLName.Local == "all") {
				return true
			}
		}
	}
	return false
}

// xmlAnyName is an element of which only the name matters.
type xmlAnyName struct{ XMLName xml.Name }

type xmlCompSet struct {
	Comps []struct {
		Name string `xml:"name,attr"`
	} `xml:"urn:ietf:params:xml:ns:caldav comp"`
}

// xmlError is a DAV:error body (RFC 4918 16): the precondition that failed.
type xmlError struct {
	XMLName xml.Name     `xml:"DAV: error"`
	Inner   []xmlAnyName `xml:",any"`
}

// hasPrecondition reports whether body is a DAV:error naming the DAV:
// precondition local (such as valid-sync-token).
func hasPrecondition(body []byte, local string) bool {
	var e xmlError
	if xml.Unmarshal(body, &e) != nil {
		return false
	}
	for _, n := range e.Inner {
		if n.XMLName.Local == local {
			return true
		}
	}
	return false
}

// uidConflictHref returns the path of the object a no-uid-conflict error
// body names (RFC 4791 5.3.2.1: a DAV:href inside the precondition), when
// it is an object of the calendar that obj is in; else "".
func uidConflictHref(body []byte, obj string) string {
	var e struct {
		XMLName  xml.Name `xml:"DAV: error"`
		Conflict struct {
			Href string `xml:"DAV: href"`
		} `xml:"urn:ietf:params:xml:ns:caldav no-uid-conflict"`
	}
	if xml.Unmarshal(body, &e) != nil || e.Conflict.Href == "" {
		return ""
	}
	u, err := url.Parse(strings.TrimSpace(e.Conflict.Href))
	if err != nil {
		return ""
	}
	col := obj[:strings.LastIndex(obj, "/")+1]
	if rest, ok := strings.CutPrefix(u.Path, col); !ok || rest == "" || strings.Contains(rest, "/") {
		return ""
	}
	return u.Path
}

// parseStatus reads the code of an HTTP status line ("HTTP/1.1 404 Not
// Found"); 0 when there is none.
func parseStatus(s string) int {
	f := strings.Fields(s)
	if len(f) < 2 {
		return 0
	}
	n, err := strconv.Atoi(f[1])
	if err != nil || n < 100 || n > 999 {
		return 0
	}
	return n
}

// hrefPath turns an href (a path or an absolute URL, percent-encoded) into
// the decoded path the provider uses as an id.
func hrefPath(href string) (string, error) {
	href = strings.TrimSpace(href)
	u, err := url.Parse(href)
	if err != nil || u.Path == "" {
		return "", fmt.Errorf("caldav: bad href %q", href)
	}
	return u.Path, nil
}

// decodeMultistatus parses a 207 body.
func decodeMultistatus(body []byte) (*xmlMultistatus, error) {
	var ms xmlMultistatus
	if err := xml.NewDecoder(bytes.NewReader(body)).Decode(&ms); err != nil {
		return nil, fmt.Errorf("caldav: bad multistatus: %w", err)
	}
	return &ms, nil
}

// syncItem is one member of a sync-collection (or PROPFIND, or multiget)
// answer.
type syncItem struct {
	// Href is the member's decoded path.
	Href string
	// Status is the member's status: 200 for a present member (its
	// propstat's status), 404 for a removed one.
	Status int
	// ETag is the member's getetag, quotes included; empty if not sent.
	ETag string
	// Data is the calendar-data, when the server sent it.
	Data string
	// HasData tells an empty calendar-data from none.
	HasData bool
	// Collection marks a member that is a collection (skipped by callers).
	Collection bool
}

// syncResult is a parsed sync-collection REPORT answer.
type syncResult struct {
	Token string
	Items []syncItem
	// Truncated: the server answered 507 for the collection itself (RFC
	// 6578 3.6): more changes remain; ask again with Token.
	Truncated bool
}

// errNoHref is a response without an href.
var errNoHref = errors.New("caldav: multistatus response without href")

// parseSyncResponse parses the multistatus of a sync-collection REPORT, a
// PROPFIND or a calendar-multiget. self is the request's collection path:
// a response for it carrying 507 marks the answer as truncated, and it is
// never an item. The caller bounds the body's size (MaxResponseBytes).
func parseSyncResponse(body []byte, self string) (*syncResult, error) {
	ms, err := decodeMultistatus(body)
	if err != nil {
		return nil, err
	}
	res := &syncResult{Token: strings.TrimSpace(ms.SyncToken)}
	selfTrim := strings.TrimSuffix(self, "/")
	for _, r := range ms.Responses {
		if len(r.Hrefs) == 0 {
			return nil, errNoHref
		}
		rs := parseStatus(r.Status)
		for _, h := range r.Hrefs {
			p, err := hrefPath(h)
			if err != nil {
				return nil, err
			}
			if strings.TrimSuffix(p, "/") == selfTrim {
				if rs == 507 {
					res.Truncated = true
				}
				continue
			}
			it := syncItem{Href: p, Status: rs}
			for _, ps := range r.Propstats {
				st := parseStatus(ps.Status)
				if st != 200 {
					continue
				}
				it.Status = 200
				if ps.Prop.ETag != nil {
					it.ETag = strings.TrimSpace(*ps.Prop.ETag)
				}
				if ps.Prop.CalendarData != nil {
					it.Data, it.HasData = *ps.Prop.CalendarData, true
				}
				if rt := ps.Prop.ResourceType; rt != nil && rt.Collection != nil {
					it.Collection = true
				}
			}
			if it.Status == 0 && len(r.Propstats) > 0 {
				// Only non-200 propstats (the props were not found): the
				// member exists.
				it.Status = 200
			}
			res.Items = append(res.Items, it)
		}
	}
	return res, nil
}
