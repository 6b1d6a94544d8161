package main

// The demo as a person runs it, on the wall clock: with work pending (a
// message for a paused endpoint, a retry waiting for its time) it uses no
// CPU, and SIGTERM (Ctrl-C) ends it promptly and cleanly.

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/internal/idletest"
)

// demoChildEnv makes the test binary run the demo server instead of the
// tests (see TestMain), as `go run ./examples/supplier-platform -demo=false`,
// with its value as the admin token.
const demoChildEnv = "WEDSYNC_DEMO_CHILD"

// demoChildArgsEnv, when set, holds the child's command-line flags: its
// configuration then comes from them and the environment, exactly as
// main's does, and demoChildEnv only makes it a child.
const demoChildArgsEnv = "WEDSYNC_DEMO_CHILD_ARGS"

// demoChild runs the demo until SIGTERM or Ctrl-C, as main does.
func demoChild() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg := config{Addr: "127.0.0.1:0", VendorAddr: "127.0.0.1:0", AdminToken: os.Getenv(demoChildEnv)}
	if args, ok := os.LookupEnv(demoChildArgsEnv); ok {
		var err error
		if cfg, err = parseConfig(strings.Fields(args), os.Getenv, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "demo:", err)
			return 2
		}
	}
	cfg.onReady = func(api, vendor string) { fmt.Printf("READY %s %s\n", api, vendor) }
	if err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		return 1
	}
	return 0
}

func TestDemoIdleWithWorkPendingAndPromptExitOnSIGTERM(t *testing.T) {
	const token = "shutdown-test-token"
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	// GORACE: a race-enabled binary otherwise sleeps 1 s before it exits.
	cmd.Env = append(os.Environ(), demoChildEnv+"="+token, "GORACE=atexit_sleep_ms=0")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	lines := bufio.NewScanner(stdout)
	var api string
	ready := regexp.MustCompile(`^READY (\S+) (\S+)$`)
	for lines.Scan() {
		if m := ready.FindStringSubmatch(lines.Text()); m != nil {
			api = m[1]
			break
		}
	}
	require.NotEmpty(t, api, "the demo never became ready")
	out := make(chan string, 1024)
	go func() { // keep draining the demo's output
		for lines.Scan() {
			select {
			case out <- lines.Text():
			default:
			}
		}
	}()

	c := &apiClient{t: t, base: api, token: token, c: &http.Client{Timeout: 30 * time.Second}}
	code, ep := c.do("POST", "/api/endpoints", `{"supplier_id":"sup_idle","url":"http://127.0.0.1:9/hook"}`)
	require.Equal(t, http.StatusCreated, code)
	code, _ = c.do("POST", "/api/endpoints/"+ep["id"].(string)+"/pause", "")
	require.Equal(t, http.StatusOK, code)
	code, _ = c.do("POST", "/api/endpoints", `{"supplier_id":"sup_down","url":"http://127.0.0.1:9/hook"}`)
	require.Equal(t, http.StatusCreated, code)
	for _, sup := range []string{"sup_idle", "sup_down"} {
		code, _ = c.do("POST", "/api/messages", `{"supplier_id":"`+sup+`","event_type":"booking.confirmed","payload":{"n":1}}`)
		require.Equal(t, http.StatusAccepted, code)
	}
	// Wait until the console says the refused delivery will be retried.
	timeout := time.After(time.Minute)
	for waiting := true; waiting; {
		select {
		case line := <-out:
			waiting = !(strings.Contains(line, "FAILED") && strings.Contains(line, "retry (attempt 2)"))
		case <-timeout:
			t.Fatal("no failed attempt with a retry within a minute")
		}
	}
	c.c.CloseIdleConnections()

	idletest.RequireProcessIdle(t, cmd.Process.Pid, "the demo holds a paused endpoint's message and a retry")

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	start := time.Now()
	select {
	case err := <-exited:
		t.Logf("the demo exited %s after SIGTERM", time.Since(start).Round(time.Millisecond))
		require.NoError(t, err, "a clean exit, status 0")
	case <-time.After(time.Minute):
		t.Fatal("the demo still runs a minute after SIGTERM")
	}
	require.True(t, strings.HasPrefix(api, "http://127.0.0.1:"))
}
