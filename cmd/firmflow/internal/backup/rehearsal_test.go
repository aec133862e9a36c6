package backup_test

import (
	"context"
	"strings"
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
	t.Parallel() // each on a private cluster, repository and work directory of its own
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

// TestDisasterDrillRebuildsTheSystem kills the private cluster, deletes its data
// directory and the JetStream store, and rebuilds from the repository and the secrets:
// every write acknowledged before the newest archived commit is back, the writes
// after it are the only loss, the outboxes publish into the new JetStream what it had
// not delivered, and the owner signs in, reads a client and verifies the audit chain.
func TestDisasterDrillRebuildsTheSystem(t *testing.T) {
	t.Parallel() // each on a private cluster, repository and work directory of its own
	requirePgBackRest(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	rep, err := backup.DisasterDrill(ctx, backup.DisasterOptions{CipherPass: passphrase, Clients: 6, Rewind: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Restored != 6 || rep.LostWrites != 3 {
		t.Errorf("%d writes restored and %d lost, want the 6 archived restored and the 3 after the last archive lost", rep.Restored, rep.LostWrites)
	}
	if rep.Pending == 0 {
		t.Error("no outbox event was published again after the restore; the rewind should have queued the last hour's")
	}
	if len(rep.Smoke) != 3 || rep.RTO <= 0 {
		t.Errorf("smoke journey %q, RTO %s", rep.Smoke, rep.RTO)
	}
	var b strings.Builder
	backup.PrintDisaster(&b, rep)
	t.Log("\n" + b.String())
}
