package app

import (
	"slices"
	"testing"

	"github.com/firmflow/firmflow/services/workflow/internal/domain"
)

func TestClientPatchCopiesOnlyItsFieldsAndReportsRealChanges(t *testing.T) {
	c := domain.Client{DisplayName: "Ada", Kind: domain.ClientPerson, Priority: domain.PriorityNormal, Tags: []string{"a"},
		CustomFields: map[string]any{"fee": 10.0, "vip": true}}
	changed := ClientPatch{DisplayName: ptr("Ada"), Tags: &[]string{"a", "b"},
		CustomValues: []CustomValue{{Key: "fee", Value: 12.0}, {Key: "vip"}}}.apply(&c)
	if !slices.Equal(changed, []string{"tags", "custom_fields.fee", "custom_fields.vip"}) {
		t.Errorf("changed %v", changed)
	}
	if c.Description != "" || c.Kind != domain.ClientPerson || c.CustomFields["fee"] != 12.0 || c.CustomFields["vip"] != nil {
		t.Errorf("after apply %+v", c)
	}
	if _, ok := c.CustomFields["vip"]; ok {
		t.Error("a null custom value was kept instead of removed")
	}
}

func TestContactPatchReportsOnlyRealChanges(t *testing.T) {
	c := domain.Contact{DisplayName: "Grace", Emails: []domain.ContactEmail{{Address: "g@example.com"}}}
	changed := ContactPatch{DisplayName: ptr("Grace"), Emails: &[]domain.ContactEmail{{Address: "grace@example.com"}}}.apply(&c)
	if !slices.Equal(changed, []string{"emails"}) || c.JobTitle != "" {
		t.Errorf("changed %v, contact %+v", changed, c)
	}
}
