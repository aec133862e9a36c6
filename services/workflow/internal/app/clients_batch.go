package app

import (
	"context"
	"errors"

	"github.com/firmflow/firmflow/pkg/apierr"
	eventsv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/events/v1"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
	"github.com/firmflow/firmflow/services/workflow/internal/store"
)

// upsertAttempts bounds how often an upsert starts again after losing the race to
// create its external id to a concurrent one: the second attempt finds the winner's
// row and changes it.
const upsertAttempts = 3

// ErrExternalIDRequired refuses an upsert without the key it finds its resource by.
func ErrExternalIDRequired(resource string) error {
	return apierr.InvalidArgument(resource+".external_id", "required", "an upsert finds the "+resource+" by its external id")
}

// UpsertClient creates the client with c.ExternalID, or changes the client that has
// it by patch (AIP-134 allow_missing); created says which. Creating follows
// CreateClient's rules and changing UpdateClient's, events included. patch.Etag,
// when set, must be the existing client's; a client that does not exist has none.
// A retry with the same request id answers as the first call did without changing
// anything again. Two concurrent upserts of one external id make one client: the
// unique index lets one insert win, and the other starts again and changes it.
func (a *App) UpsertClient(ctx context.Context, p principal.Principal, firmID string, c domain.Client, patch ClientPatch, requestID string) (domain.Client, bool, error) {
	if c.ExternalID == "" {
		return domain.Client{}, false, ErrExternalIDRequired("client")
	}
	return untilNoRace(store.ErrExternalIDTaken, func() (domain.Client, bool, error) {
		return a.upsertClient(ctx, p, firmID, c, patch, requestID)
	})
}

// untilNoRace runs an upsert again while it loses the race to create its external id
// (lost: the insert hit the unique index, because a concurrent upsert created it
// first), at most upsertAttempts times.
func untilNoRace[T any](lost error, upsert func() (T, bool, error)) (out T, created bool, err error) {
	for range upsertAttempts {
		if out, created, err = upsert(); !errors.Is(err, lost) {
			break
		}
	}
	return out, created, err
}

func (a *App) upsertClient(ctx context.Context, p principal.Principal, firmID string, in domain.Client, patch ClientPatch, requestID string) (out domain.Client, created bool, err error) {
	err = a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		created = false // fn may run again (requireMembers)
		r, found, err := q.ClientByExternalIDForUpdate(ctx, in.ExternalID)
		if err != nil {
			return err
		}
		c := newClient(in, firmID, a.stamp())
		if found {
			c = r.Client
		}
		earlier, claimed, err := q.Claim(ctx, requestID, []string{ClientName(firmID, c.ID)}, found)
		if err != nil {
			return err
		}
		if !claimed {
			created = !earlier.Updated
			out, err = a.earlierClient(ctx, q, p, firmID, earlier.Resources[0])
			return err
		}
		events := newEventBatch(q, p.Actor())
		if found {
			out, err = a.changeClient(ctx, q, p, r, patch, events)
		} else {
			created = true
			out, err = a.createUpserted(ctx, q, p, c, patch.Etag, events)
		}
		if err != nil {
			return err
		}
		return events.write(ctx, q)
	})
	return out, created, err
}

// createUpserted creates the client an upsert did not find.
func (a *App) createUpserted(ctx context.Context, q *store.Queries, p principal.Principal, c domain.Client, etag string, events *eventBatch) (domain.Client, error) {
	if etag != "" {
		return domain.Client{}, apierr.StaleEtag("client")
	}
	if err := domain.InvalidFields("client.", c.Problems()); err != nil {
		return domain.Client{}, err
	}
	if err := requireCreateClients(ctx, q, p, false, c); err != nil {
		return domain.Client{}, err
	}
	return a.insertClient(ctx, q, c, events)
}

// BatchCreateClients creates every client of cs or none, in one transaction and
// one round trip of inserts (AIP-233). Each is checked as CreateClient checks one;
// the error names every item at fault (requests[i].client.<field>), duplicates
// inside the batch included. A retry with the same request id returns the clients
// the first batch created.
func (a *App) BatchCreateClients(ctx context.Context, p principal.Principal, firmID string, cs []domain.Client, requestID string) ([]domain.Client, error) {
	if err := batchSize(len(cs)); err != nil {
		return nil, err
	}
	now := a.stamp()
	problems := make([][]apierr.FieldViolation, len(cs))
	names := make([]string, len(cs))
	for i := range cs {
		cs[i] = newClient(cs[i], firmID, now)
		problems[i] = prefixed("client.", cs[i].Problems())
		names[i] = ClientName(firmID, cs[i].ID)
	}
	if err := batchProblems(problems); err != nil {
		return nil, err
	}
	var out []domain.Client
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		if err := requireCreateClients(ctx, q, p, true, cs...); err != nil {
			return err
		}
		earlier, claimed, err := q.Claim(ctx, requestID, names, false)
		if err != nil {
			return err
		}
		if !claimed {
			out, err = a.earlierClients(ctx, q, p, firmID, earlier.Resources)
			return err
		}
		defs, err := q.CustomFieldsByKey(ctx)
		if err != nil {
			return err
		}
		key := a.lazyFirmKey(ctx, q)
		defer key.close()
		records := make([]store.ClientRecord, len(cs))
		for i, c := range cs {
			if records[i], err = prepareClient(ctx, q, c, defs, key); err != nil {
				return atItem(err, i)
			}
		}
		labels := make([]string, len(cs))
		for i := range cs {
			labels[i] = itemPrefix(i, true) + "client"
		}
		if problems, err := clientCollisions(ctx, q, labels, records); err != nil || len(problems) > 0 {
			if err == nil {
				err = domain.InvalidFields("", problems)
			}
			return err
		}
		if err := q.InsertClients(ctx, records); err != nil {
			return err
		}
		events := newEventBatch(q, p.Actor())
		out = make([]domain.Client, len(records))
		for i, r := range records {
			out[i] = r.Client.Masked()
			events.add("client_created", &eventsv1.ClientCreated{Client: names[i]})
		}
		return events.write(ctx, q)
	})
	return out, err
}

// earlierClients returns the clients an earlier batch with the same request id made.
func (a *App) earlierClients(ctx context.Context, q *store.Queries, p principal.Principal, firmID string, names []string) ([]domain.Client, error) {
	out := make([]domain.Client, len(names))
	for i, name := range names {
		c, err := a.earlierClient(ctx, q, p, firmID, name)
		if err != nil {
			return nil, err
		}
		out[i] = c
	}
	return out, nil
}

// ClientChange is one item of a batch update: which client, and how.
type ClientChange struct {
	ClientID string
	Patch    ClientPatch
}

// BatchUpdateClients applies every change or none, in one transaction (AIP-235),
// each as UpdateClient does; an error names the item (requests[i]...). A client
// appears at most once.
func (a *App) BatchUpdateClients(ctx context.Context, p principal.Principal, firmID string, changes []ClientChange) ([]domain.Client, error) {
	if err := batchSize(len(changes)); err != nil {
		return nil, err
	}
	if err := uniqueItems(changes, func(c ClientChange) string { return c.ClientID }, "client.name"); err != nil {
		return nil, err
	}
	var out []domain.Client
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		events := newEventBatch(q, p.Actor())
		out = make([]domain.Client, len(changes))
		for i, ch := range changes {
			r, err := q.ClientForUpdate(ctx, ch.ClientID)
			if err == nil {
				out[i], err = a.changeClient(ctx, q, p, r, ch.Patch, events)
			}
			if err != nil {
				return atItem(err, i)
			}
		}
		return events.write(ctx, q)
	})
	return out, err
}

// uniqueItems refuses a batch that names one resource twice: its items would
// depend on their order.
func uniqueItems[T any](items []T, id func(T) string, field string) error {
	first := map[string]int{}
	for i, it := range items {
		if j, seen := first[id(it)]; seen {
			return apierr.InvalidArgument(itemPrefix(i, true)+field, "repeated.unique",
				"names the same resource as "+itemPrefix(j, true)+field)
		}
		first[id(it)] = i
	}
	return nil
}

// prefixed puts problems under prefix ("client.").
func prefixed(prefix string, problems []apierr.FieldViolation) []apierr.FieldViolation {
	for i := range problems {
		problems[i].Field = prefix + problems[i].Field
	}
	return problems
}
