package csvguard

import (
	"strings"
	"testing"
)

// FuzzGuard: a guarded cell never starts like a formula, and an import gets back
// exactly the value that was exported, whatever it starts with.
func FuzzGuard(f *testing.F) {
	for _, seed := range []string{"=SUM(A1)", "'=x", "''+1", "'quoted", "plain", "", "-", "'", "\t=1"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		g := Guard(s)
		if g != "" && strings.ContainsRune(formulaStarts, rune(g[0])) {
			t.Fatalf("Guard(%q) = %q starts like a formula", s, g)
		}
		if back := Unguard(g); back != s {
			t.Fatalf("Unguard(Guard(%q)) = %q", s, back)
		}
	})
}
