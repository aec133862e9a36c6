package grpcapi

import (
	"context"
	"time"

	"google.golang.org/protobuf/types/known/emptypb"

	workflowv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/workflow/v1"
	"github.com/firmflow/firmflow/pkg/paging"
	"github.com/firmflow/firmflow/pkg/resource"
	"github.com/firmflow/firmflow/services/workflow/internal/app"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
)

func (s *webhookServer) CreateWebhookSubscription(ctx context.Context, req *workflowv1.CreateWebhookSubscriptionRequest) (*workflowv1.WebhookSubscription, error) {
	ids, err := resource.Parse("parent", req.GetParent(), firmPattern)
	if err != nil {
		return nil, err
	}
	sub, err := s.app.CreateWebhookSubscription(ctx, caller(ctx), ids[0], fromWebhookSubscription(req.GetWebhookSubscription()), req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return toWebhookSubscription(sub), nil
}

func (s *webhookServer) GetWebhookSubscription(ctx context.Context, req *workflowv1.GetWebhookSubscriptionRequest) (*workflowv1.WebhookSubscription, error) {
	ids, err := resource.Parse("name", req.GetName(), webhookSubscriptionPattern)
	if err != nil {
		return nil, err
	}
	sub, err := s.app.WebhookSubscription(ctx, caller(ctx), ids[0], ids[1])
	if err != nil {
		return nil, err
	}
	return toWebhookSubscription(sub), nil
}

func (s *webhookServer) ListWebhookSubscriptions(ctx context.Context, req *workflowv1.ListWebhookSubscriptionsRequest) (*workflowv1.ListWebhookSubscriptionsResponse, error) {
	ids, err := resource.Parse("parent", req.GetParent(), firmPattern)
	if err != nil {
		return nil, err
	}
	filter := listFilter("webhookSubscriptions", ids[0])
	page, err := paging.Request(req.GetPageSize(), req.GetPageToken(), filter)
	if err != nil {
		return nil, err
	}
	subs, next, err := s.app.WebhookSubscriptions(ctx, caller(ctx), ids[0], page)
	if err != nil {
		return nil, err
	}
	out := &workflowv1.ListWebhookSubscriptionsResponse{NextPageToken: nextPageToken(next, filter)}
	for _, sub := range subs {
		out.WebhookSubscriptions = append(out.WebhookSubscriptions, toWebhookSubscription(sub))
	}
	return out, nil
}

func (s *webhookServer) UpdateWebhookSubscription(ctx context.Context, req *workflowv1.UpdateWebhookSubscriptionRequest) (*workflowv1.WebhookSubscription, error) {
	ids, err := resource.Parse("webhook_subscription.name", req.GetWebhookSubscription().GetName(), webhookSubscriptionPattern)
	if err != nil {
		return nil, err
	}
	patch, err := webhookPatch(req.GetWebhookSubscription(), req.GetUpdateMask().GetPaths())
	if err != nil {
		return nil, err
	}
	sub, err := s.app.UpdateWebhookSubscription(ctx, caller(ctx), ids[0], ids[1], patch)
	if err != nil {
		return nil, err
	}
	return toWebhookSubscription(sub), nil
}

func (s *webhookServer) DeleteWebhookSubscription(ctx context.Context, req *workflowv1.DeleteWebhookSubscriptionRequest) (*emptypb.Empty, error) {
	ids, err := resource.Parse("name", req.GetName(), webhookSubscriptionPattern)
	if err != nil {
		return nil, err
	}
	if err := s.app.DeleteWebhookSubscription(ctx, caller(ctx), ids[0], ids[1], req.GetEtag()); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

func (s *webhookServer) RotateWebhookSubscriptionSecret(ctx context.Context, req *workflowv1.RotateWebhookSubscriptionSecretRequest) (*workflowv1.WebhookSubscription, error) {
	ids, err := resource.Parse("name", req.GetName(), webhookSubscriptionPattern)
	if err != nil {
		return nil, err
	}
	var overlap *time.Duration
	if req.GetOverlap() != nil {
		d := req.GetOverlap().AsDuration()
		overlap = &d
	}
	sub, err := s.app.RotateWebhookSecret(ctx, caller(ctx), ids[0], ids[1], overlap)
	if err != nil {
		return nil, err
	}
	return toWebhookSubscription(sub), nil
}

func (s *webhookServer) ListWebhookDeliveries(ctx context.Context, req *workflowv1.ListWebhookDeliveriesRequest) (*workflowv1.ListWebhookDeliveriesResponse, error) {
	ids, err := resource.Parse("parent", req.GetParent(), webhookSubscriptionPattern)
	if err != nil {
		return nil, err
	}
	filter := listFilter("webhookDeliveries", ids[0], ids[1])
	page, err := paging.Request(req.GetPageSize(), req.GetPageToken(), filter)
	if err != nil {
		return nil, err
	}
	list, next, err := s.app.WebhookDeliveries(ctx, caller(ctx), ids[0], ids[1], page)
	if err != nil {
		return nil, err
	}
	out := &workflowv1.ListWebhookDeliveriesResponse{NextPageToken: nextPageToken(next, filter)}
	for _, d := range list {
		out.Deliveries = append(out.Deliveries, toWebhookDelivery(d))
	}
	return out, nil
}

func (s *webhookServer) RedeliverWebhookDelivery(ctx context.Context, req *workflowv1.RedeliverWebhookDeliveryRequest) (*workflowv1.WebhookDelivery, error) {
	ids, err := resource.Parse("name", req.GetName(), webhookDeliveryPattern)
	if err != nil {
		return nil, err
	}
	d, err := s.app.RedeliverWebhook(ctx, caller(ctx), ids[0], ids[1], ids[2])
	if err != nil {
		return nil, err
	}
	return toWebhookDelivery(d), nil
}

var webhookStates = map[domain.WebhookState]workflowv1.WebhookSubscriptionState{
	domain.WebhookActive:   workflowv1.WebhookSubscriptionState_WEBHOOK_SUBSCRIPTION_STATE_ACTIVE,
	domain.WebhookDisabled: workflowv1.WebhookSubscriptionState_WEBHOOK_SUBSCRIPTION_STATE_DISABLED,
}

var deliveryStates = map[domain.DeliveryState]workflowv1.WebhookDeliveryState{
	domain.DeliveryPending:   workflowv1.WebhookDeliveryState_WEBHOOK_DELIVERY_STATE_PENDING,
	domain.DeliverySucceeded: workflowv1.WebhookDeliveryState_WEBHOOK_DELIVERY_STATE_SUCCEEDED,
	domain.DeliveryFailed:    workflowv1.WebhookDeliveryState_WEBHOOK_DELIVERY_STATE_FAILED,
}

func fromWebhookSubscription(m *workflowv1.WebhookSubscription) domain.WebhookSubscription {
	s := domain.WebhookSubscription{URL: m.GetUrl(), EventTypes: m.GetEventTypes(), State: fromProto(webhookStates, m.GetState())}
	if s.State == "" {
		s.State = domain.WebhookActive
	}
	return s
}

func toWebhookSubscription(s domain.WebhookSubscription) *workflowv1.WebhookSubscription {
	return &workflowv1.WebhookSubscription{
		Name: app.WebhookSubscriptionName(s.FirmID, s.ID), Url: s.URL, EventTypes: s.EventTypes, State: webhookStates[s.State],
		Secret: s.Secret, DisableReason: s.DisableReason, DisableTime: ts(s.DisableTime),
		PreviousSecretExpireTime: ts(s.PreviousSecretExpireTime), FailingSince: ts(s.FailingSince),
		CreateTime: ts(s.CreateTime), UpdateTime: ts(s.UpdateTime), Etag: app.Etag(s.Version),
	}
}

func toWebhookDelivery(d domain.WebhookDelivery) *workflowv1.WebhookDelivery {
	out := &workflowv1.WebhookDelivery{
		Name: app.WebhookDeliveryName(d.FirmID, d.SubscriptionID, d.ID), EventType: d.Change.Type, Object: d.Change.Object,
		ChangedFields: d.Change.ChangedFields, Sequence: d.Sequence, State: deliveryStates[d.State], Attempts: int32(d.Attempts),
		LastStatusCode: int32(d.LastStatusCode), LastError: d.LastError, CreateTime: ts(d.CreateTime),
		LastAttemptTime: ts(d.LastAttempt), NextAttemptTime: ts(d.NextAttempt), DeliverTime: ts(d.DeliverTime),
		ChangeCount: int32(d.ChangeCount),
	}
	if d.RedeliveryOf != "" {
		out.RedeliveryOf = app.WebhookDeliveryName(d.FirmID, d.SubscriptionID, d.RedeliveryOf)
	}
	return out
}

// webhookOutputOnly are the fields an update mask may name but not change.
var webhookOutputOnly = []string{"name", "secret", "disable_reason", "disable_time", "previous_secret_expire_time",
	"failing_since", "create_time", "update_time", "etag"}

// webhookPatch reads an UpdateWebhookSubscription's mask into a patch.
func webhookPatch(m *workflowv1.WebhookSubscription, paths []string) (app.WebhookPatch, error) {
	patch := app.WebhookPatch{Etag: m.GetEtag()}
	paths = maskPaths(paths, webhookOutputOnly)
	if len(paths) == 0 {
		return patch, errNoPaths
	}
	for _, path := range paths {
		switch path {
		case "url":
			patch.URL = &m.Url
		case "event_types":
			patch.EventTypes = &m.EventTypes
		case "state":
			state := fromProto(webhookStates, m.GetState())
			if state == "" {
				state = domain.WebhookActive
			}
			patch.State = &state
		default:
			return patch, unknownPath(path, "url, event_types and state")
		}
	}
	return patch, nil
}
