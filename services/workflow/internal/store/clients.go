package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/paging"
	"github.com/firmflow/firmflow/pkg/pg"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
)

// SealedClient holds a client's sensitive fields as the app sealed them: ciphertext
// bound to firm, table, column and row, and the blind index of the tax id. A nil
// slice is a field without a value.
type SealedClient struct {
	TaxID       []byte
	TaxIDIndex  []byte
	BankAccount []byte
	BankRouting []byte
	Notes       []byte
}

// Empty reports whether no sensitive field has a value, so the data key need not be
// opened to read the client.
func (s SealedClient) Empty() bool {
	return s.TaxID == nil && s.BankAccount == nil && s.BankRouting == nil && s.Notes == nil
}

// ClientRecord is a client as stored. Client.Sensitive is always empty here: the
// app fills it from Sealed.
type ClientRecord struct {
	Client domain.Client
	Sealed SealedClient
}

// Errors of unique client values; they name the field, never the value.
var (
	ErrTaxIDTaken      = apierr.AlreadyExists("TAX_ID_TAKEN", "another client of the firm has this tax id")
	ErrExternalIDTaken = apierr.AlreadyExists("EXTERNAL_ID_TAKEN", "another client of the firm has this external id")
	ErrClientInUse     = apierr.FailedPrecondition("CLIENT_IN_USE", "projects still refer to this client; delete or move them first")
)

// ClientExists reports whether the firm has a live client with this id; projects
// and series check it before they reference a client. An id that is not a UUID names no client.
func (q *Queries) ClientExists(ctx context.Context, clientID string) (bool, error) {
	id, err := uuid.Parse(clientID)
	if err != nil {
		return false, nil
	}
	// The share lock keeps the client from being deleted (DeleteClient locks it for
	// update) until the project or series referring to it is committed.
	var ok bool
	err = q.tx.QueryRow(ctx, "select true from clients where id = $1 and delete_time is null for share", id).Scan(&ok)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return ok, err
}

const clientColumns = `c.id::text, c.firm_id::text, c.display_name, c.kind, c.description, c.priority,
	c.assignees::text[], c.services, c.tags, coalesce(c.external_id, ''), c.tax_id, c.tax_id_index,
	c.bank_account, c.bank_routing, c.notes, coalesce(c.import_id::text, ''), c.version, c.create_time, c.update_time, c.delete_time,
	coalesce((select jsonb_object_agg(d.key, v.value) from client_field_values v
		join custom_field_definitions d on d.firm_id = v.firm_id and d.id = v.field_id and d.delete_time is null
		where v.firm_id = c.firm_id and v.client_id = c.id), '{}'::jsonb),
	coalesce((select cc.contact_id::text from client_contacts cc
		where cc.firm_id = c.firm_id and cc.client_id = c.id and cc.is_primary), '')`

func scanClient(row pgx.Row) (ClientRecord, error) {
	var r ClientRecord
	c := &r.Client
	var kind, priority string
	var deleted *time.Time
	err := row.Scan(&c.ID, &c.FirmID, &c.DisplayName, &kind, &c.Description, &priority,
		&c.Assignees, &c.Services, &c.Tags, &c.ExternalID, &r.Sealed.TaxID, &r.Sealed.TaxIDIndex,
		&r.Sealed.BankAccount, &r.Sealed.BankRouting, &r.Sealed.Notes, &c.ImportID, &c.Version, &c.CreateTime, &c.UpdateTime,
		&deleted, &c.CustomFields, &c.PrimaryContactID)
	if deleted != nil {
		c.DeleteTime = *deleted
	}
	c.Kind, c.Priority = domain.ClientKind(kind), domain.ClientPriority(priority)
	if len(c.CustomFields) == 0 {
		c.CustomFields = nil
	}
	return r, err
}

// CreateClient inserts a client with its custom field values.
func (q *Queries) CreateClient(ctx context.Context, r ClientRecord) error {
	c := r.Client
	_, err := q.tx.Exec(ctx, `insert into clients (id, firm_id, display_name, kind, description, priority, assignees,
		services, tags, external_id, tax_id, tax_id_index, bank_account, bank_routing, notes, import_id, create_time, update_time)
		values ($1, $2, $3, $4, $5, $6, $7::text[]::uuid[], $8, $9, nullif($10, ''), $11, $12, $13, $14, $15, nullif($16, '')::uuid, $17, $17)`,
		c.ID, q.firmID, c.DisplayName, string(c.Kind), c.Description, string(c.Priority), nonNullTexts(c.Assignees),
		nonNullTexts(c.Services), nonNullTexts(c.Tags), c.ExternalID, r.Sealed.TaxID, r.Sealed.TaxIDIndex, r.Sealed.BankAccount,
		r.Sealed.BankRouting, r.Sealed.Notes, c.ImportID, c.CreateTime)
	if err := clientConflict(err); err != nil {
		return err
	}
	return q.insertFieldValues(ctx, c.ID, c.CustomFields)
}

// clientConflict names the unique value a write collided with.
func clientConflict(err error) error {
	switch {
	case pg.IsUniqueViolation(err, "clients_tax_id_index"):
		return ErrTaxIDTaken
	case pg.IsUniqueViolation(err, "clients_external_id"):
		return ErrExternalIDTaken
	}
	return err
}

// SetClientFieldValues replaces a client's custom field values (by definition key)
// with values, which the app checked against the definitions in this transaction.
func (q *Queries) SetClientFieldValues(ctx context.Context, clientID string, values map[string]any) error {
	if _, err := q.tx.Exec(ctx, "delete from client_field_values where client_id = $1", clientID); err != nil {
		return err
	}
	return q.insertFieldValues(ctx, clientID, values)
}

const insertFieldValuesSQL = `insert into client_field_values (firm_id, client_id, field_id, value)
	select $1, $2, d.id, v.value from jsonb_each($3::jsonb) v
	join custom_field_definitions d on d.key = v.key and d.delete_time is null`

func (q *Queries) insertFieldValues(ctx context.Context, clientID string, values map[string]any) error {
	if len(values) == 0 {
		return nil
	}
	_, err := q.tx.Exec(ctx, insertFieldValuesSQL, q.firmID, clientID, values)
	return err
}

// Client reads one client.
func (q *Queries) Client(ctx context.Context, id string) (ClientRecord, error) {
	r, err := scanClient(q.tx.QueryRow(ctx, "select "+clientColumns+" from clients c where c.id = $1 and c.delete_time is null", id))
	return r, pg.NotFound(err, "client")
}

// SampleSealedClients picks up to n clients of any firm that have sealed fields, at
// random. Row-level security hides other firms from the runtime role; the caller
// connects as an administrator (the restore drill, on a restored copy).
func (s *Store) SampleSealedClients(ctx context.Context, n int) ([]ClientRecord, error) {
	rows, err := s.db.Pool.Query(ctx, "select "+clientColumns+` from clients c
		where c.tax_id is not null or c.bank_account is not null or c.bank_routing is not null or c.notes is not null
		order by random() limit $1`, n)
	if err != nil {
		return nil, fmt.Errorf("sample clients: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (ClientRecord, error) { return scanClient(r) })
}

// ClientForUpdate reads one client and locks it until the transaction ends.
func (q *Queries) ClientForUpdate(ctx context.Context, id string) (ClientRecord, error) {
	r, err := scanClient(q.tx.QueryRow(ctx, "select "+clientColumns+" from clients c where c.id = $1 and c.delete_time is null for update of c", id))
	return r, pg.NotFound(err, "client")
}

// ClientByExternalIDForUpdate reads the client with this external id and locks it;
// found is false when the firm has none.
func (q *Queries) ClientByExternalIDForUpdate(ctx context.Context, externalID string) (r ClientRecord, found bool, err error) {
	r, err = scanClient(q.tx.QueryRow(ctx, "select "+clientColumns+" from clients c where c.external_id = $1 and c.delete_time is null for update of c", externalID))
	if errors.Is(err, pgx.ErrNoRows) {
		return ClientRecord{}, false, nil
	}
	return r, err == nil, err
}

// ClientByTaxIDIndex finds the client whose tax id has this blind index.
func (q *Queries) ClientByTaxIDIndex(ctx context.Context, index []byte) (ClientRecord, error) {
	r, err := scanClient(q.tx.QueryRow(ctx, "select "+clientColumns+" from clients c where c.tax_id_index = $1 and c.delete_time is null", index))
	return r, pg.NotFound(err, "client")
}

// UpdateClient writes r if the client's version is still expectedVersion and
// returns it with its new version and update time. Custom field values are written
// separately (SetClientFieldValues) when they changed.
func (q *Queries) UpdateClient(ctx context.Context, r ClientRecord, expectedVersion int64, now time.Time) (ClientRecord, error) {
	c := &r.Client
	err := q.tx.QueryRow(ctx, `update clients set display_name = $2, kind = $3, description = $4, priority = $5,
		assignees = $6::text[]::uuid[], services = $7, tags = $8, external_id = nullif($9, ''), tax_id = $10, tax_id_index = $11,
		bank_account = $12, bank_routing = $13, notes = $14, version = version + 1, update_time = $16
		where id = $1 and version = $15 returning version, update_time`,
		c.ID, c.DisplayName, string(c.Kind), c.Description, string(c.Priority), nonNullTexts(c.Assignees), nonNullTexts(c.Services),
		nonNullTexts(c.Tags), c.ExternalID, r.Sealed.TaxID, r.Sealed.TaxIDIndex, r.Sealed.BankAccount, r.Sealed.BankRouting,
		r.Sealed.Notes, expectedVersion, now).Scan(&c.Version, &c.UpdateTime)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, apierr.StaleEtag("client")
	}
	return r, clientConflict(err)
}

// TouchClient gives a client a new version, for changes its representation shows
// but its row does not hold (its primary contact).
func (q *Queries) TouchClient(ctx context.Context, id string, now time.Time) error {
	_, err := q.tx.Exec(ctx, "update clients set version = version + 1, update_time = $2 where id = $1 and delete_time is null", id, now)
	return err
}

// DeleteClient leaves a tombstone of a client (see migration 009): its custom field
// values and contact links go, its sensitive and descriptive values are erased, and
// delete_time and update_time become now. Live projects or any series referring to
// it refuse the delete.
func (q *Queries) DeleteClient(ctx context.Context, id string, now time.Time) error {
	var inUse bool
	err := q.tx.QueryRow(ctx, `select exists (select 1 from projects where client_id = $1 and delete_time is null)
		or exists (select 1 from series where client_id = $1 and delete_time is null)`, id).Scan(&inUse)
	if err != nil {
		return err
	}
	if inUse {
		return ErrClientInUse
	}
	if _, err := q.tx.Exec(ctx, "delete from client_field_values where client_id = $1", id); err != nil {
		return err
	}
	if _, err := q.tx.Exec(ctx, "delete from client_contacts where client_id = $1", id); err != nil {
		return err
	}
	tag, err := q.tx.Exec(ctx, `update clients set description = '', assignees = '{}', services = '{}', tags = '{}',
		tax_id = null, tax_id_index = null, bank_account = null, bank_routing = null, notes = null, import_id = null,
		version = version + 1, update_time = $2, delete_time = $2
		where id = $1 and delete_time is null`, id, now)
	if err == nil && tag.RowsAffected() == 0 {
		return apierr.NotFound("client")
	}
	return err
}

// ClientQuery is a list request: the filter, how far the caller may see, and a page.
type ClientQuery struct {
	Filter domain.ClientFilter
	// VisibleTo, when set, limits the list to clients assigned to this member (the
	// caller's "assigned" scope).
	VisibleTo string
	// ImportID, when set, lists the clients one import created.
	ImportID string
	Page     paging.Page
}

// Clients lists a page of clients in the filter's order, and the cursor after the
// page's last client when there is more. A tag or assignee filter in time order
// walks that filter's index (client_tags, client_assignees) from the cursor, so a
// page costs the same whatever the firm's size and however rare the tag.
func (q *Queries) Clients(ctx context.Context, cq ClientQuery) ([]ClientRecord, *paging.Cursor, error) {
	var where []string
	args := []any{}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	f := cq.Filter
	members := make([]string, 0, 2)
	for _, m := range []string{f.AssigneeID, cq.VisibleTo} {
		if m != "" {
			members = append(members, m)
		}
	}
	from, createTime, id := "clients c", "c.create_time", "c.id"
	tag := f.Tag
	where = append(where, changeConds(f.Changes, "c.", arg)...)
	if f.Order != domain.ClientsByName && f.Order != domain.ClientsByUpdateTime {
		// Drive the query from the most selective index available.
		join := " join clients c on c.firm_id = d.firm_id and c.id = d.client_id"
		switch {
		case tag != "":
			from = "client_tags d" + join
			where = append(where, "d.tag = "+arg(tag))
			tag = ""
		case len(members) > 0:
			from = "client_assignees d" + join
			where = append(where, "d.member_id = "+arg(members[0])+"::uuid")
			members = members[1:]
		}
		if from != "clients c" {
			createTime, id = "d.create_time", "d.client_id"
		}
	}
	if tag != "" {
		where = append(where, "exists (select 1 from client_tags t where t.firm_id = c.firm_id and t.client_id = c.id and t.tag = "+arg(tag)+")")
	}
	for _, m := range members {
		where = append(where, "exists (select 1 from client_assignees a where a.firm_id = c.firm_id and a.client_id = c.id and a.member_id = "+
			arg(m)+"::uuid)")
	}
	if f.Kind != "" {
		where = append(where, "c.kind = "+arg(string(f.Kind)))
	}
	if f.ExternalID != "" {
		where = append(where, "c.external_id = "+arg(f.ExternalID))
	}
	if cq.ImportID != "" {
		where = append(where, "c.import_id = "+arg(cq.ImportID)+"::uuid")
	}
	key := "(" + createTime + ", " + id + ")"
	order := createTime + ", " + id
	switch f.Order {
	case domain.ClientsNewestFirst:
		order = createTime + " desc, " + id + " desc"
	case domain.ClientsByName:
		key, order = "(c.display_name, c.id)", "c.display_name, c.id"
	case domain.ClientsByUpdateTime:
		key, order = "(c.update_time, c.id)", "c.update_time, c.id"
	}
	if after := cq.Page.After; after != nil {
		afterID, name := cursorParts(after.ID)
		switch f.Order {
		case domain.ClientsNewestFirst:
			where = append(where, key+" < ("+arg(after.Time)+", "+arg(afterID)+"::uuid)")
		case domain.ClientsByName:
			where = append(where, key+" > ("+arg(name)+", "+arg(afterID)+"::uuid)")
		default:
			where = append(where, key+" > ("+arg(after.Time)+", "+arg(afterID)+"::uuid)")
		}
	}
	sql := "select " + clientColumns + " from " + from
	if len(where) > 0 {
		sql += " where " + strings.Join(where, " and ")
	}
	sql += " order by " + order + " limit " + arg(cq.Page.Size+1)
	rows, err := q.tx.Query(ctx, sql, args...)
	if err != nil {
		return nil, nil, err
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ClientRecord, error) { return scanClient(r) })
	if err != nil || len(list) <= cq.Page.Size {
		return list, nil, err
	}
	list = list[:cq.Page.Size]
	next := ClientCursor(list[len(list)-1].Client, f.Order)
	return list, &next, nil
}

// ClientCursor is the position just after c in a list in the given order.
func ClientCursor(c domain.Client, order domain.ClientOrder) paging.Cursor {
	next := paging.Cursor{Time: c.CreateTime, ID: c.ID}
	switch order {
	case domain.ClientsByName:
		next.ID += c.DisplayName
	case domain.ClientsByUpdateTime:
		next.Time = c.UpdateTime
	}
	return next
}

// cursorParts splits a client cursor id: the client's UUID, then (for name order) its
// display name. A forged cursor that is not a UUID lists from the start of its
// order rather than failing in SQL.
func cursorParts(s string) (id, name string) {
	if len(s) < 36 || uuid.Validate(s[:36]) != nil {
		return uuid.Nil.String(), ""
	}
	return s[:36], s[36:]
}

// TakenClientKeys returns which of the tax id indexes and external ids other clients
// of the firm already have, so an import can name the rows that collide.
func (q *Queries) TakenClientKeys(ctx context.Context, taxIndexes [][]byte, externalIDs []string) (taxTaken map[string]bool, extTaken map[string]bool, err error) {
	taxTaken, extTaken = map[string]bool{}, map[string]bool{}
	rows, err := q.tx.Query(ctx, `select tax_id_index, coalesce(external_id, '') from clients
		where (tax_id_index = any($1) or external_id = any($2)) and delete_time is null`, taxIndexes, externalIDs)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var index []byte
		var ext string
		if err := rows.Scan(&index, &ext); err != nil {
			return nil, nil, err
		}
		if index != nil {
			taxTaken[string(index)] = true
		}
		if ext != "" {
			extTaken[ext] = true
		}
	}
	return taxTaken, extTaken, rows.Err()
}

// InsertClients inserts many clients, with their custom field values, in one round
// trip (an import, a batch create).
func (q *Queries) InsertClients(ctx context.Context, records []ClientRecord) error {
	batch := &pgx.Batch{}
	for _, r := range records {
		c := r.Client
		batch.Queue(`insert into clients (id, firm_id, display_name, kind, description, priority, assignees,
			services, tags, external_id, tax_id, tax_id_index, bank_account, bank_routing, notes, import_id, create_time, update_time)
			values ($1, $2, $3, $4, $5, $6, $7::text[]::uuid[], $8, $9, nullif($10, ''), $11, $12, $13, $14, $15, nullif($16, '')::uuid, $17, $17)`,
			c.ID, q.firmID, c.DisplayName, string(c.Kind), c.Description, string(c.Priority), nonNullTexts(c.Assignees),
			nonNullTexts(c.Services), nonNullTexts(c.Tags), c.ExternalID, r.Sealed.TaxID, r.Sealed.TaxIDIndex, r.Sealed.BankAccount,
			r.Sealed.BankRouting, r.Sealed.Notes, c.ImportID, c.CreateTime)
		if len(c.CustomFields) > 0 {
			batch.Queue(insertFieldValuesSQL, q.firmID, c.ID, c.CustomFields)
		}
	}
	results := q.tx.SendBatch(ctx, batch)
	for range batch.Len() {
		if _, err := results.Exec(); err != nil {
			results.Close()
			return clientConflict(err)
		}
	}
	return results.Close()
}

// ---- custom field definitions ----

const customFieldColumns = `id::text, firm_id::text, key, display_name, type, options, version, create_time, update_time, delete_time`

func scanCustomField(row pgx.Row) (domain.CustomField, error) {
	var f domain.CustomField
	var typ string
	var deleted *time.Time
	err := row.Scan(&f.ID, &f.FirmID, &f.Key, &f.DisplayName, &typ, &f.Options, &f.Version, &f.CreateTime, &f.UpdateTime, &deleted)
	if deleted != nil {
		f.DeleteTime = *deleted
	}
	f.Type = domain.CustomFieldType(typ)
	return f, err
}

// ErrCustomFieldKeyTaken refuses a second definition with the same key.
var ErrCustomFieldKeyTaken = apierr.AlreadyExists("CUSTOM_FIELD_KEY_TAKEN", "the firm has a custom field with this key")

// CustomFields lists the firm's live definitions, oldest first: the ones client
// values are checked against.
func (q *Queries) CustomFields(ctx context.Context) ([]domain.CustomField, error) {
	rows, err := q.tx.Query(ctx, "select "+customFieldColumns+" from custom_field_definitions where delete_time is null order by create_time, id limit $1",
		domain.MaxCustomFields)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.CustomField, error) { return scanCustomField(r) })
}

// CustomFieldPage lists a page of the firm's definitions in f's order.
func (q *Queries) CustomFieldPage(ctx context.Context, f domain.ChangeFilter, page paging.Page) ([]domain.CustomField, *paging.Cursor, error) {
	return timeOrderedPage(ctx, q, customFieldColumns, "custom_field_definitions", f, page, scanCustomField,
		func(f domain.CustomField) (time.Time, time.Time, string) { return f.CreateTime, f.UpdateTime, f.ID }, nil)
}

// CustomFieldsByKey returns the firm's definitions keyed by key.
func (q *Queries) CustomFieldsByKey(ctx context.Context) (map[string]domain.CustomField, error) {
	list, err := q.CustomFields(ctx)
	out := make(map[string]domain.CustomField, len(list))
	for _, f := range list {
		out[f.Key] = f
	}
	return out, err
}

// CustomField reads one definition.
func (q *Queries) CustomField(ctx context.Context, id string) (domain.CustomField, error) {
	f, err := scanCustomField(q.tx.QueryRow(ctx, "select "+customFieldColumns+" from custom_field_definitions where id = $1 and delete_time is null", id))
	return f, pg.NotFound(err, "custom field")
}

// CustomFieldForUpdate reads one definition and locks it.
func (q *Queries) CustomFieldForUpdate(ctx context.Context, id string) (domain.CustomField, error) {
	f, err := scanCustomField(q.tx.QueryRow(ctx, "select "+customFieldColumns+" from custom_field_definitions where id = $1 and delete_time is null for update", id))
	return f, pg.NotFound(err, "custom field")
}

// CreateCustomField inserts a definition unless the firm has MaxCustomFields.
func (q *Queries) CreateCustomField(ctx context.Context, f domain.CustomField) error {
	// Serialise creates per firm so two concurrent ones cannot both pass the limit.
	if _, err := q.tx.Exec(ctx, "select pg_advisory_xact_lock(hashtext('custom_field_definitions'), hashtext($1))", q.firmID); err != nil {
		return err
	}
	var n int
	if err := q.tx.QueryRow(ctx, "select count(*) from custom_field_definitions where delete_time is null").Scan(&n); err != nil {
		return err
	}
	if n >= domain.MaxCustomFields {
		return apierr.FailedPrecondition("CUSTOM_FIELD_LIMIT", fmt.Sprintf("a firm has at most %d custom fields", domain.MaxCustomFields))
	}
	_, err := q.tx.Exec(ctx, `insert into custom_field_definitions (id, firm_id, key, display_name, type, options, create_time, update_time)
		values ($1, $2, $3, $4, $5, $6, $7, $7)`, f.ID, q.firmID, f.Key, f.DisplayName, string(f.Type), nonNullTexts(f.Options), f.CreateTime)
	if pg.IsUniqueViolation(err, "custom_field_definitions_key") {
		return ErrCustomFieldKeyTaken
	}
	return err
}

// UpdateCustomField writes a definition's display name and options if its version
// is still expectedVersion.
func (q *Queries) UpdateCustomField(ctx context.Context, f domain.CustomField, expectedVersion int64, now time.Time) (domain.CustomField, error) {
	err := q.tx.QueryRow(ctx, `update custom_field_definitions set display_name = $2, options = $3, version = version + 1,
		update_time = $5 where id = $1 and version = $4 and delete_time is null returning version, update_time`,
		f.ID, f.DisplayName, nonNullTexts(f.Options), expectedVersion, now).Scan(&f.Version, &f.UpdateTime)
	if errors.Is(err, pgx.ErrNoRows) {
		return f, apierr.StaleEtag("custom field")
	}
	return f, err
}

// OptionsInUse reports whether any client's value of the field is one of options.
func (q *Queries) OptionsInUse(ctx context.Context, fieldID string, options []string) (bool, error) {
	var used bool
	// ?| matches a string value and any element of an array value.
	err := q.tx.QueryRow(ctx, "select exists (select 1 from client_field_values where field_id = $1 and value ?| $2::text[])",
		fieldID, options).Scan(&used)
	return used, err
}

// DeleteCustomField leaves a tombstone of a definition (see migration 012), deleted
// at now, and removes every value of it; the clients that had a value get a new
// version, since what they show changed.
func (q *Queries) DeleteCustomField(ctx context.Context, id string, now time.Time) error {
	_, err := q.tx.Exec(ctx, `with removed as (delete from client_field_values where field_id = $1 returning client_id)
		update clients set version = version + 1, update_time = $2 where id in (select client_id from removed)`, id, now)
	if err != nil {
		return err
	}
	tag, err := q.tx.Exec(ctx, `update custom_field_definitions set options = '{}', version = version + 1, update_time = $2, delete_time = $2
		where id = $1 and delete_time is null`, id, now)
	if err == nil && tag.RowsAffected() == 0 {
		return apierr.NotFound("custom field")
	}
	return err
}

// nonNullTexts keeps NULL out of not-null array columns.
func nonNullTexts(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
