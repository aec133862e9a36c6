package grpcapi

import (
	"context"

	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/firmflow/firmflow/pkg/apierr"
	workflowv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/workflow/v1"
	"github.com/firmflow/firmflow/pkg/paging"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
)

// contactService is ContactService on the shared Server.
type contactService struct {
	workflowv1.UnimplementedContactServiceServer
	*Server
}

func contactIDs(field, name string) (firmID, contactID string, err error) {
	ids, err := uuidsIn(field, name, "contact", "firms", "contacts")
	if err != nil {
		return "", "", err
	}
	return ids[0], ids[1], nil
}

func clientContactIDs(field, name string) (firmID, clientID, contactID string, err error) {
	ids, err := uuidsIn(field, name, "client contact", "firms", "clients", "contacts")
	if err != nil {
		return "", "", "", err
	}
	return ids[0], ids[1], ids[2], nil
}

func (s *contactService) GetContact(ctx context.Context, req *workflowv1.GetContactRequest) (*workflowv1.Contact, error) {
	firmID, id, err := contactIDs("name", req.GetName())
	if err != nil {
		return nil, err
	}
	c, err := s.app.Contact(ctx, caller(ctx), firmID, id)
	if err != nil {
		return nil, err
	}
	return toContact(c), nil
}

func (s *contactService) ListContacts(ctx context.Context, req *workflowv1.ListContactsRequest) (*workflowv1.ListContactsResponse, error) {
	firmID, err := parentFirm("parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	key := "contacts\x00" + firmID
	page, err := paging.Request(req.GetPageSize(), req.GetPageToken(), key)
	if err != nil {
		return nil, err
	}
	contacts, next, err := s.app.Contacts(ctx, caller(ctx), firmID, page)
	if err != nil {
		return nil, err
	}
	out := &workflowv1.ListContactsResponse{}
	for _, c := range contacts {
		out.Contacts = append(out.Contacts, toContact(c))
	}
	if next != nil {
		out.NextPageToken = paging.Next(*next, true, key)
	}
	return out, nil
}

func (s *contactService) CreateContact(ctx context.Context, req *workflowv1.CreateContactRequest) (*workflowv1.Contact, error) {
	firmID, err := parentFirm("parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	c, err := s.app.CreateContact(ctx, caller(ctx), firmID, fromContact(req.GetContact()), req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return toContact(c), nil
}

func (s *contactService) UpdateContact(ctx context.Context, req *workflowv1.UpdateContactRequest) (*workflowv1.Contact, error) {
	firmID, id, err := contactIDs("contact.name", req.GetContact().GetName())
	if err != nil {
		return nil, err
	}
	paths := maskPaths(req.GetUpdateMask().GetPaths(), contactOutputOnly)
	c, err := s.app.UpdateContact(ctx, caller(ctx), firmID, id, fromContact(req.GetContact()), paths, req.GetContact().GetEtag())
	if err != nil {
		return nil, err
	}
	return toContact(c), nil
}

func (s *contactService) DeleteContact(ctx context.Context, req *workflowv1.DeleteContactRequest) (*emptypb.Empty, error) {
	firmID, id, err := contactIDs("name", req.GetName())
	if err != nil {
		return nil, err
	}
	if err := s.app.DeleteContact(ctx, caller(ctx), firmID, id, req.GetEtag()); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

func (s *contactService) ListClientContacts(ctx context.Context, req *workflowv1.ListClientContactsRequest) (*workflowv1.ListClientContactsResponse, error) {
	firmID, clientID, err := clientIDs("parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	links, err := s.app.ClientContacts(ctx, caller(ctx), firmID, clientID)
	if err != nil {
		return nil, err
	}
	out := &workflowv1.ListClientContactsResponse{}
	for _, l := range links {
		out.ClientContacts = append(out.ClientContacts, toClientContact(l))
	}
	return out, nil
}

func (s *contactService) CreateClientContact(ctx context.Context, req *workflowv1.CreateClientContactRequest) (*workflowv1.ClientContact, error) {
	firmID, clientID, err := clientIDs("parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	link := req.GetClientContact()
	if link.GetContact() == "" {
		return nil, apierr.InvalidArgument("client_contact.contact", "required", "the contact to link: firms/{firm}/contacts/{contact}")
	}
	contactFirm, contactID, err := contactIDs("client_contact.contact", link.GetContact())
	if err != nil {
		return nil, err
	}
	if contactFirm != firmID {
		return nil, apierr.NotFound("contact")
	}
	l, err := s.app.LinkContact(ctx, caller(ctx), firmID, domain.ClientContact{
		ClientID: clientID, ContactID: contactID, Primary: link.GetPrimary(), Relationship: link.GetRelationship(),
	})
	if err != nil {
		return nil, err
	}
	return toClientContact(l), nil
}

func (s *contactService) UpdateClientContact(ctx context.Context, req *workflowv1.UpdateClientContactRequest) (*workflowv1.ClientContact, error) {
	link := req.GetClientContact()
	firmID, clientID, contactID, err := clientContactIDs("client_contact.name", link.GetName())
	if err != nil {
		return nil, err
	}
	paths := maskPaths(req.GetUpdateMask().GetPaths(), clientContactOutputOnly)
	l, err := s.app.UpdateClientContact(ctx, caller(ctx), firmID, domain.ClientContact{
		ClientID: clientID, ContactID: contactID, Primary: link.GetPrimary(), Relationship: link.GetRelationship(),
	}, paths, link.GetEtag())
	if err != nil {
		return nil, err
	}
	return toClientContact(l), nil
}

func (s *contactService) DeleteClientContact(ctx context.Context, req *workflowv1.DeleteClientContactRequest) (*emptypb.Empty, error) {
	firmID, clientID, contactID, err := clientContactIDs("name", req.GetName())
	if err != nil {
		return nil, err
	}
	if err := s.app.UnlinkContact(ctx, caller(ctx), firmID, clientID, contactID); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}
