// Package store is audit's SQL: appending to the chains, reading them back, the
// checkpoints and the settings. Reads run in a firm-scoped transaction; appends run in
// one transaction that scopes each statement to its firm.
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

	"github.com/firmflow/firmflow/pkg/outbox"
	"github.com/firmflow/firmflow/pkg/pg"
	"github.com/firmflow/firmflow/services/audit/chain"
	"github.com/firmflow/firmflow/services/audit/internal/domain"
)

// Store runs audit's queries on a pool, and its appends on a pool of the ingest role.
type Store struct {
	db     *pg.DB
	ingest *pg.DB
}

// New returns a store reading through db (the runtime role) and appending through
// ingest (IngestRole).
func New(db, ingest *pg.DB) *Store { return &Store{db: db, ingest: ingest} }

// IngestRole appends to the log with COPY; see migrations/003_ingest.sql.
const IngestRole = "audit_ingest"

// Queries are the statements available inside one firm-scoped transaction.
type Queries struct {
	tx   pgx.Tx
	firm uuid.UUID
}

// InFirmSnapshot runs fn in a read-only transaction scoped to firm that sees one
// snapshot throughout (REPEATABLE READ), so that a verification compares the chain
// head, the checkpoints and the events as they were at one instant, and an event
// appended meanwhile is not mistaken for a forged one. pg.DB.InFirm takes its
// snapshot at the statement that scopes it, too early to choose the isolation.
func (s *Store) InFirmSnapshot(ctx context.Context, firm uuid.UUID, fn func(*Queries) error) error {
	return pgx.BeginTxFunc(ctx, s.db.Pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "select set_config($1, $2, true)", pg.FirmSetting, firm.String()); err != nil {
			return fmt.Errorf("scope transaction to firm: %w", err)
		}
		return fn(&Queries{tx: tx, firm: firm})
	})
}

// FirmID is the firm the transaction is scoped to.
func (q *Queries) FirmID() uuid.UUID { return q.firm }

// InFirm runs fn in a transaction scoped to firm.
func (s *Store) InFirm(ctx context.Context, firm uuid.UUID, fn func(*Queries) error) error {
	return s.db.InFirm(ctx, firm.String(), func(tx pgx.Tx) error { return fn(&Queries{tx: tx, firm: firm}) })
}

// EnsurePartition creates the month's partition of the log when missing.
func (s *Store) EnsurePartition(ctx context.Context, t time.Time) error {
	_, err := s.db.Pool.Exec(ctx, "select audit_ensure_partition($1)", t)
	if err != nil {
		return fmt.Errorf("ensure audit partition for %s: %w", t.UTC().Format("2006-01"), err)
	}
	return nil
}

// FirmsToCheckpoint lists the firms whose chain head moved since their last
// checkpoint.
func (s *Store) FirmsToCheckpoint(ctx context.Context) ([]uuid.UUID, error) {
	rows, err := s.db.Pool.Query(ctx, "select audit_firms_to_checkpoint()")
	if err != nil {
		return nil, fmt.Errorf("firms to checkpoint: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
}

// FirmsCheckpointDue lists the firms whose chain head moved since their last
// checkpoint and whose last checkpoint was signed before signedBefore (or never).
func (s *Store) FirmsCheckpointDue(ctx context.Context, signedBefore time.Time) ([]uuid.UUID, error) {
	rows, err := s.db.Pool.Query(ctx, "select audit_firms_checkpoint_due($1)", signedBefore)
	if err != nil {
		return nil, fmt.Errorf("firms due a checkpoint: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
}

// FirmsWithChains lists every firm that has a chain. Row-level security hides the
// heads from the runtime role; the caller connects as an administrator (the restore
// drill, on a restored copy of the database).
func (s *Store) FirmsWithChains(ctx context.Context) ([]uuid.UUID, error) {
	rows, err := s.db.Pool.Query(ctx, "select firm_id from audit_chain_heads order by firm_id")
	if err != nil {
		return nil, fmt.Errorf("firms with chains: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
}

// Emit queues audit's own events in the transaction.
func (q *Queries) Emit(ctx context.Context, events ...outbox.Event) error {
	return outbox.Write(ctx, q.tx, events...)
}

// ---- appending ----

// Appender is one transaction appending to several firms' chains.
type Appender struct {
	tx pgx.Tx
}

// Append runs fn in one transaction of the ingest role. Appends cross firms: the
// heads are locked and moved, and the event ids recorded, through the migrations'
// SECURITY DEFINER functions, and the events go in with COPY.
func (s *Store) Append(ctx context.Context, fn func(*Appender) error) error {
	return s.ingest.InTx(ctx, func(tx pgx.Tx) error { return fn(&Appender{tx: tx}) })
}

// Claim locks the chain heads of firms, creating missing ones, and records the ids
// of the batch's events (ids[i] of firm idFirms[i]). It returns the heads in firm id
// order and the ids that were new; the others are already in the log.
func (a *Appender) Claim(ctx context.Context, firms []uuid.UUID, ids, idFirms []uuid.UUID) ([]chain.Head, map[uuid.UUID]bool, error) {
	var heads []chain.Head
	fresh := make(map[uuid.UUID]bool, len(ids))
	b := &pgx.Batch{}
	b.Queue(lockHeads, binaryUUIDs(firms)).Query(func(rows pgx.Rows) (err error) {
		heads, err = scanHeads(rows, len(firms))
		return err
	})
	b.Queue("select audit_claim_events($1, $2)", binaryUUIDs(ids), binaryUUIDs(idFirms)).
		Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var id uuid.UUID
				if err := rows.Scan(&id); err != nil {
					return err
				}
				fresh[id] = true
			}
			return rows.Err()
		})
	if err := a.tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, nil, fmt.Errorf("claim chain heads: %w", err)
	}
	return heads, fresh, nil
}

// ErrEventSeen is ClaimNew finding an event of the batch already in the log.
var ErrEventSeen = errors.New("an event of the batch is already in the log")

// ClaimNew is Claim for a batch whose events are all new, as nearly every batch's
// are: it records their ids with COPY, which skips the conflict check and the answer
// per id. When one is already in the log (a redelivery) it returns ErrEventSeen and
// the transaction can do nothing more; the batch then goes through Claim.
func (a *Appender) ClaimNew(ctx context.Context, firms []uuid.UUID, ids, idFirms []uuid.UUID) ([]chain.Head, error) {
	rows, err := a.tx.Query(ctx, lockHeads, binaryUUIDs(firms))
	if err != nil {
		return nil, fmt.Errorf("lock chain heads: %w", err)
	}
	heads, err := scanHeads(rows, len(firms))
	if err != nil {
		return nil, fmt.Errorf("lock chain heads: %w", err)
	}
	_, err = a.tx.CopyFrom(ctx, pgx.Identifier{"audit_event_ids"}, []string{"event_id", "firm_id"},
		pgx.CopyFromSlice(len(ids), func(i int) ([]any, error) { return []any{[16]byte(ids[i]), [16]byte(idFirms[i])}, nil }))
	if pg.IsUniqueViolation(err, "audit_event_ids_pkey") {
		return nil, ErrEventSeen
	}
	if err != nil {
		return nil, fmt.Errorf("copy event ids: %w", err)
	}
	return heads, nil
}

// lockHeads locks the chain heads of firms ($1), creating missing ones, in firm id
// order.
const lockHeads = "select firm_id, seq, hash, record_time from audit_lock_heads($1)"

// scanHeads reads the heads lockHeads returns, which must be one for each of the
// firms asked for.
func scanHeads(rows pgx.Rows, firms int) ([]chain.Head, error) {
	var heads []chain.Head
	for rows.Next() {
		var h chain.Head
		var hash []byte
		if err := rows.Scan(&h.FirmID, &h.Sequence, &hash, &h.RecordTime); err != nil {
			rows.Close()
			return nil, err
		}
		copy(h.Hash[:], hash)
		heads = append(heads, h)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(heads) != firms {
		return nil, fmt.Errorf("%d heads for %d firms", len(heads), firms)
	}
	return heads, nil
}

// Insert stores the appended events, whatever their firms, with COPY, and moves the
// heads.
func (a *Appender) Insert(ctx context.Context, heads []chain.Head, events []chain.Event) error {
	if len(events) == 0 {
		return nil
	}
	_, err := a.tx.CopyFrom(ctx, pgx.Identifier{"audit_events"}, copyColumns, pgx.CopyFromSlice(len(events), func(i int) ([]any, error) {
		e := &events[i]
		payload := e.Payload
		if payload == nil {
			payload = []byte{}
		}
		resources := e.Resources
		if resources == nil {
			resources = []string{}
		}
		return []any{[16]byte(e.FirmID), e.Sequence, [16]byte(e.ID), e.RecordTime, e.Time, e.Kind, e.Category, e.Actor,
			e.Action, resources, e.Code, e.Subject, payload, e.PrevHash[:], e.Hash[:]}, nil
	}))
	if err != nil {
		return fmt.Errorf("copy audit events: %w", err)
	}
	h := headColumnsOf(heads)
	if _, err := a.tx.Exec(ctx, "select audit_move_heads($1, $2, $3, $4)", h.firm, h.seq, h.hash, h.recordTime); err != nil {
		return fmt.Errorf("move chain heads: %w", err)
	}
	return nil
}

// binaryUUIDs lets pgx send ids in binary; uuid.UUID would travel as text through
// driver.Valuer.
func binaryUUIDs(ids []uuid.UUID) [][16]byte {
	out := make([][16]byte, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}

// copyColumns are the columns Insert copies, in its order.
var copyColumns = []string{"firm_id", "seq", "event_id", "record_time", "time", "kind", "category", "actor", "action",
	"resources", "code", "subject", "payload", "prev_hash", "hash"}

// headColumns are the heads' new positions, one array per column.
type headColumns struct {
	firm       [][16]byte
	seq        []int64
	hash       [][]byte
	recordTime []time.Time
}

func headColumnsOf(heads []chain.Head) headColumns {
	var h headColumns
	for _, head := range heads {
		h.firm = append(h.firm, head.FirmID)
		h.seq = append(h.seq, head.Sequence)
		h.hash = append(h.hash, head.Hash[:])
		h.recordTime = append(h.recordTime, head.RecordTime)
	}
	return h
}

// ---- reading the chain ----

const eventColumns = `firm_id, seq, event_id, time, record_time, kind, category, actor, action, resources, code,
	subject, payload, prev_hash, hash`

func scanEvent(row pgx.Row) (chain.Event, error) {
	var e chain.Event
	var prev, hash []byte
	err := row.Scan(&e.FirmID, &e.Sequence, &e.ID, &e.Time, &e.RecordTime, &e.Kind, &e.Category, &e.Actor, &e.Action,
		&e.Resources, &e.Code, &e.Subject, &e.Payload, &prev, &hash)
	copy(e.PrevHash[:], prev)
	copy(e.Hash[:], hash)
	return e, err
}

// Events lists a page of the firm's events matching f, newest first; before, when
// positive, is the sequence the page ends below.
func (q *Queries) Events(ctx context.Context, f domain.Filter, before int64, size int) ([]chain.Event, bool, error) {
	where := []string{"firm_id = $1"}
	args := []any{q.firm}
	add := func(cond string, arg any) {
		args = append(args, arg)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if f.Actor != "" {
		add("actor = ?", f.Actor)
	}
	if f.Action != "" {
		add("action = ?", f.Action)
	}
	if f.Resource != "" {
		add("? = any(resources)", f.Resource)
	}
	if f.Category != "" {
		add("category = ?", f.Category)
	}
	if f.Kind != "" {
		add("kind = ?", f.Kind)
	}
	switch f.Outcome {
	case domain.Succeeded:
		add("code = ?", domain.CodeOK)
	case domain.Failed:
		add("code <> ?", domain.CodeOK)
	}
	if !f.Start.IsZero() {
		add("time >= ?", f.Start)
	}
	if !f.End.IsZero() {
		add("time < ?", f.End)
	}
	if before > 0 {
		add("seq < ?", before)
	}
	args = append(args, size+1)
	sql := "select " + eventColumns + " from audit_events where " + strings.Join(where, " and ") +
		" order by seq desc limit $" + strconv.Itoa(len(args))
	rows, err := q.tx.Query(ctx, sql, args...)
	if err != nil {
		return nil, false, fmt.Errorf("list audit events: %w", err)
	}
	events, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (chain.Event, error) { return scanEvent(r) })
	if err != nil {
		return nil, false, fmt.Errorf("list audit events: %w", err)
	}
	more := len(events) > size
	return events[:min(len(events), size)], more, nil
}

// ChainFrom calls fn with the firm's events after sequence after, in chain order,
// until fn returns false or limit events were read (limit 0: no limit). Rows stream
// from the server, so a whole chain never sits in memory.
func (q *Queries) ChainFrom(ctx context.Context, after int64, limit int, fn func(*chain.Event) bool) error {
	sql := "select " + eventColumns + " from audit_events where firm_id = $1 and seq > $2 order by seq, record_time"
	args := []any{q.firm, after}
	if limit > 0 {
		sql += " limit $3"
		args = append(args, limit)
	}
	rows, err := q.tx.Query(ctx, sql, args...)
	if err != nil {
		return fmt.Errorf("read audit chain: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return fmt.Errorf("read audit chain: %w", err)
		}
		if !fn(&e) {
			break
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read audit chain: %w", err)
	}
	return nil
}

// Head reads the firm's chain head; a firm without events has sequence 0.
func (q *Queries) Head(ctx context.Context) (chain.Head, error) {
	h := chain.Head{FirmID: q.firm}
	var hash []byte
	err := q.tx.QueryRow(ctx, "select seq, hash, record_time from audit_chain_heads where firm_id = $1", q.firm).
		Scan(&h.Sequence, &hash, &h.RecordTime)
	if errors.Is(err, pgx.ErrNoRows) {
		return h, nil
	}
	copy(h.Hash[:], hash)
	return h, err
}

// Start reads where the firm's retained chain begins.
func (q *Queries) Start(ctx context.Context) (chain.Start, error) {
	var s chain.Start
	var prev []byte
	err := q.tx.QueryRow(ctx, "select first_seq, prev_hash from audit_chain_starts where firm_id = $1 order by first_seq desc limit 1", q.firm).
		Scan(&s.Sequence, &prev)
	if errors.Is(err, pgx.ErrNoRows) {
		return chain.Genesis(), nil
	}
	copy(s.PrevHash[:], prev)
	return s, err
}

// ---- checkpoints ----

// InsertCheckpoint stores a signed checkpoint.
func (q *Queries) InsertCheckpoint(ctx context.Context, c chain.Checkpoint, signed string) error {
	_, err := q.tx.Exec(ctx, `insert into audit_checkpoints (firm_id, seq, hash, time, signed_note) values ($1, $2, $3, $4, $5)
		on conflict do nothing`, q.firm, c.Sequence, c.Hash[:], c.Time, signed)
	if err != nil {
		return fmt.Errorf("store checkpoint: %w", err)
	}
	return nil
}

// Checkpoints returns the firm's signed checkpoints with from <= sequence <= to
// (to 0: no upper bound), oldest first.
func (q *Queries) Checkpoints(ctx context.Context, from, to int64) ([]string, error) {
	rows, err := q.tx.Query(ctx, `select signed_note from audit_checkpoints
		where firm_id = $1 and seq >= $2 and ($3 = 0 or seq <= $3) order by seq, time`, q.firm, from, to)
	if err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// ---- settings ----

// Settings reads the firm's settings, or the defaults.
func (q *Queries) Settings(ctx context.Context) (domain.Settings, error) {
	s := domain.DefaultSettings(q.firm.String())
	err := q.tx.QueryRow(ctx, "select retention_days from audit_settings where firm_id = $1", q.firm).Scan(&s.RetentionDays)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, nil
	}
	return s, err
}

// SaveSettings writes the firm's settings.
func (q *Queries) SaveSettings(ctx context.Context, s domain.Settings) error {
	_, err := q.tx.Exec(ctx, `insert into audit_settings (firm_id, retention_days) values ($1, $2)
		on conflict (firm_id) do update set retention_days = excluded.retention_days, update_time = now()`,
		q.firm, s.RetentionDays)
	return err
}

// ---- retention ----

// DropExpiredPartitions connects to databaseURL and runs retention as role
// (audit_retention): it drops the partitions every firm has kept long enough at now
// and returns their names.
func DropExpiredPartitions(ctx context.Context, databaseURL, role string, now time.Time) ([]string, error) {
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		return nil, fmt.Errorf("connect for retention: %w", err)
	}
	defer conn.Close(ctx)
	var dropped []string
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "set local role "+pgx.Identifier{role}.Sanitize()); err != nil {
			return fmt.Errorf("act as %s: %w", role, err)
		}
		rows, err := tx.Query(ctx, "select audit_drop_expired_partitions($1)", now)
		if err != nil {
			return fmt.Errorf("drop expired partitions: %w", err)
		}
		dropped, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	return dropped, err
}

// ProvisionRetentionRole creates the audit_retention group role as an administrator;
// roles belong to the cluster, and the owner that migrates may not create them.
func ProvisionRetentionRole(ctx context.Context, adminURL, role string) error {
	return provisionRole(ctx, adminURL, role, "nologin")
}

// ProvisionRetentionLogin creates the login role the audit service's part of the
// scheduled retention run connects as (FIRMFLOW_AUDIT_RETENTION_URL): a member of the
// retention group role that may connect to database and holds nothing else, so the
// running service need not know an administrator's credentials.
func ProvisionRetentionLogin(ctx context.Context, adminURL, database, login, group string) error {
	if err := provisionRole(ctx, adminURL, login, "login"); err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect as administrator: %w", err)
	}
	defer conn.Close(ctx)
	l := pgx.Identifier{login}.Sanitize()
	for _, stmt := range []string{
		"grant " + pgx.Identifier{group}.Sanitize() + " to " + l,
		"grant connect on database " + pgx.Identifier{database}.Sanitize() + " to " + l,
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("provision %s: %w", login, err)
		}
	}
	return nil
}

// ProvisionIngestRole creates the audit_ingest login role as an administrator: it
// bypasses row-level security, which COPY into the log needs and only an
// administrator may grant; the migrations grant it INSERT on the log and its event
// ids and nothing more.
func ProvisionIngestRole(ctx context.Context, adminURL string) error {
	return provisionRole(ctx, adminURL, IngestRole, "login bypassrls")
}

// provisionRole creates role with attributes unless it exists.
func provisionRole(ctx context.Context, adminURL, role, attributes string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect as administrator: %w", err)
	}
	defer conn.Close(ctx)
	// CREATE ROLE takes no parameters; the name is quoted as an identifier.
	_, err = conn.Exec(ctx, `do $$
		begin
		  create role `+pgx.Identifier{role}.Sanitize()+` `+attributes+`;
		exception when duplicate_object or unique_violation then null;
		end $$`)
	if err != nil {
		return fmt.Errorf("create role %s: %w", role, err)
	}
	return nil
}
