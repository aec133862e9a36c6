package domain

import (
	"math"
	"testing"

	"github.com/google/uuid"
)

func TestCustomFieldValuesMustFitTheirType(t *testing.T) {
	firm, member := uuid.NewString(), uuid.NewString()
	field := func(typ CustomFieldType, options ...string) CustomField {
		return CustomField{Key: "f", FirmID: firm, DisplayName: "F", Type: typ, Options: options}
	}
	cases := []struct {
		field CustomField
		value any
		ok    bool
	}{
		{field(FieldText), "anything\nat all", true},
		{field(FieldText), 12.0, false},
		{field(FieldText), "bell\a", false},
		{field(FieldNumber), 12.5, true},
		{field(FieldNumber), math.Inf(1), false},
		{field(FieldNumber), "12", false},
		{field(FieldDate), "2024-02-29", true},
		{field(FieldDate), "2023-02-29", false},
		{field(FieldDate), "2024-2-1", false},
		{field(FieldBoolean), false, true},
		{field(FieldBoolean), "false", false},
		{field(FieldMember), "firms/" + firm + "/members/" + member, true},
		{field(FieldMember), "firms/" + uuid.NewString() + "/members/" + member, false},
		{field(FieldMember), "firms/" + firm + "/members/../../x", false},
		{field(FieldSingleSelect, "LLC", "S-Corp"), "LLC", true},
		{field(FieldSingleSelect, "LLC", "S-Corp"), "llc", false},
		{field(FieldMultiSelect, "1040", "941"), []any{"941", "1040"}, true},
		{field(FieldMultiSelect, "1040", "941"), []any{}, true},
		{field(FieldMultiSelect, "1040", "941"), []any{"941", "941"}, false},
		{field(FieldMultiSelect, "1040", "941"), "941", false},
	}
	for _, tc := range cases {
		_, msg := tc.field.CheckValue(tc.value, firm)
		if (msg == "") != tc.ok {
			t.Errorf("%s %#v: accepted %v, want %v (%s)", tc.field.Type, tc.value, msg == "", tc.ok, msg)
		}
	}
}

func TestCustomFieldDefinitionsNeedOptionsExactlyWhenTheySelect(t *testing.T) {
	cases := []struct {
		f    CustomField
		want string
	}{
		{CustomField{Key: "year_end", DisplayName: "Year end", Type: FieldDate}, ""},
		{CustomField{Key: "entity", DisplayName: "Entity", Type: FieldSingleSelect, Options: []string{"LLC"}}, ""},
		{CustomField{Key: "entity", DisplayName: "Entity", Type: FieldSingleSelect}, "options"},
		{CustomField{Key: "fee", DisplayName: "Fee", Type: FieldNumber, Options: []string{"1"}}, "options"},
		{CustomField{Key: "forms", DisplayName: "Forms", Type: FieldMultiSelect, Options: []string{"a", "a"}}, "options"},
		{CustomField{Key: "Year End", DisplayName: "Year end", Type: FieldDate}, "key"},
		{CustomField{Key: "x", DisplayName: "", Type: FieldDate}, "display_name"},
		{CustomField{Key: "x", DisplayName: "X", Type: "colour"}, "type"},
	}
	for _, tc := range cases {
		p := tc.f.Problems()
		switch {
		case tc.want == "" && len(p) > 0:
			t.Errorf("%+v: %v", tc.f, p)
		case tc.want != "" && (len(p) != 1 || p[0].Field != tc.want):
			t.Errorf("%+v: problems %v, want one on %s", tc.f, p, tc.want)
		}
	}
}
