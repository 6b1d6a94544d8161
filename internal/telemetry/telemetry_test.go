package telemetry_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/wedsync/integrations/internal/telemetry"
	"github.com/wedsync/integrations/internal/telemetry/telemetrytest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestHTTPClientSpanAndDuration(t *testing.T) {
	ctx := context.Background()
	rec := telemetrytest.New(t)
	tel := telemetry.New("webhook/delivery", rec.MeterProvider, rec.TracerProvider)
	hc := tel.HTTPClient()
	require.NoError(t, tel.Err())

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/hooks?token=s3cret", nil)
	require.NoError(t, err)
	rctx, r := hc.Start(ctx, req, attribute.String("wedsync.webhook.endpoint_id", "ep_1"))
	resp, err := http.DefaultClient.Do(req.WithContext(rctx))
	require.NoError(t, err)
	resp.Body.Close()
	r.End(ctx, resp, nil)

	_, r = hc.Start(ctx, req)
	r.End(ctx, nil, &url.Error{Op: "Post", URL: "x", Err: context.DeadlineExceeded})

	ended := rec.Spans()
	require.Len(t, ended, 2)
	s := ended[0]
	require.Equal(t, "POST", s.Name())
	require.Equal(t, trace.SpanKindClient, s.SpanKind())
	require.Equal(t, codes.Error, s.Status().Code)
	attrs := map[attribute.Key]attribute.Value{}
	for _, a := range s.Attributes() {
		attrs[a.Key] = a.Value
	}
	require.Equal(t, int64(503), attrs["http.response.status_code"].AsInt64())
	require.Equal(t, "503", attrs["error.type"].AsString())
	require.Equal(t, "ep_1", attrs["wedsync.webhook.endpoint_id"].AsString())
	require.NotContains(t, attrs["url.full"].AsString(), "s3cret", "query values are redacted")
	require.Equal(t, srv.URL+"/REDACTED?token=REDACTED", attrs["url.full"].AsString(), "and so is the path")
	require.Equal(t, "timeout", telemetrytest.Attr(ended[1].Attributes(), "error.type"))
	require.Equal(t, "timeout", ended[1].Status().Description, "the status names the error's type, never its text (it holds the URL)")
	require.Equal(t, "github.com/wedsync/integrations/webhook/delivery", s.InstrumentationScope().Name)

	m := rec.Collect(t)
	require.Equal(t, []string{"http.client.request.duration"}, m.Names())
	require.Equal(t, "s", m.Unit("http.client.request.duration"))
	points := m.HistogramPoints("http.client.request.duration")
	require.Len(t, points, 2, "one series per status / error type")
	for _, dp := range points {
		_, hasEndpoint := dp.Attributes.Value("wedsync.webhook.endpoint_id")
		require.False(t, hasEndpoint, "ids stay off the metric")
	}
}

func TestDefaultsToTheGlobalProvidersAndErrorType(t *testing.T) {
	tel := telemetry.New("x", nil, nil)
	tel.Counter("wedsync.x", "{x}", "x").Add(context.Background(), 1)
	require.NoError(t, tel.Err())
	require.Equal(t, "_OTHER", telemetry.ErrorType(errors.New("boom")))
	require.Equal(t, "canceled", telemetry.ErrorType(context.Canceled))
	u, _ := url.Parse("https://user:pw@crm.example/h?a=1&b=2#frag")
	require.Equal(t, "https://crm.example/REDACTED?a=REDACTED&b=REDACTED", telemetry.RedactURL(u))
	u, _ = url.Parse("https://hooks.slack.com/services/T000/B000/XXXXSECRET")
	require.Equal(t, "https://hooks.slack.com/REDACTED", telemetry.RedactURL(u))
	u, _ = url.Parse("http://127.0.0.1:8080/")
	require.Equal(t, "http://127.0.0.1:8080/", telemetry.RedactURL(u))
	err := telemetry.RedactError(fmt.Errorf("attempt: %w", &url.Error{Op: "Post", URL: "https://crm.example/hook/XXXXSECRET?k=s3cret", Err: context.DeadlineExceeded}))
	require.EqualError(t, err, `Post "https://crm.example/REDACTED?k=REDACTED": context deadline exceeded`)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	plain := errors.New("no url here")
	require.Same(t, plain, telemetry.RedactError(plain))
}
