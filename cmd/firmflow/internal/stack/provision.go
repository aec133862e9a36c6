package stack

import (
	"context"
	"fmt"

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
// database init step runs `firmflow provision`. It returns service -> database name.
func Provision(ctx context.Context, adminURL, prefix string) (map[string]string, error) {
	names := map[string]string{}
	for _, svc := range Databases {
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
	name := prefix + KeyStore
	if err := pg.Provision(ctx, adminURL, name, keystore.Roles); err != nil {
		return nil, fmt.Errorf("provision key store: %w", err)
	}
	names[KeyStore] = name
	return names, nil
}
