package loadbench

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// What a run cost the machine, read from /proc: its busy CPU time in all (busyCPU),
// and the CPU time of each group of processes (processCPU).

// The groups processCPU counts: this process (the whole stack, the embedded NATS
// server and the load generator run in it), PostgreSQL's backends by the role they
// connect as (which tells the services' databases apart), PostgreSQL's own background
// processes, and everything else on the machine.
const (
	thisProcess        = "this process"
	postgresBackground = "postgres background"
	otherProcesses     = "other"
)

// busyCPU is the CPU time the machine has spent busy since it booted, from the first
// line of /proc/stat (user, nice, system, irq, softirq; not idle, iowait or steal),
// or 0 where there is no such file.
func busyCPU() time.Duration {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	fields := strings.Fields(line)
	if len(fields) < 8 || fields[0] != "cpu" {
		return 0
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7} { // user nice system irq softirq
		n, err := strconv.ParseInt(fields[i], 10, 64)
		if err != nil {
			return 0
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks
}

// clockTicks is USER_HZ, the unit of /proc/stat: 100 on every Linux architecture Go
// supports.
const clockTicks = 100

// processCPU is the CPU time each group of processes has used so far, from
// /proc/<pid>/stat (user and system time), or nil where there is no /proc. A
// process that ends during a run takes its time with it; PostgreSQL's pools keep
// their backends, so that loses little.
func processCPU() map[string]time.Duration {
	dirs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil || len(dirs) == 0 {
		return nil
	}
	self := strconv.Itoa(os.Getpid())
	out := map[string]time.Duration{}
	for _, dir := range dirs {
		used, ok := cpuOfProcess(dir)
		if !ok {
			continue
		}
		group := otherProcesses
		if filepath.Base(dir) == self {
			group = thisProcess
		} else if cmdline, err := os.ReadFile(dir + "/cmdline"); err == nil {
			group = groupOf(strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
		out[group] += used
	}
	return out
}

// cpuOfProcess reads utime and stime, fields 14 and 15 of /proc/<pid>/stat, counted
// after the command name, which may itself hold spaces and parentheses.
func cpuOfProcess(dir string) (time.Duration, bool) {
	raw, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return 0, false
	}
	stat := string(raw)
	end := strings.LastIndexByte(stat, ')')
	if end < 0 || end+2 > len(stat) {
		return 0, false
	}
	fields := strings.Fields(stat[end+2:])
	if len(fields) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, true
}

// groupOf names a PostgreSQL process by what its title says: "postgres: [cluster:]
// role database host(port) state" for a backend, "postgres: [cluster:] walwriter"
// and the like for the server's own processes.
func groupOf(cmdline string) string {
	title, ok := strings.CutPrefix(cmdline, "postgres: ")
	if !ok {
		return otherProcesses
	}
	fields := strings.Fields(title)
	if len(fields) > 0 && strings.HasSuffix(fields[0], ":") { // Debian's cluster name, e.g. 15/main:
		fields = fields[1:]
	}
	if len(fields) >= 3 && (strings.Contains(fields[2], "(") || fields[2] == "[local]") {
		return "postgres " + fields[0]
	}
	return postgresBackground
}

// cpuSince is what each group used between two readings of processCPU.
func cpuSince(before, after map[string]time.Duration) map[string]time.Duration {
	if before == nil || after == nil {
		return nil
	}
	used := map[string]time.Duration{}
	for group, t := range after {
		if d := t - before[group]; d > 0 {
			used[group] = d
		}
	}
	return used
}

func TestGroupOfNamesPostgresBackendsByRole(t *testing.T) {
	for cmdline, want := range map[string]string{
		"postgres: 15/main: workflow_app test_e2e_1_workflow 127.0.0.1(40312) idle": "postgres workflow_app",
		"postgres: audit_ingest firmflow_audit [local] COPY":                        "postgres audit_ingest",
		"postgres: 15/main: walwriter ":                                             postgresBackground,
		"postgres: 15/main: background writer ":                                     postgresBackground,
		"/usr/sbin/nats-server -a 127.0.0.1 -p 4222":                                otherProcesses,
	} {
		if got := groupOf(cmdline); got != want {
			t.Errorf("groupOf(%q) = %q, want %q", cmdline, got, want)
		}
	}
}

func TestProcessCPUCountsThisProcess(t *testing.T) {
	before := processCPU()
	if before == nil {
		t.Skip("no /proc here")
	}
	x := 0
	for i := range 300_000_000 {
		x ^= i
	}
	used := cpuSince(before, processCPU())
	if used[thisProcess] <= 0 {
		t.Errorf("a busy loop (%d) used no CPU of this process: %v", x, used)
	}
}
