package app

import (
	"context"
	"fmt"

	"github.com/firmflow/firmflow/pkg/apierr"
	eventsv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/events/v1"
	"github.com/firmflow/firmflow/pkg/paging"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/pkg/resource"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
	"github.com/firmflow/firmflow/services/workflow/internal/store"
)

// ClientImport is what an import did (or, validating only, would do).
type ClientImport struct {
	Name      string   // firms/{firm}/clientImports/{import}; empty when only validated
	Count     int      // clients imported
	ClientIDs []string // in row order
}

// importProblems is the error of an import with invalid rows: one violation per
// problem, named rows[<line>].<column>.
func importProblems(problems []apierr.FieldViolation) error {
	err := domain.InvalidFields("", problems).(*apierr.Error)
	err.Reason = "IMPORT_ROWS_INVALID"
	err.Message = fmt.Sprintf("nothing was imported: %d problems in the CSV, first %s: %s",
		len(problems), problems[0].Field, problems[0].Description)
	return err
}

// ImportClients creates a client for every row of a CSV file, or none: any invalid
// row, or a tax id or external id another client has, fails the whole import with a
// report naming every row and column at fault. A retry with the same request id
// returns the first import.
func (a *App) ImportClients(ctx context.Context, p principal.Principal, firmID, csv, requestID string, validateOnly bool) (ClientImport, error) {
	var out ClientImport
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		importID := newID()
		name := resource.Name("firms", firmID, "clientImports", importID)
		defs, err := q.CustomFieldsByKey(ctx)
		if err != nil {
			return err
		}
		rows, problems := domain.ParseClientCSV(csv, firmID, defs)
		mine := true
		for _, r := range rows {
			mine = mine && r.Client.AssignedTo(p.UserID)
		}
		if err := require(ctx, q, p, domain.CategoryClients, domain.ActionImport, mine); err != nil {
			return err
		}
		if err := require(ctx, q, p, domain.CategoryClients, domain.ActionCreate, mine); err != nil {
			return err
		}
		if len(problems) > 0 {
			return importProblems(problems)
		}
		var assignees []memberRef
		for _, r := range rows {
			assignees = append(assignees, clientAssignees(fmt.Sprintf("rows[%d].assignees", r.Line), r.Client.Assignees)...)
		}
		if err := requireMembers(ctx, q, assignees...); err != nil {
			return err
		}
		if !validateOnly {
			earlier, claimed, err := q.ClaimRequest(ctx, requestID, name)
			if err != nil {
				return err
			}
			if !claimed {
				out, err = earlierImport(ctx, q, firmID, earlier)
				return err
			}
		}
		key := a.lazyFirmKey(ctx, q)
		defer key.close()
		now := a.stamp()
		records := make([]store.ClientRecord, len(rows))
		for i, r := range rows {
			c := r.Client
			c.ID, c.FirmID, c.Version, c.ImportID = newID(), firmID, 1, importID
			c.CreateTime, c.UpdateTime = now, now
			sealed, err := key.seal(c)
			if err != nil {
				return err
			}
			records[i] = store.ClientRecord{Client: c, Sealed: sealed}
		}
		labels := make([]string, len(rows))
		for i, r := range rows {
			labels[i] = fmt.Sprintf("rows[%d]", r.Line)
		}
		if problems, err := clientCollisions(ctx, q, labels, records); err != nil || len(problems) > 0 {
			if err == nil {
				err = importProblems(problems)
			}
			return err
		}
		out = ClientImport{Count: len(records)}
		if validateOnly {
			return nil
		}
		if err := q.InsertClients(ctx, records); err != nil {
			return err
		}
		out.Name = name
		events := newEventBatch(q, p.Actor())
		for _, r := range records {
			out.ClientIDs = append(out.ClientIDs, r.Client.ID)
			events.add("client_created", &eventsv1.ClientCreated{Client: ClientName(firmID, r.Client.ID), Import: name})
		}
		events.add("clients_imported", &eventsv1.ClientsImported{Import: name, ClientCount: int32(len(records))})
		return events.write(ctx, q)
	})
	return out, err
}

// clientCollisions names the new clients (labels[i] for records[i], e.g.
// "rows[7]" or "requests[3].client") whose tax id or external id another client of
// the firm has already, or an earlier one of the same records.
func clientCollisions(ctx context.Context, q *store.Queries, labels []string, records []store.ClientRecord) ([]apierr.FieldViolation, error) {
	var indexes [][]byte
	var externalIDs []string
	for _, r := range records {
		if r.Sealed.TaxIDIndex != nil {
			indexes = append(indexes, r.Sealed.TaxIDIndex)
		}
		if r.Client.ExternalID != "" {
			externalIDs = append(externalIDs, r.Client.ExternalID)
		}
	}
	if len(indexes) == 0 && len(externalIDs) == 0 {
		return nil, nil
	}
	taxTaken, extTaken, err := q.TakenClientKeys(ctx, indexes, externalIDs)
	if err != nil {
		return nil, err
	}
	var problems []apierr.FieldViolation
	// unique names a value another client has, or an earlier one of records (first
	// says which).
	unique := func(first map[string]string, taken bool, value, at, field, what string) {
		switch earlier, dup := first[value]; {
		case taken:
			problems = append(problems, apierr.FieldViolation{Field: at + "." + field, Rule: "unique", Description: "another client of the firm has this " + what})
		case dup:
			problems = append(problems, apierr.FieldViolation{Field: at + "." + field, Rule: "unique", Description: "the same " + what + " as " + earlier})
		default:
			first[value] = at
		}
	}
	taxFirst, extFirst := map[string]string{}, map[string]string{}
	for i, r := range records {
		if index := string(r.Sealed.TaxIDIndex); r.Sealed.TaxIDIndex != nil {
			unique(taxFirst, taxTaken[index], index, labels[i], "tax_id", "tax id")
		}
		if ext := r.Client.ExternalID; ext != "" {
			unique(extFirst, extTaken[ext], ext, labels[i], "external_id", "external id")
		}
		if len(problems) >= domain.MaxImportProblems {
			break
		}
	}
	return problems, nil
}

// earlierImport returns the import an earlier request with the same id made.
func earlierImport(ctx context.Context, q *store.Queries, firmID, name string) (ClientImport, error) {
	ids, err := earlierCreate(name, firmID, "firms/{firm}/clientImports/{import}")
	if err != nil {
		return ClientImport{}, err
	}
	out := ClientImport{Name: name}
	page := paging.Page{Size: domain.MaxImportRows}
	records, _, err := q.Clients(ctx, store.ClientQuery{ImportID: ids[1], Page: page})
	for _, r := range records {
		out.ClientIDs = append(out.ClientIDs, r.Client.ID)
	}
	out.Count = len(out.ClientIDs)
	return out, err
}

// MaxExportBytes bounds the text of one export page, well inside the 4 MiB a gRPC
// response may have by default once formatted (JSON escaping and field names
// included).
const MaxExportBytes = 1 << 20

// ClientExport is one page of an export.
type ClientExport struct {
	Clients      []domain.Client
	CustomFields []domain.CustomField // the columns after the standard ones
	Next         *paging.Cursor
}

// ExportClients returns a page of clients for an export in format ("csv" or
// "json"), masked unless reveal (which domain.MayReveal must allow). Callers whose
// export scope is "assigned" export only their clients. Each page is recorded as a
// clients_exported event.
func (a *App) ExportClients(ctx context.Context, p principal.Principal, firmID, format string, f domain.ClientFilter, reveal bool, page paging.Page) (ClientExport, error) {
	if reveal && !domain.MayReveal(p) {
		return ClientExport{}, domain.ErrRevealNotAllowed
	}
	var out ClientExport
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		visibleTo, err := a.clientVisibility(ctx, q, p, domain.ActionExport)
		if err != nil {
			return err
		}
		if readable, err := a.clientVisibility(ctx, q, p, domain.ActionRead); err != nil {
			return err
		} else if readable != "" {
			visibleTo = readable
		}
		records, next, err := q.Clients(ctx, store.ClientQuery{Filter: f, VisibleTo: visibleTo, Page: page})
		if err != nil {
			return err
		}
		if out.Clients, err = a.openClients(ctx, q, records, reveal); err != nil {
			return err
		}
		out.Next = next
		// A page of clients with long notes could outgrow what one response may
		// carry; it ends early and the next page starts after its last client.
		size := 0
		for i, c := range out.Clients {
			if size += c.ExportSize(); size > MaxExportBytes && i > 0 {
				out.Clients = out.Clients[:i]
				cursor := store.ClientCursor(out.Clients[i-1], f.Order)
				out.Next = &cursor
				break
			}
		}
		if out.CustomFields, err = q.CustomFields(ctx); err != nil {
			return err
		}
		return emit(ctx, q, p, "clients_exported", &eventsv1.ClientsExported{
			Firm: resource.Name("firms", firmID), Format: format, ClientCount: int32(len(out.Clients)), Revealed: reveal,
		})
	})
	return out, err
}
