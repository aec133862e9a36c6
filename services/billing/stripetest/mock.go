// Package stripetest gives billing's tests a Stripe to talk to: stripe-mock, Stripe's
// own stateless fake of its API, started once per test binary on a free loopback
// port, behind a proxy per test that records every request (path, form, idempotency
// key) and can make Stripe misbehave (hang, fail). Because stripe-mock keeps no state,
// the proxy also answers the event list with the events a test says Stripe has; every
// other request reaches stripe-mock. Webhook payloads are signed with stripe-go's test
// helper, exactly as Stripe signs them. It sits outside internal/ so that end-to-end
// tests of the whole system can point billing at stripe-mock too.
package stripetest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"
)

// StripeMockEnv names the stripe-mock binary to run. `make test` sets it to the one
// built from the version pinned in tools/go.mod, the only place the version is written.
const StripeMockEnv = "FIRMFLOW_STRIPE_MOCK"

var mock struct {
	once sync.Once
	cmd  *exec.Cmd
	url  string
	err  error
}

// Main runs a package's tests and stops stripe-mock afterwards; call it from TestMain.
func Main(m *testing.M) { Run(m.Run) }

// Run is Main for a TestMain that sets up around m.Run: run is what the test binary
// does; its result is the exit code, after stripe-mock is stopped.
func Run(run func() int) {
	code := run()
	Stop()
	os.Exit(code)
}

// Stop stops the process's stripe-mock if it was started; a program that is not a
// test binary (the backup drill's rehearsal) calls it before it exits.
func Stop() {
	if mock.cmd != nil {
		_ = mock.cmd.Process.Kill()
		_ = mock.cmd.Wait()
	}
}

// URL returns the base URL of the test binary's stripe-mock, starting it on first
// use. Without the binary the test fails: a test that cannot run is not a pass.
func URL(t testing.TB) string {
	t.Helper()
	url, err := startMock()
	if err != nil {
		t.Fatalf("stripe-mock: %v", err)
	}
	return url
}

func startMock() (string, error) {
	mock.once.Do(func() { mock.url, mock.err = start() })
	return mock.url, mock.err
}

var errNotInstalled = errors.New("stripe-mock not found: run `make tools` (it builds .bin/stripe-mock at the version pinned in tools/go.mod) or set " + StripeMockEnv)

// listening is stripe-mock's announcement of its HTTP address.
var listening = regexp.MustCompile(`Listening for HTTP at address: (\S+)`)

func start() (string, error) {
	bin, err := binary()
	if err != nil {
		return "", err
	}
	// Port-less addresses let the system pick free ports, so parallel test binaries
	// never collide; the HTTPS listener is unused but must not take 12112.
	cmd := exec.Command(bin, "-http-addr", "127.0.0.1:", "-https-addr", "127.0.0.1:")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start %s: %w", bin, err)
	}
	mock.cmd = cmd
	found := make(chan string, 1)
	go func() {
		scanner := bufio.NewScanner(out)
		for scanner.Scan() {
			if m := listening.FindStringSubmatch(scanner.Text()); m != nil {
				found <- m[1]
				break
			}
		}
		_, _ = io.Copy(io.Discard, out) // keep the pipe drained
	}()
	select {
	case addr := <-found:
		return "http://" + addr, nil
	case <-time.After(30 * time.Second):
		return "", errors.New("did not announce its address within 30s")
	}
}

// binary finds stripe-mock: $FIRMFLOW_STRIPE_MOCK, else the repository's .bin (so that
// `go test` in any package works after `make tools`), else PATH.
func binary() (string, error) {
	if path := os.Getenv(StripeMockEnv); path != "" {
		if _, err := os.Stat(path); err != nil {
			return "", fmt.Errorf("%s: %w", StripeMockEnv, err)
		}
		return path, nil
	}
	if dir, err := os.Getwd(); err == nil {
		for ; ; dir = filepath.Dir(dir) {
			path := filepath.Join(dir, ".bin", "stripe-mock")
			if _, err := os.Stat(path); err == nil {
				return path, nil
			}
			if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil || filepath.Dir(dir) == dir {
				break
			}
		}
	}
	if path, err := exec.LookPath("stripe-mock"); err == nil {
		return path, nil
	}
	return "", errNotInstalled
}
