// Package resource parses and formats AIP-122 resource names such as
// "firms/{firm}/members/{member}".
package resource

import (
	"strings"

	"github.com/firmflow/firmflow/pkg/apierr"
)

// Parse splits name into the ids following each collection, in order. field names the
// request field for the error.
func Parse(field, name string, collections ...string) ([]string, error) {
	parts := strings.Split(name, "/")
	if len(parts) != 2*len(collections) {
		return nil, invalid(field, collections)
	}
	ids := make([]string, len(collections))
	for i, c := range collections {
		if parts[2*i] != c || parts[2*i+1] == "" {
			return nil, invalid(field, collections)
		}
		ids[i] = parts[2*i+1]
	}
	return ids, nil
}

// Name joins collections and ids: Name("firms", f, "members", m).
func Name(pairs ...string) string { return strings.Join(pairs, "/") }

func invalid(field string, collections []string) error {
	pattern := make([]string, 0, 2*len(collections))
	for _, c := range collections {
		pattern = append(pattern, c, "{id}")
	}
	return apierr.InvalidArgument(field, "resource_name", "must look like "+strings.Join(pattern, "/"))
}
