package grpcapi

import (
	"maps"

	"google.golang.org/grpc"

	"github.com/firmflow/firmflow/pkg/firmdata"
	"github.com/firmflow/firmflow/services/billing/internal/app"
)

// lifecycle's certificate alone may call FirmDataService, as its proto declares.
func init() { maps.Copy(Policies, firmdata.Policies) }

// registerFirmData serves FirmDataService, through which lifecycle exports the
// firm's billing data and deletes it, its Stripe customer included.
func registerFirmData(srv *grpc.Server, a *app.App) { firmdata.Register(srv, a) }
