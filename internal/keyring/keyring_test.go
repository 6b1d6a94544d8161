package keyring_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/wedsync/integrations/internal/keyring"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestSealOpenRotateAndTamper(t *testing.T) {
	oldKey := bytes.Repeat([]byte{1}, 32)
	newKey := bytes.Repeat([]byte{2}, 32)
	old, err := keyring.New(oldKey)
	require.NoError(t, err)
	sealed := old.Seal([]byte("whsec_abc"), []byte("ep_1"))
	require.NotContains(t, string(sealed), "whsec_abc")

	rotated, err := keyring.New(newKey, oldKey)
	require.NoError(t, err)
	pt, err := rotated.Open(sealed, []byte("ep_1"))
	require.NoError(t, err)
	require.Equal(t, "whsec_abc", string(pt))

	_, err = rotated.Open(sealed, []byte("ep_2"))
	require.ErrorIs(t, err, keyring.ErrDecrypt, "bound to its row")
	bad := bytes.Clone(sealed)
	bad[len(bad)-1] ^= 1
	_, err = rotated.Open(bad, []byte("ep_1"))
	require.ErrorIs(t, err, keyring.ErrDecrypt)
	fresh, err := keyring.New(newKey)
	require.NoError(t, err)
	_, err = fresh.Open(sealed, []byte("ep_1"))
	require.ErrorIs(t, err, keyring.ErrDecrypt, "old key dropped")
	_, err = rotated.Open(nil, nil)
	require.ErrorIs(t, err, keyring.ErrDecrypt)

	_, err = keyring.New([]byte("short"))
	require.ErrorContains(t, err, "must be 32 bytes")
}

func TestParseKey(t *testing.T) {
	raw := bytes.Repeat([]byte{7}, 32)
	for _, s := range []string{hex.EncodeToString(raw), base64.StdEncoding.EncodeToString(raw), base64.RawURLEncoding.EncodeToString(raw)} {
		got, err := keyring.ParseKey(s)
		require.NoError(t, err, s)
		require.Equal(t, raw, got)
	}
	_, err := keyring.ParseKey(base64.StdEncoding.EncodeToString(raw[:16]))
	require.ErrorContains(t, err, "32 bytes")
	_, err = keyring.ParseKey("not a key!")
	require.Error(t, err)
}

func FuzzOpen(f *testing.F) {
	k := keyring.Generate()
	f.Add(k.Seal([]byte("x"), nil))
	f.Add([]byte{1, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = k.Open(b, nil) // must not panic
	})
}

func TestForModeChoosesTheHostsKeyRefusesNoneInPostgresAndGeneratesInMemory(t *testing.T) {
	key := make([]byte, keyring.KeySize)
	k, err := keyring.ForMode("notify", key, nil, true)
	if err != nil || k == nil {
		t.Fatalf("host's key in Postgres mode: %v", err)
	}
	if _, err := keyring.ForMode("notify", nil, nil, true); err == nil || err.Error() != "notify: WithEncryptionKey: is required in Postgres mode (32 bytes)" {
		t.Fatalf("no key in Postgres mode: %v", err)
	}
	if _, err := keyring.ForMode("delivery", []byte("short"), nil, false); err == nil || !strings.HasPrefix(err.Error(), "delivery: WithEncryptionKey: ") {
		t.Fatalf("a bad key names the option: %v", err)
	}
	a, errA := keyring.ForMode("notify", nil, nil, false)
	b, errB := keyring.ForMode("notify", nil, nil, false)
	if errA != nil || errB != nil {
		t.Fatalf("memory mode: %v %v", errA, errB)
	}
	if _, err := b.Open(a.Seal([]byte("s"), nil), nil); err == nil {
		t.Fatal("memory mode generates a fresh key each time")
	}
}
