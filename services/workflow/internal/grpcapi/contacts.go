package grpcapi

import (
	"context"

	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/firmflow/firmflow/pkg/apierr"
	workflowv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/workflow/v1"
	"github.com/firmflow/firmflow/pkg/listfilter"
	"github.com/firmflow/firmflow/pkg/paging"
	"github.com/firmflow/firmflow/pkg/resource"
	"github.com/firmflow/firmflow/pkg/rpc"
	"github.com/firmflow/firmflow/services/workflow/internal/app"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
)

func (s *contactServer) GetContact(ctx context.Context, req *workflowv1.GetContactRequest) (*workflowv1.Contact, error) {
	ids, err := resource.Parse("name", req.GetName(), contactPattern)
	if err != nil {
		return nil, err
	}
	firmID, id := ids[0], ids[1]
	c, err := s.app.Contact(ctx, caller(ctx), firmID, id)
	if err != nil {
		return nil, err
	}
	return toContact(c), nil
}

func (s *contactServer) ListContacts(ctx context.Context, req *workflowv1.ListContactsRequest) (*workflowv1.ListContactsResponse, error) {
	ids, err := resource.Parse("parent", req.GetParent(), firmPattern)
	if err != nil {
		return nil, err
	}
	firmID := ids[0]
	f, lf, err := changeFilter(req.GetFilter(), req.GetShowDeleted(), req.GetOrderBy(), changeListFields)
	if err != nil {
		return nil, err
	}
	filter := listFilter("contacts", firmID, f.Order, lf, f.Changes.ShowDeleted)
	page, err := paging.Request(req.GetPageSize(), req.GetPageToken(), filter)
	if err != nil {
		return nil, err
	}
	contacts, next, err := s.app.Contacts(ctx, caller(ctx), firmID, f, page)
	if err != nil {
		return nil, err
	}
	out := &workflowv1.ListContactsResponse{}
	for _, c := range contacts {
		out.Contacts = append(out.Contacts, toContact(c))
	}
	out.NextPageToken = nextPageToken(next, filter)
	return out, nil
}

func (s *contactServer) CreateContact(ctx context.Context, req *workflowv1.CreateContactRequest) (*workflowv1.Contact, error) {
	ids, err := resource.Parse("parent", req.GetParent(), firmPattern)
	if err != nil {
		return nil, err
	}
	firmID := ids[0]
	c, err := s.app.CreateContact(ctx, caller(ctx), firmID, fromContact(req.GetContact()), req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return toContact(c), nil
}

func (s *contactServer) UpsertContact(ctx context.Context, req *workflowv1.UpsertContactRequest) (*workflowv1.Contact, error) {
	ids, err := resource.Parse("parent", req.GetParent(), firmPattern)
	if err != nil {
		return nil, err
	}
	if req.GetContact().GetExternalId() == "" {
		return nil, app.ErrExternalIDRequired("contact")
	}
	patch, err := contactPatch(req.GetContact(), upsertPaths(req.GetContact(), req.GetUpdateMask().GetPaths()))
	if err != nil {
		return nil, err
	}
	out, created, err := s.app.UpsertContact(ctx, caller(ctx), ids[0], fromContact(req.GetContact()), patch, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	if created {
		rpc.MarkCreated(ctx)
	}
	return toContact(out), nil
}

func (s *contactServer) UpdateContact(ctx context.Context, req *workflowv1.UpdateContactRequest) (*workflowv1.Contact, error) {
	ids, err := resource.Parse("contact.name", req.GetContact().GetName(), contactPattern)
	if err != nil {
		return nil, err
	}
	firmID, id := ids[0], ids[1]
	patch, err := contactPatch(req.GetContact(), req.GetUpdateMask().GetPaths())
	if err != nil {
		return nil, err
	}
	c, err := s.app.UpdateContact(ctx, caller(ctx), firmID, id, patch)
	if err != nil {
		return nil, err
	}
	return toContact(c), nil
}

func (s *contactServer) DeleteContact(ctx context.Context, req *workflowv1.DeleteContactRequest) (*emptypb.Empty, error) {
	ids, err := resource.Parse("name", req.GetName(), contactPattern)
	if err != nil {
		return nil, err
	}
	firmID, id := ids[0], ids[1]
	if err := s.app.DeleteContact(ctx, caller(ctx), firmID, id, req.GetEtag()); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

func (s *contactServer) ListClientContacts(ctx context.Context, req *workflowv1.ListClientContactsRequest) (*workflowv1.ListClientContactsResponse, error) {
	ids, err := resource.Parse("parent", req.GetParent(), clientPattern)
	if err != nil {
		return nil, err
	}
	firmID, clientID := ids[0], ids[1]
	lf, err := listfilter.Parse(req.GetFilter(), changeListFields)
	if err != nil {
		return nil, err
	}
	links, err := s.app.ClientContacts(ctx, caller(ctx), firmID, clientID, lf.Bounds("update_time"))
	if err != nil {
		return nil, err
	}
	out := &workflowv1.ListClientContactsResponse{}
	for _, l := range links {
		out.ClientContacts = append(out.ClientContacts, toClientContact(l))
	}
	return out, nil
}

func (s *contactServer) CreateClientContact(ctx context.Context, req *workflowv1.CreateClientContactRequest) (*workflowv1.ClientContact, error) {
	ids, err := resource.Parse("parent", req.GetParent(), clientPattern)
	if err != nil {
		return nil, err
	}
	firmID, clientID := ids[0], ids[1]
	link := req.GetClientContact()
	if link.GetContact() == "" {
		return nil, apierr.InvalidArgument("client_contact.contact", "required", "the contact to link: firms/{firm}/contacts/{contact}")
	}
	contactID, err := referenceID("client_contact.contact", link.GetContact(), firmID, "contacts")
	if err != nil {
		return nil, err
	}
	l, err := s.app.LinkContact(ctx, caller(ctx), firmID, domain.ClientContact{
		ClientID: clientID, ContactID: contactID, Primary: link.GetPrimary(), Relationship: link.GetRelationship(),
	})
	if err != nil {
		return nil, err
	}
	return toClientContact(l), nil
}

func (s *contactServer) UpdateClientContact(ctx context.Context, req *workflowv1.UpdateClientContactRequest) (*workflowv1.ClientContact, error) {
	link := req.GetClientContact()
	ids, err := resource.Parse("client_contact.name", link.GetName(), clientContactPattern)
	if err != nil {
		return nil, err
	}
	firmID, clientID, contactID := ids[0], ids[1], ids[2]
	patch, err := clientContactPatch(link, req.GetUpdateMask().GetPaths())
	if err != nil {
		return nil, err
	}
	l, err := s.app.UpdateClientContact(ctx, caller(ctx), firmID, clientID, contactID, patch)
	if err != nil {
		return nil, err
	}
	return toClientContact(l), nil
}

func (s *contactServer) DeleteClientContact(ctx context.Context, req *workflowv1.DeleteClientContactRequest) (*emptypb.Empty, error) {
	ids, err := resource.Parse("name", req.GetName(), clientContactPattern)
	if err != nil {
		return nil, err
	}
	firmID, clientID, contactID := ids[0], ids[1], ids[2]
	if err := s.app.UnlinkContact(ctx, caller(ctx), firmID, clientID, contactID); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}
