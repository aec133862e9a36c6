package grpcapi

import (
	"regexp"
	"slices"

	"github.com/firmflow/firmflow/pkg/listfilter"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
)

// The fields each list's filter takes (AIP-160 subset, see pkg/listfilter): every
// list syncs by update_time, and the equality fields are the list's own filter
// parameters, which a filter term must agree with when both are given.
var (
	updateTimeField = listfilter.Field{Type: listfilter.Timestamp}
	memberField     = listfilter.Field{Type: listfilter.String, Pattern: regexp.MustCompile(`^firms/[0-9a-f-]{36}/members/[0-9a-f-]{36}$`)}
	clientField     = listfilter.Field{Type: listfilter.String, Pattern: regexp.MustCompile(`^firms/[0-9a-f-]{36}/clients/[0-9a-f-]{36}$`)}

	clientListFields = listfilter.Schema{
		"update_time": updateTimeField,
		"tag":         {Type: listfilter.String, Pattern: regexp.MustCompile(`^[^;]{1,64}$`)},
		"assignee":    memberField,
		"kind":        {Type: listfilter.Enum, Values: enumNames(clientKinds)},
		"external_id": {Type: listfilter.String, Pattern: regexp.MustCompile(`^.{1,128}$`)},
	}
	// Contacts, templates and custom fields sync by update_time alone.
	changeListFields  = listfilter.Schema{"update_time": updateTimeField}
	seriesListFields  = listfilter.Schema{"update_time": updateTimeField, "client": clientField}
	projectListFields = listfilter.Schema{
		"update_time": updateTimeField,
		"client":      clientField,
		"assignee":    memberField,
		"tag":         {Type: listfilter.String, Pattern: regexp.MustCompile(`^.{1,50}$`)},
		"status":      {Type: listfilter.Enum, Values: enumNames(projectStatusToProto)},
	}
	taskListFields = listfilter.Schema{
		"update_time": updateTimeField,
		"client":      clientField,
		"assignee":    memberField,
		"status":      {Type: listfilter.Enum, Values: enumNames(taskStatusToProto)},
	}
)

// enumNames are the proto names of a domain enum's values, e.g. CLIENT_KIND_PERSON.
func enumNames[D comparable, P interface{ String() string }](m map[D]P) []string {
	names := make([]string, 0, len(m))
	for _, p := range m {
		names = append(names, p.String())
	}
	slices.Sort(names)
	return names
}

// enumValue is the proto value named name in a domain enum's mapping; the filter
// parser has already checked that it is one of enumNames(m).
func enumValue[D comparable, P interface{ String() string }](m map[D]P, name string) (P, bool) {
	for _, p := range m {
		if p.String() == name {
			return p, true
		}
	}
	var zero P
	return zero, false
}

// mergeEnum is an enum parameter merged with the filter's term for field: the
// filter's value when the parameter is unset, an error when they differ.
func mergeEnum[D comparable, P interface {
	comparable
	String() string
}](f listfilter.Filter, field string, m map[D]P, param P) (P, error) {
	var zero P
	given := ""
	if param != zero {
		given = param.String()
	}
	name, err := f.Merge(field, given)
	if err != nil || name == "" {
		return param, err
	}
	v, _ := enumValue(m, name)
	return v, nil
}

// listChanges parses a list's filter against its fields and reads show_deleted.
func listChanges(filter string, showDeleted bool, fields listfilter.Schema) (listfilter.Filter, domain.Changes, error) {
	f, err := listfilter.Parse(filter, fields)
	if err != nil {
		return f, domain.Changes{}, err
	}
	return f, domain.Changes{UpdateTime: f.Bounds("update_time"), ShowDeleted: showDeleted}, nil
}

// syncOrder is order_by, or update_time order when it is unset and the filter
// compares update_time: the order in which a client can remember the last
// update_time it saw and ask for what came after (see README, "Syncing changes").
func syncOrder(orderBy string, f listfilter.Filter) string {
	if orderBy == "" && f.Has("update_time") {
		return "update_time"
	}
	return orderBy
}

// changeFilter reads the filter, show_deleted and order_by of a list in TimeOrder,
// and the canonical form of all three, to bind its page tokens with.
func changeFilter(filter string, showDeleted bool, orderBy string, fields listfilter.Schema) (domain.ChangeFilter, listfilter.Filter, error) {
	lf, changes, err := listChanges(filter, showDeleted, fields)
	if err != nil {
		return domain.ChangeFilter{}, lf, err
	}
	return domain.ChangeFilter{Order: domain.TimeOrder(syncOrder(orderBy, lf)), Changes: changes}, lf, nil
}
