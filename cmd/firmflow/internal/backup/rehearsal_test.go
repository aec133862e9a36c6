package backup_test

import (
	"context"
	"testing"
	"time"

	"github.com/firmflow/firmflow/cmd/firmflow/internal/backup"
	"github.com/firmflow/firmflow/services/billing/stripetest"
)

func TestMain(m *testing.M) { stripetest.Main(m) }

// TestDrillChecksTheRestoredSystem is `make backup-drill` in small: the whole system
// on a private cluster, clients created over the REST API and recorded when
// acknowledged, and a drill to a random point that finds every acknowledged client
// and none later, each firm's count as recorded, the audit chains verifying against
// signed checkpoints and the clients' sealed tax ids opening with the restored keys.
func TestDrillChecksTheRestoredSystem(t *testing.T) {
	requirePgBackRest(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	rep, err := backup.Rehearse(ctx, backup.RehearsalOptions{CipherPass: passphrase, Clients: 12})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK {
		t.Fatalf("drill found problems:\n%s", describe(rep))
	}
	var names []string
	for _, c := range rep.Checks {
		names = append(names, c.Name)
	}
	if len(names) != 3 || names[0] != "acknowledged writes" || names[1] != "audit chains" || names[2] != "sealed fields" {
		t.Errorf("drill ran %q, want the acknowledged writes, the audit chains and the sealed fields", names)
	}
	t.Logf("target %s, RPO %s, RTO %s\n%s", backup.RecoveryTime(rep.Target), rep.RPO, rep.RTO, describe(rep))
}
