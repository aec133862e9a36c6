package grpcapi

import (
	"google.golang.org/grpc"

	"github.com/firmflow/firmflow/pkg/firmdata"
	"github.com/firmflow/firmflow/services/audit/internal/app"
)

// registerFirmData serves FirmDataService, through which lifecycle exports the
// firm's chain and deletes it; lifecycle's certificate alone may call it.
func registerFirmData(srv grpc.ServiceRegistrar, a *app.App) { firmdata.Register(srv, a) }
