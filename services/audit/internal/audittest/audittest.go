// Package audittest gives audit's tests a migrated database of their own and the
// use cases over it, with a fresh signing key.
package audittest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/firmflow/firmflow/pkg/pg"
	"github.com/firmflow/firmflow/pkg/pg/pgtest"
	"github.com/firmflow/firmflow/services/audit/chain"
	"github.com/firmflow/firmflow/services/audit/internal/app"
	"github.com/firmflow/firmflow/services/audit/internal/store"
	"github.com/firmflow/firmflow/services/audit/migrations"
)

// RetentionRole is the role retention runs as.
const RetentionRole = "audit_retention"

// Database creates and migrates a test database; the retention and ingest roles,
// which belong to the whole cluster, are created first as the migrations need them.
func Database(t testing.TB) *pgtest.Database {
	t.Helper()
	if err := store.ProvisionRetentionRole(context.Background(), pgtest.AdminURL(), RetentionRole); err != nil {
		t.Fatal(err)
	}
	if err := store.ProvisionIngestRole(context.Background(), pgtest.AdminURL()); err != nil {
		t.Fatal(err)
	}
	return pgtest.New(t, "audit", migrations.FS)
}

// Ingest opens a pool on d as the ingest role, which appends to the log.
func Ingest(t testing.TB, d *pgtest.Database) *pg.DB {
	t.Helper()
	url, err := pg.WithUserAndDatabase(d.AdminURL, store.IngestRole, "")
	if err != nil {
		t.Fatal(err)
	}
	db, err := pg.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}

// Fixture is the use cases over a test database.
type Fixture struct {
	App      *app.App
	DB       *pgtest.Database
	Verifier note.Verifier
}

// New returns a fixture with its own database and signing key.
func New(t testing.TB) Fixture {
	t.Helper()
	d := Database(t)
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := chain.NewSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := chain.NewVerifier(pub)
	if err != nil {
		t.Fatal(err)
	}
	return Fixture{App: app.New(store.New(d.Open(t), Ingest(t, d)), signer, verifier), DB: d, Verifier: verifier}
}
