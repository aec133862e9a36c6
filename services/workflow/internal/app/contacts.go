package app

import (
	"context"
	"fmt"
	"time"

	"github.com/firmflow/firmflow/pkg/apierr"
	eventsv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/events/v1"
	"github.com/firmflow/firmflow/pkg/listfilter"
	"github.com/firmflow/firmflow/pkg/paging"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/pkg/resource"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
	"github.com/firmflow/firmflow/services/workflow/internal/store"
)

// ContactName is a contact's resource name.
func ContactName(firmID, id string) string { return resource.Name("firms", firmID, "contacts", id) }

// ClientContactName is the resource name of a contact's link to a client.
func ClientContactName(firmID, clientID, contactID string) string {
	return resource.Name("firms", firmID, "clients", clientID, "contacts", contactID)
}

// requireOnContact checks the caller's permission for act on an existing contact.
// An "assigned" scope reaches contacts of clients assigned to the caller; a contact
// the caller may not even read is NOT_FOUND.
func requireOnContact(ctx context.Context, q *store.Queries, p principal.Principal, contactID string, act domain.Action) error {
	mine := false
	read, err := scopeOf(ctx, q, p, domain.CategoryContacts, domain.ActionRead)
	if err != nil {
		return err
	}
	actScope, err := scopeOf(ctx, q, p, domain.CategoryContacts, act)
	if err != nil {
		return err
	}
	if (read == domain.ScopeAssigned || actScope == domain.ScopeAssigned) && p.UserID != "" {
		if mine, err = q.ContactVisibleTo(ctx, contactID, p.UserID); err != nil {
			return err
		}
	}
	if read == domain.ScopeAssigned && !mine {
		return apierr.NotFound("contact")
	}
	return require(ctx, q, p, domain.CategoryContacts, act, mine)
}

// Contact returns one contact.
func (a *App) Contact(ctx context.Context, p principal.Principal, firmID, id string) (domain.Contact, error) {
	var out domain.Contact
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		var err error
		if out, err = q.Contact(ctx, id); err != nil {
			return err
		}
		return requireOnContact(ctx, q, p, id, domain.ActionRead)
	})
	return out, err
}

// Contacts lists a page of contacts in f's order; next is nil on the last page.
func (a *App) Contacts(ctx context.Context, p principal.Principal, firmID string, f domain.ChangeFilter, page paging.Page) ([]domain.Contact, *paging.Cursor, error) {
	var out []domain.Contact
	var next *paging.Cursor
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		scope, err := scopeOf(ctx, q, p, domain.CategoryContacts, domain.ActionRead)
		if err != nil {
			return err
		}
		visibleTo := ""
		switch {
		case scope == domain.ScopeAssigned && p.UserID != "":
			visibleTo = p.UserID
		case scope != domain.ScopeAll:
			return require(ctx, q, p, domain.CategoryContacts, domain.ActionRead, false)
		}
		out, next, err = q.Contacts(ctx, f, page, visibleTo)
		return err
	})
	return out, next, err
}

// CreateContact creates a contact. A retry with the same request id returns the
// first contact.
func (a *App) CreateContact(ctx context.Context, p principal.Principal, firmID string, c domain.Contact, requestID string) (domain.Contact, error) {
	c = newContact(c, firmID, a.stamp())
	if err := domain.InvalidFields("contact.", c.Problems()); err != nil {
		return domain.Contact{}, err
	}
	out := c
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		if err := requireCreateContact(ctx, q, p); err != nil {
			return err
		}
		earlier, claimed, err := q.ClaimRequest(ctx, requestID, ContactName(firmID, c.ID))
		if err != nil {
			return err
		}
		if !claimed {
			out, err = earlierContact(ctx, q, firmID, earlier)
			return err
		}
		if err := q.CreateContact(ctx, c); err != nil {
			return err
		}
		return emit(ctx, q, p, "contact_created", &eventsv1.ContactChanged{Contact: ContactName(firmID, c.ID)})
	})
	return out, err
}

func newContact(c domain.Contact, firmID string, now time.Time) domain.Contact {
	c.ID, c.FirmID, c.Version = newID(), firmID, 1
	c.CreateTime, c.UpdateTime = now, now
	return c
}

// requireCreateContact checks that the caller may create contacts. A new contact
// belongs to no client yet, so an "assigned" scope cannot reach it.
func requireCreateContact(ctx context.Context, q *store.Queries, p principal.Principal) error {
	return require(ctx, q, p, domain.CategoryContacts, domain.ActionCreate, false)
}

// earlierContact returns the contact an earlier request with the same id made.
func earlierContact(ctx context.Context, q *store.Queries, firmID, name string) (domain.Contact, error) {
	ids, err := earlierCreate(name, firmID, "firms/{firm}/contacts/{contact}")
	if err != nil {
		return domain.Contact{}, err
	}
	return q.Contact(ctx, ids[1])
}

// UpdateContact changes the fields the patch sets.
func (a *App) UpdateContact(ctx context.Context, p principal.Principal, firmID, id string, patch ContactPatch) (domain.Contact, error) {
	var out domain.Contact
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		c, err := q.ContactForUpdate(ctx, id)
		if err != nil {
			return err
		}
		out, err = a.changeContact(ctx, q, p, c, patch)
		return err
	})
	return out, err
}

// changeContact applies patch to a contact read for update, with its
// contact_updated event when anything changed.
func (a *App) changeContact(ctx context.Context, q *store.Queries, p principal.Principal, c domain.Contact, patch ContactPatch) (domain.Contact, error) {
	if err := requireOnContact(ctx, q, p, c.ID, domain.ActionUpdate); err != nil {
		return domain.Contact{}, err
	}
	if err := checkEtag(patch.Etag, c.Version, "contact"); err != nil {
		return domain.Contact{}, err
	}
	changed := patch.apply(&c)
	if len(changed) == 0 {
		return c, nil
	}
	if err := domain.InvalidFields("contact.", c.Problems()); err != nil {
		return domain.Contact{}, err
	}
	out, err := q.UpdateContact(ctx, c, c.Version, a.stamp())
	if err != nil {
		return domain.Contact{}, err
	}
	return out, emit(ctx, q, p, "contact_updated", &eventsv1.ContactChanged{Contact: ContactName(c.FirmID, c.ID), ChangedFields: changed})
}

// UpsertContact creates the contact with c.ExternalID or changes the contact that
// has it, as UpsertClient does for clients.
func (a *App) UpsertContact(ctx context.Context, p principal.Principal, firmID string, c domain.Contact, patch ContactPatch, requestID string) (domain.Contact, bool, error) {
	if c.ExternalID == "" {
		return domain.Contact{}, false, ErrExternalIDRequired("contact")
	}
	return untilNoRace(store.ErrContactExternalIDTaken, func() (domain.Contact, bool, error) {
		return a.upsertContact(ctx, p, firmID, c, patch, requestID)
	})
}

func (a *App) upsertContact(ctx context.Context, p principal.Principal, firmID string, in domain.Contact, patch ContactPatch, requestID string) (out domain.Contact, created bool, err error) {
	err = a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		created = false // fn may run again (requireMembers)
		existing, found, err := q.ContactByExternalIDForUpdate(ctx, in.ExternalID)
		if err != nil {
			return err
		}
		c := newContact(in, firmID, a.stamp())
		if found {
			c = existing
		}
		earlier, claimed, err := q.Claim(ctx, requestID, []string{ContactName(firmID, c.ID)}, found)
		if err != nil {
			return err
		}
		if !claimed {
			created = !earlier.Updated
			out, err = earlierContact(ctx, q, firmID, earlier.Resources[0])
			return err
		}
		if found {
			out, err = a.changeContact(ctx, q, p, existing, patch)
			return err
		}
		if patch.Etag != "" {
			return apierr.StaleEtag("contact")
		}
		if err := domain.InvalidFields("contact.", c.Problems()); err != nil {
			return err
		}
		if err := requireCreateContact(ctx, q, p); err != nil {
			return err
		}
		if err := q.CreateContact(ctx, c); err != nil {
			return err
		}
		out, created = c, true
		return emit(ctx, q, p, "contact_created", &eventsv1.ContactChanged{Contact: ContactName(firmID, c.ID)})
	})
	return out, created, err
}

// DeleteContact deletes a contact and its links to clients.
func (a *App) DeleteContact(ctx context.Context, p principal.Principal, firmID, id, etag string) error {
	return a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		c, err := q.ContactForUpdate(ctx, id)
		if err != nil {
			return err
		}
		if err := requireOnContact(ctx, q, p, id, domain.ActionDelete); err != nil {
			return err
		}
		if err := checkEtag(etag, c.Version, "contact"); err != nil {
			return err
		}
		primaryOf, err := q.DeleteContact(ctx, id, a.stamp())
		if err != nil {
			return err
		}
		for _, clientID := range primaryOf {
			if err := q.TouchClient(ctx, clientID, a.stamp()); err != nil {
				return err
			}
		}
		return emit(ctx, q, p, "contact_deleted", &eventsv1.ContactChanged{Contact: ContactName(firmID, id)})
	})
}

// ClientContacts lists a client's contacts, the primary first; with changed, only
// those whose update_time is within it.
func (a *App) ClientContacts(ctx context.Context, p principal.Principal, firmID, clientID string, changed []listfilter.Bound) ([]domain.ClientContact, error) {
	var out []domain.ClientContact
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		r, err := q.Client(ctx, clientID)
		if err != nil {
			return err
		}
		if err := a.requireOnClient(ctx, q, p, r.Client, domain.ActionRead); err != nil {
			return err
		}
		out, err = q.ClientContacts(ctx, clientID, changed)
		return err
	})
	return out, err
}

// LinkContact links a contact to a client. The client's first contact becomes its
// primary; a link asking to be primary replaces the former primary.
func (a *App) LinkContact(ctx context.Context, p principal.Principal, firmID string, l domain.ClientContact) (domain.ClientContact, error) {
	if err := domain.InvalidFields("client_contact.", l.Problems()); err != nil {
		return domain.ClientContact{}, err
	}
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		// Locking the client serialises changes to its links, so the one-primary rule
		// never meets a concurrent link.
		r, err := q.ClientForUpdate(ctx, l.ClientID)
		if err != nil {
			return err
		}
		if err := a.requireOnClient(ctx, q, p, r.Client, domain.ActionUpdate); err != nil {
			return err
		}
		// Locked, so a concurrent delete either waits for the link (and removes it)
		// or has left a tombstone this lookup does not find.
		contact, err := q.ContactForUpdate(ctx, l.ContactID)
		if err != nil {
			return err
		}
		n, err := q.CountClientContacts(ctx, l.ClientID)
		if err != nil {
			return err
		}
		if n >= domain.MaxClientContacts {
			return apierr.FailedPrecondition("CLIENT_CONTACT_LIMIT", fmt.Sprintf("a client has at most %d contacts", domain.MaxClientContacts))
		}
		l.FirmID, l.DisplayName, l.Version, l.CreateTime = firmID, contact.DisplayName, 1, a.stamp()
		l.UpdateTime = l.CreateTime
		l.Primary = l.Primary || n == 0
		if l.Primary && r.Client.PrimaryContactID != "" {
			if err := q.DemotePrimary(ctx, l.ClientID, l.CreateTime); err != nil {
				return err
			}
		}
		if err := q.CreateClientContact(ctx, l); err != nil {
			return err
		}
		if l.Primary {
			if err := q.TouchClient(ctx, l.ClientID, l.CreateTime); err != nil {
				return err
			}
		}
		return emit(ctx, q, p, "client_contact_linked",
			&eventsv1.ClientContactChanged{ClientContact: ClientContactName(firmID, l.ClientID, l.ContactID), Primary: l.Primary})
	})
	return l, err
}

// UpdateClientContact changes a link's primary flag or relationship; making a
// contact primary demotes the former primary.
func (a *App) UpdateClientContact(ctx context.Context, p principal.Principal, firmID, clientID, contactID string, patch ClientContactPatch) (domain.ClientContact, error) {
	var out domain.ClientContact
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		r, err := q.ClientForUpdate(ctx, clientID)
		if err != nil {
			return err
		}
		if err := a.requireOnClient(ctx, q, p, r.Client, domain.ActionUpdate); err != nil {
			return err
		}
		l, err := q.ClientContactForUpdate(ctx, clientID, contactID)
		if err != nil {
			return err
		}
		if err := checkEtag(patch.Etag, l.Version, "client contact"); err != nil {
			return err
		}
		changed := patch.apply(&l)
		out = l
		if len(changed) == 0 {
			return nil
		}
		if err := domain.InvalidFields("client_contact.", l.Problems()); err != nil {
			return err
		}
		primaryChanged := false
		for _, f := range changed {
			primaryChanged = primaryChanged || f == "primary"
		}
		l.UpdateTime = a.stamp()
		if primaryChanged && l.Primary {
			if err := q.DemotePrimary(ctx, l.ClientID, l.UpdateTime); err != nil {
				return err
			}
		}
		if out, err = q.UpdateClientContact(ctx, l); err != nil {
			return err
		}
		if primaryChanged {
			if err := q.TouchClient(ctx, l.ClientID, l.UpdateTime); err != nil {
				return err
			}
		}
		return emit(ctx, q, p, "client_contact_updated", &eventsv1.ClientContactChanged{
			ClientContact: ClientContactName(firmID, l.ClientID, l.ContactID), Primary: l.Primary, ChangedFields: changed,
		})
	})
	return out, err
}

// UnlinkContact removes a contact from a client; the contact stays.
func (a *App) UnlinkContact(ctx context.Context, p principal.Principal, firmID, clientID, contactID string) error {
	return a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		r, err := q.ClientForUpdate(ctx, clientID)
		if err != nil {
			return err
		}
		if err := a.requireOnClient(ctx, q, p, r.Client, domain.ActionUpdate); err != nil {
			return err
		}
		l, err := q.ClientContactForUpdate(ctx, clientID, contactID)
		if err != nil {
			return err
		}
		if err := q.DeleteClientContact(ctx, clientID, contactID); err != nil {
			return err
		}
		if l.Primary {
			if err := q.TouchClient(ctx, clientID, a.stamp()); err != nil {
				return err
			}
		}
		return emit(ctx, q, p, "client_contact_unlinked",
			&eventsv1.ClientContactChanged{ClientContact: ClientContactName(firmID, clientID, contactID)})
	})
}
