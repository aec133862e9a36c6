package pg

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"testing/fstest"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/tern/v2/migrate"
)

// shared holds SQL snippets every service's migrations include with
// {{ template "shared/<file>.sql" . }}.
//
//go:embed shared/*.sql
var shared embed.FS

// Migrate applies a service's numbered migrations (tern, 001_name.sql ...) as the owner.
// Migrations see {{.owner_role}} and {{.runtime_role}} and the shared snippets.
func Migrate(ctx context.Context, ownerURL string, migrations fs.FS, roles Roles) error {
	conn, err := pgx.Connect(ctx, ownerURL)
	if err != nil {
		return fmt.Errorf("connect as owner: %w", err)
	}
	defer conn.Close(ctx)

	m, err := migrate.NewMigrator(ctx, conn, "schema_version")
	if err != nil {
		return fmt.Errorf("create migrator: %w", err)
	}
	m.Data["owner_role"] = roles.Owner
	m.Data["runtime_role"] = roles.Runtime
	merged, err := withShared(migrations)
	if err != nil {
		return err
	}
	if err := m.LoadMigrations(merged); err != nil {
		return fmt.Errorf("load migrations: %w", err)
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// withShared overlays the shared snippets under shared/ on a service's migrations;
// tern treats .sql files in subdirectories as templates, not migrations.
func withShared(migrations fs.FS) (fs.FS, error) {
	merged := fstest.MapFS{}
	for _, src := range []fs.FS{migrations, shared} {
		err := fs.WalkDir(src, ".", func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			body, err := fs.ReadFile(src, path)
			if err != nil {
				return err
			}
			merged[path] = &fstest.MapFile{Data: body}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read migrations: %w", err)
		}
	}
	return merged, nil
}
