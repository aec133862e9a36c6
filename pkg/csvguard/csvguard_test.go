package csvguard

import "testing"

func TestGuardRoundTrips(t *testing.T) {
	for in, want := range map[string]string{
		"=SUM(A1)": "'=SUM(A1)", "+1": "'+1", "-1": "'-1", "@x": "'@x", "\tx": "'\tx", "\rx": "'\rx",
		"plain": "plain", "": "", "'quoted": "'quoted", "1=2": "1=2",
	} {
		if got := Guard(in); got != want {
			t.Errorf("Guard(%q) = %q, want %q", in, got, want)
		}
		if got := Unguard(Guard(in)); got != in {
			t.Errorf("Unguard(Guard(%q)) = %q", in, got)
		}
	}
}
