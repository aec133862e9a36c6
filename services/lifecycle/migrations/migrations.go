// Package migrations holds lifecycle's schema as numbered tern migrations.
package migrations

import "embed"

// FS is applied by pg.Migrate as the lifecycle owner role.
//
//go:embed *.sql
var FS embed.FS
