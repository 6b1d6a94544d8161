package caldav_test

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/calendar/caldav"
	"github.com/wedsync/integrations/calendar/caldav/caldavtest"
	"github.com/wedsync/integrations/internal/telemetry/telemetrytest"
)

// The provider's HTTP spans carry the package's own instrumentation scope,
// as docs/telemetry.md names it (the prefix once, not twice).
func TestProviderTelemetryScope(t *testing.T) {
	mem := caldavtest.NewMemoryServer()
	cal := mem.CreateCalendar("alice", "work")
	hs := httptest.NewServer(mem)
	defer hs.Close()
	srv := &caldavtest.Server{URL: hs.URL + "/"}

	rec := telemetrytest.New(t)
	p, err := caldav.New(append(srv.ProviderOptions(), caldav.WithTracerProvider(rec.TracerProvider), caldav.WithMeterProvider(rec.MeterProvider))...)
	require.NoError(t, err)
	defer p.CloseIdleConnections()

	_, err = p.Changes(context.Background(), srv.Creds("alice"), cal, "")
	require.NoError(t, err)
	spans := rec.Spans()
	require.NotEmpty(t, spans, "the CalDAV requests made no spans")
	for _, s := range spans {
		require.Equal(t, "github.com/wedsync/integrations/calendar/caldav", s.InstrumentationScope().Name, "span %q", s.Name())
	}
}
