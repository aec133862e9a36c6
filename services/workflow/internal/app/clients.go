package app

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

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
	c = newClient(c, firmID, a.stamp())
	if err := domain.InvalidFields("client.", c.Problems()); err != nil {
		return domain.Client{}, err
	}
	var out domain.Client
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		if err := requireCreateClients(ctx, q, p, false, c); err != nil {
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
		events := newEventBatch(q, p.Actor())
		if out, err = a.insertClient(ctx, q, c, events); err != nil {
			return err
		}
		return events.write(ctx, q)
	})
	return out, err
}

// newClient readies c, as a request gave it, to be created in the firm at now.
func newClient(c domain.Client, firmID string, now time.Time) domain.Client {
	c = c.WithDefaults()
	c.ID, c.FirmID, c.Version = newID(), firmID, 1
	c.CreateTime, c.UpdateTime = now, now
	c.ImportID, c.PrimaryContactID = "", ""
	return c
}

// requireCreateClients checks that the caller may create every one of cs (with
// scope "assigned", only clients they are an assignee of) and that their
// assignees are members. The fields are client.assignees[j] for one client and
// requests[i].client.assignees[j] for a batch.
func requireCreateClients(ctx context.Context, q *store.Queries, p principal.Principal, batch bool, cs ...domain.Client) error {
	mine := true
	var refs []memberRef
	for i, c := range cs {
		mine = mine && c.AssignedTo(p.UserID)
		refs = append(refs, clientAssignees(itemPrefix(i, batch)+"client.assignees", c.Assignees)...)
	}
	if err := require(ctx, q, p, domain.CategoryClients, domain.ActionCreate, mine); err != nil {
		return err
	}
	return requireMembers(ctx, q, refs...)
}

// insertClient inserts a client checked as new (see prepareClient), with its
// client_created event, and returns it masked.
func (a *App) insertClient(ctx context.Context, q *store.Queries, c domain.Client, events *eventBatch) (domain.Client, error) {
	key := a.lazyFirmKey(ctx, q)
	defer key.close()
	defs, err := q.CustomFieldsByKey(ctx)
	if err != nil {
		return domain.Client{}, err
	}
	r, err := prepareClient(ctx, q, c, defs, key)
	if err != nil {
		return domain.Client{}, err
	}
	if err := q.CreateClient(ctx, r); err != nil {
		return domain.Client{}, err
	}
	events.add("client_created", &eventsv1.ClientCreated{Client: ClientName(c.FirmID, c.ID)})
	return r.Client.Masked(), nil
}

// prepareClient checks a new client's custom values against the firm's definitions
// and seals its sensitive fields, ready to insert.
func prepareClient(ctx context.Context, q *store.Queries, c domain.Client, defs map[string]domain.CustomField, key *firmKey) (store.ClientRecord, error) {
	values, problems := domain.CheckCustomValues(c.CustomFields, defs, c.FirmID)
	if err := domain.InvalidFields("client.", problems); err != nil {
		return store.ClientRecord{}, err
	}
	if err := requireMembers(ctx, q, customMembers(defs, values, c.FirmID)...); err != nil {
		return store.ClientRecord{}, err
	}
	c.CustomFields = nilIfEmpty(values)
	sealed, err := key.seal(c)
	return store.ClientRecord{Client: c, Sealed: sealed}, err
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
		events := newEventBatch(q, p.Actor())
		if out, err = a.changeClient(ctx, q, p, r, patch, events); err != nil {
			return err
		}
		return events.write(ctx, q)
	})
	return out, err
}

// changeClient applies patch to a client read for update, with its client_updated
// event when anything changed, and returns it masked.
func (a *App) changeClient(ctx context.Context, q *store.Queries, p principal.Principal, r store.ClientRecord, patch ClientPatch, events *eventBatch) (domain.Client, error) {
	firmID := r.Client.FirmID
	if err := a.requireOnClient(ctx, q, p, r.Client, domain.ActionUpdate); err != nil {
		return domain.Client{}, err
	}
	if err := checkEtag(patch.Etag, r.Client.Version, "client"); err != nil {
		return domain.Client{}, err
	}
	if patch.Assignees != nil {
		if err := requireMembers(ctx, q, clientAssignees("client.assignees", *patch.Assignees)...); err != nil {
			return domain.Client{}, err
		}
	}
	key := a.lazyFirmKey(ctx, q)
	defer key.close()
	c, err := key.openClient(r)
	if err != nil {
		return domain.Client{}, err
	}
	before := domain.CloneClient(c)
	changed := patch.apply(&c)
	if len(changed) == 0 {
		return c.Masked(), nil
	}
	if err := domain.InvalidFields("client.", c.Problems()); err != nil {
		return domain.Client{}, err
	}
	fieldsChanged := false
	for _, f := range changed {
		fieldsChanged = fieldsChanged || strings.HasPrefix(f, "custom_fields")
	}
	if fieldsChanged {
		defs, err := q.CustomFieldsByKey(ctx)
		if err != nil {
			return domain.Client{}, err
		}
		values, problems := domain.CheckCustomValues(c.CustomFields, defs, firmID)
		if err := domain.InvalidFields("client.", problems); err != nil {
			return domain.Client{}, err
		}
		if err := requireMembers(ctx, q, customMembers(defs, values, firmID)...); err != nil {
			return domain.Client{}, err
		}
		c.CustomFields = nilIfEmpty(values)
		if err := q.SetClientFieldValues(ctx, c.ID, c.CustomFields); err != nil {
			return domain.Client{}, err
		}
	}
	sealed := r.Sealed
	if c.Sensitive != before.Sensitive {
		// Every field is sealed again; unchanged ones get a fresh nonce, which
		// costs nothing and keeps this path simple.
		if sealed, err = key.seal(c); err != nil {
			return domain.Client{}, err
		}
	}
	saved, err := q.UpdateClient(ctx, store.ClientRecord{Client: c, Sealed: sealed}, r.Client.Version, a.stamp())
	if err != nil {
		return domain.Client{}, err
	}
	events.add("client_updated", &eventsv1.ClientUpdated{Client: ClientName(firmID, c.ID), ChangedFields: changed})
	return saved.Client.Masked(), nil
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
