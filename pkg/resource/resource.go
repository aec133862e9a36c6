// Package resource parses and formats AIP-122 resource names such as
// "firms/{firm}/members/{member}". It is the only parser of names in firmflow, so that
// every service answers a malformed name the same way: INVALID_ARGUMENT naming the
// field. Whether a well-formed name names something the caller may see is the
// service's question, and its answer is NOT_FOUND.
package resource

import (
	"strings"

	"github.com/firmflow/firmflow/pkg/apierr"
)

// Wildcard is the id AIP-159 uses for "every" in a parent ("firms/f/projects/-").
const Wildcard = "-"

// Parse matches name against pattern and returns the ids in the pattern's variables,
// in order. A pattern is literal segments and variables: "firms/{firm}/clients/{client}",
// or "firms/{firm}/permissions" for a singleton. Every id is a UUID (see IsID); a
// variable written "{project|-}" also takes the Wildcard, which it returns as "". field
// names the request field for the error.
func Parse(field, name, pattern string) ([]string, error) {
	want := strings.Split(pattern, "/")
	got := strings.Split(name, "/")
	if len(got) != len(want) {
		return nil, invalid(field, pattern)
	}
	var ids []string
	for i, seg := range want {
		variable, ok := strings.CutPrefix(seg, "{")
		switch {
		case !ok:
			if got[i] != seg {
				return nil, invalid(field, pattern)
			}
		case got[i] == Wildcard && strings.HasSuffix(variable, "|-}"):
			ids = append(ids, "")
		case IsID(got[i]):
			ids = append(ids, got[i])
		default:
			return nil, invalid(field, pattern)
		}
	}
	return ids, nil
}

// IsID reports whether s is an id as firmflow hands them out: a UUID in its canonical
// form, 36 lowercase hex digits and hyphens (8-4-4-4-12). Names are case-sensitive
// (AIP-122), so "ABC..." is not the name of "abc...".
func IsID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return false
			}
		}
	}
	return true
}

// Name joins collections and ids: Name("firms", f, "members", m).
func Name(parts ...string) string { return strings.Join(parts, "/") }

func invalid(field, pattern string) error {
	return apierr.InvalidArgument(field, "resource_name", "must look like "+pattern+", each id a UUID")
}
