package pgtest_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/firmflow/firmflow/pkg/pg/pgtest"
)

func templatesOf(t *testing.T, service string) []string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "select datname from pg_database where datname like $1", "test_"+service+"_template_%")
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func TestDatabasesAreCopiesOfOneTemplateDroppedAfterTheLastTest(t *testing.T) {
	t.Parallel()
	const service = "pgtesttemplate"
	migrations := pgtest.NotesMigrations(3)
	t.Run("group", func(t *testing.T) {
		for i := range 3 {
			t.Run(fmt.Sprint(i), func(t *testing.T) {
				t.Parallel()
				d := pgtest.New(t, service, migrations)
				if n := len(templatesOf(t, service)); n != 1 {
					t.Errorf("%d templates while tests run, want 1", n)
				}
				// The copy is a database of its own, reachable by the runtime role
				// under the rules the migrations set, and nothing else's.
				db := d.Open(t)
				ctx := context.Background()
				firm := "00000000-0000-4000-8000-00000000000" + fmt.Sprint(i)
				err := db.InFirm(ctx, firm, func(tx pgx.Tx) error {
					_, err := tx.Exec(ctx, "insert into notes_0 (firm_id, id, body) values ($1, gen_random_uuid(), 'x')", firm)
					return err
				})
				if err != nil {
					t.Fatalf("insert as the runtime role: %v", err)
				}
				var rows int
				err = db.InFirm(ctx, firm, func(tx pgx.Tx) error {
					return tx.QueryRow(ctx, "select count(*) from notes_0").Scan(&rows)
				})
				if err != nil || rows != 1 {
					t.Errorf("the copy holds %d rows (%v), want only its own 1", rows, err)
				}
			})
		}
	})
	if left := templatesOf(t, service); len(left) != 0 {
		t.Errorf("templates left after the last test: %v", left)
	}
}
