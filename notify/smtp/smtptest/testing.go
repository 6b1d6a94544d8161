package smtptest

import "testing"

// StartT starts a server for a test and closes it when the test ends; it
// fails the test if the server cannot start.
func StartT(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s, err := Start(opts...)
	if err != nil {
		t.Fatalf("smtptest: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("smtptest: closing: %v", err)
		}
	})
	return s
}
