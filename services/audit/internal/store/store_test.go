package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/firmflow/firmflow/pkg/pg/pgtest"
	"github.com/firmflow/firmflow/services/audit/chain"
	"github.com/firmflow/firmflow/services/audit/internal/audittest"
)

func TestSchemaKeepsFirmsApart(t *testing.T) {
	t.Parallel()
	pgtest.CheckTenancy(t, audittest.Database(t))
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// TestLogIsAppendOnly tries every way to change or remove events, checkpoints and
// chain starts: the runtime role lacks the privilege, and even the owner, which
// has every privilege, is stopped by the triggers. Only retention's function drops
// events, and the runtime role may not call it.
func TestLogIsAppendOnly(t *testing.T) {
	t.Parallel()
	f := audittest.New(t)
	ctx := context.Background()
	firm := uuid.New()
	e := chain.Event{FirmID: firm, ID: uuid.New(), Time: time.Now(), Kind: "access", Category: "general",
		Actor: "users/u1", Action: "a", Code: "OK", Subject: "firmflow.gateway.access"}
	if _, err := f.App.Append(ctx, []chain.Event{e}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.App.CheckpointAll(ctx); err != nil {
		t.Fatal(err)
	}
	partition := "audit_events_" + time.Now().UTC().Format("200601")

	runtime := connect(t, f.DB.RuntimeURL)
	owner := connect(t, f.DB.OwnerURL)
	scope := "select set_config('app.firm_id', '" + firm.String() + "', false)"
	for _, conn := range []*pgx.Conn{runtime, owner} {
		if _, err := conn.Exec(ctx, scope); err != nil {
			t.Fatal(err)
		}
	}

	for _, stmt := range []string{
		"update audit_events set actor = 'users/nobody'",
		"delete from audit_events",
		"truncate audit_events",
		"update audit_checkpoints set seq = 7",
		"delete from audit_checkpoints",
		"truncate audit_checkpoints",
		"delete from audit_chain_starts",
		"update audit_chain_heads set seq = 0",
		"select audit_drop_expired_partitions(now() + interval '100 years')",
	} {
		_, err := runtime.Exec(ctx, stmt)
		if sqlState(err) != "42501" {
			t.Errorf("runtime role: %s: err = %v, want permission denied", stmt, err)
		}
	}
	for _, stmt := range []string{
		"update audit_events set actor = 'users/nobody'",
		"delete from audit_events",
		"truncate audit_events",
		"update " + partition + " set actor = 'users/nobody'",
		"delete from " + partition,
		"truncate " + partition,
		"update audit_checkpoints set seq = 7",
		"delete from audit_checkpoints",
		"truncate audit_checkpoints",
		"truncate audit_chain_starts",
	} {
		_, err := owner.Exec(ctx, stmt)
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("owner: %s: err = %v, want refused by the append-only trigger", stmt, err)
		}
	}

	var events int
	if err := owner.QueryRow(ctx, "select count(*) from audit_events").Scan(&events); err != nil || events != 1 {
		t.Errorf("events after the attempts: %d (%v)", events, err)
	}
}

// TestRuntimeRoleSeesOnlyTheScopedFirm shows row-level security on the log: a query
// without a firm, or for another firm, finds nothing.
func TestRuntimeRoleSeesOnlyTheScopedFirm(t *testing.T) {
	t.Parallel()
	f := audittest.New(t)
	ctx := context.Background()
	a, b := uuid.New(), uuid.New()
	for _, firm := range []uuid.UUID{a, b} {
		e := chain.Event{FirmID: firm, ID: uuid.New(), Time: time.Now(), Kind: "access", Code: "OK"}
		if _, err := f.App.Append(ctx, []chain.Event{e}); err != nil {
			t.Fatal(err)
		}
	}
	runtime := connect(t, f.DB.RuntimeURL)
	count := func() int {
		var n int
		if err := runtime.QueryRow(ctx, "select count(*) from audit_events").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 0 {
		t.Errorf("unscoped: %d events visible", n)
	}
	if _, err := runtime.Exec(ctx, "select set_config('app.firm_id', $1, false)", a.String()); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Errorf("scoped to one firm: %d events visible", n)
	}
	// Appends go through audit_append only: no row written by hand, in any firm.
	for _, firm := range []uuid.UUID{a, b} {
		_, err := runtime.Exec(ctx, `insert into audit_events (firm_id, seq, event_id, record_time, time, kind, category, actor,
			action, resources, code, subject, payload, prev_hash, hash)
			values ($1, 9, gen_random_uuid(), now(), now(), 'access', 'general', '', '', '{}', 'OK', '', '', '', '')`, firm)
		if sqlState(err) != "42501" {
			t.Errorf("insert by hand into firm %s's chain: %v", firm, err)
		}
	}
}

// TestIngestRoleOnlyAppends: the role that appends with COPY bypasses row-level
// security, so it is given nothing but INSERT on the log and its event ids, and the
// head functions. It may not read, change or remove anything, nor move a head by hand.
func TestIngestRoleOnlyAppends(t *testing.T) {
	t.Parallel()
	f := audittest.New(t)
	ctx := context.Background()
	e := chain.Event{FirmID: uuid.New(), ID: uuid.New(), Time: time.Now(), Kind: "access", Code: "OK"}
	if _, err := f.App.Append(ctx, []chain.Event{e}); err != nil {
		t.Fatal(err)
	}
	ingest, err := audittest.Ingest(t, f.DB).Pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer ingest.Release()
	for _, stmt := range []string{
		"select count(*) from audit_events",
		"select count(*) from audit_chain_heads",
		"select count(*) from audit_event_ids",
		"select count(*) from audit_checkpoints",
		"update audit_events set actor = 'users/nobody'",
		"delete from audit_events",
		"truncate audit_events",
		"update audit_chain_heads set seq = 0",
		"delete from audit_event_ids",
		"insert into audit_checkpoints (firm_id, seq, hash, time, signed_note) values (gen_random_uuid(), 1, '', now(), '')",
		"select audit_drop_expired_partitions(now() + interval '100 years')",
	} {
		_, err := ingest.Exec(ctx, stmt)
		if sqlState(err) != "42501" {
			t.Errorf("ingest role: %s: err = %v, want permission denied", stmt, err)
		}
	}
}
