package caldav

import (
	"bytes"
	"testing"
)

func FuzzParseSyncResponse(f *testing.F) {
	f.Add([]byte(`<?xml version='1.0' encoding='utf-8'?>
<multistatus xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><sync-token>http://radicale.org/ns/sync/86</sync-token><response><href>/alice/cal/a1.ics</href><propstat><prop><getetag>"53be"</getetag><C:calendar-data>BEGIN:VCALENDAR
END:VCALENDAR
</C:calendar-data></prop><status>HTTP/1.1 200 OK</status></propstat></response><response><href>/alice/cal/gone.ics</href><status>HTTP/1.1 404 Not Found</status></response></multistatus>`), "/alice/cal/")
	f.Add([]byte(`<d:multistatus xmlns:d="DAV:"><d:response><d:href>http://h/alice/cal/</d:href><d:status>HTTP/1.1 507 Insufficient Storage</d:status></d:response><d:sync-token>t2</d:sync-token></d:multistatus>`), "/alice/cal/")
	f.Add([]byte(`<d:multistatus xmlns:d="DAV:"><d:response><d:href>/a/%20b.ics</d:href><d:href>/a/c.ics</d:href><d:status>HTTP/1.1 404</d:status></d:response></d:multistatus>`), "/a/")
	f.Add([]byte(`<d:multistatus xmlns:d="DAV:"><d:response></d:response></d:multistatus>`), "/")
	f.Add([]byte(``), "")
	f.Fuzz(func(t *testing.T, body []byte, self string) {
		res, err := parseSyncResponse(body, self)
		if err != nil {
			return
		}
		for _, it := range res.Items {
			if it.Href == "" {
				t.Fatalf("item without href: %+v", it)
			}
			if it.Data != "" && !it.HasData {
				t.Fatalf("data without HasData: %+v", it)
			}
		}
		// Parsing is deterministic.
		again, err := parseSyncResponse(bytes.Clone(body), self)
		if err != nil || len(again.Items) != len(res.Items) || again.Token != res.Token || again.Truncated != res.Truncated {
			t.Fatalf("second parse differs")
		}
	})
}

func FuzzScanCursor(f *testing.F) {
	f.Add(encodeScanCursor(map[string][8]byte{"a.ics": etagHash(`"1"`), "/other/b.ics": etagHash(`"2"`)}))
	f.Add(encodeScanCursor(map[string][8]byte{}))
	f.Add("!!")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := decodeScanCursor(s)
		if err != nil {
			return
		}
		back, err := decodeScanCursor(encodeScanCursor(m))
		if err != nil || len(back) != len(m) {
			t.Fatalf("re-encoded cursor does not decode to the same map")
		}
		for k, v := range m {
			if back[k] != v {
				t.Fatalf("entry %q differs", k)
			}
		}
	})
}
