package stack

import (
	"context"
	"fmt"

	"github.com/firmflow/firmflow/pkg/keystore"
	"github.com/firmflow/firmflow/pkg/pg"
)

// startKeyStore migrates the key store (pkg/keystore), provisioned by Provision: a
// database of its own, prefix + "keys" (firmflow_keys under `firmflow dev`), with its own owner
// and runtime roles, apart from every service's data. It returns the runtime URL
// identity and workflow open their firms' data keys with.
func startKeyStore(ctx context.Context, opts Options, s *Stack) (string, error) {
	name := s.Databases[KeyStore]
	owner, err := pg.WithUserAndDatabase(opts.AdminDatabaseURL, keystore.Roles.Owner, name)
	if err != nil {
		return "", err
	}
	if err := keystore.Migrate(ctx, owner); err != nil {
		return "", fmt.Errorf("migrate key store: %w", err)
	}
	return pg.WithUserAndDatabase(opts.AdminDatabaseURL, keystore.Roles.Runtime, name)
}
