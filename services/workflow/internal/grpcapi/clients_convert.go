package grpcapi

import (
	"strconv"
	"strings"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/firmflow/firmflow/pkg/apierr"
	workflowv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/workflow/v1"
	"github.com/firmflow/firmflow/pkg/resource"
	"github.com/firmflow/firmflow/services/workflow/internal/app"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
)

// Output-only fields may appear in an update mask (grpc-gateway derives the mask
// from the body's keys when none is given); they are ignored, as AIP-203 asks.
var (
	clientOutputOnly        = []string{"name", "etag", "create_time", "update_time", "primary_contact", "sensitive_revealed", "delete_time", "expire_time"}
	customFieldOutputOnly   = []string{"name", "etag", "create_time", "update_time"}
	contactOutputOnly       = []string{"name", "etag", "create_time", "update_time", "delete_time", "expire_time"}
	clientContactOutputOnly = []string{"name", "etag", "create_time", "contact", "display_name"}
)

// clientPatch reads an UpdateClient's mask into a patch: custom_fields replaces
// every custom value, custom_fields.<key> sets one (null removes it).
func clientPatch(m *workflowv1.Client, paths []string, firmID string) (app.ClientPatch, error) {
	patch := app.ClientPatch{Etag: m.GetEtag()}
	u, err := fromClient(m, firmID)
	if err != nil {
		return patch, err
	}
	u = u.WithDefaults()
	paths = maskPaths(paths, clientOutputOnly)
	if len(paths) == 0 {
		return patch, errNoPaths
	}
	for _, path := range paths {
		if key, ok := strings.CutPrefix(path, "custom_fields."); ok {
			if !domain.CustomFieldKeyPattern.MatchString(key) {
				return patch, apierr.InvalidArgument("update_mask", "update_mask.paths", "no custom field key "+key)
			}
			patch.CustomValues = append(patch.CustomValues, app.CustomValue{Key: key, Value: u.CustomFields[key]})
			continue
		}
		switch path {
		case "display_name":
			patch.DisplayName = &u.DisplayName
		case "kind":
			patch.Kind = &u.Kind
		case "description":
			patch.Description = &u.Description
		case "priority":
			patch.Priority = &u.Priority
		case "assignees":
			patch.Assignees = &u.Assignees
		case "services":
			patch.Services = &u.Services
		case "tags":
			patch.Tags = &u.Tags
		case "external_id":
			patch.ExternalID = &u.ExternalID
		case "tax_id":
			patch.TaxID = &u.Sensitive.TaxID
		case "bank_account_number":
			patch.BankAccount = &u.Sensitive.BankAccount
		case "bank_routing_number":
			patch.BankRouting = &u.Sensitive.BankRouting
		case "notes":
			patch.Notes = &u.Sensitive.Notes
		case "custom_fields":
			patch.CustomFields = &u.CustomFields
		default:
			return patch, unknownPath(path, "display_name, kind, description, priority, assignees, services, tags, external_id, "+
				"tax_id, bank_account_number, bank_routing_number, notes, custom_fields and custom_fields.<key>")
		}
	}
	return patch, nil
}

// customFieldPatch reads an UpdateCustomField's mask into a patch.
func customFieldPatch(m *workflowv1.CustomField, paths []string) (app.CustomFieldPatch, error) {
	patch := app.CustomFieldPatch{Etag: m.GetEtag()}
	u := fromCustomField(m)
	for _, path := range maskPaths(paths, customFieldOutputOnly) {
		switch path {
		case "display_name":
			patch.DisplayName = &u.DisplayName
		case "options":
			patch.Options = &u.Options
		case "key":
			patch.Key = &u.Key
		case "type":
			patch.Type = &u.Type
		default:
			return patch, unknownPath(path, "display_name and options")
		}
	}
	return patch, nil
}

// contactPatch reads an UpdateContact's mask into a patch.
func contactPatch(m *workflowv1.Contact, paths []string) (app.ContactPatch, error) {
	patch := app.ContactPatch{Etag: m.GetEtag()}
	u := fromContact(m)
	paths = maskPaths(paths, contactOutputOnly)
	if len(paths) == 0 {
		return patch, errNoPaths
	}
	for _, path := range paths {
		switch path {
		case "display_name":
			patch.DisplayName = &u.DisplayName
		case "given_name":
			patch.GivenName = &u.GivenName
		case "family_name":
			patch.FamilyName = &u.FamilyName
		case "job_title":
			patch.JobTitle = &u.JobTitle
		case "emails":
			patch.Emails = &u.Emails
		case "phones":
			patch.Phones = &u.Phones
		case "addresses":
			patch.Addresses = &u.Addresses
		case "external_id":
			patch.ExternalID = &u.ExternalID
		default:
			return patch, unknownPath(path, "display_name, given_name, family_name, job_title, emails, phones, addresses and external_id")
		}
	}
	return patch, nil
}

// clientContactPatch reads an UpdateClientContact's mask into a patch.
func clientContactPatch(m *workflowv1.ClientContact, paths []string) (app.ClientContactPatch, error) {
	patch := app.ClientContactPatch{Etag: m.GetEtag()}
	for _, path := range maskPaths(paths, clientContactOutputOnly) {
		switch path {
		case "primary":
			patch.Primary = &m.Primary
		case "relationship":
			patch.Relationship = &m.Relationship
		default:
			return patch, unknownPath(path, "primary and relationship")
		}
	}
	return patch, nil
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
		DeleteTime:        ts(c.DeleteTime),
		ExpireTime:        ts(domain.ExpireTime(c.DeleteTime)),
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
		Kind:        fromProto(clientKinds, m.GetKind()),
		Description: m.GetDescription(),
		Priority:    fromProto(clientPriorities, m.GetPriority()),
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
		DeleteTime: ts(f.DeleteTime), ExpireTime: ts(domain.ExpireTime(f.DeleteTime)),
	}
}

func fromCustomField(m *workflowv1.CustomField) domain.CustomField {
	return domain.CustomField{
		Key: m.GetKey(), DisplayName: m.GetDisplayName(), Type: fromProto(customFieldTypes, m.GetType()), Options: m.GetOptions(),
	}
}

func toContact(c domain.Contact) *workflowv1.Contact {
	out := &workflowv1.Contact{
		Name: app.ContactName(c.FirmID, c.ID), DisplayName: c.DisplayName, GivenName: c.GivenName, FamilyName: c.FamilyName,
		JobTitle: c.JobTitle, ExternalId: c.ExternalID, CreateTime: ts(c.CreateTime), UpdateTime: ts(c.UpdateTime), Etag: app.Etag(c.Version),
		DeleteTime: ts(c.DeleteTime), ExpireTime: ts(domain.ExpireTime(c.DeleteTime)),
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
		ExternalID: m.GetExternalId(),
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
		UpdateTime:   ts(l.UpdateTime),
		Etag:         app.Etag(l.Version),
	}
}
