package webhook

// Standard library only, like signature.go.

import (
	"bytes"
	"errors"
	"io"
	"net/http"
)

// DefaultMaxBodyBytes is the largest body [Verifier.Middleware] reads unless
// [WithMaxBodyBytes] says otherwise: 1 MiB.
const DefaultMaxBodyBytes int64 = 1 << 20

// MiddlewareOption configures [Verifier.Middleware].
type MiddlewareOption func(*middlewareOptions)

type middlewareOptions struct {
	maxBody int64
}

// WithMaxBodyBytes sets the largest request body the middleware reads; a
// larger body is answered with 413 Request Entity Too Large without calling
// the next handler. n <= 0 restores the default. Defaults to
// [DefaultMaxBodyBytes] (1 MiB).
func WithMaxBodyBytes(n int64) MiddlewareOption {
	return func(o *middlewareOptions) { o.maxBody = n }
}

// Middleware returns an [http.Handler] that verifies each request with v
// before passing it to next.
//
// It reads the raw body (up to the size cap), verifies the headers and those
// exact bytes, and on success calls next with a request whose Body yields the
// same bytes, untouched, and whose ContentLength is their count. It answers
// without calling next:
//
//   - 413 with a short plain-text reason when the body exceeds the cap;
//   - 400 when the body cannot be read;
//   - 401 with a short plain-text reason (the error's message, which never
//     contains a secret) when [Verifier.Verify] fails.
//
// The middleware does not drop replays: next should remember the webhook-id
// of the messages it has processed.
func (v *Verifier) Middleware(next http.Handler, opts ...MiddlewareOption) http.Handler {
	o := middlewareOptions{maxBody: DefaultMaxBodyBytes}
	for _, opt := range opts {
		opt(&o)
	}
	if o.maxBody <= 0 {
		o.maxBody = DefaultMaxBodyBytes
	}
	return &verifyHandler{v: v, next: next, maxBody: o.maxBody}
}

type verifyHandler struct {
	v       *Verifier
	next    http.Handler
	maxBody int64
}

func (h *verifyHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength > h.maxBody {
		tooLarge(w)
		return
	}
	var body []byte
	if r.Body != nil && r.Body != http.NoBody {
		var buf bytes.Buffer
		if r.ContentLength > 0 {
			buf.Grow(int(r.ContentLength))
		}
		// Read one byte past the cap to tell "exactly the cap" from "more".
		_, err := buf.ReadFrom(io.LimitReader(r.Body, h.maxBody+1))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				tooLarge(w)
				return
			}
			http.Error(w, "webhook: cannot read request body", http.StatusBadRequest)
			return
		}
		if int64(buf.Len()) > h.maxBody {
			tooLarge(w)
			return
		}
		body = buf.Bytes()
	}
	if err := h.v.Verify(r.Header, body); err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	r2 := *r
	r2.Body = io.NopCloser(bytes.NewReader(body))
	r2.ContentLength = int64(len(body))
	r2.GetBody = func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(body)), nil
	}
	h.next.ServeHTTP(w, &r2)
}

func tooLarge(w http.ResponseWriter) {
	http.Error(w, "webhook: request body too large", http.StatusRequestEntityTooLarge)
}
