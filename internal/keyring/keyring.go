package keyring

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/wedsync/integrations/internal/validate"
)

// KeySize is the key length AES-256 needs.
const KeySize = 32

const version = 1

// ErrDecrypt is returned when a value cannot be opened: wrong key, wrong
// associated data, or tampered bytes.
var ErrDecrypt = errors.New("keyring: cannot decrypt value (wrong key, wrong row or tampered)")

// Keyring seals and opens values. It is safe for concurrent use.
type Keyring struct {
	keys []key
}

type key struct {
	id   [4]byte
	aead cipher.AEAD
}

// New returns a keyring that seals with primary and opens with primary or any
// of previous. Each key must be 32 bytes.
func New(primary []byte, previous ...[]byte) (*Keyring, error) {
	k := &Keyring{}
	for i, raw := range append([][]byte{primary}, previous...) {
		if len(raw) != KeySize {
			return nil, fmt.Errorf("keyring: key %d: must be %d bytes, got %d", i, KeySize, len(raw))
		}
		block, err := aes.NewCipher(raw)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(raw)
		var id [4]byte
		copy(id[:], sum[:4])
		k.keys = append(k.keys, key{id: id, aead: aead})
	}
	return k, nil
}

// Generate returns a fresh random keyring, for memory mode and tests, where
// nothing outlives the process.
func Generate() *Keyring {
	raw := make([]byte, KeySize)
	if _, err := rand.Read(raw); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	k, _ := New(raw)
	return k
}

// ParseKey decodes a 32-byte key written as hex (64 characters) or standard
// or URL-safe base64.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) == 2*KeySize {
		if b, err := hex.DecodeString(s); err == nil {
			return b, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != KeySize {
				return nil, fmt.Errorf("keyring: key must decode to %d bytes, got %d", KeySize, len(b))
			}
			return b, nil
		}
	}
	return nil, errors.New("keyring: key must be 64 hex characters or base64 of 32 bytes")
}

// Seal encrypts plaintext bound to aad: version | key id | nonce | ciphertext.
func (k *Keyring) Seal(plaintext, aad []byte) []byte {
	p := k.keys[0]
	out := make([]byte, 1+4+p.aead.NonceSize(), 1+4+p.aead.NonceSize()+len(plaintext)+p.aead.Overhead())
	out[0] = version
	copy(out[1:5], p.id[:])
	if _, err := rand.Read(out[5:]); err != nil {
		panic(err)
	}
	return p.aead.Seal(out, out[5:], plaintext, aad)
}

// Open decrypts a value made by Seal with the same aad.
func (k *Keyring) Open(sealed, aad []byte) ([]byte, error) {
	if len(sealed) < 5 || sealed[0] != version {
		return nil, ErrDecrypt
	}
	for _, p := range k.keys {
		if [4]byte(sealed[1:5]) != p.id {
			continue
		}
		ns := p.aead.NonceSize()
		if len(sealed) < 5+ns {
			return nil, ErrDecrypt
		}
		pt, err := p.aead.Open(nil, sealed[5:5+ns], sealed[5+ns:], aad)
		if err != nil {
			return nil, ErrDecrypt
		}
		return pt, nil
	}
	return nil, ErrDecrypt
}

// ForMode is the key choice every package with secrets at rest makes: the
// host's key (and previous keys) when it gave one; else, in Postgres mode,
// a validation error of pkg naming the WithEncryptionKey option, because
// secrets stored under a random key would not open after a restart; else,
// in memory mode, a random key that lives as long as the process.
func ForMode(pkg string, key []byte, previous [][]byte, postgres bool) (*Keyring, error) {
	switch {
	case key != nil:
		k, err := New(key, previous...)
		if err != nil {
			return nil, validate.New(pkg, "WithEncryptionKey", "%v", err)
		}
		return k, nil
	case postgres:
		return nil, validate.New(pkg, "WithEncryptionKey", "is required in Postgres mode (32 bytes)")
	}
	return Generate(), nil
}
