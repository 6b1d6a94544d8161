package realtimetest

import (
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// HS256Token signs a Supabase-style token with secret: sub
// "supplier-user-<supplierID>", role "authenticated", aud "authenticated",
// app_metadata.supplier_id supplierID (left out when supplierID is empty),
// exp expiresAt and iat one hour before expiresAt, or now if that is
// earlier (so that a test on a fake clock can mint tokens that live an
// hour, and a test on the wall clock tokens of any lifetime).
//
// It returns an error when secret is empty.
func HS256Token(secret []byte, supplierID string, expiresAt time.Time) (string, error) {
	iat := expiresAt.Add(-time.Hour)
	if now := time.Now(); now.Before(iat) {
		iat = now
	}
	claims := map[string]any{
		"sub":  "supplier-user-" + supplierID,
		"role": "authenticated",
		"aud":  "authenticated",
		"iat":  iat.Unix(),
		"exp":  expiresAt.Unix(),
	}
	if supplierID != "" {
		claims["app_metadata"] = map[string]any{"supplier_id": supplierID}
	}
	return HS256TokenWithClaims(secret, claims)
}

// HS256TokenWithClaims signs claims, exactly as given, as an HS256 token
// with secret. Times are plain numbers of seconds (use time.Unix()); claims
// may be nil for an empty claim set.
//
// It returns an error when secret is empty or a claim cannot be encoded as
// JSON.
func HS256TokenWithClaims(secret []byte, claims map[string]any) (string, error) {
	if len(secret) == 0 {
		return "", errors.New("realtimetest: the HS256 secret is empty")
	}
	mc := jwt.MapClaims{}
	for k, v := range claims {
		mc[k] = v
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, mc).SignedString(secret)
}
