package pgtest

import (
	"context"
	"testing"
	"time"

	"github.com/firmflow/firmflow/pkg/pg"
)

// BenchmarkNewDatabase compares a test database migrated on its own (what every
// test paid before templates) with one copied from a migrated template, both
// created and dropped, for a schema of 30 tables.
func BenchmarkNewDatabase(b *testing.B) {
	const service = "pgtestbench"
	migrations := NotesMigrations(30)
	admin, roles := AdminURL(), pg.RolesFor(service)
	ctx := context.Background()
	perDB := map[string]time.Duration{}
	measure := func(name string, create func(b *testing.B, database string)) {
		b.Run(name, func(b *testing.B) {
			start := time.Now()
			for range b.N {
				database := uniqueName("test_" + service)
				create(b, database)
				if err := pg.DropDatabase(ctx, admin, database); err != nil {
					b.Fatal(err)
				}
			}
			perDB[name] = time.Since(start) / time.Duration(b.N)
			if m := perDB["migrated"]; name == "copied" && m > 0 {
				b.ReportMetric(float64(m)/float64(perDB[name]), "migrated/copied")
			}
		})
	}
	measure("migrated", func(b *testing.B, database string) {
		if err := migrateTemplate(ctx, admin, database, service, migrations); err != nil {
			b.Fatal(err)
		}
	})
	tmpl, err := acquireTemplate(ctx, admin, service, migrations)
	if err != nil {
		b.Fatal(err)
	}
	defer tmpl.release()
	measure("copied", func(b *testing.B, database string) {
		if err := pg.ProvisionCopy(ctx, admin, database, tmpl.name, roles); err != nil {
			b.Fatal(err)
		}
	})
}
