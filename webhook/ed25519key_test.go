package webhook_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/webhook"
)

// smallOrderKeys are the 14 encodings crypto/ed25519 accepts as public keys
// and decodes to a point whose order divides 8: the 8 canonical ones, then
// the 6 non-canonical aliases (y + p for y < 19, and x = 0 with the sign bit
// set). ed25519key_internal_test.go derives them from the curve.
var smallOrderKeys = []string{
	"0100000000000000000000000000000000000000000000000000000000000000", // identity
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // order 2
	"0000000000000000000000000000000000000000000000000000000000000000", // order 4: the all-zero key
	"0000000000000000000000000000000000000000000000000000000000000080", // order 4
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", // order 8
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa", // order 8
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", // order 8
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85", // order 8
	"0100000000000000000000000000000000000000000000000000000000000080", // identity, x = -0
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // order 2, x = -0
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p: order 4
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // y = p: order 4
	"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p + 1: identity
	"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // y = p + 1: identity, x = -0
}

// forge looks for a message id whose signed content a small-order key
// "verifies" with R = the identity and S = 0, a signature anyone can write:
// crypto/ed25519 checks [S]B = R + [k]A, and [k]A is the identity whenever
// the order of A divides k, which a few tries of the id find.
func forge(t *testing.T, pub []byte, ts string, body []byte) (id string, sig []byte) {
	t.Helper()
	sig = make([]byte, ed25519.SignatureSize)
	sig[0] = 1 // R = 0100..00, the identity; S = 0
	for i := range 256 {
		id = "msg_forged_" + strconv.Itoa(i)
		if ed25519.Verify(pub, []byte(id+"."+ts+"."+string(body)), sig) {
			return id, sig
		}
	}
	t.Fatalf("%x: no forgery among 256 ids", pub)
	return "", nil
}

func TestSmallOrderPublicKeysRefused(t *testing.T) {
	body := []byte(`{"type":"booking.cancelled","data":{"refund":"full"}}`)
	ts := strconv.Itoa(vecTS)
	for _, h := range smallOrderKeys {
		pub, err := hex.DecodeString(h)
		require.NoError(t, err)
		key := webhook.PrefixEd25519PublicKey + base64.StdEncoding.EncodeToString(pub)
		t.Run(h[:8]+".."+h[60:], func(t *testing.T) {
			// crypto/ed25519 takes the key and a signature nobody made.
			id, sig := forge(t, pub, ts, body)
			require.True(t, ed25519.Verify(pub, []byte(id+"."+ts+"."+string(body)), sig))

			_, err := webhook.NewVerifier(key)
			require.ErrorIs(t, err, webhook.ErrMalformedSecret)
			require.ErrorIs(t, err, webhook.ErrInvalid)
			require.ErrorContains(t, err, "secret: whpk_ key")
			require.NotContains(t, err.Error(), key[len(webhook.PrefixEd25519PublicKey):], "never echo the key")
			require.NotContains(t, err.Error(), h)

			_, err = webhook.NewVerifier(vecSecret, webhook.WithSecrets(key))
			require.ErrorIs(t, err, webhook.ErrMalformedSecret)
			require.ErrorContains(t, err, "WithSecrets[0]: whpk_ key")
		})
	}
}

// The report: "whpk_" + 32 zero bytes was accepted, and a webhook signed by
// nobody then verified.
func TestZeroPublicKeyForgery(t *testing.T) {
	zero := make([]byte, ed25519.PublicKeySize)
	body := []byte(`{"type":"payment.refunded","data":{"amount":250000}}`)
	ts := strconv.Itoa(vecTS)
	// The attacker sends webhook-id: id and webhook-signature: v1a,<sig>;
	// this is the check Verify made for that entry, and it passed.
	id, sig := forge(t, zero, ts, body)
	require.True(t, ed25519.Verify(zero, []byte(id+"."+ts+"."+string(body)), sig))

	v, err := webhook.NewVerifier("whpk_"+base64.StdEncoding.EncodeToString(zero), fixedNow(vecTime))
	require.ErrorIs(t, err, webhook.ErrMalformedSecret)
	require.EqualError(t, err, "webhook: malformed secret: secret: whpk_ key is a point of small order, "+
		"which would verify signatures made without the private key")
	require.Nil(t, v)
}

func TestGeneratedPublicKeysAccepted(t *testing.T) {
	body := []byte(`{"ok":true}`)
	for i := range 1000 {
		sk, pk, err := webhook.GenerateKeyPair()
		require.NoError(t, err)
		v, err := webhook.NewVerifier(pk, fixedNow(vecTime))
		require.NoError(t, err)
		if i%100 == 0 { // and they verify: a sample, Ed25519 signing is not free
			h, err := newSigner(t, sk).Headers("msg_gen", vecTime, body)
			require.NoError(t, err)
			require.NoError(t, v.Verify(h, body))
			require.NoError(t, newVerifier(t, sk, fixedNow(vecTime)).Verify(h, body))
		}
	}
}

// RFC 8032, section 7.1, TEST 1: the seed, its public key, and the signature
// of the empty message.
func TestRFC8032Key(t *testing.T) {
	seed, _ := hex.DecodeString("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
	pub, _ := hex.DecodeString("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
	sig, _ := hex.DecodeString("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
	require.Equal(t, sig, ed25519.Sign(ed25519.NewKeyFromSeed(seed), nil))
	require.True(t, ed25519.Verify(pub, nil, sig))

	sk := webhook.PrefixEd25519SecretKey + base64.StdEncoding.EncodeToString(seed)
	pk := webhook.PrefixEd25519PublicKey + base64.StdEncoding.EncodeToString(pub)
	body := []byte(`{"rfc":8032}`)
	h, err := newSigner(t, sk).Headers("msg_rfc", vecTime, body)
	require.NoError(t, err)
	require.NoError(t, newVerifier(t, pk, fixedNow(vecTime)).Verify(h, body))
	want := ed25519.Sign(ed25519.NewKeyFromSeed(seed), []byte(fmt.Sprintf("msg_rfc.%d.%s", vecTS, body)))
	require.Equal(t, "v1a,"+base64.StdEncoding.EncodeToString(want), h.Get(webhook.HeaderWebhookSignature))
}
