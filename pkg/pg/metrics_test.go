package pg_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/firmflow/firmflow/pkg/pg/pgtest"
	"github.com/firmflow/firmflow/pkg/telemetry"
	"github.com/firmflow/firmflow/pkg/telemetry/telemetrytest"
)

var tel *telemetry.Telemetry

func TestMain(m *testing.M) {
	tel = telemetrytest.Setup("pgtest")
	os.Exit(m.Run())
}

func TestPoolStatisticsAreScrapedPerServiceAndDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	database := pgtest.New(t, "pgtest", notesMigrations)
	db := database.Open(t)
	if err := db.ObservePool("notes"); err != nil {
		t.Fatal(err)
	}
	labels := []string{"service", "notes", "database", database.Name}
	scrape := func() telemetrytest.Metrics { return telemetrytest.Scrape(t, tel) }

	before := scrape()
	acquires, ok := before.Value("firmflow_db_pool_acquires_total", labels...)
	if !ok {
		t.Fatal("no firmflow_db_pool_acquires_total for the pool")
	}
	if maxConns, _ := before.Value("firmflow_db_pool_max_connections", labels...); maxConns < 1 {
		t.Errorf("max connections %v, want at least 1", maxConns)
	}

	// Hold every connection, so that one more acquire finds none idle and waits.
	maxConns := int(db.Pool.Config().MaxConns)
	held := make([]func(), 0, maxConns)
	for range maxConns {
		conn, err := db.Pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, conn.Release)
	}
	during := scrape()
	if v, _ := during.Value("firmflow_db_pool_acquired_connections", labels...); int(v) != maxConns {
		t.Errorf("acquired connections %v while all %d are held", v, maxConns)
	}
	waited := make(chan error, 1)
	go func() {
		waited <- db.InTx(ctx, func(tx pgx.Tx) error { _, err := tx.Exec(ctx, "select 1"); return err })
	}()
	time.Sleep(20 * time.Millisecond) // let it queue for a connection
	for _, release := range held {
		release()
	}
	if err := <-waited; err != nil {
		t.Fatal(err)
	}

	after := scrape()
	if v, _ := after.Value("firmflow_db_pool_acquires_total", labels...); v < acquires+float64(maxConns)+1 {
		t.Errorf("acquires went from %v to %v, want at least %d more", acquires, v, maxConns+1)
	}
	if v, _ := after.Value("firmflow_db_pool_empty_acquires_total", labels...); v < 1 {
		t.Errorf("empty acquires %v after an acquire had to wait, want at least 1", v)
	}
	if v, _ := after.Value("firmflow_db_pool_acquire_duration_seconds_total", labels...); v <= 0 {
		t.Errorf("acquire duration %v, want more than 0", v)
	}
	if v, _ := after.Value("firmflow_db_pool_acquired_connections", labels...); v != 0 {
		t.Errorf("acquired connections %v once everything was released, want 0", v)
	}
	if v, _ := after.Value("firmflow_db_pool_idle_connections", labels...); int(v) != maxConns {
		t.Errorf("idle connections %v, want %d", v, maxConns)
	}
	if v, _ := after.Value("firmflow_db_pool_total_connections", labels...); int(v) != maxConns {
		t.Errorf("total connections %v, want %d", v, maxConns)
	}

	db.Close()
	if _, ok := scrape().Value("firmflow_db_pool_acquires_total", labels...); ok {
		t.Error("a closed pool is still reported")
	}
}
