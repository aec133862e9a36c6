package app

import (
	"maps"
	"reflect"
	"slices"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
)

// An update is a typed patch: a nil field is not in the update mask and stays as it
// is. The handler turns the mask into a patch; apply reports the fields that really
// changed, by the names the API and the events use.

// setField applies one field of a patch.
func setField[T comparable](changed *[]string, name string, dst, v *T) {
	if v != nil && *v != *dst {
		*dst = *v
		*changed = append(*changed, name)
	}
}

// setList applies one list field of a patch.
func setList[T comparable](changed *[]string, name string, dst, v *[]T) {
	if v != nil && !slices.Equal(*dst, *v) {
		*dst = slices.Clone(*v)
		*changed = append(*changed, name)
	}
}

// ClientPatch is an UpdateClient.
type ClientPatch struct {
	DisplayName *string
	Kind        *domain.ClientKind
	Description *string
	Priority    *domain.ClientPriority
	Assignees   *[]string
	Services    *[]string
	Tags        *[]string
	ExternalID  *string
	TaxID       *string
	BankAccount *string
	BankRouting *string
	Notes       *string
	// CustomFields replaces every custom value (custom_fields); a nil value is none.
	CustomFields *map[string]any
	// CustomValues sets single values in order (custom_fields.<key>); nil removes one.
	CustomValues []CustomValue
	Etag         string
}

// CustomValue is one custom field's value in a patch.
type CustomValue struct {
	Key   string
	Value any
}

func (patch ClientPatch) apply(c *domain.Client) []string {
	var changed []string
	setField(&changed, "display_name", &c.DisplayName, patch.DisplayName)
	setField(&changed, "kind", &c.Kind, patch.Kind)
	setField(&changed, "description", &c.Description, patch.Description)
	setField(&changed, "priority", &c.Priority, patch.Priority)
	setList(&changed, "assignees", &c.Assignees, patch.Assignees)
	setList(&changed, "services", &c.Services, patch.Services)
	setList(&changed, "tags", &c.Tags, patch.Tags)
	setField(&changed, "external_id", &c.ExternalID, patch.ExternalID)
	setField(&changed, "tax_id", &c.Sensitive.TaxID, patch.TaxID)
	setField(&changed, "bank_account_number", &c.Sensitive.BankAccount, patch.BankAccount)
	setField(&changed, "bank_routing_number", &c.Sensitive.BankRouting, patch.BankRouting)
	setField(&changed, "notes", &c.Sensitive.Notes, patch.Notes)
	if patch.CustomFields != nil {
		next := maps.Clone(*patch.CustomFields)
		maps.DeleteFunc(next, func(_ string, v any) bool { return v == nil })
		if !reflect.DeepEqual(c.CustomFields, next) && (len(c.CustomFields) > 0 || len(next) > 0) {
			c.CustomFields = next
			changed = append(changed, "custom_fields")
		}
	}
	for _, cv := range patch.CustomValues {
		old, had := c.CustomFields[cv.Key]
		if had == (cv.Value != nil) && reflect.DeepEqual(old, cv.Value) {
			continue
		}
		if c.CustomFields == nil {
			c.CustomFields = map[string]any{}
		}
		if cv.Value != nil {
			c.CustomFields[cv.Key] = cv.Value
		} else {
			delete(c.CustomFields, cv.Key)
		}
		changed = append(changed, "custom_fields."+cv.Key)
	}
	return changed
}

// ContactPatch is an UpdateContact.
type ContactPatch struct {
	DisplayName *string
	GivenName   *string
	FamilyName  *string
	JobTitle    *string
	Emails      *[]domain.ContactEmail
	Phones      *[]domain.ContactPhone
	Addresses   *[]domain.PostalAddress
	ExternalID  *string
	Etag        string
}

func (patch ContactPatch) apply(c *domain.Contact) []string {
	var changed []string
	setField(&changed, "display_name", &c.DisplayName, patch.DisplayName)
	setField(&changed, "given_name", &c.GivenName, patch.GivenName)
	setField(&changed, "family_name", &c.FamilyName, patch.FamilyName)
	setField(&changed, "job_title", &c.JobTitle, patch.JobTitle)
	setList(&changed, "emails", &c.Emails, patch.Emails)
	setList(&changed, "phones", &c.Phones, patch.Phones)
	setField(&changed, "external_id", &c.ExternalID, patch.ExternalID)
	if v := patch.Addresses; v != nil && !slices.EqualFunc(c.Addresses, *v, func(a, b domain.PostalAddress) bool {
		return a.Label == b.Label && slices.Equal(a.Lines, b.Lines) && a.Locality == b.Locality &&
			a.Region == b.Region && a.PostalCode == b.PostalCode && a.CountryCode == b.CountryCode
	}) {
		c.Addresses = slices.Clone(*v)
		changed = append(changed, "addresses")
	}
	return changed
}

// CustomFieldPatch is an UpdateCustomField. Key and Type never change; naming them
// with another value is refused.
type CustomFieldPatch struct {
	DisplayName *string
	Options     *[]string
	Key         *string
	Type        *domain.CustomFieldType
	Etag        string
}

func (patch CustomFieldPatch) apply(f *domain.CustomField) ([]string, error) {
	immutable := func(path string) error {
		return apierr.InvalidArgument("update_mask", "field_mask.immutable", path+" never changes; define a new field instead")
	}
	if patch.Key != nil && *patch.Key != f.Key {
		return nil, immutable("key")
	}
	if patch.Type != nil && *patch.Type != f.Type {
		return nil, immutable("type")
	}
	var changed []string
	setField(&changed, "display_name", &f.DisplayName, patch.DisplayName)
	setList(&changed, "options", &f.Options, patch.Options)
	return changed, nil
}

// ClientContactPatch is an UpdateClientContact.
type ClientContactPatch struct {
	Primary      *bool
	Relationship *string
	Etag         string
}

func (patch ClientContactPatch) apply(l *domain.ClientContact) []string {
	var changed []string
	setField(&changed, "primary", &l.Primary, patch.Primary)
	setField(&changed, "relationship", &l.Relationship, patch.Relationship)
	return changed
}
