package stack

import (
	"context"
	"fmt"

	"github.com/firmflow/firmflow/pkg/keystore"
	"github.com/firmflow/firmflow/pkg/pg"
)

// startKeyStore provisions and migrates the key store (pkg/keystore): a database of
// its own, prefix + "keys" (firmflow_keys under `firmflow dev`), with its own owner
// and runtime roles, apart from every service's data. It returns the runtime URL
// identity and workflow open their firms' data keys with.
func startKeyStore(ctx context.Context, opts Options, s *Stack) (string, error) {
	name := opts.DatabasePrefix + "keys"
	if err := pg.Provision(ctx, opts.AdminDatabaseURL, name, keystore.Roles); err != nil {
		return "", fmt.Errorf("provision key store: %w", err)
	}
	s.Databases["keys"] = name
	owner, err := pg.WithUserAndDatabase(opts.AdminDatabaseURL, keystore.Roles.Owner, name)
	if err != nil {
		return "", err
	}
	if err := keystore.Migrate(ctx, owner); err != nil {
		return "", fmt.Errorf("migrate key store: %w", err)
	}
	return pg.WithUserAndDatabase(opts.AdminDatabaseURL, keystore.Roles.Runtime, name)
}
