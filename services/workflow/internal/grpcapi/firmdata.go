package grpcapi

import (
	"google.golang.org/grpc"

	"github.com/firmflow/firmflow/pkg/firmdata"
)

// lifecycle exports and deletes the firm's workflow data through FirmDataService.
func init() {
	registrations = append(registrations, func(srv grpc.ServiceRegistrar, s *Server) {
		firmdata.Register(srv, s.app)
	})
	policyTables = append(policyTables, firmdata.Policies)
}
