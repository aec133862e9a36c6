// Package grpcapi is billing's gRPC surface: each handler turns the request into
// arguments, calls one use case and turns the result into the response.
package grpcapi

import (
	"context"
	"strings"

	"github.com/google/uuid"
	"google.golang.org/grpc"

	"github.com/firmflow/firmflow/pkg/apierr"
	billingv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/billing/v1"
	"github.com/firmflow/firmflow/pkg/paging"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/pkg/resource"
	"github.com/firmflow/firmflow/services/billing/internal/app"
)

// Server implements BillingService, BillingWebhookService and EntitlementService.
type Server struct {
	billingv1.UnimplementedBillingServiceServer
	billingv1.UnimplementedBillingWebhookServiceServer
	billingv1.UnimplementedEntitlementServiceServer
	app *app.App
}

// Register adds billing's services to srv.
func Register(srv *grpc.Server, a *app.App) {
	s := &Server{app: a}
	billingv1.RegisterBillingServiceServer(srv, s)
	billingv1.RegisterBillingWebhookServiceServer(srv, s)
	billingv1.RegisterEntitlementServiceServer(srv, s)
	registerFirmData(srv, a)
}

// subscriptionFirm reads the firm of a subscription's name, firms/{firm}/subscription.
func subscriptionFirm(name string) (string, error) {
	firm, ok := strings.CutSuffix(name, "/subscription")
	id, err := firmOf("name", firm)
	if !ok || err != nil {
		return "", apierr.InvalidArgument("name", "resource_name", "must look like firms/{id}/subscription")
	}
	return id, nil
}

// firmOf reads the firm id of a name firms/{firm}; the id must be a UUID, as firm
// ids are.
func firmOf(field, name string) (string, error) {
	ids, err := resource.Parse(field, name, "firms")
	if err != nil {
		return "", err
	}
	if _, err := uuid.Parse(ids[0]); err != nil {
		return "", apierr.InvalidArgument(field, "resource_name", "must look like firms/{id} with a UUID id")
	}
	return ids[0], nil
}

// caller is the verified principal; the policy table guarantees one on every method
// of BillingService.
func caller(ctx context.Context) principal.Principal {
	p, _ := principal.FromContext(ctx)
	return p
}

func (s *Server) GetSubscription(ctx context.Context, req *billingv1.GetSubscriptionRequest) (*billingv1.Subscription, error) {
	firmID, err := subscriptionFirm(req.GetName())
	if err != nil {
		return nil, err
	}
	v, err := s.app.Subscription(ctx, caller(ctx), firmID)
	if err != nil {
		return nil, err
	}
	return toSubscription(v), nil
}

func (s *Server) CheckoutSubscription(ctx context.Context, req *billingv1.CheckoutSubscriptionRequest) (*billingv1.CheckoutSession, error) {
	firmID, err := subscriptionFirm(req.GetName())
	if err != nil {
		return nil, err
	}
	url, expire, err := s.app.Checkout(ctx, caller(ctx), firmID, req.GetPlan(), req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return &billingv1.CheckoutSession{Url: url, ExpireTime: ts(expire)}, nil
}

func (s *Server) OpenBillingPortal(ctx context.Context, req *billingv1.OpenBillingPortalRequest) (*billingv1.BillingPortalSession, error) {
	firmID, err := subscriptionFirm(req.GetName())
	if err != nil {
		return nil, err
	}
	url, err := s.app.BillingPortal(ctx, caller(ctx), firmID)
	if err != nil {
		return nil, err
	}
	return &billingv1.BillingPortalSession{Url: url}, nil
}

func (s *Server) CancelSubscription(ctx context.Context, req *billingv1.CancelSubscriptionRequest) (*billingv1.Subscription, error) {
	firmID, err := subscriptionFirm(req.GetName())
	if err != nil {
		return nil, err
	}
	v, err := s.app.Cancel(ctx, caller(ctx), firmID, req.GetImmediately())
	if err != nil {
		return nil, err
	}
	return toSubscription(v), nil
}

func (s *Server) ListInvoices(ctx context.Context, req *billingv1.ListInvoicesRequest) (*billingv1.ListInvoicesResponse, error) {
	firmID, err := firmOf("parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	page, err := paging.Request(req.GetPageSize(), req.GetPageToken(), req.GetParent())
	if err != nil {
		return nil, err
	}
	after := ""
	if page.After != nil {
		after = page.After.ID
	}
	invoices, more, err := s.app.Invoices(ctx, caller(ctx), firmID, after, page.Size)
	if err != nil {
		return nil, err
	}
	out := &billingv1.ListInvoicesResponse{}
	for _, in := range invoices {
		out.Invoices = append(out.Invoices, toInvoice(firmID, in))
	}
	if len(invoices) > 0 {
		out.NextPageToken = paging.Next(paging.Cursor{ID: invoices[len(invoices)-1].ID}, more, req.GetParent())
	}
	return out, nil
}

func (s *Server) HandleStripeWebhook(ctx context.Context, req *billingv1.HandleStripeWebhookRequest) (*billingv1.HandleStripeWebhookResponse, error) {
	id, d, err := s.app.ReceiveWebhook(ctx, req.GetPayload(), req.GetSignature())
	if err != nil {
		return nil, err
	}
	return &billingv1.HandleStripeWebhookResponse{EventId: id, Duplicate: d == app.Duplicate}, nil
}

func (s *Server) GetEntitlement(ctx context.Context, req *billingv1.GetEntitlementRequest) (*billingv1.Entitlement, error) {
	firmID, err := firmOf("firm", req.GetFirm())
	if err != nil {
		return nil, err
	}
	e, err := s.app.Entitlement(ctx, firmID)
	if err != nil {
		return nil, err
	}
	return toEntitlement(e), nil
}
