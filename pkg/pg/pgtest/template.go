package pgtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"testing/fstest"
	"time"

	"github.com/firmflow/firmflow/pkg/pg"
)

// A template is a database migrated once for the tests of one process that use the
// same service and migrations; each test's database is copied from it, which takes
// a third of the time of migrating one. It is dropped when the last test using it
// ends, so a run leaves nothing behind; a later test migrates a new one.
type template struct {
	key, admin, name string
	ready            chan struct{} // closed once migrated (or failed)
	err              error
	users            int // guarded by templates.mu
}

var templates = struct {
	mu    sync.Mutex
	byKey map[string]*template
}{byKey: map[string]*template{}}

func acquireTemplate(ctx context.Context, admin, service string, migrations fs.FS) (*template, error) {
	digest, err := digestOf(migrations)
	if err != nil {
		return nil, err
	}
	key := admin + "\x00" + service + "\x00" + digest
	templates.mu.Lock()
	tmpl, found := templates.byKey[key]
	if !found {
		tmpl = &template{key: key, admin: admin, name: uniqueName("test_" + service + "_template"), ready: make(chan struct{})}
		templates.byKey[key] = tmpl
	}
	tmpl.users++
	templates.mu.Unlock()

	if !found {
		tmpl.err = migrateTemplate(ctx, admin, tmpl.name, service, migrations)
		close(tmpl.ready)
	}
	select {
	case <-tmpl.ready:
	case <-ctx.Done():
		tmpl.release()
		return nil, ctx.Err()
	}
	if tmpl.err != nil {
		tmpl.release()
		return nil, tmpl.err
	}
	return tmpl, nil
}

func migrateTemplate(ctx context.Context, admin, name, service string, migrations fs.FS) error {
	roles := pg.RolesFor(service)
	if err := pg.Provision(ctx, admin, name, roles); err != nil {
		return fmt.Errorf("provision template: %w", err)
	}
	ownerURL, err := pg.WithUserAndDatabase(admin, roles.Owner, name)
	if err != nil {
		return err
	}
	return pg.Migrate(ctx, ownerURL, migrations, roles)
}

// release drops the template when its last user is done with it.
func (tmpl *template) release() {
	templates.mu.Lock()
	tmpl.users--
	last := tmpl.users == 0
	if last && templates.byKey[tmpl.key] == tmpl {
		delete(templates.byKey, tmpl.key)
	}
	templates.mu.Unlock()
	if !last {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = pg.DropDatabase(ctx, tmpl.admin, tmpl.name)
}

// digestOf names a set of migrations by their paths and contents, so tests that
// migrate a service with other files get a template of their own.
func digestOf(migrations fs.FS) (string, error) {
	h := sha256.New()
	err := fs.WalkDir(migrations, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(migrations, path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", path, len(body))
		h.Write(body)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("read migrations: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// NotesMigrations is a schema of the given number of tables under the tenancy
// rules, with their policies and grants, for tests of this package and benchmarks.
func NotesMigrations(tables int) fstest.MapFS {
	var b strings.Builder
	b.WriteString(`{{ template "shared/tenancy.sql" . }}` + "\n")
	for i := range tables {
		fmt.Fprintf(&b, "create table notes_%d (firm_id uuid not null, id uuid primary key, body text not null, update_time timestamptz not null default now());\n", i)
		fmt.Fprintf(&b, "create index on notes_%d (firm_id, update_time);\n", i)
		fmt.Fprintf(&b, `{{ template "shared/firm_table.sql" dict "table" "notes_%d" "runtime_role" .runtime_role "privileges" "select, insert" }}`+"\n", i)
	}
	return fstest.MapFS{"001_notes.sql": {Data: []byte(b.String())}}
}
