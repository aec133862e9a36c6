package resource

import "testing"

func TestParse(t *testing.T) {
	ids, err := Parse("name", "firms/f1/members/m1", "firms", "members")
	if err != nil || ids[0] != "f1" || ids[1] != "m1" {
		t.Fatalf("Parse = %v, %v", ids, err)
	}
	for _, bad := range []string{"", "firms/f1", "firms/f1/apiKeys/k1", "firms//members/m1", "firms/f1/members/m1/x"} {
		if _, err := Parse("name", bad, "firms", "members"); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
	if Name("firms", "f1", "members", "m1") != "firms/f1/members/m1" {
		t.Error("Name")
	}
}
