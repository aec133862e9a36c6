package grpcapi

import (
	"slices"
	"strconv"

	"google.golang.org/protobuf/types/known/structpb"

	workflowv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/workflow/v1"
	"github.com/firmflow/firmflow/pkg/resource"
	"github.com/firmflow/firmflow/services/workflow/internal/app"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
)

// Output-only fields may appear in an update mask (grpc-gateway derives the mask
// from the body's keys when none is given); they are ignored, as AIP-203 asks.
var (
	clientOutputOnly        = []string{"name", "etag", "create_time", "update_time", "primary_contact", "sensitive_revealed"}
	customFieldOutputOnly   = []string{"name", "etag", "create_time", "update_time"}
	contactOutputOnly       = []string{"name", "etag", "create_time", "update_time"}
	clientContactOutputOnly = []string{"name", "etag", "create_time", "contact", "display_name"}
)

func maskPaths(paths, outputOnly []string) []string {
	out := make([]string, 0, len(paths))
	for _, p := range paths {
		if !slices.Contains(outputOnly, p) {
			out = append(out, p)
		}
	}
	return out
}

var clientKinds = map[domain.ClientKind]workflowv1.ClientKind{
	domain.ClientPerson:   workflowv1.ClientKind_CLIENT_KIND_PERSON,
	domain.ClientBusiness: workflowv1.ClientKind_CLIENT_KIND_BUSINESS,
	domain.ClientInternal: workflowv1.ClientKind_CLIENT_KIND_INTERNAL,
}

var clientPriorities = map[domain.ClientPriority]workflowv1.ClientPriority{
	domain.PriorityLow:    workflowv1.ClientPriority_CLIENT_PRIORITY_LOW,
	domain.PriorityNormal: workflowv1.ClientPriority_CLIENT_PRIORITY_NORMAL,
	domain.PriorityHigh:   workflowv1.ClientPriority_CLIENT_PRIORITY_HIGH,
}

var customFieldTypes = map[domain.CustomFieldType]workflowv1.CustomFieldType{
	domain.FieldText:         workflowv1.CustomFieldType_CUSTOM_FIELD_TYPE_TEXT,
	domain.FieldNumber:       workflowv1.CustomFieldType_CUSTOM_FIELD_TYPE_NUMBER,
	domain.FieldDate:         workflowv1.CustomFieldType_CUSTOM_FIELD_TYPE_DATE,
	domain.FieldBoolean:      workflowv1.CustomFieldType_CUSTOM_FIELD_TYPE_BOOLEAN,
	domain.FieldMember:       workflowv1.CustomFieldType_CUSTOM_FIELD_TYPE_MEMBER,
	domain.FieldSingleSelect: workflowv1.CustomFieldType_CUSTOM_FIELD_TYPE_SINGLE_SELECT,
	domain.FieldMultiSelect:  workflowv1.CustomFieldType_CUSTOM_FIELD_TYPE_MULTI_SELECT,
}

// reverse finds the domain value of an enum; zero (unspecified) maps to "".
func domainEnum[D comparable, P comparable](m map[D]P, v P) D {
	for d, p := range m {
		if p == v {
			return d
		}
	}
	var zero D
	return zero
}

func assigneeName(firmID, id string) string { return resource.Name("firms", firmID, "members", id) }

func toClient(c domain.Client, revealed bool) *workflowv1.Client {
	out := &workflowv1.Client{
		Name:              app.ClientName(c.FirmID, c.ID),
		DisplayName:       c.DisplayName,
		Kind:              clientKinds[c.Kind],
		Description:       c.Description,
		Priority:          clientPriorities[c.Priority],
		Services:          c.Services,
		Tags:              c.Tags,
		ExternalId:        c.ExternalID,
		TaxId:             c.Sensitive.TaxID,
		BankAccountNumber: c.Sensitive.BankAccount,
		BankRoutingNumber: c.Sensitive.BankRouting,
		Notes:             c.Sensitive.Notes,
		SensitiveRevealed: revealed,
		CreateTime:        ts(c.CreateTime),
		UpdateTime:        ts(c.UpdateTime),
		Etag:              app.Etag(c.Version),
	}
	for _, id := range c.Assignees {
		out.Assignees = append(out.Assignees, assigneeName(c.FirmID, id))
	}
	if c.PrimaryContactID != "" {
		out.PrimaryContact = app.ContactName(c.FirmID, c.PrimaryContactID)
	}
	if len(c.CustomFields) > 0 {
		out.CustomFields = make(map[string]*structpb.Value, len(c.CustomFields))
		for k, v := range c.CustomFields {
			if pv, err := structpb.NewValue(v); err == nil {
				out.CustomFields[k] = pv
			}
		}
	}
	return out
}

// fromClient reads the client fields of a request. Assignees must be members of the
// firm the request is for.
func fromClient(m *workflowv1.Client, firmID string) (domain.Client, error) {
	c := domain.Client{
		DisplayName: m.GetDisplayName(),
		Kind:        domainEnum(clientKinds, m.GetKind()),
		Description: m.GetDescription(),
		Priority:    domainEnum(clientPriorities, m.GetPriority()),
		Services:    m.GetServices(),
		Tags:        m.GetTags(),
		ExternalID:  m.GetExternalId(),
		Sensitive: domain.Sensitive{
			TaxID: m.GetTaxId(), BankAccount: m.GetBankAccountNumber(), BankRouting: m.GetBankRoutingNumber(), Notes: m.GetNotes(),
		},
	}
	for i, name := range m.GetAssignees() {
		id, err := referenceID("client.assignees["+strconv.Itoa(i)+"]", name, firmID, "members")
		if err != nil {
			return c, err
		}
		c.Assignees = append(c.Assignees, id)
	}
	if len(m.GetCustomFields()) > 0 {
		c.CustomFields = make(map[string]any, len(m.GetCustomFields()))
		for k, v := range m.GetCustomFields() {
			c.CustomFields[k] = v.AsInterface()
		}
	}
	return c, nil
}

func toCustomField(f domain.CustomField) *workflowv1.CustomField {
	return &workflowv1.CustomField{
		Name: app.CustomFieldName(f.FirmID, f.ID), Key: f.Key, DisplayName: f.DisplayName, Type: customFieldTypes[f.Type],
		Options: f.Options, CreateTime: ts(f.CreateTime), UpdateTime: ts(f.UpdateTime), Etag: app.Etag(f.Version),
	}
}

func fromCustomField(m *workflowv1.CustomField) domain.CustomField {
	return domain.CustomField{
		Key: m.GetKey(), DisplayName: m.GetDisplayName(), Type: domainEnum(customFieldTypes, m.GetType()), Options: m.GetOptions(),
	}
}

func toContact(c domain.Contact) *workflowv1.Contact {
	out := &workflowv1.Contact{
		Name: app.ContactName(c.FirmID, c.ID), DisplayName: c.DisplayName, GivenName: c.GivenName, FamilyName: c.FamilyName,
		JobTitle: c.JobTitle, CreateTime: ts(c.CreateTime), UpdateTime: ts(c.UpdateTime), Etag: app.Etag(c.Version),
	}
	for _, e := range c.Emails {
		out.Emails = append(out.Emails, &workflowv1.ContactEmail{Address: e.Address, Label: e.Label})
	}
	for _, p := range c.Phones {
		out.Phones = append(out.Phones, &workflowv1.ContactPhone{Number: p.Number, Label: p.Label})
	}
	for _, a := range c.Addresses {
		out.Addresses = append(out.Addresses, &workflowv1.PostalAddress{
			Label: a.Label, Lines: a.Lines, Locality: a.Locality, Region: a.Region, PostalCode: a.PostalCode, CountryCode: a.CountryCode,
		})
	}
	return out
}

func fromContact(m *workflowv1.Contact) domain.Contact {
	c := domain.Contact{
		DisplayName: m.GetDisplayName(), GivenName: m.GetGivenName(), FamilyName: m.GetFamilyName(), JobTitle: m.GetJobTitle(),
	}
	for _, e := range m.GetEmails() {
		c.Emails = append(c.Emails, domain.ContactEmail{Address: e.GetAddress(), Label: e.GetLabel()})
	}
	for _, p := range m.GetPhones() {
		c.Phones = append(c.Phones, domain.ContactPhone{Number: p.GetNumber(), Label: p.GetLabel()})
	}
	for _, a := range m.GetAddresses() {
		c.Addresses = append(c.Addresses, domain.PostalAddress{
			Label: a.GetLabel(), Lines: a.GetLines(), Locality: a.GetLocality(), Region: a.GetRegion(),
			PostalCode: a.GetPostalCode(), CountryCode: a.GetCountryCode(),
		})
	}
	return c
}

func toClientContact(l domain.ClientContact) *workflowv1.ClientContact {
	return &workflowv1.ClientContact{
		Name:         app.ClientContactName(l.FirmID, l.ClientID, l.ContactID),
		Contact:      app.ContactName(l.FirmID, l.ContactID),
		Primary:      l.Primary,
		Relationship: l.Relationship,
		DisplayName:  l.DisplayName,
		CreateTime:   ts(l.CreateTime),
		Etag:         app.Etag(l.Version),
	}
}
