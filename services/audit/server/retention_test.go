package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/firmflow/firmflow/pkg/pg"
	"github.com/firmflow/firmflow/pkg/pg/pgtest"
	"github.com/firmflow/firmflow/services/audit/internal/audittest"
	"github.com/firmflow/firmflow/services/audit/internal/store"
	"github.com/firmflow/firmflow/services/audit/server"
)

// TestRetentionLoginRunsRetentionAndReadsNothing: the login Provision makes for the
// retention run (RetentionLogin, what FIRMFLOW_AUDIT_RETENTION_URL names in the
// deployments) connects and runs retention, and can neither read nor change the log.
func TestRetentionLoginRunsRetentionAndReadsNothing(t *testing.T) {
	ctx := context.Background()
	d := audittest.Database(t)
	// Twice: provisioning again changes nothing.
	for range 2 {
		if err := store.ProvisionRetentionLogin(ctx, pgtest.AdminURL(), d.Name, server.RetentionLogin, server.RetentionRole); err != nil {
			t.Fatal(err)
		}
	}
	url, err := pg.WithUserAndDatabase(d.AdminURL, server.RetentionLogin, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := server.Retention(ctx, server.Config{RetentionURL: url}, time.Now()); err != nil {
		t.Fatalf("retention as %s: %v", server.RetentionLogin, err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, stmt := range []string{"select count(*) from audit_events", "delete from audit_events", "truncate audit_checkpoints"} {
		if _, err := conn.Exec(ctx, stmt); err == nil {
			t.Errorf("%s as %s succeeded", stmt, server.RetentionLogin)
		}
	}
}
