// Package pgcluster runs a PostgreSQL server of its own: an initdb'd data directory
// on a free port, started, stopped and killed by the caller. Tests that stop the
// database under a running service and the backup drill (a scratch cluster to
// restore into, a private cluster to back up) use it, so the machine's own server is
// never touched. It needs the server binaries of a PostgreSQL installation.
package pgcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// BinDir is where the server binaries are: FIRMFLOW_PG_BIN, or the newest
// /usr/lib/postgresql/*/bin (Debian's layout).
func BinDir() (string, error) {
	if dir := os.Getenv("FIRMFLOW_PG_BIN"); dir != "" {
		return dir, nil
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(found) == 0 {
		return "", errors.New("no PostgreSQL server binaries: install postgresql or set FIRMFLOW_PG_BIN")
	}
	sort.Slice(found, func(i, j int) bool { return version(found[i]) < version(found[j]) })
	return filepath.Dir(found[len(found)-1]), nil
}

func version(pgCtl string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(pgCtl))))
	return v
}

// Runner runs the server's programs, as another user when the caller is root
// (PostgreSQL refuses to run as root), with extra environment variables.
type Runner struct {
	Bin string
	// User runs every program through runuser; empty runs them as the caller.
	User string
	// Env is added to every program's environment (the server passes it on to its
	// archive and restore commands).
	Env []string
}

// NewRunner finds the binaries and, for root, the postgres user.
func NewRunner() (Runner, error) {
	bin, err := BinDir()
	if err != nil {
		return Runner{}, err
	}
	r := Runner{Bin: bin}
	if os.Geteuid() == 0 {
		if _, err := user.Lookup("postgres"); err != nil {
			return Runner{}, errors.New("running as root without a postgres user to run PostgreSQL as")
		}
		r.User = "postgres"
	}
	return r, nil
}

// Command runs program (a server binary by name, or a path) as the runner's user.
func (r Runner) Command(ctx context.Context, program string, args ...string) *exec.Cmd {
	if !strings.Contains(program, "/") {
		if path := filepath.Join(r.Bin, program); fileExists(path) {
			program = path
		}
	}
	var cmd *exec.Cmd
	if r.User != "" {
		// runuser keeps the environment (bar HOME, SHELL, USER and LOGNAME).
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", r.User, "--", program}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, program, args...)
	}
	cmd.Env = append(os.Environ(), r.Env...)
	return cmd
}

// Output runs a program and returns its standard output; a failure carries its
// standard error.
func (r Runner) Output(ctx context.Context, program string, args ...string) ([]byte, error) {
	cmd := r.Command(ctx, program, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = strings.TrimSpace(string(out))
		}
		return out, fmt.Errorf("%s: %w: %s", filepath.Base(program), err, msg)
	}
	return out, nil
}

// MkdirAll makes dir (mode 0700) owned by the runner's user.
func (r Runner) MkdirAll(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return r.Chown(dir)
}

// Chown gives path, and everything under it, to the runner's user.
func (r Runner) Chown(path string) error {
	if r.User == "" {
		return nil
	}
	u, err := user.Lookup(r.User)
	if err != nil {
		return err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return filepath.Walk(path, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// Cluster is one PostgreSQL server: a data directory, a port, and a Unix socket in
// the data directory's parent.
type Cluster struct {
	Runner Runner
	// Dir is the data directory; the server log is Dir + ".log".
	Dir  string
	Port int
	// Settings are passed to the server at every start (-c name=value), over what
	// postgresql.conf says.
	Settings map[string]string
}

// InitOptions shape a new cluster.
type InitOptions struct {
	// WALSegmentMB is the WAL segment size; tests use 1 to archive less.
	WALSegmentMB int
	// Conf is appended to postgresql.conf, one name = value per line.
	Conf map[string]string
}

// Init runs initdb into dir (which must not exist, its parent must) and picks a
// free port; Start starts it.
func Init(ctx context.Context, r Runner, dir string, opts InitOptions) (*Cluster, error) {
	if err := r.Chown(filepath.Dir(dir)); err != nil {
		return nil, err
	}
	args := []string{"-D", dir, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"}
	if opts.WALSegmentMB > 0 {
		args = append(args, "--wal-segsize="+strconv.Itoa(opts.WALSegmentMB))
	}
	if _, err := r.Output(ctx, "initdb", args...); err != nil {
		return nil, err
	}
	if len(opts.Conf) > 0 {
		if err := AppendConf(dir, opts.Conf); err != nil {
			return nil, err
		}
	}
	return Open(r, dir)
}

// Open is a cluster whose data directory exists (made by initdb or by a restore),
// on a free port.
func Open(r Runner, dir string) (*Cluster, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	return &Cluster{Runner: r, Dir: dir, Port: port}, nil
}

// AppendConf appends settings to dir's postgresql.conf.
func AppendConf(dir string, settings map[string]string) error {
	names := make([]string, 0, len(settings))
	for name := range settings {
		names = append(names, name)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("\n")
	for _, name := range names {
		fmt.Fprintf(&b, "%s = '%s'\n", name, strings.ReplaceAll(settings[name], "'", "''"))
	}
	f, err := os.OpenFile(filepath.Join(dir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(b.String())
	return errors.Join(err, f.Close())
}

// SocketDir is where the server puts its Unix socket.
func (c *Cluster) SocketDir() string { return filepath.Dir(c.Dir) }

// LogFile is the server's log.
func (c *Cluster) LogFile() string { return c.Dir + ".log" }

// URL connects as the superuser to database.
func (c *Cluster) URL(database string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.Port, database)
}

// Start starts the server and waits until it accepts connections, or fails with the
// end of its log (a restore that cannot reach its target ends here).
func (c *Cluster) Start(ctx context.Context) error {
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1", c.Port, c.SocketDir())
	names := make([]string, 0, len(c.Settings))
	for name := range c.Settings {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		opts += fmt.Sprintf(" -c %s=%s", name, c.Settings[name])
	}
	// -w would wait for recovery to finish; a restore may take longer than pg_ctl's
	// timeout, so Start waits for connections itself.
	if _, err := c.Runner.Output(ctx, "pg_ctl", "-D", c.Dir, "-o", opts, "-l", c.LogFile(), "-W", "start"); err != nil {
		return err
	}
	// The server writes its pid file a moment after pg_ctl returns; gone for two
	// seconds, it has stopped.
	for down := 0; ; {
		conn, err := pgx.Connect(ctx, c.URL("postgres"))
		if err == nil {
			return conn.Close(ctx)
		}
		if down = map[bool]int{true: 0, false: down + 1}[c.running()]; down > 20 {
			return fmt.Errorf("PostgreSQL stopped: %s", c.LogTail(8))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("PostgreSQL did not accept connections: %w: %s", ctx.Err(), c.LogTail(8))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop shuts the server down (fast: sessions are ended) and waits; a server that is
// not running is no error.
func (c *Cluster) Stop(ctx context.Context) error {
	if !c.running() {
		return nil
	}
	_, err := c.Runner.Output(ctx, "pg_ctl", "-D", c.Dir, "-m", "fast", "-w", "stop")
	return err
}

// Kill ends the server with SIGKILL, as a crash would: nothing is flushed, no
// shutdown checkpoint is written. The backends exit when they see the postmaster gone.
func (c *Cluster) Kill() error {
	pid, err := c.postmasterPID()
	if err != nil {
		return err
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill postmaster %d: %w", pid, err)
	}
	for range 100 {
		if syscall.Kill(pid, 0) != nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("postmaster %d still running after SIGKILL", pid)
}

// LogTail is the last lines of the server log.
func (c *Cluster) LogTail(lines int) string {
	data, _ := os.ReadFile(c.LogFile())
	all := strings.Split(strings.TrimSpace(string(data)), "\n")
	return strings.Join(all[max(0, len(all)-lines):], "\n")
}

func (c *Cluster) running() bool {
	pid, err := c.postmasterPID()
	return err == nil && syscall.Kill(pid, 0) == nil
}

func (c *Cluster) postmasterPID() (int, error) {
	data, err := os.ReadFile(filepath.Join(c.Dir, "postmaster.pid"))
	if err != nil {
		return 0, fmt.Errorf("PostgreSQL is not running in %s", c.Dir)
	}
	first, _, _ := strings.Cut(string(data), "\n")
	return strconv.Atoi(strings.TrimSpace(first))
}

// FreePort is a TCP port nothing listens on at the moment of asking.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
