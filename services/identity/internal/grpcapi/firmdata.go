package grpcapi

import (
	"maps"

	"google.golang.org/grpc"

	"github.com/firmflow/firmflow/pkg/firmdata"
	"github.com/firmflow/firmflow/services/identity/internal/app"
)

// lifecycle's certificate alone may call FirmDataService, as its proto declares.
func init() { maps.Copy(Policies, firmdata.Policies) }

// registerFirmData serves FirmDataService, through which lifecycle exports and
// deletes the firm's identity data and destroys its keys.
func registerFirmData(srv *grpc.Server, a *app.App) { firmdata.Register(srv, a) }
