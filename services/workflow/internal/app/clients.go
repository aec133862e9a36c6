package app

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/firmflow/firmflow/pkg/apierr"
	eventsv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/events/v1"
	"github.com/firmflow/firmflow/pkg/paging"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/pkg/resource"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
	"github.com/firmflow/firmflow/services/workflow/internal/store"
)

// ClientName is a client's resource name.
func ClientName(firmID, clientID string) string {
	return resource.Name("firms", firmID, "clients", clientID)
}

// Client returns one client: masked, or with tax and bank numbers in full when
// reveal is asked for and domain.MayReveal allows it (and then recorded as an event).
func (a *App) Client(ctx context.Context, p principal.Principal, firmID, clientID string, reveal bool) (domain.Client, error) {
	if reveal && !domain.MayReveal(p) {
		return domain.Client{}, domain.ErrRevealNotAllowed
	}
	var c domain.Client
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		r, err := q.Client(ctx, clientID)
		if err != nil {
			return err
		}
		c, err = a.readableClient(ctx, q, p, r, reveal)
		return err
	})
	return c, err
}

// LookupClientByTaxID finds the client with exactly this tax id through its blind
// index; the tax id itself is never compared in SQL.
func (a *App) LookupClientByTaxID(ctx context.Context, p principal.Principal, firmID, taxID string, reveal bool) (domain.Client, error) {
	if reveal && !domain.MayReveal(p) {
		return domain.Client{}, domain.ErrRevealNotAllowed
	}
	if domain.NormalizeTaxID(taxID) == "" {
		return domain.Client{}, apierr.InvalidArgument("tax_id", "required", "a tax id to look up")
	}
	var c domain.Client
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		if err := require(ctx, q, p, domain.CategoryClients, domain.ActionRead, true); err != nil {
			return err
		}
		key := a.lazyFirmKey(ctx, q)
		defer key.close()
		index, err := key.taxIDIndex(taxID)
		if err != nil {
			return err
		}
		r, err := q.ClientByTaxIDIndex(ctx, index)
		if err != nil {
			return err
		}
		c, err = a.readableClient(ctx, q, p, r, reveal)
		return err
	})
	return c, err
}

// readableClient checks that the caller may read r and returns it as they may see it.
// A client outside an "assigned" scope is NOT_FOUND rather than forbidden: the caller
// learns nothing about clients they cannot see.
func (a *App) readableClient(ctx context.Context, q *store.Queries, p principal.Principal, r store.ClientRecord, reveal bool) (domain.Client, error) {
	scope, err := scopeOf(ctx, q, p, domain.CategoryClients, domain.ActionRead)
	if err != nil {
		return domain.Client{}, err
	}
	switch {
	case scope == domain.ScopeNone:
		return domain.Client{}, require(ctx, q, p, domain.CategoryClients, domain.ActionRead, false)
	case scope == domain.ScopeAssigned && !r.Client.AssignedTo(p.UserID):
		return domain.Client{}, apierr.NotFound("client")
	}
	key := a.lazyFirmKey(ctx, q)
	defer key.close()
	c, err := key.openClient(r)
	if err != nil {
		return domain.Client{}, err
	}
	if !reveal {
		return c.Masked(), nil
	}
	if fields := c.RevealedFields(); len(fields) > 0 {
		err = emit(ctx, q, p, "client_revealed", &eventsv1.ClientRevealed{Client: ClientName(c.FirmID, c.ID), Fields: fields})
	}
	return c, err
}

// Clients lists a page of clients, masked. Callers whose read scope is "assigned"
// see only clients assigned to them. next is nil on the last page.
func (a *App) Clients(ctx context.Context, p principal.Principal, firmID string, f domain.ClientFilter, page paging.Page) ([]domain.Client, *paging.Cursor, error) {
	var out []domain.Client
	var next *paging.Cursor
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		visibleTo, err := a.clientVisibility(ctx, q, p, domain.ActionRead)
		if err != nil {
			return err
		}
		var records []store.ClientRecord
		records, next, err = q.Clients(ctx, store.ClientQuery{Filter: f, VisibleTo: visibleTo, Page: page})
		if err != nil {
			return err
		}
		out, err = a.openClients(ctx, q, records, false)
		return err
	})
	return out, next, err
}

// clientVisibility returns the member whose clients the caller's scope for act is
// limited to ("" for all), or PERMISSION_DENIED when it reaches none.
func (a *App) clientVisibility(ctx context.Context, q *store.Queries, p principal.Principal, act domain.Action) (string, error) {
	scope, err := scopeOf(ctx, q, p, domain.CategoryClients, act)
	if err != nil {
		return "", err
	}
	switch scope {
	case domain.ScopeAll:
		return "", nil
	case domain.ScopeAssigned:
		if p.UserID != "" {
			return p.UserID, nil
		}
	}
	return "", require(ctx, q, p, domain.CategoryClients, act, false)
}

// openClients decrypts a page of clients, masking them unless reveal.
func (a *App) openClients(ctx context.Context, q *store.Queries, records []store.ClientRecord, reveal bool) ([]domain.Client, error) {
	key := a.lazyFirmKey(ctx, q)
	defer key.close()
	out := make([]domain.Client, 0, len(records))
	for _, r := range records {
		c, err := key.openClient(r)
		if err != nil {
			return nil, err
		}
		if !reveal {
			c = c.Masked()
		}
		out = append(out, c)
	}
	return out, nil
}

// CreateClient creates a client. A retry with the same request id returns the
// client the first request created.
func (a *App) CreateClient(ctx context.Context, p principal.Principal, firmID string, c domain.Client, requestID string) (domain.Client, error) {
	c = c.WithDefaults()
	c.ID, c.FirmID, c.Version = newID(), firmID, 1
	c.CreateTime = a.stamp()
	c.UpdateTime = c.CreateTime
	c.ImportID, c.PrimaryContactID = "", ""
	if err := domain.InvalidFields("client.", c.Problems()); err != nil {
		return domain.Client{}, err
	}
	var out domain.Client
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		if err := require(ctx, q, p, domain.CategoryClients, domain.ActionCreate, c.AssignedTo(p.UserID)); err != nil {
			return err
		}
		if err := requireMembers(ctx, q, clientAssignees("client.assignees", c.Assignees)...); err != nil {
			return err
		}
		earlier, claimed, err := q.ClaimRequest(ctx, requestID, ClientName(firmID, c.ID))
		if err != nil {
			return err
		}
		if !claimed {
			out, err = a.earlierClient(ctx, q, p, firmID, earlier)
			return err
		}
		defs, err := q.CustomFieldsByKey(ctx)
		if err != nil {
			return err
		}
		values, problems := domain.CheckCustomValues(c.CustomFields, defs, firmID)
		if err := domain.InvalidFields("client.", problems); err != nil {
			return err
		}
		if err := requireMembers(ctx, q, customMembers(defs, values, firmID)...); err != nil {
			return err
		}
		c.CustomFields = nilIfEmpty(values)
		key := a.lazyFirmKey(ctx, q)
		defer key.close()
		sealed, err := key.seal(c)
		if err != nil {
			return err
		}
		if err := q.CreateClient(ctx, store.ClientRecord{Client: c, Sealed: sealed}); err != nil {
			return err
		}
		out = c.Masked()
		return emit(ctx, q, p, "client_created", &eventsv1.ClientCreated{Client: ClientName(firmID, c.ID)})
	})
	return out, err
}

// earlierClient returns the client an earlier create with the same request id made.
func (a *App) earlierClient(ctx context.Context, q *store.Queries, p principal.Principal, firmID, name string) (domain.Client, error) {
	ids, err := earlierCreate(name, firmID, "firms/{firm}/clients/{client}")
	if err != nil {
		return domain.Client{}, err
	}
	r, err := q.Client(ctx, ids[1])
	if err != nil {
		return domain.Client{}, err
	}
	return a.readableClient(ctx, q, p, r, false)
}

func nilIfEmpty(m map[string]any) map[string]any {
	if len(m) == 0 {
		return nil
	}
	return m
}

// UpdateClient changes the fields the patch sets. Its etag, when not empty, must
// match the client's current version.
func (a *App) UpdateClient(ctx context.Context, p principal.Principal, firmID, clientID string, patch ClientPatch) (domain.Client, error) {
	var out domain.Client
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		r, err := q.ClientForUpdate(ctx, clientID)
		if err != nil {
			return err
		}
		if err := a.requireOnClient(ctx, q, p, r.Client, domain.ActionUpdate); err != nil {
			return err
		}
		if err := checkEtag(patch.Etag, r.Client.Version, "client"); err != nil {
			return err
		}
		if patch.Assignees != nil {
			if err := requireMembers(ctx, q, clientAssignees("client.assignees", *patch.Assignees)...); err != nil {
				return err
			}
		}
		key := a.lazyFirmKey(ctx, q)
		defer key.close()
		c, err := key.openClient(r)
		if err != nil {
			return err
		}
		before := domain.CloneClient(c)
		changed := patch.apply(&c)
		if len(changed) == 0 {
			out = c.Masked()
			return nil
		}
		if err := domain.InvalidFields("client.", c.Problems()); err != nil {
			return err
		}
		fieldsChanged := false
		for _, f := range changed {
			fieldsChanged = fieldsChanged || strings.HasPrefix(f, "custom_fields")
		}
		if fieldsChanged {
			defs, err := q.CustomFieldsByKey(ctx)
			if err != nil {
				return err
			}
			values, problems := domain.CheckCustomValues(c.CustomFields, defs, firmID)
			if err := domain.InvalidFields("client.", problems); err != nil {
				return err
			}
			if err := requireMembers(ctx, q, customMembers(defs, values, firmID)...); err != nil {
				return err
			}
			c.CustomFields = nilIfEmpty(values)
			if err := q.SetClientFieldValues(ctx, c.ID, c.CustomFields); err != nil {
				return err
			}
		}
		sealed := r.Sealed
		if c.Sensitive != before.Sensitive {
			// Every field is sealed again; unchanged ones get a fresh nonce, which
			// costs nothing and keeps this path simple.
			if sealed, err = key.seal(c); err != nil {
				return err
			}
		}
		saved, err := q.UpdateClient(ctx, store.ClientRecord{Client: c, Sealed: sealed}, r.Client.Version, a.stamp())
		if err != nil {
			return err
		}
		out = saved.Client.Masked()
		return emit(ctx, q, p, "client_updated", &eventsv1.ClientUpdated{Client: ClientName(firmID, c.ID), ChangedFields: changed})
	})
	return out, err
}

// requireOnClient checks the caller's permission for act on an existing client; an
// "assigned" scope reaches it only when the caller is among its assignees, and a
// client the caller may not even read is NOT_FOUND.
func (a *App) requireOnClient(ctx context.Context, q *store.Queries, p principal.Principal, c domain.Client, act domain.Action) error {
	mine := c.AssignedTo(p.UserID)
	if scope, err := scopeOf(ctx, q, p, domain.CategoryClients, domain.ActionRead); err != nil {
		return err
	} else if scope == domain.ScopeAssigned && !mine {
		return apierr.NotFound("client")
	}
	return require(ctx, q, p, domain.CategoryClients, act, mine)
}

// DeleteClient deletes a client with its custom field values and contact links.
func (a *App) DeleteClient(ctx context.Context, p principal.Principal, firmID, clientID, etag string) error {
	return a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		r, err := q.ClientForUpdate(ctx, clientID)
		if err != nil {
			return err
		}
		if err := a.requireOnClient(ctx, q, p, r.Client, domain.ActionDelete); err != nil {
			return err
		}
		if err := checkEtag(etag, r.Client.Version, "client"); err != nil {
			return err
		}
		if err := q.DeleteClient(ctx, clientID, a.stamp()); err != nil {
			return err
		}
		return emit(ctx, q, p, "client_deleted", &eventsv1.ClientDeleted{Client: ClientName(firmID, clientID)})
	})
}

// clientAssignees names each assignee of a client as field[i].
func clientAssignees(field string, ids []string) []memberRef {
	refs := make([]memberRef, len(ids))
	for i, id := range ids {
		refs[i] = memberRef{fmt.Sprintf("%s[%d]", field, i), id}
	}
	return refs
}

// customMembers are the members named by the values of the client's member fields.
func customMembers(defs map[string]domain.CustomField, values map[string]any, firmID string) []memberRef {
	var refs []memberRef
	for _, k := range slices.Sorted(maps.Keys(values)) {
		if name, ok := values[k].(string); ok && defs[k].Type == domain.FieldMember {
			id, _ := domain.MemberID(firmID, name)
			refs = append(refs, memberRef{"client.custom_fields." + k, id})
		}
	}
	return refs
}
