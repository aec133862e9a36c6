package pgtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
)

// Cluster is a PostgreSQL server of a test's own, on its own port and data directory,
// for tests that stop and start the database under a running service. It needs the
// server binaries (initdb, pg_ctl) on the machine; the test is skipped without them.
type Cluster struct {
	dir  string
	port int
	bin  string
	// asUser runs the binaries as another user: PostgreSQL refuses to run as root.
	asUser string
}

// NewCluster initialises and starts a cluster, stopped and removed when the test ends.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(bins) == 0 {
		t.Skip("no PostgreSQL server binaries (/usr/lib/postgresql/*/bin/pg_ctl)")
	}
	c := &Cluster{bin: filepath.Dir(bins[len(bins)-1])}
	// t.TempDir's parents are private to root; the server's user must reach its directory.
	dir, err := os.MkdirTemp("", "pgcluster-")
	if err != nil {
		t.Fatal(err)
	}
	c.dir = dir
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skip("running as root without a postgres user to run PostgreSQL as")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		c.asUser = "postgres"
	}
	c.port = freePort(t)
	if out, err := c.command("initdb", "-D", c.dataDir(), "-A", "trust", "-U", "postgres", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	c.Start(t)
	t.Cleanup(func() { _ = c.command("pg_ctl", "-D", c.dataDir(), "-m", "immediate", "-w", "stop").Run() })
	return c
}

// URL is the administrator's connection to the cluster's postgres database.
func (c *Cluster) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// Start starts the server and waits until it accepts connections.
func (c *Cluster) Start(t testing.TB) {
	t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", c.port, c.dir)
	if out, err := c.command("pg_ctl", "-D", c.dataDir(), "-o", opts, "-l", filepath.Join(c.dir, "log"), "-w", "start").CombinedOutput(); err != nil {
		t.Fatalf("start PostgreSQL: %v\n%s", err, out)
	}
}

// Stop shuts the server down (fast: sessions are ended, as in a restart) and waits.
func (c *Cluster) Stop(t testing.TB) {
	t.Helper()
	if out, err := c.command("pg_ctl", "-D", c.dataDir(), "-m", "fast", "-w", "stop").CombinedOutput(); err != nil {
		t.Fatalf("stop PostgreSQL: %v\n%s", err, out)
	}
}

func (c *Cluster) dataDir() string { return filepath.Join(c.dir, "data") }

func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	path := filepath.Join(c.bin, name)
	if c.asUser != "" {
		return exec.Command("runuser", append([]string{"-u", c.asUser, "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
