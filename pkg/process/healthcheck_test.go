package process

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func TestHealthcheckFollowsReadyz(t *testing.T) {
	var ready atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		if !ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	ctx := context.Background()

	// Containers bind the admin port on every interface; the check asks loopback.
	wildcard := "0.0.0.0:" + port
	if err := Healthcheck(ctx, wildcard); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("not ready: err = %v, want a 503", err)
	}
	ready.Store(true)
	if err := Healthcheck(ctx, wildcard); err != nil {
		t.Fatalf("ready: %v", err)
	}
	if err := Healthcheck(ctx, srv.Listener.Addr().String()); err != nil {
		t.Fatalf("ready on its own address: %v", err)
	}
}

func TestHealthcheckRefusesAnAdminListenerThatIsOff(t *testing.T) {
	for _, addr := range []string{"", "off"} {
		if err := Healthcheck(context.Background(), addr); err == nil || !strings.Contains(err.Error(), "ADMIN_ADDR") {
			t.Errorf("Healthcheck(%q) = %v, want an error naming the admin address", addr, err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if err := Healthcheck(context.Background(), addr); err == nil {
		t.Errorf("nothing listening on %s: want an error", addr)
	}
}
