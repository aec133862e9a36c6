package stack

import (
	"io/fs"
	"regexp"
	"testing"

	auditmigrations "github.com/firmflow/firmflow/services/audit/migrations"
	billingmigrations "github.com/firmflow/firmflow/services/billing/migrations"
	identitymigrations "github.com/firmflow/firmflow/services/identity/migrations"
	lifecyclemigrations "github.com/firmflow/firmflow/services/lifecycle/migrations"
	workflowmigrations "github.com/firmflow/firmflow/services/workflow/migrations"
)

// TestMigrationsAreNumberedOnce fails on two migrations of a service with the same
// number, which branches developed side by side produce and tern refuses only when a
// database is migrated: caught here, by name, before any service starts.
func TestMigrationsAreNumberedOnce(t *testing.T) {
	number := regexp.MustCompile(`^(\d+)_.+\.sql$`)
	for service, files := range map[string]fs.FS{
		"audit": auditmigrations.FS, "billing": billingmigrations.FS, "identity": identitymigrations.FS,
		"lifecycle": lifecyclemigrations.FS, "workflow": workflowmigrations.FS,
	} {
		names, err := fs.Glob(files, "*.sql")
		if err != nil || len(names) == 0 {
			t.Fatalf("%s: no migrations (%v)", service, err)
		}
		seen := map[string]string{}
		for _, name := range names {
			m := number.FindStringSubmatch(name)
			if m == nil {
				t.Errorf("%s: %s is not named NNN_what.sql", service, name)
				continue
			}
			if other, ok := seen[m[1]]; ok {
				t.Errorf("%s: %s and %s share number %s", service, other, name, m[1])
			}
			seen[m[1]] = name
		}
	}
}
