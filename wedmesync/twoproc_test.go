package wedmesync_test

// The two platforms as two processes over HTTP: the test binary runs
// itself again as the supplier platform (TestHelperProcess), each side
// serves its node's Handler on a loopback port and replicates with the
// other over HTTPTransport (Peer.SyncOnce both ways, pushes dropped,
// delayed and duplicated on the way); both record random edits,
// interleaved; at the end both hold the same records.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/wedsync/integrations/wedmesync"
)

// The child's configuration, passed in its environment.
const (
	envHelperSecret = "WEDSYNC_WEDMESYNC_HELPER_SECRET"
	envHelperSeed   = "WEDSYNC_WEDMESYNC_HELPER_SEED"
	envHelperPeer   = "WEDSYNC_WEDMESYNC_HELPER_PEER"
)

// TestHelperProcess is the supplier platform of TestTwoProcessesHTTP; it
// only runs as that test's child. It serves its node's Handler under
// /sync and, for the parent only, /test/edit (record one random edit),
// /test/sync (replicate with the parent now) and /test/records; it prints
// its URL and runs until its stdin closes.
func TestHelperProcess(t *testing.T) {
	secret := os.Getenv(envHelperSecret)
	if secret == "" {
		t.Skip("the child of TestTwoProcessesHTTP")
	}
	seed, err := strconv.ParseUint(os.Getenv(envHelperSeed), 10, 64)
	require.NoError(t, err)
	rnd := rand.New(rand.NewPCG(seed, seed^0xc41d))
	sup := memNode(t, wedmesync.SideSupplier, "supplier1")
	h, err := sup.Handler(secret, wedmesync.WithPathPrefix("/sync"), wedmesync.WithRateLimit(rate.Inf, 1))
	require.NoError(t, err)
	toWedMe := &lossy{rnd: rnd, t: dial(t, os.Getenv(envHelperPeer), secret), stats: map[string]int{}}
	peer := sup.NewPeer("wedme", toWedMe)

	mux := http.NewServeMux()
	mux.Handle("/sync/", h)
	fail := func(w http.ResponseWriter, err error) bool {
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
		return err != nil
	}
	mux.HandleFunc("POST /test/edit", func(w http.ResponseWriter, r *http.Request) {
		_, err := sup.Record(r.Context(), randomEdit(rnd, wedmesync.SideSupplier))
		fail(w, err)
	})
	mux.HandleFunc("POST /test/sync", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("flush") {
			if fail(w, toWedMe.flush(r.Context())) {
				return
			}
		}
		fail(w, peer.SyncOnce(r.Context()))
	})
	mux.HandleFunc("GET /test/records", func(w http.ResponseWriter, r *http.Request) {
		recs, err := sup.Records(r.Context())
		if !fail(w, err) {
			require.NoError(t, json.NewEncoder(w).Encode(recs))
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: mux}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	fmt.Printf("URL http://%s\n", ln.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin) // until the parent closes it
	require.NoError(t, srv.Shutdown(context.Background()))
	require.ErrorIs(t, <-done, http.ErrServerClosed)
}

// child is the running supplier process.
type child struct {
	url string
}

func (c child) call(t *testing.T, method, path string) []byte {
	t.Helper()
	req, err := http.NewRequest(method, c.url+path, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s %s: %s", method, path, b)
	return b
}

func TestTwoProcessesHTTP(t *testing.T) {
	if os.Getenv(envHelperSecret) != "" {
		t.Skip("in the child")
	}
	for range seeds(t, 1) {
		seed := rand.Uint64()
		twoProcesses(t, seed, 500)
	}
}

func twoProcesses(t *testing.T, seed uint64, edits int) {
	ctx := context.Background()
	rnd := rand.New(rand.NewPCG(seed, seed^0x5eed))
	secret := newSecret(t)
	wedme := memNode(t, wedmesync.SideWedMe, "wedme1")
	wedmeSrv := serve(t, wedme, secret, wedmesync.WithPathPrefix("/sync"), wedmesync.WithRateLimit(rate.Inf, 1))

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), envHelperSecret+"="+secret, envHelperSeed+"="+strconv.FormatUint(seed, 10),
		envHelperPeer+"="+wedmeSrv.URL+"/sync")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	exited := false
	t.Cleanup(func() {
		http.DefaultClient.CloseIdleConnections()
		if !exited {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	out := bufio.NewReader(stdout)
	line, err := out.ReadString('\n')
	require.NoError(t, err, "the child's first line; stderr: %s", &stderr)
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "URL ")
	require.True(t, ok, "the child printed %q", line)
	sup := child{url: url}

	stats := map[string]int{}
	toSup := &lossy{rnd: rnd, t: dial(t, url+"/sync", secret), stats: stats}
	peer := wedme.NewPeer("supplier-platform", toSup)
	for i := range 2 * edits {
		if i%2 == 0 {
			_, err := wedme.Record(ctx, randomEdit(rnd, wedmesync.SideWedMe))
			require.NoError(t, err)
		} else {
			sup.call(t, http.MethodPost, "/test/edit")
		}
		switch rnd.IntN(8) {
		case 0:
			require.NoError(t, peer.SyncOnce(ctx))
		case 1:
			sup.call(t, http.MethodPost, "/test/sync")
		case 2:
			require.NoError(t, toSup.flush(ctx))
		}
	}
	require.NoError(t, toSup.flush(ctx))
	sup.call(t, http.MethodPost, "/test/sync?flush=1")
	require.NoError(t, peer.SyncOnce(ctx))

	var b []wedmesync.Record
	require.NoError(t, json.Unmarshal(sup.call(t, http.MethodGet, "/test/records"), &b))
	a, err := wedme.Records(ctx)
	require.NoError(t, err)
	requireSameRecords(t, seed, a, b)

	require.NoError(t, stdin.Close())
	rest, err := io.ReadAll(out)
	require.NoError(t, err)
	err = cmd.Wait()
	exited = true
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		t.Fatalf("the child failed: %v\n%s\n%s", err, rest, &stderr)
	}
	require.NoError(t, err)
	c := wedme.Counts()
	t.Logf("seed %d, two processes over HTTP: %d edits on each side, %d records identical; WedMe's pushes dropped %d, delayed %d, duplicated %d changes; WedMe applied %d (dup %d)",
		seed, edits, len(a), stats["dropped"], stats["delayed"], stats["duplicated"], c[wedmesync.OutcomeApplied], c[wedmesync.OutcomeDuplicate])
	require.Zero(t, c[wedmesync.OutcomeQuarantined])
	require.Positive(t, c[wedmesync.OutcomeApplied])
}
