package grpcapi

import (
	"log/slog"
	"testing"

	"github.com/firmflow/firmflow/pkg/rpc"
	"github.com/firmflow/firmflow/services/billing/internal/app"
)

func TestEveryMethodHasAPolicy(t *testing.T) {
	srv, _, err := rpc.NewServer(rpc.ServerConfig{Policies: Policies, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	Register(srv, &app.App{})
	if missing := rpc.MissingPolicies(srv, Policies); len(missing) > 0 {
		t.Errorf("methods without a policy (refused at runtime): %v", missing)
	}
	if len(srv.GetServiceInfo()) < 4 {
		t.Fatal("billing services not registered")
	}
}
