package validate_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/wedsync/integrations/internal/validate"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestErrorNamesPackageFieldAndRule(t *testing.T) {
	err := validate.New("delivery", "rate_limit", "must be at least %g per second, got %g", 1.0/60, 1e-300)
	require.EqualError(t, err, "delivery: rate_limit: must be at least 0.016666666666666666 per second, got 1e-300")
	require.ErrorIs(t, fmt.Errorf("wrapped: %w", err), validate.ErrInvalid)
	var ve *validate.Error
	require.ErrorAs(t, err, &ve)
	require.Equal(t, "rate_limit", ve.Field)
}

func TestPrefixAndChecker(t *testing.T) {
	err := validate.Prefix("messages[3]", validate.New("delivery", "payload", "must be valid JSON"))
	require.EqualError(t, err, "delivery: messages[3].payload: must be valid JSON")
	require.ErrorIs(t, err, validate.ErrInvalid)
	other := validate.Prefix("messages[1]", errors.New("boom"))
	require.EqualError(t, other, "messages[1]: boom")
	require.NotErrorIs(t, other, validate.ErrInvalid)

	c := validate.NewChecker("realtime")
	c.Check(true, "WithIdleTimeout", "must be positive")
	require.NoError(t, c.Err())
	c.Check(false, "WithIdleTimeout", "must be positive, got %s", "0s")
	c.Check(false, "WithMaxChannels", "must be at least 1")
	err = c.Err()
	require.ErrorIs(t, err, validate.ErrInvalid)
	require.Contains(t, err.Error(), "realtime: WithIdleTimeout: must be positive, got 0s")
	require.Contains(t, err.Error(), "realtime: WithMaxChannels: must be at least 1")
}
