package grpcapi

import (
	"testing"

	"google.golang.org/grpc"

	"github.com/firmflow/firmflow/pkg/rpc/rpctest"
	"github.com/firmflow/firmflow/services/workflow/internal/app"
)

func TestEveryMethodHasAPolicy(t *testing.T) {
	rpctest.EveryMethodHasAPolicy(t, func(srv *grpc.Server) { Register(srv, &app.App{}) }, 7)
}
