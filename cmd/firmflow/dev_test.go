package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/firmflow/firmflow/cmd/firmflow/internal/stack"
	"github.com/firmflow/firmflow/pkg/pg"
	"github.com/firmflow/firmflow/pkg/pg/pgtest"
	"github.com/firmflow/firmflow/pkg/process"
)

// lockedBuffer is a bytes.Buffer safe to read while dev writes its banner.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// devRun is a `firmflow dev` running in-process on the test's databases and ports.
type devRun struct {
	banner  string
	gateway string            // https://localhost:port
	admin   map[string]string // service -> http://127.0.0.1:port ("off" when turned off)
	client  *http.Client
	stop    func() error
}

// startDev runs `firmflow dev` as the command would, configured by the process
// environment only: env is set with t.Setenv on top of what keeps the run private
// (its own data dir, database prefix and free ports).
func startDev(t *testing.T, env map[string]string) *devRun {
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	prefix := "test_dev_" + hex.EncodeToString(suffix) + "_"
	base := map[string]string{
		"FIRMFLOW_DATABASE_URL":    pgtest.AdminURL(),
		"FIRMFLOW_DATABASE_PREFIX": prefix,
		"FIRMFLOW_DATA_DIR":        t.TempDir(),
		"FIRMFLOW_DEV_NATS_PORT":   "-1",
		"FIRMFLOW_NATS_URL":        "",
		// Not 127.0.0.1: dev starts no stripe-mock of its own for the test.
		"FIRMFLOW_STRIPE_API_URL": "http://localhost:9",
	}
	for _, service := range stack.Services {
		name := "FIRMFLOW_" + strings.ToUpper(service)
		base[name+"_ADDR"], base[name+"_ADMIN_ADDR"] = "127.0.0.1:0", "127.0.0.1:0"
	}
	for k, v := range env {
		base[k] = v
	}
	for k, v := range base {
		t.Setenv(k, v)
	}
	cfg, err := loadDevConfig()
	if err != nil {
		t.Fatal(err)
	}
	out := &lockedBuffer{}
	logs := &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- dev(ctx, process.Env{Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}, cfg, &streams{stdout: out, stderr: io.Discard})
	}()
	d := &devRun{admin: map[string]string{}}
	stopped := false
	d.stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return <-done
	}
	t.Cleanup(func() {
		if err := d.stop(); err != nil {
			t.Errorf("dev stopped with %v", err)
		}
		dropDatabases(t, prefix)
		if t.Failed() {
			t.Logf("logs:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(out.String(), "Stop with Ctrl-C") {
		select {
		case err := <-done:
			stopped = true
			t.Fatalf("dev ended before serving: %v\n%s", err, logs.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("dev printed no banner")
		}
	}
	d.banner = out.String()
	d.gateway = regexp.MustCompile(`gateway\s+(https://localhost:\d+)`).FindStringSubmatch(d.banner)[1]
	for _, m := range regexp.MustCompile(`(?m)^  (\w+)\s+\S.*?\s(http://127\.0\.0\.1:\d+|off)$`).FindAllStringSubmatch(d.banner, -1) {
		d.admin[m[1]] = m[2]
	}
	ca := regexp.MustCompile(`CA\s+(\S+)`).FindStringSubmatch(d.banner)[1]
	pem, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	d.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
	t.Cleanup(d.client.CloseIdleConnections)
	return d
}

// waitReady polls a service's admin /readyz until it answers 200.
func (d *devRun) waitReady(t *testing.T, service string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		if code, _ := get(t, d.admin[service]+"/readyz"); code == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			code, body := get(t, d.admin[service]+"/readyz")
			t.Fatalf("%s never ready: %d %q", service, code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, strings.TrimSpace(string(body))
}

func dropDatabases(t *testing.T, prefix string) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.AdminURL())
	if err != nil {
		t.Error(err)
		return
	}
	rows, _ := conn.Query(ctx, "select datname from pg_database where starts_with(datname, $1)", prefix)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	conn.Close(ctx)
	if err != nil {
		t.Error(err)
	}
	for _, name := range names {
		if err := pg.DropDatabase(ctx, pgtest.AdminURL(), name); err != nil {
			t.Error(err)
		}
	}
}

// TestDevHonoursTheEnvironment: `firmflow dev` passes the process environment to
// every service, as their own binaries read it: a gateway variable (CORS origins,
// body limit) takes effect, each service's admin port is on where its variable says
// and off when it says "off", and the banner lists them.
func TestDevHonoursTheEnvironment(t *testing.T) {
	d := startDev(t, map[string]string{
		"FIRMFLOW_CORS_ORIGINS":         "https://app.example.test",
		"FIRMFLOW_GATEWAY_BODY_LIMIT":   "100",
		"FIRMFLOW_LIFECYCLE_ADMIN_ADDR": "off",
	})
	for _, service := range []string{"gateway", "identity", "workflow", "audit", "billing"} {
		if !strings.HasPrefix(d.admin[service], "http://127.0.0.1:") {
			t.Fatalf("banner lists no admin port for %s:\n%s", service, d.banner)
		}
	}
	if d.admin["lifecycle"] != "off" {
		t.Errorf("lifecycle's admin port is %q with FIRMFLOW_LIFECYCLE_ADMIN_ADDR=off", d.admin["lifecycle"])
	}
	for _, want := range []string{"NATS", "Stripe", "https://localhost:"} {
		if !strings.Contains(d.banner, want) {
			t.Errorf("banner lacks %s:\n%s", want, d.banner)
		}
	}
	for _, service := range []string{"identity", "workflow", "audit", "billing", "gateway"} {
		d.waitReady(t, service)
		if code, body := get(t, d.admin[service]+"/healthz"); code != http.StatusOK || body != "ok" {
			t.Errorf("%s /healthz: %d %q", service, code, body)
		}
	}

	req, _ := http.NewRequest(http.MethodGet, d.gateway+"/openapi.json", nil)
	req.Header.Set("Origin", "https://app.example.test")
	res, err := d.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if got := res.Header.Get("Access-Control-Allow-Origin"); got != "https://app.example.test" {
		t.Errorf("Access-Control-Allow-Origin = %q: FIRMFLOW_CORS_ORIGINS did not reach the gateway", got)
	}

	big := fmt.Sprintf(`{"firm_display_name":%q}`, strings.Repeat("x", 200))
	res, err = d.client.Post(d.gateway+"/v1/signup", "application/json", strings.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "BODY_TOO_LARGE") {
		t.Errorf("a 200-byte body with FIRMFLOW_GATEWAY_BODY_LIMIT=100: %d %s, want 400 BODY_TOO_LARGE", res.StatusCode, body)
	}
}

// TestShutdownAnswersTheRequestsItAccepted sends a sign-up whose body is still
// awaited when `firmflow dev` is told to stop (as by SIGTERM), and sends the body
// only once the gateway refuses new connections. The gateway drains first while
// identity and NATS still run, so the request gets its real answer, not a 503 from a
// service that already stopped.
func TestShutdownAnswersTheRequestsItAccepted(t *testing.T) {
	d := startDev(t, nil)
	d.waitReady(t, "gateway")
	d.waitReady(t, "identity")

	body := `{"firm_display_name":"Draining & Co","email":"owner@draining.example","display_name":"D","password":"correct horse battery staple"}`
	// A raw connection: the request waits for 100 Continue, which the gateway sends
	// once its handler reads the body, so the request is being served when the stop
	// comes.
	conn, err := tls.Dial("tcp", strings.TrimPrefix(d.gateway, "https://"), d.client.Transport.(*http.Transport).TLSClientConfig)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	head := fmt.Sprintf("POST /v1/signup HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n", len(body))
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	responses := bufio.NewReader(conn)
	if res, err := http.ReadResponse(responses, nil); err != nil || res.StatusCode != http.StatusContinue {
		t.Fatalf("want 100 Continue first: %v %v", res, err)
	}

	stopped := make(chan error, 1)
	go func() { stopped <- d.stop() }()
	host := strings.TrimPrefix(d.gateway, "https://")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		conn, err := net.Dial("tcp", host)
		if err != nil {
			break // shutdown has begun: the gateway takes no new connections
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Fatal("the gateway kept accepting connections after dev was told to stop")
		}
	}
	if _, err := io.WriteString(conn, body); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(responses, nil)
	if stopErr := <-stopped; stopErr != nil {
		t.Errorf("dev stopped with %v", stopErr)
	}
	if err != nil {
		t.Fatalf("the sign-up in flight at shutdown got no answer: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Errorf("the sign-up in flight at shutdown: %d, want 201", res.StatusCode)
	}
}
