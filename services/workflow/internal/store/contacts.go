package store

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/listfilter"
	"github.com/firmflow/firmflow/pkg/paging"
	"github.com/firmflow/firmflow/pkg/pg"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
)

const contactColumns = `k.id::text, k.firm_id::text, k.display_name, k.given_name, k.family_name, k.job_title,
	k.emails, k.phones, k.addresses, coalesce(k.external_id, ''), k.version, k.create_time, k.update_time, k.delete_time`

func scanContact(row pgx.Row) (domain.Contact, error) {
	var c domain.Contact
	var deleted *time.Time
	err := row.Scan(&c.ID, &c.FirmID, &c.DisplayName, &c.GivenName, &c.FamilyName, &c.JobTitle,
		&c.Emails, &c.Phones, &c.Addresses, &c.ExternalID, &c.Version, &c.CreateTime, &c.UpdateTime, &deleted)
	if deleted != nil {
		c.DeleteTime = *deleted
	}
	return c, err
}

// ErrContactExternalIDTaken is a contact external id another contact has; it names
// the field, never the value.
var ErrContactExternalIDTaken = apierr.AlreadyExists("EXTERNAL_ID_TAKEN", "another contact of the firm has this external id")

func contactConflict(err error) error {
	if pg.IsUniqueViolation(err, "contacts_external_id") {
		return ErrContactExternalIDTaken
	}
	return err
}

// CreateContact inserts a contact.
func (q *Queries) CreateContact(ctx context.Context, c domain.Contact) error {
	_, err := q.tx.Exec(ctx, `insert into contacts (id, firm_id, display_name, given_name, family_name, job_title,
		emails, phones, addresses, external_id, create_time, update_time)
		values ($1, $2, $3, $4, $5, $6, $7, $8, $9, nullif($10, ''), $11, $11)`,
		c.ID, q.firmID, c.DisplayName, c.GivenName, c.FamilyName, c.JobTitle,
		jsonList(c.Emails), jsonList(c.Phones), jsonList(c.Addresses), c.ExternalID, c.CreateTime)
	return contactConflict(err)
}

// ContactByExternalIDForUpdate reads the contact with this external id and locks
// it; found is false when the firm has none.
func (q *Queries) ContactByExternalIDForUpdate(ctx context.Context, externalID string) (c domain.Contact, found bool, err error) {
	c, err = scanContact(q.tx.QueryRow(ctx, "select "+contactColumns+" from contacts k where k.external_id = $1 and k.delete_time is null for update", externalID))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Contact{}, false, nil
	}
	return c, err == nil, err
}

// jsonList keeps a nil slice from being stored as JSON null.
func jsonList[T any](list []T) []T {
	if list == nil {
		return []T{}
	}
	return list
}

// Contact reads one contact.
func (q *Queries) Contact(ctx context.Context, id string) (domain.Contact, error) {
	c, err := scanContact(q.tx.QueryRow(ctx, "select "+contactColumns+" from contacts k where k.id = $1 and k.delete_time is null", id))
	return c, pg.NotFound(err, "contact")
}

// ContactForUpdate reads one contact and locks it.
func (q *Queries) ContactForUpdate(ctx context.Context, id string) (domain.Contact, error) {
	c, err := scanContact(q.tx.QueryRow(ctx, "select "+contactColumns+" from contacts k where k.id = $1 and k.delete_time is null for update", id))
	return c, pg.NotFound(err, "contact")
}

// UpdateContact writes c if its version is still expectedVersion.
func (q *Queries) UpdateContact(ctx context.Context, c domain.Contact, expectedVersion int64, now time.Time) (domain.Contact, error) {
	err := q.tx.QueryRow(ctx, `update contacts set display_name = $2, given_name = $3, family_name = $4, job_title = $5,
		emails = $6, phones = $7, addresses = $8, external_id = nullif($11, ''), version = version + 1, update_time = $10
		where id = $1 and version = $9 returning version, update_time`,
		c.ID, c.DisplayName, c.GivenName, c.FamilyName, c.JobTitle, jsonList(c.Emails), jsonList(c.Phones),
		jsonList(c.Addresses), expectedVersion, now, c.ExternalID).Scan(&c.Version, &c.UpdateTime)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, apierr.StaleEtag("contact")
	}
	return c, contactConflict(err)
}

// DeleteContact removes a contact's links to clients and leaves a tombstone of it
// with only its display name (see migration 009), and returns the clients it was
// the primary contact of.
func (q *Queries) DeleteContact(ctx context.Context, id string, now time.Time) (primaryOf []string, err error) {
	rows, err := q.tx.Query(ctx, "select client_id::text from client_contacts where contact_id = $1 and is_primary", id)
	if err != nil {
		return nil, err
	}
	if primaryOf, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		return nil, err
	}
	if _, err = q.tx.Exec(ctx, "delete from client_contacts where contact_id = $1", id); err != nil {
		return nil, err
	}
	_, err = q.tx.Exec(ctx, `update contacts set given_name = '', family_name = '', job_title = '', emails = '[]',
		phones = '[]', addresses = '[]', version = version + 1, update_time = $2, delete_time = $2
		where id = $1 and delete_time is null`, id, now)
	return primaryOf, err
}

// Contacts lists a page of contacts in f's order, oldest first by default.
// visibleTo, when set, limits them to contacts of clients assigned to that member
// (which a tombstone, having no links, never is).
func (q *Queries) Contacts(ctx context.Context, f domain.ChangeFilter, page paging.Page, visibleTo string) ([]domain.Contact, *paging.Cursor, error) {
	args := []any{}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	conds := changeConds(f.Changes, "k.", arg)
	key := "k.create_time"
	if f.Order == domain.ByUpdateTime {
		key = "k.update_time"
	}
	if page.After != nil {
		id, _ := cursorParts(page.After.ID)
		conds = append(conds, "("+key+", k.id) > ("+arg(page.After.Time)+", "+arg(id)+"::uuid)")
	}
	if visibleTo != "" {
		conds = append(conds, `exists (select 1 from client_contacts cc
		       join client_assignees a on a.firm_id = cc.firm_id and a.client_id = cc.client_id
		       where cc.firm_id = k.firm_id and cc.contact_id = k.id and a.member_id = `+arg(visibleTo)+"::uuid)")
	}
	sql := "select " + contactColumns + " from contacts k"
	if len(conds) > 0 {
		sql += " where " + strings.Join(conds, " and ")
	}
	sql += " order by " + key + ", k.id limit " + arg(page.Size+1)
	rows, err := q.tx.Query(ctx, sql, args...)
	if err != nil {
		return nil, nil, err
	}
	return collectPage(rows, page.Size, scanContact, func(c domain.Contact) paging.Cursor {
		if f.Order == domain.ByUpdateTime {
			return paging.Cursor{Time: c.UpdateTime, ID: c.ID}
		}
		return paging.Cursor{Time: c.CreateTime, ID: c.ID}
	})
}

// ContactVisibleTo reports whether the contact belongs to a client assigned to the
// member, which is what an "assigned" contacts scope reaches.
func (q *Queries) ContactVisibleTo(ctx context.Context, contactID, memberID string) (bool, error) {
	var ok bool
	err := q.tx.QueryRow(ctx, `select exists (select 1 from client_contacts cc
		join client_assignees a on a.firm_id = cc.firm_id and a.client_id = cc.client_id
		where cc.contact_id = $1 and a.member_id = $2::uuid)`, contactID, memberID).Scan(&ok)
	return ok, err
}

// ---- links between clients and contacts ----

const clientContactColumns = `l.firm_id::text, l.client_id::text, l.contact_id::text, l.is_primary, l.relationship,
	k.display_name, l.version, l.create_time, l.update_time`

func scanClientContact(row pgx.Row) (domain.ClientContact, error) {
	var l domain.ClientContact
	err := row.Scan(&l.FirmID, &l.ClientID, &l.ContactID, &l.Primary, &l.Relationship, &l.DisplayName, &l.Version, &l.CreateTime, &l.UpdateTime)
	return l, err
}

// ErrContactLinked refuses linking a contact to a client twice.
var ErrContactLinked = apierr.AlreadyExists("CONTACT_ALREADY_LINKED", "the contact is linked to this client already")

// ClientContacts lists a client's contacts, the primary first, then by name; only
// those whose update_time is within changed.
func (q *Queries) ClientContacts(ctx context.Context, clientID string, changed []listfilter.Bound) ([]domain.ClientContact, error) {
	args := []any{clientID, domain.MaxClientContacts}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	// The links are not tombstones: ShowDeleted only keeps changeConds off delete_time.
	conds := changeConds(domain.Changes{UpdateTime: changed, ShowDeleted: true}, "l.", arg)
	rows, err := q.tx.Query(ctx, "select "+clientContactColumns+` from client_contacts l
		join contacts k on k.firm_id = l.firm_id and k.id = l.contact_id and k.delete_time is null
		where `+strings.Join(append([]string{"l.client_id = $1"}, conds...), " and ")+`
		order by l.is_primary desc, k.display_name, l.contact_id limit $2`, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.ClientContact, error) { return scanClientContact(r) })
}

// ClientContactForUpdate reads one link and locks it.
func (q *Queries) ClientContactForUpdate(ctx context.Context, clientID, contactID string) (domain.ClientContact, error) {
	l, err := scanClientContact(q.tx.QueryRow(ctx, "select "+clientContactColumns+` from client_contacts l
		join contacts k on k.firm_id = l.firm_id and k.id = l.contact_id and k.delete_time is null
		where l.client_id = $1 and l.contact_id = $2 for update of l`, clientID, contactID))
	return l, pg.NotFound(err, "client contact")
}

// CountClientContacts counts a client's contacts.
func (q *Queries) CountClientContacts(ctx context.Context, clientID string) (int, error) {
	var n int
	err := q.tx.QueryRow(ctx, "select count(*) from client_contacts where client_id = $1", clientID).Scan(&n)
	return n, err
}

// DemotePrimary makes the client's primary contact, if any, an ordinary one, at now.
func (q *Queries) DemotePrimary(ctx context.Context, clientID string, now time.Time) error {
	_, err := q.tx.Exec(ctx, `update client_contacts set is_primary = false, version = version + 1, update_time = $2
		where client_id = $1 and is_primary`, clientID, now)
	return err
}

// CreateClientContact inserts a link.
func (q *Queries) CreateClientContact(ctx context.Context, l domain.ClientContact) error {
	_, err := q.tx.Exec(ctx, `insert into client_contacts (firm_id, client_id, contact_id, is_primary, relationship, create_time, update_time)
		values ($1, $2, $3, $4, $5, $6, $6)`, q.firmID, l.ClientID, l.ContactID, l.Primary, l.Relationship, l.CreateTime)
	if pg.IsUniqueViolation(err, "client_contacts_pkey") {
		return ErrContactLinked
	}
	return err
}

// UpdateClientContact writes a link's primary flag and relationship.
func (q *Queries) UpdateClientContact(ctx context.Context, l domain.ClientContact) (domain.ClientContact, error) {
	err := q.tx.QueryRow(ctx, `update client_contacts set is_primary = $3, relationship = $4, version = version + 1, update_time = $5
		where client_id = $1 and contact_id = $2 returning version`, l.ClientID, l.ContactID, l.Primary, l.Relationship, l.UpdateTime).Scan(&l.Version)
	return l, pg.NotFound(err, "client contact")
}

// DeleteClientContact removes a link.
func (q *Queries) DeleteClientContact(ctx context.Context, clientID, contactID string) error {
	_, err := q.tx.Exec(ctx, "delete from client_contacts where client_id = $1 and contact_id = $2", clientID, contactID)
	return err
}
