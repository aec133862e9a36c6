// Package rpctest holds the checks every service's gRPC surface must pass.
package rpctest

import (
	"log/slog"
	"testing"

	"google.golang.org/grpc"

	"github.com/firmflow/firmflow/pkg/rpc"
)

// EveryMethodHasAPolicy registers a service's implementations on a server built like
// production's and fails the test for any method without an entry in policies (such
// a method is refused at runtime) or when fewer than wantServices services appear.
func EveryMethodHasAPolicy(t *testing.T, policies rpc.Policies, register func(*grpc.Server), wantServices int) {
	t.Helper()
	srv, _, err := rpc.NewServer(rpc.ServerConfig{Policies: policies, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	register(srv)
	if missing := rpc.MissingPolicies(srv, policies); len(missing) > 0 {
		t.Errorf("methods without a policy (refused at runtime): %v", missing)
	}
	// The health service is always there; count the service's own.
	if got := len(srv.GetServiceInfo()) - 1; got < wantServices {
		t.Errorf("%d services registered, want at least %d", got, wantServices)
	}
}
