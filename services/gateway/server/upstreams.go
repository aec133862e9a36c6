package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	auditv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/audit/v1"
	billingv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/billing/v1"
	identityv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/identity/v1"
	lifecyclev1 "github.com/firmflow/firmflow/pkg/gen/firmflow/lifecycle/v1"
	workflowv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/workflow/v1"
	"github.com/firmflow/firmflow/pkg/readiness"
	"github.com/firmflow/firmflow/pkg/rpc"
)

// services are the services behind the gateway, in the order they are dialled,
// probed and closed.
var services = []string{"identity", "workflow", "billing", "audit", "lifecycle"}

// upstreams are the connections to every service behind the gateway by name, all
// made, routed, probed and closed the same way.
type upstreams map[string]*grpc.ClientConn

// dialUpstreams makes a client for every service over mutual TLS. Nothing connects
// yet (see connect); on error the clients made so far are closed.
func dialUpstreams(cfg Config, tlsConfig *tls.Config) (upstreams, error) {
	addrs := map[string]string{
		"identity": cfg.IdentityAddr, "workflow": cfg.WorkflowAddr, "billing": cfg.BillingAddr,
		"audit": cfg.AuditAddr, "lifecycle": cfg.LifecycleAddr,
	}
	u := upstreams{}
	for _, name := range services {
		conn, err := rpc.Dial(addrs[name], tlsConfig)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("%s: %w", name, err), u.close())
		}
		u[name] = conn
	}
	return u, nil
}

// connect starts connecting every client in the background.
func (u upstreams) connect() {
	for _, name := range services {
		u[name].Connect()
	}
}

func (u upstreams) close() error {
	var errs []error
	for _, conn := range u {
		errs = append(errs, conn.Close())
	}
	return errors.Join(errs...)
}

// probes are the readiness probes of every service: each must answer its gRPC health
// check as serving.
func (u upstreams) probes() readiness.Probes {
	var ps readiness.Probes
	for _, name := range services {
		health := healthpb.NewHealthClient(u[name])
		ps = append(ps, readiness.Probe{Name: name, Check: func(ctx context.Context) error {
			resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
			if err != nil {
				return err
			}
			if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				return fmt.Errorf("health %s", resp.GetStatus())
			}
			return nil
		}})
	}
	return ps
}

// registerRoutes adds every service's REST routes to the mux. A new service or a new
// gRPC service of an existing one gets its line here.
func registerRoutes(ctx context.Context, rest *runtime.ServeMux, up upstreams) error {
	register := []struct {
		name string
		fn   func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error
		conn *grpc.ClientConn
	}{
		{"identity", identityv1.RegisterIdentityServiceHandler, up["identity"]},
		{"identity staff", identityv1.RegisterStaffServiceHandler, up["identity"]},
		{"identity support", identityv1.RegisterSupportServiceHandler, up["identity"]},
		{"workflow permissions", workflowv1.RegisterPermissionServiceHandler, up["workflow"]},
		{"workflow clients", workflowv1.RegisterClientServiceHandler, up["workflow"]},
		{"workflow contacts", workflowv1.RegisterContactServiceHandler, up["workflow"]},
		{"workflow templates", workflowv1.RegisterTemplateServiceHandler, up["workflow"]},
		{"workflow projects", workflowv1.RegisterProjectServiceHandler, up["workflow"]},
		{"workflow series", workflowv1.RegisterSeriesServiceHandler, up["workflow"]},
		{"workflow workload", workflowv1.RegisterWorkloadServiceHandler, up["workflow"]},
		{"workflow webhooks", workflowv1.RegisterWebhookServiceHandler, up["workflow"]},
		{"billing", billingv1.RegisterBillingServiceHandler, up["billing"]},
		{"audit", auditv1.RegisterAuditServiceHandler, up["audit"]},
		{"lifecycle", lifecyclev1.RegisterLifecycleServiceHandler, up["lifecycle"]},
		{"lifecycle incidents", lifecyclev1.RegisterFirmIncidentServiceHandler, up["lifecycle"]},
	}
	for _, r := range register {
		if err := r.fn(ctx, rest, r.conn); err != nil {
			return fmt.Errorf("register %s routes: %w", r.name, err)
		}
	}
	return nil
}
