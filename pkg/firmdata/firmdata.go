// Package firmdata is what every service shares to serve lifecycle's FirmDataService:
// streaming a firm's entities out of the database as JSON rows (sensitive columns
// opened on the way), counting the firm's rows in every table found in the catalog,
// and removing its queued outbox and inbox rows. Each service names its entities and
// their queries; the mechanics live here once.
package firmdata

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/fieldcrypt"
	lifecyclev1 "github.com/firmflow/firmflow/pkg/gen/firmflow/lifecycle/v1"
	"github.com/firmflow/firmflow/pkg/inbox"
	"github.com/firmflow/firmflow/pkg/outbox"
	"github.com/firmflow/firmflow/pkg/resource"
)

// BatchRows is how many rows one batch carries: small enough that a firm of any size
// streams in bounded memory, large enough that a batch is worth a message.
const BatchRows = 500

// Entity is one kind of row a service exports.
type Entity struct {
	// Name is the entity as the archive names it ("clients").
	Name string
	// SchemaVersion is raised when a key is renamed or removed.
	SchemaVersion uint32
	// Query selects the entity's rows of the transaction's firm, in a stable order,
	// with the columns in export order; it filters on current_firm_id() (row-level
	// security would anyway) and takes no parameters. Secrets are simply not selected.
	Query string
	// Sealed names the columns that hold values sealed with the firm's data key; they
	// are opened and exported as text. Each is bound to (SealedTable or Name, column,
	// the row's "id").
	Sealed      []string
	SealedTable string
}

// Batch is a run of rows of one entity, each one JSON object with the entity's
// columns as keys, in the same order in every row.
type Batch struct {
	Entity        string
	SchemaVersion uint32
	Rows          [][]byte
}

// Opener opens sealed values: a firm's *fieldcrypt.DataKey.
type Opener interface {
	Open(ciphertext []byte, b fieldcrypt.Binding) ([]byte, error)
}

// Export streams each entity's rows through a server-side cursor, BatchRows at a
// time, so no more than one batch of the firm is ever in memory. tx must be scoped to
// firmID. key is called once, on the first sealed value; nil means the service seals
// nothing. send receives every batch; its error stops the export.
func Export(ctx context.Context, tx pgx.Tx, firmID string, entities []Entity, key func() (Opener, error), send func(Batch) error) error {
	opener := &lazyOpener{open: key}
	for _, e := range entities {
		if err := exportEntity(ctx, tx, firmID, e, opener, send); err != nil {
			return fmt.Errorf("export %s: %w", e.Name, err)
		}
	}
	return nil
}

func exportEntity(ctx context.Context, tx pgx.Tx, firmID string, e Entity, opener *lazyOpener, send func(Batch) error) error {
	// One cursor name per entity: pgx caches a statement's description by its text,
	// and FETCH from a cursor of another shape must not reuse it.
	cursor := pgx.Identifier{"export_" + e.Name}.Sanitize()
	if _, err := tx.Exec(ctx, "declare "+cursor+" no scroll cursor for "+e.Query); err != nil {
		return err
	}
	table := e.SealedTable
	if table == "" {
		table = e.Name
	}
	sealed := map[string]bool{}
	for _, c := range e.Sealed {
		sealed[c] = true
	}
	for {
		rows, err := tx.Query(ctx, fmt.Sprintf("fetch forward %d from %s", BatchRows, cursor))
		if err != nil {
			return err
		}
		batch := Batch{Entity: e.Name, SchemaVersion: e.SchemaVersion}
		for rows.Next() {
			values, err := rows.Values()
			if err != nil {
				rows.Close()
				return err
			}
			row, err := encodeRow(firmID, table, rows.FieldDescriptions(), values, sealed, opener)
			if err != nil {
				rows.Close()
				return err
			}
			batch.Rows = append(batch.Rows, row)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(batch.Rows) == 0 {
			break
		}
		if err := send(batch); err != nil {
			return err
		}
		if len(batch.Rows) < BatchRows {
			break
		}
	}
	_, err := tx.Exec(ctx, "close "+cursor)
	return err
}

// encodeRow writes one row as a JSON object whose keys are the columns in query
// order, nulls included.
func encodeRow(firmID, table string, fields []pgconn.FieldDescription, values []any, sealed map[string]bool, opener *lazyOpener) ([]byte, error) {
	rowID := ""
	for i, f := range fields {
		if f.Name == "id" {
			rowID = fmt.Sprint(plain(values[i]))
		}
	}
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, f := range fields {
		if i > 0 {
			buf.WriteByte(',')
		}
		name, _ := json.Marshal(f.Name)
		buf.Write(name)
		buf.WriteByte(':')
		v := plain(values[i])
		if t, ok := values[i].(time.Time); ok && f.DataTypeOID == dateOID {
			v = t.Format(time.DateOnly)
		}
		if sealed[f.Name] && v != nil {
			ciphertext, ok := v.([]byte)
			if !ok {
				return nil, fmt.Errorf("sealed column %s is not bytea", f.Name)
			}
			key, err := opener.get()
			if err != nil {
				return nil, err
			}
			text, err := key.Open(ciphertext, fieldcrypt.Binding{FirmID: firmID, Table: table, Column: f.Name, RowID: rowID})
			if err != nil {
				// Never the value: only where it failed.
				return nil, fmt.Errorf("open %s.%s of %s: %w", table, f.Name, rowID, err)
			}
			v = string(text)
		}
		encoded, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", f.Name, err)
		}
		buf.Write(encoded)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// dateOID is PostgreSQL's date type: exported as 2006-01-02, not as a midnight.
const dateOID = 1082

// plain turns the values pgx decodes into what reads well as JSON: uuids as their
// text, times in UTC, arrays and objects element by element.
func plain(v any) any {
	switch v := v.(type) {
	case [16]byte:
		return uuid.UUID(v).String()
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = plain(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = plain(e)
		}
		return out
	}
	return v
}

type lazyOpener struct {
	open   func() (Opener, error)
	opener Opener
}

func (l *lazyOpener) get() (Opener, error) {
	if l.opener == nil {
		if l.open == nil {
			return nil, fmt.Errorf("a sealed column but no data key")
		}
		o, err := l.open()
		if err != nil {
			return nil, err
		}
		l.opener = o
	}
	return l.opener, nil
}

// Count is a table and a number of the firm's rows in it.
type Count struct {
	Table string
	Rows  int64
}

// CountRows counts the firm's rows in every table that names a firm, through
// firm_row_counts (shared/firm_data.sql), which walks the catalog.
func CountRows(ctx context.Context, tx pgx.Tx, firmID string) ([]Count, error) {
	return counts(ctx, tx, "select table_name, n_rows from firm_row_counts($1)", firmID)
}

// DeleteQueues removes the firm's outbox and inbox rows (firm_delete_queues);
// tx must be scoped to firmID.
func DeleteQueues(ctx context.Context, tx pgx.Tx, firmID string) ([]Count, error) {
	return counts(ctx, tx, "select table_name, n_rows from firm_delete_queues($1)", firmID)
}

func counts(ctx context.Context, tx pgx.Tx, query string, args ...any) ([]Count, error) {
	rows, err := tx.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Count, error) {
		var c Count
		err := r.Scan(&c.Table, &c.Rows)
		return c, err
	})
}

// Delete runs statements in order, each deleting the firm's rows of one table, and
// answers how many each removed. Each statement takes the firm id as $1.
func Delete(ctx context.Context, tx pgx.Tx, firmID string, statements []TableDelete) ([]Count, error) {
	out := make([]Count, 0, len(statements))
	for _, s := range statements {
		tag, err := tx.Exec(ctx, s.SQL, firmID)
		if err != nil {
			return nil, fmt.Errorf("delete %s: %w", s.Table, err)
		}
		out = append(out, Count{Table: s.Table, Rows: tag.RowsAffected()})
	}
	return out, nil
}

// TableDelete is the statement that deletes a firm's rows of one table.
type TableDelete struct {
	Table string
	SQL   string
}

// ParseFirm reads "firms/{firm}" into the firm id.
func ParseFirm(name string) (string, error) {
	ids, err := resource.Parse("firm", name, "firms/{firm}")
	if err != nil {
		return "", err
	}
	id, err := uuid.Parse(ids[0])
	if err != nil {
		return "", apierr.InvalidArgument("firm", "resource_name", "must look like firms/{uuid}")
	}
	return id.String(), nil
}

// BatchProto converts a batch for the wire.
func BatchProto(b Batch) *lifecyclev1.FirmDataBatch {
	return &lifecyclev1.FirmDataBatch{Entity: b.Entity, SchemaVersion: b.SchemaVersion, Rows: b.Rows}
}

// CountsProto converts counts for the wire.
func CountsProto(cs []Count) []*lifecyclev1.TableCount {
	out := make([]*lifecyclev1.TableCount, len(cs))
	for i, c := range cs {
		out[i] = &lifecyclev1.TableCount{Table: c.Table, Rows: c.Rows}
	}
	return out
}

// PruneQueues removes, across every firm, outbox rows published before
// now-outbox.Retention and inbox ids processed before now-inbox.Retention, through
// prune_queues (shared/queue_prune.sql), and answers the counts per table.
func PruneQueues(ctx context.Context, tx pgx.Tx, now time.Time) ([]Count, error) {
	return counts(ctx, tx, "select table_name, n_rows from prune_queues($1, $2)",
		now.Add(-outbox.Retention), now.Add(-inbox.Retention))
}
