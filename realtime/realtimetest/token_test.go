package realtimetest_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/wedsync/integrations/realtime/realtimetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var testSecret = []byte("realtimetest-secret-0123456789-abcdef")

func parse(t *testing.T, tok string, secret []byte) jwt.MapClaims {
	t.Helper()
	claims := jwt.MapClaims{}
	_, err := jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(), jwt.WithIssuedAt()).
		ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return secret, nil })
	require.NoError(t, err)
	return claims
}

func TestHS256TokenClaims(t *testing.T) {
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	tok, err := realtimetest.HS256Token(testSecret, "42", exp)
	require.NoError(t, err)
	claims := parse(t, tok, testSecret)
	require.Equal(t, "supplier-user-42", claims["sub"])
	require.Equal(t, "authenticated", claims["role"])
	require.Equal(t, "authenticated", claims["aud"])
	require.Equal(t, map[string]any{"supplier_id": "42"}, claims["app_metadata"])
	require.Equal(t, float64(exp.Unix()), claims["exp"])
	iat, ok := claims["iat"].(float64)
	require.True(t, ok)
	require.LessOrEqual(t, int64(iat), time.Now().Unix())
}

func TestHS256TokenLongLivedIsNotIssuedInTheFuture(t *testing.T) {
	tok, err := realtimetest.HS256Token(testSecret, "7", time.Now().Add(48*time.Hour))
	require.NoError(t, err)
	parse(t, tok, testSecret) // WithIssuedAt refuses an iat after now
}

func TestHS256TokenDeterministicForPastTimes(t *testing.T) {
	exp := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	a, err := realtimetest.HS256Token(testSecret, "1", exp)
	require.NoError(t, err)
	b, err := realtimetest.HS256Token(testSecret, "1", exp)
	require.NoError(t, err)
	require.Equal(t, a, b)
	claims := jwt.MapClaims{}
	_, _, err = jwt.NewParser().ParseUnverified(a, claims)
	require.NoError(t, err)
	require.Equal(t, float64(exp.Add(-time.Hour).Unix()), claims["iat"])
}

func TestHS256TokenWithoutSupplier(t *testing.T) {
	tok, err := realtimetest.HS256Token(testSecret, "", time.Now().Add(time.Minute))
	require.NoError(t, err)
	claims := parse(t, tok, testSecret)
	require.NotContains(t, claims, "app_metadata")
}

func TestHS256TokenWithClaims(t *testing.T) {
	tok, err := realtimetest.HS256TokenWithClaims(testSecret, map[string]any{
		"sub": "u1", "exp": time.Now().Add(time.Minute).Unix(), "app_metadata": map[string]any{"supplier_id": 42},
	})
	require.NoError(t, err)
	claims := parse(t, tok, testSecret)
	require.Equal(t, "u1", claims["sub"])
	require.Equal(t, map[string]any{"supplier_id": float64(42)}, claims["app_metadata"])

	tok, err = realtimetest.HS256TokenWithClaims(testSecret, nil)
	require.NoError(t, err)
	require.NotEmpty(t, tok)
}

func TestHS256TokenErrors(t *testing.T) {
	_, err := realtimetest.HS256Token(nil, "1", time.Now())
	require.ErrorContains(t, err, "secret is empty")
	_, err = realtimetest.HS256TokenWithClaims([]byte{}, nil)
	require.ErrorContains(t, err, "secret is empty")
	_, err = realtimetest.HS256TokenWithClaims(testSecret, map[string]any{"bad": make(chan int)})
	require.Error(t, err)
}

func ExampleHS256Token() {
	secret := []byte("super-secret-jwt-token-with-at-least-32-characters")
	tok, err := realtimetest.HS256Token(secret, "42", time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		panic(err)
	}
	claims := jwt.MapClaims{}
	_, _, err = jwt.NewParser().ParseUnverified(tok, claims)
	if err != nil {
		panic(err)
	}
	fmt.Println(claims["sub"], claims["role"], claims["app_metadata"])
	// Output:
	// supplier-user-42 authenticated map[supplier_id:42]
}
