package pgtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

// CheckTenancy fails the test when the database breaks the tenancy rules: every table
// with a firm_id column (and the firms table) has row-level security enabled and
// forced, the runtime role owns no object and cannot bypass row-level security.
// Every service's store tests call it on a freshly migrated database.
func CheckTenancy(t testing.TB, d *Database) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, d.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)

	rows, err := conn.Query(ctx, `
		select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
		where n.nspname = 'public' and c.relkind in ('r', 'p')
		  and (c.relname = 'firms' or exists (select 1 from pg_attribute a
		       where a.attrelid = c.oid and a.attname = 'firm_id' and not a.attisdropped))
		  and not (c.relrowsecurity and c.relforcerowsecurity)`)
	if err != nil {
		t.Fatal(err)
	}
	unprotected, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	for _, table := range unprotected {
		t.Errorf("table %s holds firm data without forced row-level security", table)
	}

	rows, err = conn.Query(ctx, `
		select c.relname from pg_class c join pg_roles r on r.oid = c.relowner where r.rolname = $1
		union all
		select p.proname from pg_proc p join pg_roles r on r.oid = p.proowner where r.rolname = $1`, d.Roles.Runtime)
	if err != nil {
		t.Fatal(err)
	}
	owned, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	for _, object := range owned {
		t.Errorf("runtime role %s owns %s; ownership would let it bypass row-level security", d.Roles.Runtime, object)
	}

	var bypass, super bool
	if err := conn.QueryRow(ctx, "select rolbypassrls, rolsuper from pg_roles where rolname = $1", d.Roles.Runtime).Scan(&bypass, &super); err != nil {
		t.Fatal(err)
	}
	if bypass || super {
		t.Errorf("runtime role %s can bypass row-level security", d.Roles.Runtime)
	}
}
