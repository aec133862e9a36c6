package resource

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/firmflow/firmflow/pkg/apierr"
)

const (
	f = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
	c = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c"
)

func TestParse(t *testing.T) {
	cases := []struct {
		name, pattern, value string
		want                 []string // nil: refused
	}{
		{"collection", "firms/{firm}/clients/{client}", "firms/" + f + "/clients/" + c, []string{f, c}},
		{"top level", "firms/{firm}", "firms/" + f, []string{f}},
		{"singleton", "firms/{firm}/permissions", "firms/" + f + "/permissions", []string{f}},
		{"no variables", "caller", "caller", []string{}},
		{"wildcard", "firms/{firm}/projects/{project|-}", "firms/" + f + "/projects/-", []string{f, ""}},
		{"wildcard slot takes an id", "firms/{firm}/projects/{project|-}", "firms/" + f + "/projects/" + c, []string{f, c}},
		{"wildcard elsewhere", "firms/{firm}/projects/{project}", "firms/" + f + "/projects/-", nil},
		{"empty", "firms/{firm}", "", nil},
		{"too short", "firms/{firm}/clients/{client}", "firms/" + f, nil},
		{"too long", "firms/{firm}", "firms/" + f + "/x", nil},
		{"other collection", "firms/{firm}/clients/{client}", "firms/" + f + "/contacts/" + c, nil},
		{"singleton misspelt", "firms/{firm}/permissions", "firms/" + f + "/permission", nil},
		{"empty id", "firms/{firm}/clients/{client}", "firms//clients/" + c, nil},
		{"not a uuid", "firms/{firm}", "firms/x", nil},
		{"hyphens only", "firms/{firm}", "firms/" + strings.Repeat("-", 36), nil},
		{"no hyphens", "firms/{firm}", "firms/" + strings.Repeat("0", 36), nil},
		{"upper case", "firms/{firm}", "firms/" + strings.ToUpper(f), nil},
		{"braced", "firms/{firm}", "firms/{" + f + "}", nil},
		{"urn", "firms/{firm}", "firms/urn:uuid:" + f, nil},
		{"trailing slash", "firms/{firm}", "firms/" + f + "/", nil},
		{"leading slash", "firms/{firm}", "/firms/" + f, nil},
		{"injection", "firms/{firm}/clients/{client}", "firms/" + f + "/clients/' OR 1=1", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ids, err := Parse("client.name", tc.value, tc.pattern)
			if tc.want == nil {
				var e *apierr.Error
				if !errors.As(err, &e) || e.Code != codes.InvalidArgument || len(e.Violations) != 1 ||
					e.Violations[0].Field != "client.name" || e.Violations[0].Rule != "resource_name" ||
					!strings.Contains(e.Message, tc.pattern) {
					t.Fatalf("Parse(%q) = %v, %v; want INVALID_ARGUMENT on client.name naming %s", tc.value, ids, err, tc.pattern)
				}
				return
			}
			if err != nil || !slices.Equal(ids, tc.want) {
				t.Fatalf("Parse(%q) = %q, %v; want %q", tc.value, ids, err, tc.want)
			}
		})
	}
}

func TestName(t *testing.T) {
	if got := Name("firms", f, "members", c); got != "firms/"+f+"/members/"+c {
		t.Errorf("Name = %q", got)
	}
}

// FuzzParse checks that Parse never panics and that what it accepts is exactly the
// name its pattern and ids spell out again.
func FuzzParse(f *testing.F) {
	f.Add("firms/"+c+"/clients/"+c, "firms/{firm}/clients/{client}")
	f.Add("firms/"+c+"/projects/-", "firms/{firm}/projects/{project|-}")
	f.Add("firms/"+c+"/permissions", "firms/{firm}/permissions")
	f.Add("firms//x/", "{a}/{b|-}/{")
	f.Fuzz(func(t *testing.T, name, pattern string) {
		ids, err := Parse("name", name, pattern)
		if err != nil {
			if !apierr.HasCode(err, codes.InvalidArgument) {
				t.Fatalf("Parse(%q, %q) error %v is not INVALID_ARGUMENT", name, pattern, err)
			}
			return
		}
		segs := strings.Split(pattern, "/")
		var rebuilt []string
		for _, seg := range segs {
			if !strings.HasPrefix(seg, "{") {
				rebuilt = append(rebuilt, seg)
				continue
			}
			id := ids[0]
			ids = ids[1:]
			switch {
			case id == "" && strings.HasSuffix(seg, "|-}"):
				id = Wildcard
			case !IsID(id):
				t.Fatalf("Parse(%q, %q) returned id %q", name, pattern, id)
			}
			rebuilt = append(rebuilt, id)
		}
		if len(ids) != 0 || Name(rebuilt...) != name {
			t.Fatalf("Parse(%q, %q) accepted a name its ids do not spell: %q, left %q", name, pattern, Name(rebuilt...), ids)
		}
	})
}
