package pgtest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/firmflow/firmflow/pkg/pg/pgcluster"
)

// Cluster is a PostgreSQL server of a test's own, on its own port and data directory,
// for tests that stop and start the database under a running service. It needs the
// server binaries (initdb, pg_ctl) on the machine; the test is skipped without them.
type Cluster struct {
	c *pgcluster.Cluster
}

// NewCluster initialises and starts a cluster, stopped and removed when the test ends.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	r, err := pgcluster.NewRunner()
	if err != nil {
		t.Skip(err)
	}
	// t.TempDir's parents are private to root; the server's user must reach its directory.
	dir, err := os.MkdirTemp("", "pgcluster-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	c, err := pgcluster.Init(context.Background(), r, filepath.Join(dir, "data"), pgcluster.InitOptions{})
	if err != nil {
		t.Fatalf("initdb: %v", err)
	}
	c.Settings = map[string]string{"fsync": "off"}
	cl := &Cluster{c: c}
	cl.Start(t)
	t.Cleanup(func() { _ = c.Kill() })
	return cl
}

// URL is the administrator's connection to the cluster's postgres database.
func (c *Cluster) URL() string { return c.c.URL("postgres") }

// Start starts the server and waits until it accepts connections.
func (c *Cluster) Start(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.c.Start(ctx); err != nil {
		t.Fatalf("start PostgreSQL: %v", err)
	}
}

// Stop shuts the server down (fast: sessions are ended, as in a restart) and waits.
func (c *Cluster) Stop(t testing.TB) {
	t.Helper()
	if err := c.c.Stop(context.Background()); err != nil {
		t.Fatalf("stop PostgreSQL: %v", err)
	}
}
