package readiness_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/firmflow/firmflow/pkg/readiness"
)

func TestCheckNamesEveryFailedDependency(t *testing.T) {
	down := errors.New("dial tcp 127.0.0.1:5432: connection refused")
	probes := readiness.Probes{
		{Name: "database", Check: func(context.Context) error { return down }},
		{Name: "nats", Check: func(context.Context) error { return nil }},
		{Name: "identity", Check: func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }},
	}
	err := probes.Check(context.Background())
	if got := readiness.Failed(err); !slices.Equal(got, []string{"database", "identity"}) {
		t.Fatalf("failed = %v, want [database identity]", got)
	}
	if err.Error() != "not ready: database, identity" {
		t.Errorf("message %q names more than the dependencies", err)
	}
	if !errors.Is(err, down) {
		t.Error("the probe's own error is not kept for the log")
	}
	if err := probes[1:2].Check(context.Background()); err != nil {
		t.Errorf("all probes pass: %v", err)
	}
}
