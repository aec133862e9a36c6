package stack

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/firmflow/firmflow/pkg/keystore"
	"github.com/firmflow/firmflow/pkg/pg"
	"github.com/firmflow/firmflow/pkg/pg/pgtest"
)

// TestProvisionCreatesEveryDatabaseClosedToOtherRoles is what a deployment's init
// step (`firmflow provision`) leaves behind: a database per service and the key store,
// each owned by its owner role, connectable only by its own two roles, none of them
// a superuser; run twice, it changes nothing.
func TestProvisionCreatesEveryDatabaseClosedToOtherRoles(t *testing.T) {
	ctx := context.Background()
	admin := pgtest.AdminURL()
	prefix := fmt.Sprintf("ffprov_%d_", time.Now().UnixNano())
	t.Cleanup(func() {
		for _, svc := range append([]string{KeyStore}, Databases...) {
			if err := pg.DropDatabase(context.Background(), admin, prefix+svc); err != nil {
				t.Errorf("drop %s: %v", prefix+svc, err)
			}
		}
	})
	var names map[string]string
	for range 2 {
		var err error
		if names, err = Provision(ctx, admin, prefix); err != nil {
			t.Fatal(err)
		}
	}
	roles := map[string]pg.Roles{KeyStore: keystore.Roles}
	for _, svc := range Databases {
		roles[svc] = pg.RolesFor(svc)
	}
	if len(names) != len(roles) {
		t.Fatalf("provisioned %v, want the databases of %v", names, roles)
	}

	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for svc, name := range names {
		if name != prefix+svc {
			t.Errorf("%s: database %q, want %q", svc, name, prefix+svc)
		}
		var owner string
		if err := conn.QueryRow(ctx, "select pg_get_userbyid(datdba) from pg_database where datname = $1", name).Scan(&owner); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if owner != roles[svc].Owner {
			t.Errorf("%s is owned by %s, want %s", name, owner, roles[svc].Owner)
		}
		for other, r := range roles {
			for _, role := range []string{r.Owner, r.Runtime} {
				var can bool
				if err := conn.QueryRow(ctx, "select has_database_privilege($1, $2, 'CONNECT')", role, name).Scan(&can); err != nil {
					t.Fatal(err)
				}
				if want := other == svc; can != want {
					t.Errorf("%s may connect to %s: %v, want %v", role, name, can, want)
				}
			}
		}
	}
	var superusers int
	if err := conn.QueryRow(ctx, "select count(*) from pg_roles where rolname = any($1) and rolsuper",
		func() (all []string) {
			for _, r := range roles {
				all = append(all, r.Owner, r.Runtime)
			}
			return all
		}()).Scan(&superusers); err != nil {
		t.Fatal(err)
	}
	if superusers != 0 {
		t.Errorf("%d service roles are superusers", superusers)
	}
	var retention bool
	if err := conn.QueryRow(ctx, "select exists(select 1 from pg_roles where rolname = 'audit_retention')").Scan(&retention); err != nil || !retention {
		t.Errorf("audit_retention role: exists %v, err %v", retention, err)
	}
}

func TestProvisionOnlySomeDatabases(t *testing.T) {
	ctx := context.Background()
	admin := pgtest.AdminURL()
	prefix := fmt.Sprintf("ffprov_%d_", time.Now().UnixNano())
	t.Cleanup(func() {
		for _, svc := range []string{"audit", KeyStore} {
			if err := pg.DropDatabase(context.Background(), admin, prefix+svc); err != nil {
				t.Errorf("drop %s: %v", prefix+svc, err)
			}
		}
	})
	names, err := Provision(ctx, admin, prefix, "audit", KeyStore)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 2 || names["audit"] != prefix+"audit" || names[KeyStore] != prefix+KeyStore {
		t.Errorf("provisioned %v, want audit and the key store only", names)
	}
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var others int
	if err := conn.QueryRow(ctx, "select count(*) from pg_database where datname like $1", prefix+"%").Scan(&others); err != nil {
		t.Fatal(err)
	}
	if others != 2 {
		t.Errorf("%d databases with the prefix, want 2", others)
	}
	if _, err := Provision(ctx, admin, prefix, "payroll"); err == nil || !strings.Contains(err.Error(), `"payroll"`) {
		t.Errorf("unknown database: err = %v, want one naming it", err)
	}
}
