package grpcapi

import (
	"bytes"
	"context"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/firmflow/firmflow/pkg/apierr"
	workflowv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/workflow/v1"
	"github.com/firmflow/firmflow/pkg/paging"
	"github.com/firmflow/firmflow/pkg/resource"
	"github.com/firmflow/firmflow/pkg/rpc"
	"github.com/firmflow/firmflow/services/workflow/internal/app"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
)

func wantsReveal(v workflowv1.ClientView) bool {
	return v == workflowv1.ClientView_CLIENT_VIEW_REVEALED
}

func (s *clientServer) GetClient(ctx context.Context, req *workflowv1.GetClientRequest) (*workflowv1.Client, error) {
	ids, err := resource.Parse("name", req.GetName(), clientPattern)
	if err != nil {
		return nil, err
	}
	firmID, clientID := ids[0], ids[1]
	c, err := s.app.Client(ctx, caller(ctx), firmID, clientID, wantsReveal(req.GetView()))
	if err != nil {
		return nil, err
	}
	return toClient(c, wantsReveal(req.GetView())), nil
}

func (s *clientServer) LookupClientByTaxId(ctx context.Context, req *workflowv1.LookupClientByTaxIdRequest) (*workflowv1.Client, error) {
	ids, err := resource.Parse("parent", req.GetParent(), firmPattern)
	if err != nil {
		return nil, err
	}
	firmID := ids[0]
	c, err := s.app.LookupClientByTaxID(ctx, caller(ctx), firmID, req.GetTaxId(), wantsReveal(req.GetView()))
	if err != nil {
		return nil, err
	}
	return toClient(c, wantsReveal(req.GetView())), nil
}

// clientFilter reads a list's filter.
func clientFilter(firmID, tag, assignee string, kind workflowv1.ClientKind, externalID, orderBy string) (domain.ClientFilter, error) {
	f := domain.ClientFilter{Tag: tag, Kind: fromProto(clientKinds, kind), ExternalID: externalID, Order: domain.ClientOrder(orderBy)}
	var err error
	f.AssigneeID, err = referenceID("assignee", assignee, firmID, "members")
	return f, err
}

func (s *clientServer) ListClients(ctx context.Context, req *workflowv1.ListClientsRequest) (*workflowv1.ListClientsResponse, error) {
	ids, err := resource.Parse("parent", req.GetParent(), firmPattern)
	if err != nil {
		return nil, err
	}
	firmID := ids[0]
	lf, changes, err := listChanges(req.GetFilter(), req.GetShowDeleted(), clientListFields)
	if err != nil {
		return nil, err
	}
	tag, err := lf.Merge("tag", req.GetTag())
	if err != nil {
		return nil, err
	}
	assignee, err := lf.Merge("assignee", req.GetAssignee())
	if err != nil {
		return nil, err
	}
	kind, err := mergeEnum(lf, "kind", clientKinds, req.GetKind())
	if err != nil {
		return nil, err
	}
	externalID, err := lf.Merge("external_id", req.GetExternalId())
	if err != nil {
		return nil, err
	}
	f, err := clientFilter(firmID, tag, assignee, kind, externalID, syncOrder(req.GetOrderBy(), lf))
	if err != nil {
		return nil, err
	}
	f.Changes = changes
	filter := listFilter("clients", firmID, f.Tag, f.AssigneeID, f.Kind, f.ExternalID, f.Order, lf, changes.ShowDeleted)
	page, err := paging.Request(req.GetPageSize(), req.GetPageToken(), filter)
	if err != nil {
		return nil, err
	}
	clients, next, err := s.app.Clients(ctx, caller(ctx), firmID, f, page)
	if err != nil {
		return nil, err
	}
	out := &workflowv1.ListClientsResponse{}
	for _, c := range clients {
		out.Clients = append(out.Clients, toClient(c, false))
	}
	out.NextPageToken = nextPageToken(next, filter)
	return out, nil
}

func (s *clientServer) CreateClient(ctx context.Context, req *workflowv1.CreateClientRequest) (*workflowv1.Client, error) {
	ids, err := resource.Parse("parent", req.GetParent(), firmPattern)
	if err != nil {
		return nil, err
	}
	firmID := ids[0]
	c, err := fromClient(req.GetClient(), firmID)
	if err != nil {
		return nil, err
	}
	created, err := s.app.CreateClient(ctx, caller(ctx), firmID, c, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return toClient(created, false), nil
}

func (s *clientServer) UpdateClient(ctx context.Context, req *workflowv1.UpdateClientRequest) (*workflowv1.Client, error) {
	ids, err := resource.Parse("client.name", req.GetClient().GetName(), clientPattern)
	if err != nil {
		return nil, err
	}
	firmID, clientID := ids[0], ids[1]
	patch, err := clientPatch(req.GetClient(), req.GetUpdateMask().GetPaths(), firmID)
	if err != nil {
		return nil, err
	}
	updated, err := s.app.UpdateClient(ctx, caller(ctx), firmID, clientID, patch)
	if err != nil {
		return nil, err
	}
	return toClient(updated, false), nil
}

func (s *clientServer) UpsertClient(ctx context.Context, req *workflowv1.UpsertClientRequest) (*workflowv1.Client, error) {
	ids, err := resource.Parse("parent", req.GetParent(), firmPattern)
	if err != nil {
		return nil, err
	}
	firmID := ids[0]
	if req.GetClient().GetExternalId() == "" {
		return nil, app.ErrExternalIDRequired("client")
	}
	c, err := fromClient(req.GetClient(), firmID)
	if err != nil {
		return nil, err
	}
	patch, err := clientPatch(req.GetClient(), upsertPaths(req.GetClient(), req.GetUpdateMask().GetPaths()), firmID)
	if err != nil {
		return nil, err
	}
	out, created, err := s.app.UpsertClient(ctx, caller(ctx), firmID, c, patch, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	if created {
		rpc.MarkCreated(ctx)
	}
	return toClient(out, false), nil
}

func (s *clientServer) BatchCreateClients(ctx context.Context, req *workflowv1.BatchCreateClientsRequest) (*workflowv1.BatchCreateClientsResponse, error) {
	ids, err := resource.Parse("parent", req.GetParent(), firmPattern)
	if err != nil {
		return nil, err
	}
	firmID := ids[0]
	clients := make([]domain.Client, len(req.GetRequests()))
	for i, r := range req.GetRequests() {
		if err := batchItem(i, req.GetParent(), r.GetParent(), r.GetRequestId()); err != nil {
			return nil, err
		}
		if clients[i], err = fromClient(r.GetClient(), firmID); err != nil {
			return nil, apierr.Within(err, itemPrefix(i))
		}
	}
	created, err := s.app.BatchCreateClients(ctx, caller(ctx), firmID, clients, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	out := &workflowv1.BatchCreateClientsResponse{}
	for _, c := range created {
		out.Clients = append(out.Clients, toClient(c, false))
	}
	return out, nil
}

func (s *clientServer) BatchUpdateClients(ctx context.Context, req *workflowv1.BatchUpdateClientsRequest) (*workflowv1.BatchUpdateClientsResponse, error) {
	parent, err := resource.Parse("parent", req.GetParent(), firmPattern)
	if err != nil {
		return nil, err
	}
	firmID := parent[0]
	changes := make([]app.ClientChange, len(req.GetRequests()))
	for i, r := range req.GetRequests() {
		ids, err := resource.Parse("client.name", r.GetClient().GetName(), clientPattern)
		if err == nil && ids[0] != firmID {
			err = apierr.InvalidArgument("client.name", "batch.parent", "must name a client of the batch's parent "+req.GetParent())
		}
		if err != nil {
			return nil, apierr.Within(err, itemPrefix(i))
		}
		changes[i].ClientID = ids[1]
		if changes[i].Patch, err = clientPatch(r.GetClient(), r.GetUpdateMask().GetPaths(), firmID); err != nil {
			return nil, apierr.Within(err, itemPrefix(i))
		}
	}
	updated, err := s.app.BatchUpdateClients(ctx, caller(ctx), firmID, changes)
	if err != nil {
		return nil, err
	}
	out := &workflowv1.BatchUpdateClientsResponse{}
	for _, c := range updated {
		out.Clients = append(out.Clients, toClient(c, false))
	}
	return out, nil
}

func (s *clientServer) DeleteClient(ctx context.Context, req *workflowv1.DeleteClientRequest) (*emptypb.Empty, error) {
	ids, err := resource.Parse("name", req.GetName(), clientPattern)
	if err != nil {
		return nil, err
	}
	firmID, clientID := ids[0], ids[1]
	if err := s.app.DeleteClient(ctx, caller(ctx), firmID, clientID, req.GetEtag()); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

func (s *clientServer) ImportClients(ctx context.Context, req *workflowv1.ImportClientsRequest) (*workflowv1.ImportClientsResponse, error) {
	ids, err := resource.Parse("parent", req.GetParent(), firmPattern)
	if err != nil {
		return nil, err
	}
	firmID := ids[0]
	imp, err := s.app.ImportClients(ctx, caller(ctx), firmID, req.GetCsv(), req.GetRequestId(), req.GetValidateOnly())
	if err != nil {
		return nil, err
	}
	out := &workflowv1.ImportClientsResponse{ImportedCount: int32(imp.Count)}
	for _, id := range imp.ClientIDs {
		out.Clients = append(out.Clients, app.ClientName(firmID, id))
	}
	return out, nil
}

// exportPageSize is the default and largest page of an export.
const exportPageSize = 1000

func (s *clientServer) ExportClients(ctx context.Context, req *workflowv1.ExportClientsRequest) (*workflowv1.ExportClientsResponse, error) {
	ids, err := resource.Parse("parent", req.GetParent(), firmPattern)
	if err != nil {
		return nil, err
	}
	firmID := ids[0]
	format := "csv"
	if req.GetFormat() == workflowv1.ExportFormat_EXPORT_FORMAT_JSON {
		format = "json"
	}
	f, err := clientFilter(firmID, req.GetTag(), "", 0, "", "")
	if err != nil {
		return nil, err
	}
	filter := listFilter("client export", firmID, f.Tag, format)
	page, err := paging.RequestSized(req.GetPageSize(), exportPageSize, exportPageSize, req.GetPageToken(), filter)
	if err != nil {
		return nil, err
	}
	reveal := wantsReveal(req.GetView())
	exp, err := s.app.ExportClients(ctx, caller(ctx), firmID, format, f, reveal, page)
	if err != nil {
		return nil, err
	}
	out := &workflowv1.ExportClientsResponse{ClientCount: int32(len(exp.Clients))}
	out.NextPageToken = nextPageToken(exp.Next, filter)
	var buf bytes.Buffer
	if format == "csv" {
		out.ContentType = "text/csv; charset=utf-8"
		if err := domain.WriteClientCSV(&buf, exp.Clients, exp.CustomFields); err != nil {
			return nil, err
		}
	} else {
		out.ContentType = "application/json"
		buf.WriteByte('[')
		opts := protojson.MarshalOptions{UseProtoNames: true}
		for i, c := range exp.Clients {
			if i > 0 {
				buf.WriteByte(',')
			}
			doc, err := opts.Marshal(toClient(c, reveal))
			if err != nil {
				return nil, err
			}
			buf.Write(doc)
		}
		buf.WriteByte(']')
	}
	out.Content = buf.String()
	return out, nil
}

func (s *clientServer) ListCustomFields(ctx context.Context, req *workflowv1.ListCustomFieldsRequest) (*workflowv1.ListCustomFieldsResponse, error) {
	ids, err := resource.Parse("parent", req.GetParent(), firmPattern)
	if err != nil {
		return nil, err
	}
	firmID := ids[0]
	f, lf, err := changeFilter(req.GetFilter(), req.GetShowDeleted(), req.GetOrderBy(), changeListFields)
	if err != nil {
		return nil, err
	}
	filter := listFilter("custom fields", firmID, f.Order, lf, f.Changes.ShowDeleted)
	page, err := paging.RequestSized(req.GetPageSize(), domain.MaxCustomFields, paging.MaxSize, req.GetPageToken(), filter)
	if err != nil {
		return nil, err
	}
	fields, next, err := s.app.CustomFields(ctx, caller(ctx), firmID, f, page)
	if err != nil {
		return nil, err
	}
	out := &workflowv1.ListCustomFieldsResponse{}
	for _, f := range fields {
		out.CustomFields = append(out.CustomFields, toCustomField(f))
	}
	out.NextPageToken = nextPageToken(next, filter)
	return out, nil
}

func (s *clientServer) GetCustomField(ctx context.Context, req *workflowv1.GetCustomFieldRequest) (*workflowv1.CustomField, error) {
	ids, err := resource.Parse("name", req.GetName(), customFieldPattern)
	if err != nil {
		return nil, err
	}
	firmID, id := ids[0], ids[1]
	f, err := s.app.CustomField(ctx, caller(ctx), firmID, id)
	if err != nil {
		return nil, err
	}
	return toCustomField(f), nil
}

func (s *clientServer) CreateCustomField(ctx context.Context, req *workflowv1.CreateCustomFieldRequest) (*workflowv1.CustomField, error) {
	ids, err := resource.Parse("parent", req.GetParent(), firmPattern)
	if err != nil {
		return nil, err
	}
	firmID := ids[0]
	f, err := s.app.CreateCustomField(ctx, caller(ctx), firmID, fromCustomField(req.GetCustomField()), req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return toCustomField(f), nil
}

func (s *clientServer) UpdateCustomField(ctx context.Context, req *workflowv1.UpdateCustomFieldRequest) (*workflowv1.CustomField, error) {
	ids, err := resource.Parse("custom_field.name", req.GetCustomField().GetName(), customFieldPattern)
	if err != nil {
		return nil, err
	}
	firmID, id := ids[0], ids[1]
	patch, err := customFieldPatch(req.GetCustomField(), req.GetUpdateMask().GetPaths())
	if err != nil {
		return nil, err
	}
	f, err := s.app.UpdateCustomField(ctx, caller(ctx), firmID, id, patch)
	if err != nil {
		return nil, err
	}
	return toCustomField(f), nil
}

func (s *clientServer) DeleteCustomField(ctx context.Context, req *workflowv1.DeleteCustomFieldRequest) (*emptypb.Empty, error) {
	ids, err := resource.Parse("name", req.GetName(), customFieldPattern)
	if err != nil {
		return nil, err
	}
	firmID, id := ids[0], ids[1]
	if err := s.app.DeleteCustomField(ctx, caller(ctx), firmID, id, req.GetEtag()); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}
