// Package pgtest gives each test a fresh, migrated database of its own on the machine's
// PostgreSQL, dropped when the test ends, so tests run in parallel beside anything else.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io/fs"
	"os"
	"testing"
	"time"

	"github.com/firmflow/firmflow/pkg/pg"
)

// AdminURL is the administrator connection tests use: FIRMFLOW_TEST_DATABASE_URL, else
// the local server as postgres.
func AdminURL() string {
	if u := os.Getenv("FIRMFLOW_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// Database is a migrated test database.
type Database struct {
	Name       string
	AdminURL   string // as administrator, connected to this database
	OwnerURL   string
	RuntimeURL string
	Roles      pg.Roles
}

// New creates and migrates a database named after no one else's, for the service
// whose roles are given, and drops it when the test ends.
func New(t testing.TB, service string, migrations fs.FS) *Database {
	t.Helper()
	return NewOn(t, AdminURL(), service, migrations)
}

// NewOn is New on the server an administrator reaches at admin (a Cluster's URL, say).
func NewOn(t testing.TB, admin, service string, migrations fs.FS) *Database {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	name := uniqueName("test_" + service)
	roles := pg.RolesFor(service)
	var template string
	if migrations != nil {
		tmpl, err := acquireTemplate(ctx, admin, service, migrations)
		if err != nil {
			t.Fatalf("migrate test database: %v", err)
		}
		t.Cleanup(tmpl.release)
		template = tmpl.name
	}
	if err := pg.ProvisionCopy(ctx, admin, name, template, roles); err != nil {
		t.Fatalf("provision test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := pg.DropDatabase(ctx, admin, name); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	db := &Database{Name: name, Roles: roles}
	db.AdminURL = mustURL(t, admin, "", name)
	db.OwnerURL = mustURL(t, admin, roles.Owner, name)
	db.RuntimeURL = mustURL(t, admin, roles.Runtime, name)
	return db
}

func uniqueName(prefix string) string {
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	return prefix + "_" + hex.EncodeToString(suffix)
}

// Open returns a runtime-role pool on the database, closed when the test ends.
func (d *Database) Open(t testing.TB) *pg.DB {
	t.Helper()
	db, err := pg.Open(context.Background(), d.RuntimeURL)
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	t.Cleanup(db.Close)
	return db
}

func mustURL(t testing.TB, base, user, database string) string {
	t.Helper()
	u, err := pg.WithUserAndDatabase(base, user, database)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
