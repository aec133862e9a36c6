package pg_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/firmflow/firmflow/pkg/pg"
	"github.com/firmflow/firmflow/pkg/pg/pgtest"
)

var notesMigrations = fstest.MapFS{
	"001_notes.sql": {Data: []byte(`
{{ template "shared/tenancy.sql" . }}
create table notes (id bigint generated always as identity primary key, firm_id uuid not null, body text not null);
{{ template "shared/firm_table.sql" dict "table" "notes" "runtime_role" .runtime_role "privileges" "select, insert" }}
`)},
}

const (
	firmA = "0b8f5a4e-3d1c-4d7e-9a51-6f2c8b0e1a01"
	firmB = "0b8f5a4e-3d1c-4d7e-9a51-6f2c8b0e1a02"
)

func TestFirmScopedTransactionsSeeOnlyTheirFirm(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.New(t, "pgtest", notesMigrations).Open(t)

	insert := func(firm, body string) {
		t.Helper()
		err := db.InFirm(ctx, firm, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "insert into notes (firm_id, body) values ($1, $2)", firm, body)
			return err
		})
		if err != nil {
			t.Fatalf("insert for %s: %v", firm, err)
		}
	}
	insert(firmA, "a1")
	insert(firmA, "a2")
	insert(firmB, "b1")

	count := func(run func(context.Context, func(pgx.Tx) error) error) int {
		t.Helper()
		var n int
		if err := run(ctx, func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, "select count(*) from notes").Scan(&n)
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(func(ctx context.Context, fn func(pgx.Tx) error) error { return db.InFirm(ctx, firmA, fn) }); n != 2 {
		t.Errorf("firm A sees %d notes, want 2", n)
	}
	if n := count(func(ctx context.Context, fn func(pgx.Tx) error) error { return db.InFirm(ctx, firmB, fn) }); n != 1 {
		t.Errorf("firm B sees %d notes, want 1", n)
	}
	if n := count(db.InTx); n != 0 {
		t.Errorf("an unscoped transaction sees %d notes, want 0", n)
	}

	err := db.InFirm(ctx, firmA, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "insert into notes (firm_id, body) values ($1, 'smuggled')", firmB)
		return err
	})
	if err == nil {
		t.Fatal("firm A wrote a row for firm B")
	}
	if n := count(func(ctx context.Context, fn func(pgx.Tx) error) error { return db.InFirm(ctx, firmB, fn) }); n != 1 {
		t.Errorf("firm B sees %d notes after the refused write, want 1", n)
	}
}

// openOneConnection is a pool of one connection, as the runtime role, on a new
// database: each transaction runs in the same session as the one before.
func openOneConnection(t *testing.T) *pg.DB {
	t.Helper()
	d := pgtest.New(t, "pgtest", notesMigrations)
	db, err := pg.Open(context.Background(), d.RuntimeURL+"&pool_max_conns=1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}

func TestFirmScopeEndsWithTheTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// One connection, so the second transaction reuses the first one's session.
	db := openOneConnection(t)
	if err := db.InFirm(ctx, firmA, func(tx pgx.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	var setting *string
	err := db.InTx(ctx, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, "select current_firm_id()::text").Scan(&setting)
	})
	if err != nil {
		t.Fatal(err)
	}
	if setting != nil {
		t.Errorf("firm setting leaked into the next transaction: %q", *setting)
	}
}

func TestFirmScopeComesWithTheBeginAndAnyOtherIDStaysAParameter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openOneConnection(t)

	var firm, isolation, readOnly string
	read := func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, "select current_firm_id()::text, current_setting('transaction_isolation'), current_setting('transaction_read_only')").
			Scan(&firm, &isolation, &readOnly)
	}
	if err := db.InFirm(ctx, strings.ToUpper(firmA), read); err != nil {
		t.Fatal(err)
	}
	if firm != firmA || isolation != "read committed" || readOnly != "off" {
		t.Errorf("InFirm: firm %q, %s, read only %s", firm, isolation, readOnly)
	}
	if err := db.InFirmSnapshot(ctx, firmB, read); err != nil {
		t.Fatal(err)
	}
	if firm != firmB || isolation != "repeatable read" || readOnly != "on" {
		t.Errorf("InFirmSnapshot: firm %q, %s, read only %s", firm, isolation, readOnly)
	}

	// Not a UUID: never part of a statement's text, and refused where it is read.
	hostile := firmA + "', true); drop table notes; select set_config('x"
	err := db.InFirm(ctx, hostile, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "select count(*) from notes")
		return err
	})
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "22P02" {
		t.Errorf("a firm id that is not a UUID: err = %v, want invalid_text_representation", err)
	}
	if err := db.InFirm(ctx, firmA, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "select count(*) from notes")
		return err
	}); err != nil {
		t.Errorf("notes after the hostile id: %v", err)
	}
}

func TestRuntimeRoleCannotDisableRowLevelSecurity(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.New(t, "pgtest", notesMigrations).Open(t)
	err := db.InTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "alter table notes disable row level security")
		return err
	})
	if err == nil {
		t.Fatal("runtime role disabled row-level security")
	}
}

func TestProvisionIsIdempotent(t *testing.T) {
	t.Parallel()
	d := pgtest.New(t, "pgtest", nil)
	if err := pg.Provision(context.Background(), pgtest.AdminURL(), d.Name, d.Roles); err != nil {
		t.Fatalf("second provision: %v", err)
	}
}

func TestEachRoleConnectsOnlyToItsOwnDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := pgtest.New(t, "connscope_a", nil)
	b := pgtest.New(t, "connscope_b", nil)
	connect := func(user, database string) error {
		url, err := pg.WithUserAndDatabase(pgtest.AdminURL(), user, database)
		if err != nil {
			t.Fatal(err)
		}
		conn, err := pgx.Connect(ctx, url)
		if err == nil {
			conn.Close(ctx)
		}
		return err
	}
	for _, tc := range []struct{ own, other *pgtest.Database }{{a, b}, {b, a}} {
		for _, role := range []string{tc.own.Roles.Runtime, tc.own.Roles.Owner} {
			if err := connect(role, tc.own.Name); err != nil {
				t.Errorf("%s cannot connect to its own database: %v", role, err)
			}
			err := connect(role, tc.other.Name)
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
				t.Errorf("%s connecting to %s: %v, want permission denied (42501)", role, tc.other.Name, err)
			}
		}
	}
}

// BenchmarkInFirm measures a firm-scoped transaction reading one row, in the same
// run: scoped by a statement of its own after BEGIN (a round trip more), and by
// InFirm, which scopes it with the BEGIN.
func BenchmarkInFirm(b *testing.B) {
	ctx := context.Background()
	db := pgtest.New(b, "pgtest", notesMigrations).Open(b)
	read := func(tx pgx.Tx) error {
		var n int
		return tx.QueryRow(ctx, "select count(*) from notes").Scan(&n)
	}
	var separate time.Duration
	b.Run("scope_statement_of_its_own", func(b *testing.B) {
		start := time.Now()
		for range b.N {
			err := pgx.BeginTxFunc(ctx, db.Pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, "select set_config($1, $2, true)", pg.FirmSetting, firmA); err != nil {
					return err
				}
				return read(tx)
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		separate = time.Since(start) / time.Duration(b.N)
	})
	b.Run("scoped_with_begin", func(b *testing.B) {
		start := time.Now()
		for range b.N {
			if err := db.InFirm(ctx, firmA, read); err != nil {
				b.Fatal(err)
			}
		}
		if per := time.Since(start) / time.Duration(b.N); separate > 0 {
			b.ReportMetric(float64(separate)/float64(per), "separate/with_begin")
		}
	})
}
