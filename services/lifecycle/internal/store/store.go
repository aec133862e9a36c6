// Package store is lifecycle's SQL: operations (the deletion saga's persisted state,
// exports) and tombstones. Every query runs in a firm-scoped transaction except the
// scheduler's claims and the public certificate lookup, which go through SECURITY
// DEFINER functions that return ids or the certificate only.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/paging"
	"github.com/firmflow/firmflow/pkg/pg"
	"github.com/firmflow/firmflow/services/lifecycle/internal/domain"
)

// ErrClaimLost means another runner (or a cancellation) changed the operation since
// it was read: the caller's result is discarded, the newer state stands.
var ErrClaimLost = errors.New("operation changed since it was claimed")

// Store is lifecycle's database.
type Store struct{ db *pg.DB }

// New wraps the runtime role's pool.
func New(db *pg.DB) *Store { return &Store{db: db} }

const columns = `id, firm_id, kind, state, requested_by, create_time, grace_end, next_step, attempts,
  next_attempt, last_error, end_time, record, archive, archive_bytes, expire_time`

func scanOperation(row pgx.Row) (domain.Operation, error) {
	var (
		id, firm, kind, state, by, lastError string
		create                               time.Time
		graceEnd, nextAttempt, end, expire   *time.Time
		next, attempts                       int
		record                               []byte
		archive                              *string
		size                                 *int64
	)
	if err := row.Scan(&id, &firm, &kind, &state, &by, &create, &graceEnd, &next, &attempts,
		&nextAttempt, &lastError, &end, &record, &archive, &size, &expire); err != nil {
		return domain.Operation{}, err
	}
	switch domain.Kind(kind) {
	case domain.KindDeletion:
		d := &domain.Deletion{
			ID: id, FirmID: firm, RequestedBy: by, RequestTime: create, GraceEnd: deref(graceEnd),
			State: domain.State(state), Next: next, Attempts: attempts, NextAttempt: deref(nextAttempt),
			LastError: lastError, EndTime: deref(end),
		}
		if err := json.Unmarshal(record, &d.Record); err != nil {
			return domain.Operation{}, fmt.Errorf("operation %s record: %w", id, err)
		}
		return domain.Operation{Kind: domain.KindDeletion, Deletion: d}, nil
	default:
		e := &domain.Export{
			ID: id, FirmID: firm, RequestedBy: by, CreateTime: create, State: domain.State(state),
			Attempts: attempts, NextAttempt: deref(nextAttempt), LastError: lastError, EndTime: deref(end),
			ExpireTime: deref(expire),
		}
		if archive != nil {
			e.Archive = *archive
		}
		if size != nil {
			e.Size = *size
		}
		return domain.Operation{Kind: domain.KindExport, Export: e}, nil
	}
}

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// CreateDeletion stores a newly scheduled deletion with the hash of its certificate
// token. A firm with a deletion already scheduled or running is refused.
func (s *Store) CreateDeletion(ctx context.Context, d domain.Deletion, tokenHash []byte) error {
	record, err := json.Marshal(d.Record)
	if err != nil {
		return err
	}
	err = s.db.InFirm(ctx, d.FirmID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `insert into operations (id, firm_id, kind, state, requested_by, create_time,
			grace_end, next_attempt, record, token_hash) values ($1, $2, 'deletion', $3, $4, $5, $6, $7, $8, $9)`,
			d.ID, d.FirmID, string(d.State), d.RequestedBy, d.RequestTime, d.GraceEnd, d.NextAttempt, record, tokenHash)
		return err
	})
	if pg.IsUniqueViolation(err, "operations_one_deletion") {
		return apierr.AlreadyExists("DELETION_PENDING", "a deletion of this firm is already scheduled; cancel it or wait for it")
	}
	return err
}

// CreateExport stores a new export; one runs at a time per firm.
func (s *Store) CreateExport(ctx context.Context, e domain.Export) error {
	err := s.db.InFirm(ctx, e.FirmID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `insert into operations (id, firm_id, kind, state, requested_by, create_time, next_attempt)
			values ($1, $2, 'export', $3, $4, $5, $6)`, e.ID, e.FirmID, string(e.State), e.RequestedBy, e.CreateTime, e.NextAttempt)
		return err
	})
	if pg.IsUniqueViolation(err, "operations_one_export") {
		return apierr.AlreadyExists("EXPORT_RUNNING", "an export of this firm is already running; poll its operation")
	}
	return err
}

// Operation reads one operation of the firm.
func (s *Store) Operation(ctx context.Context, firmID, id string) (domain.Operation, error) {
	var op domain.Operation
	err := s.db.InFirm(ctx, firmID, func(tx pgx.Tx) error {
		var err error
		op, err = scanOperation(tx.QueryRow(ctx, `select `+columns+` from operations where id = $1`, id))
		return pg.NotFound(err, "operation")
	})
	return op, err
}

// OperationFirm finds the firm an operation belongs to, "" when there is none.
func (s *Store) OperationFirm(ctx context.Context, id string) (string, error) {
	var firm *string
	err := s.db.InTx(ctx, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `select operation_firm($1)::text`, id).Scan(&firm)
	})
	if err != nil || firm == nil {
		return "", err
	}
	return *firm, nil
}

// PendingDeletion reads the firm's scheduled or running deletion.
func (s *Store) PendingDeletion(ctx context.Context, firmID string) (domain.Deletion, error) {
	var op domain.Operation
	err := s.db.InFirm(ctx, firmID, func(tx pgx.Tx) error {
		var err error
		op, err = scanOperation(tx.QueryRow(ctx, `select `+columns+` from operations
			where kind = 'deletion' and state in ('scheduled', 'running')`))
		return pg.NotFound(err, "scheduled deletion")
	})
	if err != nil {
		return domain.Deletion{}, err
	}
	return *op.Deletion, nil
}

// Operations lists the firm's operations, newest first.
func (s *Store) Operations(ctx context.Context, firmID string, page paging.Page) ([]domain.Operation, bool, error) {
	var ops []domain.Operation
	err := s.db.InFirm(ctx, firmID, func(tx pgx.Tx) error {
		args := []any{page.Size + 1}
		where := ""
		if page.After != nil {
			where = `where (create_time, id) < ($2, $3::uuid)`
			args = append(args, page.After.Time, page.After.ID)
		}
		rows, err := tx.Query(ctx, `select `+columns+` from operations `+where+` order by create_time desc, id desc limit $1`, args...)
		if err != nil {
			return err
		}
		ops, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Operation, error) { return scanOperation(r) })
		return err
	})
	if err != nil {
		return nil, false, err
	}
	more := len(ops) > page.Size
	if more {
		ops = ops[:page.Size]
	}
	return ops, more, nil
}

// Claim takes a lease on one operation of kind that is due at now and not leased,
// and returns its id and firm; ok is false when none is due. SKIP LOCKED lets runners
// in several processes claim different operations at once.
func (s *Store) Claim(ctx context.Context, kind domain.Kind, runner string, now time.Time, lease time.Duration) (id, firmID string, ok bool, err error) {
	err = s.db.InTx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `select id::text, firm_id::text from claim_due_operation($1, $2, $3, $4)`,
			string(kind), runner, now, lease).Scan(&id, &firmID)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		ok = err == nil
		return err
	})
	return id, firmID, ok, err
}

// SaveDeletion writes d if the stored row is still in the state the caller read
// (before) and, when runner is set, still leased to runner; the lease is released.
// Otherwise it returns ErrClaimLost and changes nothing.
func (s *Store) SaveDeletion(ctx context.Context, before, d domain.Deletion, runner string) error {
	return s.db.InFirm(ctx, d.FirmID, func(tx pgx.Tx) error {
		return saveDeletion(ctx, tx, before, d, runner)
	})
}

func saveDeletion(ctx context.Context, tx pgx.Tx, before, d domain.Deletion, runner string) error {
	record, err := json.Marshal(d.Record)
	if err != nil {
		return err
	}
	tag, err := tx.Exec(ctx, `update operations set state = $2, next_step = $3, attempts = $4, next_attempt = $5,
		last_error = $6, end_time = $7, record = $8, lease_owner = null, lease_until = null
		where id = $1 and state = $9 and next_step = $10 and ($11 = '' or lease_owner = $11)`,
		d.ID, string(d.State), d.Next, d.Attempts, pg.NullTime(d.NextAttempt), d.LastError, pg.NullTime(d.EndTime),
		record, string(before.State), before.Next, runner)
	if err != nil {
		return err
	}
	if tag.RowsAffected() != 1 {
		return ErrClaimLost
	}
	return nil
}

// Bury ends a deletion: it checks the claim as SaveDeletion does, keeps the
// tombstone (firm id and signed certificate, found by the token's hash) and removes
// every other row lifecycle held for the firm, in one transaction.
func (s *Store) Bury(ctx context.Context, before domain.Deletion, runner string, certificate []byte, now time.Time) error {
	return s.db.InFirm(ctx, before.FirmID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `insert into tombstones (firm_id, token_hash, certificate, create_time)
			select firm_id, token_hash, $2, $3 from operations
			where id = $1 and state = $4 and next_step = $5 and lease_owner = $6`,
			before.ID, certificate, now, string(before.State), before.Next, runner)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return ErrClaimLost
		}
		_, err = tx.Exec(ctx, `delete from operations`)
		return err
	})
}

// Tombstoned reports whether the firm was deleted.
func (s *Store) Tombstoned(ctx context.Context, firmID string) (bool, error) {
	var found bool
	err := s.db.InFirm(ctx, firmID, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `select exists (select 1 from tombstones)`).Scan(&found)
	})
	return found, err
}

// Certificate finds a deleted firm's certificate by its token's hash.
func (s *Store) Certificate(ctx context.Context, tokenHash []byte) ([]byte, error) {
	var cert []byte
	err := s.db.InTx(ctx, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `select certificate_for_token($1)`, tokenHash).Scan(&cert)
	})
	if err != nil {
		return nil, err
	}
	if cert == nil {
		return nil, apierr.NotFound("deletion certificate")
	}
	return cert, nil
}

// SaveExport writes e under the same conditions as SaveDeletion.
func (s *Store) SaveExport(ctx context.Context, before, e domain.Export, runner string) error {
	return s.db.InFirm(ctx, e.FirmID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `update operations set state = $2, attempts = $3, next_attempt = $4, last_error = $5,
			end_time = $6, archive = $7, archive_bytes = $8, expire_time = $9, lease_owner = null, lease_until = null
			where id = $1 and state = $10 and attempts = $11 and ($12 = '' or lease_owner = $12)`,
			e.ID, string(e.State), e.Attempts, pg.NullTime(e.NextAttempt), e.LastError, pg.NullTime(e.EndTime),
			pg.NullString(e.Archive), e.Size, pg.NullTime(e.ExpireTime), string(before.State), before.Attempts, runner)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return ErrClaimLost
		}
		return nil
	})
}

// ExpiredExport is an archive past its expiry.
type ExpiredExport struct{ ID, FirmID, Archive string }

// ExpiredExports lists archives to delete.
func (s *Store) ExpiredExports(ctx context.Context, now time.Time) ([]ExpiredExport, error) {
	var out []ExpiredExport
	err := s.db.InTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `select id::text, firm_id::text, archive from expired_exports($1)`, now)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, pgx.RowToStructByPos[ExpiredExport])
		return err
	})
	return out, err
}

// ForgetArchive clears an expired export's archive after its file was removed.
func (s *Store) ForgetArchive(ctx context.Context, firmID, id string) error {
	return s.db.InFirm(ctx, firmID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `update operations set archive = null where id = $1`, id)
		return err
	})
}

// FirmArchives lists the file names of the firm's export archives.
func (s *Store) FirmArchives(ctx context.Context, firmID string) ([]string, error) {
	var names []string
	err := s.db.InFirm(ctx, firmID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `select archive from operations where archive is not null`)
		if err != nil {
			return err
		}
		names, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	return names, err
}
