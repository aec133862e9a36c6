package svc_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/firmflow/firmflow/pkg/config"
	"github.com/firmflow/firmflow/pkg/natsx"
	"github.com/firmflow/firmflow/pkg/pg/pgtest"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/pkg/svc"
	"github.com/firmflow/firmflow/pkg/tlsconf"
)

// TestReadinessNamesTheDependencyThatIsDown runs a service on a PostgreSQL and a
// NATS of the test's own, stops each in turn and expects /readyz to answer 503
// naming it, /healthz to stay 200, and /readyz to recover when it is back.
func TestReadinessNamesTheDependencyThatIsDown(t *testing.T) {
	cluster := pgtest.NewCluster(t)
	db := pgtest.NewOn(t, cluster.URL(), "probe", nil)
	nsOpts := natsx.EmbeddedOptions{Port: -1, StoreDir: t.TempDir()}
	ns, err := natsx.RunEmbedded(nsOpts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Shutdown() })
	// A restart comes back on the same port, where the client reconnects.
	nsOpts.Port = ns.Addr().(*net.TCPAddr).Port
	pki, err := tlsconf.EnsureDevPKI(t.TempDir(), []string{"probe"})
	if err != nil {
		t.Fatal(err)
	}
	_, publicKey, err := principal.EnsureKeyPair(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rt, err := svc.Start(ctx, svc.Options{
		Shared: config.Shared{TLSCA: pki.CAFile, PublicKeyFile: publicKey, NATSURL: ns.ClientURL()},
		Name:   "probe", GRPCAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", DatabaseURL: db.RuntimeURL,
		TLSCert: pki.CertFile("probe"), TLSKey: pki.KeyFile("probe"),
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	admin := "http://" + rt.AdminAddr()
	get := func(path string) (int, string) {
		t.Helper()
		res, err := http.Get(admin + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, strings.TrimSpace(string(body))
	}
	// until polls /readyz while the NATS client reconnects or the pool redials.
	until := func(wantCode int, wantBody string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			code, body := get("/readyz")
			if code == wantCode && body == wantBody {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("/readyz = %d %q, want %d %q", code, body, wantCode, wantBody)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	until(http.StatusOK, "ok")

	ns.Shutdown()
	ns.WaitForShutdown()
	until(http.StatusServiceUnavailable, "not ready: nats")
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz with NATS down: %d, want 200 (liveness checks nothing outside)", code)
	}
	if ns, err = natsx.RunEmbedded(nsOpts); err != nil {
		t.Fatal(err)
	}
	until(http.StatusOK, "ok")

	cluster.Stop(t)
	until(http.StatusServiceUnavailable, "not ready: database")
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz with the database down: %d, want 200", code)
	}
	cluster.Start(t)
	until(http.StatusOK, "ok")
}
