package fcm_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wedsync/integrations/notify/fcm"
)

const (
	testProject = "wedsync-test"
	testEmail   = "fcm-sender@wedsync-test.iam.gserviceaccount.com"
	testKeyID   = "5f2b1c0e9d8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c"
	accessToken = "ya29.fake-access-token-0123456789"
)

// Registration tokens the fake FCM answers specially; any other is sent.
const (
	tokOK           = "fGx9-reg-token:APA91bHPRgkF3JUikC4ENAHEeMrd41Zxv3hVZjC9KtT8OvPVGJ-hQMRKRrZuJAEcl7B338qju59zJMjw2DELjzEvxwYv7hH5Ynpc1ODQ0aT4U4OFEeco8ohsN5PjL1iC2dNtk2BAokeMCg2ZXKqpc8FXKmhX94kIxQ"
	tokUnregistered = "tok-unregistered"
	tokInvalid      = "tok-invalid"
	tokBusy         = "tok-busy"     // 429, Retry-After: 30
	tokDown         = "tok-down"     // 503, Retry-After: 12
	tokMismatch     = "tok-mismatch" // 403 SENDER_ID_MISMATCH
	tokEcho         = "tok-echo-secrets"
	tokTooBig       = "tok-too-big" // 400 INVALID_ARGUMENT about the payload
)

// testKey is the service account's key pair, made once per test binary.
var testKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// serviceAccountJSON is a key file as the Firebase console downloads it.
func serviceAccountJSON(t *testing.T, key *rsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(map[string]string{
		"type":                        "service_account",
		"project_id":                  testProject,
		"private_key_id":              testKeyID,
		"private_key":                 string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":                testEmail,
		"client_id":                   "104729384756102938475",
		"auth_uri":                    "https://accounts.google.com/o/oauth2/auth",
		"token_uri":                   "https://oauth2.googleapis.com/token",
		"auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
		"universe_domain":             "googleapis.com",
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wireMessage is the shape FCM's messages:send accepts, as far as the
// provider uses it; the fake decodes strictly into it.
type wireMessage struct {
	Token        string            `json:"token"`
	Notification *wireNotification `json:"notification,omitempty"`
	Data         map[string]string `json:"data,omitempty"`
	Android      *wireAndroid      `json:"android,omitempty"`
	Webpush      *wireWebpush      `json:"webpush,omitempty"`
}

type wireNotification struct {
	Title string `json:"title,omitempty"`
	Body  string `json:"body,omitempty"`
}

type wireAndroid struct {
	Priority string `json:"priority"`
}

type wireWebpush struct {
	Headers    map[string]string `json:"headers,omitempty"`
	FCMOptions *struct {
		Link string `json:"link"`
	} `json:"fcm_options,omitempty"`
}

// fakeGoogle is Google's token endpoint (/token) and FCM's send endpoint
// in one server. The token endpoint verifies the JWT assertion against the
// service account's public key and checks its claims; the send endpoint
// checks the bearer token, the project path and the JSON shape.
type fakeGoogle struct {
	*httptest.Server
	pub *rsa.PublicKey

	mu            sync.Mutex
	tokenRequests int
	sendRequests  int
	messages      []wireMessage
}

func newFakeGoogle(t *testing.T) *fakeGoogle {
	t.Helper()
	f := &fakeGoogle{pub: &testKey().PublicKey}
	mux := http.NewServeMux()
	mux.HandleFunc("/token", f.token)
	mux.HandleFunc("/", f.send)
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

func (f *fakeGoogle) tokenURL() string { return f.URL + "/token" }

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

func (f *fakeGoogle) token(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.tokenRequests++
	f.mu.Unlock()
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "POST a form")
		return
	}
	if r.PostFormValue("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "want jwt-bearer")
		return
	}
	claims := jwt.MapClaims{}
	tok, err := jwt.ParseWithClaims(r.PostFormValue("assertion"), claims,
		func(*jwt.Token) (any, error) { return f.pub, nil },
		jwt.WithValidMethods([]string{"RS256"}),
		jwt.WithAudience(f.tokenURL()),
		jwt.WithIssuer(testEmail),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
	)
	if err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "Invalid JWT Signature.")
		return
	}
	if tok.Header["kid"] != testKeyID || claims["scope"] != fcm.Scope {
		oauthError(w, http.StatusBadRequest, "invalid_scope", fmt.Sprintf("kid %v scope %v", tok.Header["kid"], claims["scope"]))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": accessToken, "token_type": "Bearer", "expires_in": 3599})
}

// googleError writes Google's error body; errorCode, when set, goes in an
// FcmError detail.
func googleError(w http.ResponseWriter, status int, rpcStatus, errorCode, msg string, extra ...map[string]any) {
	var details []map[string]any
	if errorCode != "" {
		details = append(details, map[string]any{
			"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": errorCode,
		})
	}
	details = append(details, extra...)
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"code": status, "message": msg, "status": rpcStatus, "details": details,
	}})
}

func (f *fakeGoogle) send(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.sendRequests++
	f.mu.Unlock()
	if r.URL.Path != "/v1/projects/"+testProject+"/messages:send" {
		googleError(w, http.StatusNotFound, "NOT_FOUND", "", "Requested entity was not found.")
		return
	}
	if r.Method != http.MethodPost {
		googleError(w, http.StatusMethodNotAllowed, "UNIMPLEMENTED", "", "Method not allowed")
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+accessToken {
		googleError(w, http.StatusUnauthorized, "UNAUTHENTICATED", "",
			"Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.")
		return
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		googleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "want JSON")
		return
	}
	var body struct {
		Message wireMessage `json:"message"`
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil || body.Message.Token == "" {
		googleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "INVALID_ARGUMENT", fmt.Sprintf("Invalid JSON payload received. %v", err))
		return
	}
	f.mu.Lock()
	f.messages = append(f.messages, body.Message)
	f.mu.Unlock()
	switch body.Message.Token {
	case tokUnregistered:
		googleError(w, http.StatusNotFound, "NOT_FOUND", "UNREGISTERED", "Requested entity was not found.")
	case tokInvalid:
		googleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "INVALID_ARGUMENT",
			"The registration token is not a valid FCM registration token",
			map[string]any{
				"@type":           "type.googleapis.com/google.rpc.BadRequest",
				"fieldViolations": []map[string]string{{"field": "message.token", "description": "Invalid registration token"}},
			})
	case tokTooBig:
		googleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "Message is too big")
	case tokBusy:
		w.Header().Set("Retry-After", "30")
		googleError(w, http.StatusTooManyRequests, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", "Quota exceeded for quota metric 'Send requests'")
	case tokDown:
		w.Header().Set("Retry-After", "12")
		googleError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "UNAVAILABLE", "The service is currently unavailable.")
	case tokMismatch:
		googleError(w, http.StatusForbidden, "PERMISSION_DENIED", "SENDER_ID_MISMATCH", "SenderId mismatch")
	case tokEcho:
		googleError(w, http.StatusInternalServerError, "INTERNAL", "INTERNAL",
			"Internal error for "+body.Message.Token+" with "+accessToken+"\nwhile sending "+body.Message.Notification.Body)
	default:
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		fmt.Fprintf(w, `{"name": "projects/%s/messages/123"}`, testProject)
	}
}

func (f *fakeGoogle) counts() (tokens, sends int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokenRequests, f.sendRequests
}

func (f *fakeGoogle) lastMessage() wireMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.messages) == 0 {
		return wireMessage{}
	}
	return f.messages[len(f.messages)-1]
}
