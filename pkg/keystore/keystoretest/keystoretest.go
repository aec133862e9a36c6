// Package keystoretest gives a test a key store of its own: a fresh, migrated
// database and a fresh key-encryption key.
package keystoretest

import (
	"testing"

	"github.com/firmflow/firmflow/pkg/fieldcrypt"
	"github.com/firmflow/firmflow/pkg/keystore"
	"github.com/firmflow/firmflow/pkg/keystore/migrations"
	"github.com/firmflow/firmflow/pkg/pg/pgtest"
)

// New returns service's key store on a new database under a new KEK.
func New(t testing.TB, service string) *keystore.Postgres {
	t.Helper()
	return Open(t, Database(t), KEK(t), service)
}

// Database creates a migrated key-store database for the test.
func Database(t testing.TB) *pgtest.Database {
	t.Helper()
	return pgtest.New(t, "keys", migrations.FS)
}

// KEK returns a new random key-encryption key.
func KEK(t testing.TB) *fieldcrypt.KEK {
	t.Helper()
	kek, err := fieldcrypt.ParseKEK(fieldcrypt.GenerateKEK())
	if err != nil {
		t.Fatal(err)
	}
	return kek
}

// Open returns service's key store on d under kek.
func Open(t testing.TB, d *pgtest.Database, kek *fieldcrypt.KEK, service string) *keystore.Postgres {
	t.Helper()
	return keystore.NewPostgres(d.Open(t), kek, service)
}
