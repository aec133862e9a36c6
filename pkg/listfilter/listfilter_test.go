package listfilter

import (
	"errors"

	"google.golang.org/grpc/codes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/firmflow/firmflow/pkg/apierr"
)

var schema = Schema{
	"update_time": {Type: Timestamp},
	"kind":        {Type: Enum, Values: []string{"CLIENT_KIND_PERSON", "CLIENT_KIND_BUSINESS"}},
	"tag":         {Type: String},
	"assignee":    {Type: String, Pattern: regexp.MustCompile(`^firms/[0-9a-f-]{36}/members/[0-9a-f-]{36}$`)},
}

func TestParseAcceptsTheSubset(t *testing.T) {
	f, err := Parse(`update_time > "2026-12-01T00:00:00Z" AND kind = CLIENT_KIND_PERSON AND tag="a \"b\"" AND update_time<=2026-12-02T01:00:00.5+01:00`, schema)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Value("kind"); got != "CLIENT_KIND_PERSON" {
		t.Errorf("kind = %q", got)
	}
	if got := f.Value("tag"); got != `a "b"` {
		t.Errorf("tag = %q", got)
	}
	bounds := f.Bounds("update_time")
	want := []Bound{
		{Greater, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)},
		{LessEqual, time.Date(2026, 12, 2, 0, 0, 0, 5e8, time.UTC)},
	}
	if len(bounds) != 2 || bounds[0] != want[0] || bounds[1] != want[1] {
		t.Errorf("bounds = %v, want %v", bounds, want)
	}
	if !f.Has("update_time") || f.Has("assignee") {
		t.Error("Has is wrong")
	}
	again, err := Parse(f.String(), schema)
	if err != nil || again.String() != f.String() {
		t.Errorf("canonical form %q does not parse back: %v, %q", f.String(), err, again.String())
	}
	if empty, err := Parse("  ", schema); err != nil || !empty.Empty() || empty.String() != "" {
		t.Errorf("blank filter: %v %v", empty, err)
	}
}

func TestParseRefusesWithTheRule(t *testing.T) {
	for filter, rule := range map[string]string{
		`updated_since > "2026-12-01T00:00:00Z"`:  "filter.field",
		`update_time = "2026-12-01T00:00:00Z"`:    "filter.operator",
		`update_time != "2026-12-01T00:00:00Z"`:   "filter.operator",
		`tag : "x"`:                               "filter.operator",
		`tag > "x"`:                               "filter.operator",
		`update_time > "yesterday"`:               "filter.timestamp",
		`update_time > "2026-12-01"`:              "filter.timestamp",
		`kind = CLIENT_KIND_ALIEN`:                "filter.value",
		`assignee = "members/x"`:                  "filter.value",
		`tag = ""`:                                "filter.value",
		`tag = "a" OR tag = "b"`:                  "filter.syntax",
		`tag = "a" AND`:                           "filter.syntax",
		`NOT tag = "a"`:                           "filter.syntax",
		`(tag = "a")`:                             "filter.syntax",
		`tag = "a`:                                "filter.syntax",
		`tag = "a\n"`:                             "filter.syntax",
		"tag = \"a\x01\"":                         "filter.syntax",
		`tag =`:                                   "filter.syntax",
		`tag "a"`:                                 "filter.syntax",
		`tag = "a" and kind = CLIENT_KIND_PERSON`: "filter.syntax",
		`tag = "a" AND tag = "b"`:                 "filter.repeated",
		strings.Repeat(`update_time > "2026-12-01T00:00:00Z" AND `, MaxTerms) + `tag = "a"`: "filter.terms",
	} {
		_, err := Parse(filter, schema)
		var e *apierr.Error
		if !asAPIErr(err, &e) {
			t.Errorf("%q: error %v, want INVALID_ARGUMENT", filter, err)
			continue
		}
		if len(e.Violations) != 1 || e.Violations[0].Field != "filter" || e.Violations[0].Rule != rule {
			t.Errorf("%q: violations %+v, want filter %s", filter, e.Violations, rule)
		}
		if strings.Contains(e.Error(), "members/x") {
			t.Errorf("%q: the error repeats the value: %v", filter, e)
		}
	}
}

func TestMerge(t *testing.T) {
	f, err := Parse(`tag = "a"`, schema)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := f.Merge("tag", ""); v != "a" || err != nil {
		t.Errorf("filter only: %q %v", v, err)
	}
	if v, err := f.Merge("tag", "a"); v != "a" || err != nil {
		t.Errorf("both the same: %q %v", v, err)
	}
	if v, err := f.Merge("kind", "CLIENT_KIND_PERSON"); v != "CLIENT_KIND_PERSON" || err != nil {
		t.Errorf("parameter only: %q %v", v, err)
	}
	var e *apierr.Error
	if _, err := f.Merge("tag", "b"); !asAPIErr(err, &e) || e.Violations[0].Rule != "filter.conflict" {
		t.Errorf("conflict: %v", err)
	}
}

// FuzzParse: any input either parses to a filter whose canonical form parses back
// to itself, or is refused as INVALID_ARGUMENT on filter; nothing panics.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`update_time > "2026-12-01T00:00:00Z"`, `kind = CLIENT_KIND_PERSON AND tag = "x"`, `tag="\\\""`, `a`, `"`, `update_time>=1`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Parse(s, schema)
		if err != nil {
			var e *apierr.Error
			if !asAPIErr(err, &e) || len(e.Violations) != 1 || e.Violations[0].Field != "filter" {
				t.Fatalf("%q: %v", s, err)
			}
			return
		}
		again, err := Parse(got.String(), schema)
		if err != nil || again.String() != got.String() {
			t.Fatalf("%q: canonical %q does not parse back: %v", s, got.String(), err)
		}
	})
}

func asAPIErr(err error, target **apierr.Error) bool {
	return errors.As(err, target) && (*target).Code == codes.InvalidArgument
}
