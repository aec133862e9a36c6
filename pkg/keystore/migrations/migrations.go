// Package migrations embeds the key store's SQL migrations.
package migrations

import "embed"

// FS holds the numbered migrations.
//
//go:embed *.sql
var FS embed.FS
