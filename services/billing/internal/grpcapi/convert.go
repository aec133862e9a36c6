package grpcapi

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	billingv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/billing/v1"
	"github.com/firmflow/firmflow/pkg/resource"
	"github.com/firmflow/firmflow/services/billing/internal/app"
	"github.com/firmflow/firmflow/services/billing/internal/domain"
)

func toSubscription(v app.SubscriptionView) *billingv1.Subscription {
	s := v.Subscription
	out := &billingv1.Subscription{
		Name:  resource.Name("firms", v.FirmID, "subscription"),
		State: toState(s.Status), Plan: v.Plan, ActiveMembers: int32(v.ActiveMembers),
		Access: toAccess(v.Entitlement.Access), ReadOnlyTime: ts(v.Entitlement.ReadOnlyTime),
	}
	if s.Exists() {
		out.Seats, out.CurrentPeriodEnd, out.CancelAtPeriodEnd = s.Quantity, ts(s.CurrentPeriodEnd), s.CancelAtPeriodEnd
		out.CancelTime, out.UpdateTime = ts(s.CanceledAt), ts(s.UpdateTime)
	}
	return out
}

func toEntitlement(e domain.Entitlement) *billingv1.Entitlement {
	return &billingv1.Entitlement{
		Firm: resource.Name("firms", e.FirmID), Access: toAccess(e.Access),
		State:        toState(e.Status),
		ReadOnlyTime: ts(e.ReadOnlyTime), CurrentPeriodEnd: ts(e.CurrentPeriodEnd),
	}
}

func toInvoice(firmID string, in domain.Invoice) *billingv1.Invoice {
	return &billingv1.Invoice{
		Name:   resource.Name("firms", firmID, "invoices", in.ID),
		Number: in.Number, Status: in.Status, AmountDue: in.AmountDue, AmountPaid: in.AmountPaid, Currency: in.Currency,
		CreateTime: ts(in.CreateTime), PeriodStartTime: ts(in.PeriodStart), PeriodEndTime: ts(in.PeriodEnd),
		HostedInvoiceUrl: in.HostedURL, InvoicePdfUrl: in.PDFURL,
	}
}

var states = map[domain.Status]billingv1.SubscriptionState{
	domain.StatusIncomplete:        billingv1.SubscriptionState_SUBSCRIPTION_STATE_INCOMPLETE,
	domain.StatusIncompleteExpired: billingv1.SubscriptionState_SUBSCRIPTION_STATE_INCOMPLETE_EXPIRED,
	domain.StatusTrialing:          billingv1.SubscriptionState_SUBSCRIPTION_STATE_TRIALING,
	domain.StatusActive:            billingv1.SubscriptionState_SUBSCRIPTION_STATE_ACTIVE,
	domain.StatusPastDue:           billingv1.SubscriptionState_SUBSCRIPTION_STATE_PAST_DUE,
	domain.StatusUnpaid:            billingv1.SubscriptionState_SUBSCRIPTION_STATE_UNPAID,
	domain.StatusCanceled:          billingv1.SubscriptionState_SUBSCRIPTION_STATE_CANCELED,
	domain.StatusPaused:            billingv1.SubscriptionState_SUBSCRIPTION_STATE_PAUSED,
}

// toState maps a status; "" is a firm without a subscription.
func toState(s domain.Status) billingv1.SubscriptionState {
	if s == "" {
		return billingv1.SubscriptionState_SUBSCRIPTION_STATE_NONE
	}
	return states[s]
}

func toAccess(a domain.Access) billingv1.Access {
	if a == domain.AccessReadOnly {
		return billingv1.Access_ACCESS_READ_ONLY
	}
	return billingv1.Access_ACCESS_FULL
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}
