package webhook

// Standard library only, like signature.go.

import (
	"bytes"
	"errors"
	"io"
	"net/http"
)

// Middleware wraps next in a handler that verifies each request with v
// before passing it on. It has the net/http middleware shape,
// func(http.Handler) http.Handler, so it fits any router's chain:
//
//	mux.Handle("POST /webhooks", v.Middleware(handler))
//	r.Use(v.Middleware) // chi, gorilla/mux, ...
//
// It reads the raw body, up to the cap set with [WithMaxBodyBytes] on
// [NewVerifier] (1 MiB by default), verifies the headers and those exact
// bytes, and on success calls next with a request whose Body yields the same
// bytes, untouched, and whose ContentLength is their count. The body buffer
// grows with the bytes that arrive, never with the Content-Length a client
// announces. It answers without calling next:
//
//   - 413 with a short plain-text reason when the body exceeds the cap
//     (including an announced Content-Length over the cap, before reading);
//   - 400 when the body cannot be read;
//   - 401 with a short plain-text reason (the error's message, which never
//     contains a secret) when [Verifier.Verify] fails.
//
// The middleware does not drop replays: next should remember the webhook-id
// of the messages it has processed.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return &verifyHandler{v: v, next: next, maxBody: v.maxBody}
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
		var err error
		body, err = readBody(r.Body, r.ContentLength, h.maxBody)
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.Is(err, errTooLarge) || errors.As(err, &mbe) {
				tooLarge(w)
				return
			}
			http.Error(w, "webhook: cannot read request body", http.StatusBadRequest)
			return
		}
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

// errTooLarge is readBody's answer to a body longer than its cap.
var errTooLarge = errors.New("webhook: request body too large")

// firstReadSize is the largest buffer readBody starts with.
const firstReadSize = 512

// readBody reads r to its end and returns the bytes, or errTooLarge when r
// holds more than max bytes. contentLength is the announced length, -1 when
// unknown.
//
// The buffer grows with what arrives, never with what the client announced:
// it starts at firstReadSize bytes and doubles only once full, so it never
// holds more than about twice the bytes received. A client that announces a
// large Content-Length and then stalls costs firstReadSize bytes, not its
// claim: nothing has been verified yet, so the claim is anyone's. The
// announced length only shapes the growth: the step that would reach it
// stops there (plus one byte, to read the end), so an honest body ends in a
// buffer of its own size rather than the next power of two.
func readBody(r io.Reader, contentLength, max int64) ([]byte, error) {
	// One byte past the cap tells "exactly the cap" from "more".
	limit := max + 1
	size := int64(firstReadSize)
	if contentLength >= 0 && contentLength < size {
		size = contentLength + 1
	}
	buf := make([]byte, 0, min(size, limit))
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) >= limit {
				return nil, errTooLarge
			}
			next := 2 * int64(cap(buf))
			if int64(len(buf)) <= contentLength && contentLength < next {
				next = contentLength + 1
			}
			grown := make([]byte, len(buf), min(next, limit))
			copy(grown, buf)
			buf = grown
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

func tooLarge(w http.ResponseWriter) {
	http.Error(w, "webhook: request body too large", http.StatusRequestEntityTooLarge)
}
