package pgtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Dump writes the database as pg_dump's custom format to a file in the test's temp
// directory, as a backup would hold it, and returns the file. The test is skipped
// where pg_dump is not installed.
func Dump(t testing.TB, d *Database) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), d.Name+".dump")
	out, err := exec.Command(tool(t, "pg_dump"), "--format=custom", "--file="+file, "--dbname="+d.AdminURL).CombinedOutput()
	if err != nil {
		t.Fatalf("pg_dump %s: %v: %s", d.Name, err, out)
	}
	return file
}

// Restore loads a Dump into a new database of its own (dropped when the test ends),
// as a restore from backup would, and returns it. Ownership and grants are not
// restored: the administrator reads it.
func Restore(t testing.TB, dump string) *Database {
	t.Helper()
	d := New(t, "restored", nil)
	out, err := exec.Command(tool(t, "pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error",
		"--dbname="+d.AdminURL, dump).CombinedOutput()
	if err != nil {
		t.Fatalf("pg_restore into %s: %v: %s", d.Name, err, out)
	}
	return d
}

func tool(t testing.TB, name string) string {
	t.Helper()
	for _, path := range []string{"/usr/lib/postgresql/15/bin/" + name, "/usr/bin/" + name} {
		if _, err := os.Stat(path); err == nil {
			return path
		}
	}
	if path, err := exec.LookPath(name); err == nil {
		return path
	}
	t.Skip(name + " not installed")
	return ""
}
