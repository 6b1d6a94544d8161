package caldavtest_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/wedsync/integrations/calendar/caldav/caldavtest"
)

// The demo's memory mode: an in-process CalDAV server on loopback.
func ExampleNewMemoryServer() {
	mem := caldavtest.NewMemoryServer()
	cal := mem.CreateCalendar("alice", "work")
	hs := httptest.NewServer(mem)
	defer hs.Close()

	req, _ := http.NewRequest("PROPFIND", hs.URL+cal, strings.NewReader(""))
	req.SetBasicAuth("alice", "any password")
	req.Header.Set("Depth", "0")
	req.Close = true
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(cal, resp.StatusCode)
	// Output: /alice/calendars/work/ 207
}
