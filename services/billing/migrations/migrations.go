// Package migrations holds billing's schema as numbered tern migrations.
package migrations

import "embed"

// FS is applied by pg.Migrate as the billing owner role.
//
//go:embed *.sql
var FS embed.FS
