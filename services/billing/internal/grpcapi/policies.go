package grpcapi

import (
	billingv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/billing/v1"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/pkg/rpc"
)

// owners may change what the firm pays.
var owners = []principal.Role{principal.RoleOwner}

// Policies is billing's authorization table: every RPC and who may call it. Billing
// data is for owners and admins only, and no API key reaches it (no Scope): billing
// goes through a person.
var Policies = rpc.Policies{
	billingv1.BillingService_GetSubscription_FullMethodName: {Roles: rpc.Managers},
	billingv1.BillingService_ListInvoices_FullMethodName:    {Roles: rpc.Managers},

	billingv1.BillingService_CheckoutSubscription_FullMethodName: {Roles: owners},
	billingv1.BillingService_OpenBillingPortal_FullMethodName:    {Roles: owners},
	billingv1.BillingService_CancelSubscription_FullMethodName:   {Roles: owners},

	// Stripe reaches billing only through the gateway, which passes the webhook on.
	billingv1.BillingWebhookService_HandleStripeWebhook_FullMethodName: {Peers: []string{"gateway"}},
	// Every service may ask whether a firm is read-only.
	billingv1.EntitlementService_GetEntitlement_FullMethodName: {AnyPeer: true},
}
