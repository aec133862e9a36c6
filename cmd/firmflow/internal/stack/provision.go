package stack

import (
	"context"
	"fmt"
	"slices"

	"github.com/firmflow/firmflow/pkg/keystore"
	"github.com/firmflow/firmflow/pkg/pg"
	audit "github.com/firmflow/firmflow/services/audit/server"
)

// KeyStore is the key store's name in Databases and Provision's result.
const KeyStore = "keys"

// Databases are the services that own a database, in start order.
var Databases = []string{"identity", "workflow", "audit", "billing", "lifecycle"}

// Provision creates, as an administrator, every database and role the system needs:
// each service's database with its owner and runtime roles (only those two may
// connect; pg.Provision), audit's retention role, and the key store with its own
// roles. It is idempotent. `firmflow dev` runs it at start, and a deployment's
// database init step runs `firmflow provision`. only, when not empty, limits it to
// those services' databases (KeyStore for the key store): a deployment that spreads
// the databases over several PostgreSQL clusters provisions each cluster with its
// share. It returns service -> database name.
func Provision(ctx context.Context, adminURL, prefix string, only ...string) (map[string]string, error) {
	wanted := func(svc string) bool { return len(only) == 0 || slices.Contains(only, svc) }
	for _, svc := range only {
		if svc != KeyStore && !slices.Contains(Databases, svc) {
			return nil, fmt.Errorf("provision: no database %q; choose among %v and %q", svc, Databases, KeyStore)
		}
	}
	names := map[string]string{}
	for _, svc := range Databases {
		if !wanted(svc) {
			continue
		}
		name := prefix + svc
		var err error
		if svc == "audit" {
			err = audit.Provision(ctx, adminURL, name)
		} else {
			err = pg.Provision(ctx, adminURL, name, pg.RolesFor(svc))
		}
		if err != nil {
			return nil, fmt.Errorf("provision %s: %w", svc, err)
		}
		names[svc] = name
	}
	if wanted(KeyStore) {
		name := prefix + KeyStore
		if err := pg.Provision(ctx, adminURL, name, keystore.Roles); err != nil {
			return nil, fmt.Errorf("provision key store: %w", err)
		}
		names[KeyStore] = name
	}
	return names, nil
}
