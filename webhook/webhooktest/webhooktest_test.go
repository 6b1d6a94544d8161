package webhooktest_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/wedsync/integrations/webhook"
	"github.com/wedsync/integrations/webhook/webhooktest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestReceiverRecordsVerifiesAndAnswersAsScripted(t *testing.T) {
	r := webhooktest.NewReceiver(t)
	secret, err := webhook.GenerateSecret()
	require.NoError(t, err)
	require.NoError(t, r.Verify(secret))
	r.Respond(func(n int, _ *http.Request) webhooktest.Response {
		if n == 1 {
			return webhooktest.Response{Status: 503, Header: http.Header{"Retry-After": {"7"}}, Body: "busy"}
		}
		return webhooktest.Response{}
	})
	s, err := webhook.NewSigner(secret)
	require.NoError(t, err)
	body := []byte(`{"a":1}`)
	for i, id := range []string{"msg_1", "msg_2"} {
		req, err := http.NewRequest(http.MethodPost, r.URL, strings.NewReader(string(body)))
		require.NoError(t, err)
		require.NoError(t, s.SetHeaders(req.Header, id, time.Now(), body))
		if i == 1 {
			req.Header.Set("webhook-signature", "v1,AAAA")
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		if i == 0 {
			require.Equal(t, 503, resp.StatusCode)
			require.Equal(t, "7", resp.Header.Get("Retry-After"))
		} else {
			require.Equal(t, 204, resp.StatusCode)
		}
	}
	d := r.Wait(t, 2)
	require.Equal(t, "msg_1", d[0].ID)
	require.NoError(t, d[0].VerifyErr)
	require.Equal(t, 503, d[0].Status)
	require.ErrorIs(t, d[1].VerifyErr, webhook.ErrNoMatchingSignature)
	require.Equal(t, 2, d[1].N)
	require.Equal(t, 2, r.Count())

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = r.WaitFor(ctx, 3)
	require.ErrorIs(t, err, context.Canceled)
	http.DefaultClient.CloseIdleConnections()
}
