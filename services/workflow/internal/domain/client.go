package domain

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/pkg/resource"
)

// ClientKind says who a client is.
type ClientKind string

const (
	ClientPerson   ClientKind = "person"
	ClientBusiness ClientKind = "business"
	ClientInternal ClientKind = "internal" // the firm itself, for internal work
)

// ClientPriority orders clients in the firm's lists.
type ClientPriority string

const (
	PriorityLow    ClientPriority = "low"
	PriorityNormal ClientPriority = "normal"
	PriorityHigh   ClientPriority = "high"
)

// Limits of a client's fields, the same whether it comes from the API or a CSV row.
const (
	MaxClientNameLen     = 200
	MaxClientDescription = 4000
	MaxClientNotes       = 10000
	MaxClientAssignees   = 20
	MaxClientLabels      = 32 // services and tags each
	MaxServiceLen        = 100
	MaxTagLen            = 64
	MaxExternalIDLen     = 128
	MaxTaxIDLen          = 32
	MaxBankAccountLen    = 34 // IBAN
	MaxBankRoutingLen    = 16
)

// Sensitive are a client's fields that are encrypted before they are stored. Here,
// inside the service, they are plaintext; they leave it only masked or to callers
// who may see them.
type Sensitive struct {
	TaxID       string
	BankAccount string
	BankRouting string
	Notes       string
}

// Client is a person, business or the firm itself that the firm works for.
type Client struct {
	ID          string
	FirmID      string
	DisplayName string
	Kind        ClientKind
	Description string
	Priority    ClientPriority
	Assignees   []string // member ids
	Services    []string
	Tags        []string
	ExternalID  string
	Sensitive   Sensitive
	// CustomFields holds values by definition key, as encoding/json decodes them:
	// string, float64, bool or []any of strings.
	CustomFields     map[string]any
	PrimaryContactID string
	ImportID         string // the CSV import that created it, if any
	Version          int64
	CreateTime       time.Time
	UpdateTime       time.Time
	DeleteTime       time.Time // set on tombstones only
}

// AssignedTo reports whether the member is among the client's assignees; it decides
// what an "assigned" permission scope reaches.
func (c Client) AssignedTo(memberID string) bool {
	return memberID != "" && slices.Contains(c.Assignees, memberID)
}

// WithDefaults fills what a new client may leave out.
func (c Client) WithDefaults() Client {
	if c.Kind == "" {
		c.Kind = ClientBusiness
	}
	if c.Priority == "" {
		c.Priority = PriorityNormal
	}
	return c
}

// Problems lists every field of c that breaks a rule, named as the API names them
// (display_name, tax_id, custom_fields.<key> ...). Custom field values are checked
// separately against the firm's definitions (CheckCustomValues).
func (c Client) Problems() []apierr.FieldViolation {
	var out []apierr.FieldViolation
	add := func(field, rule, desc string) {
		out = append(out, apierr.FieldViolation{Field: field, Rule: rule, Description: desc})
	}
	switch {
	case c.DisplayName == "" || strings.TrimSpace(c.DisplayName) == "":
		add("display_name", "required", "a client needs a name")
	case !singleLine(c.DisplayName, MaxClientNameLen):
		add("display_name", "string.text", fmt.Sprintf("at most %d characters, no control characters", MaxClientNameLen))
	}
	if c.Kind != ClientPerson && c.Kind != ClientBusiness && c.Kind != ClientInternal {
		add("kind", "enum", "person, business or internal")
	}
	if c.Priority != PriorityLow && c.Priority != PriorityNormal && c.Priority != PriorityHigh {
		add("priority", "enum", "low, normal or high")
	}
	if !multiLine(c.Description, MaxClientDescription) {
		add("description", "string.text", fmt.Sprintf("at most %d characters, no control characters but line breaks and tabs", MaxClientDescription))
	}
	if msg := checkAssignees(c.Assignees); msg != "" {
		add("assignees", "repeated.member", msg)
	}
	if msg := checkLabels(c.Services, MaxServiceLen); msg != "" {
		add("services", "repeated.label", msg)
	}
	if msg := checkLabels(c.Tags, MaxTagLen); msg != "" {
		add("tags", "repeated.label", msg)
	}
	if !singleLine(c.ExternalID, MaxExternalIDLen) {
		add("external_id", "string.text", fmt.Sprintf("at most %d characters, no control characters", MaxExternalIDLen))
	}
	if c.Sensitive.TaxID != "" && !accountNumber(c.Sensitive.TaxID, MaxTaxIDLen, " ./-") {
		add("tax_id", "string.tax_id", fmt.Sprintf("at most %d letters, digits, spaces, dots, dashes or slashes; never a masked value", MaxTaxIDLen))
	}
	if c.Sensitive.BankAccount != "" && !accountNumber(c.Sensitive.BankAccount, MaxBankAccountLen, " -") {
		add("bank_account_number", "string.account", fmt.Sprintf("at most %d letters, digits, spaces or dashes; never a masked value", MaxBankAccountLen))
	}
	if c.Sensitive.BankRouting != "" && !accountNumber(c.Sensitive.BankRouting, MaxBankRoutingLen, " -") {
		add("bank_routing_number", "string.account", fmt.Sprintf("at most %d letters, digits, spaces or dashes; never a masked value", MaxBankRoutingLen))
	}
	if !multiLine(c.Sensitive.Notes, MaxClientNotes) {
		add("notes", "string.text", fmt.Sprintf("at most %d characters, no control characters but line breaks and tabs", MaxClientNotes))
	}
	return out
}

// CloneClient returns a copy of c that shares no slices or maps with it.
func CloneClient(c Client) Client {
	c.Assignees = slices.Clone(c.Assignees)
	c.Services = slices.Clone(c.Services)
	c.Tags = slices.Clone(c.Tags)
	c.CustomFields = maps.Clone(c.CustomFields)
	return c
}

// TaxIDIndexPurpose names the blind index of client tax ids (fieldcrypt.BlindIndex).
const TaxIDIndexPurpose = "client tax id"

// NormalizeTaxID is the form a tax id is indexed and looked up in: letters and
// digits only, upper case, so "12-3456789" and "123456789" written "12 3456789" match.
func NormalizeTaxID(taxID string) string {
	var b strings.Builder
	for _, r := range taxID {
		if r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			b.WriteRune(unicode.ToUpper(r))
		}
	}
	return b.String()
}

// Mask hides all but the last four letters and digits of an account-like number and
// keeps its separators: "123-45-6789" becomes "***-**-6789". Numbers of four
// characters or fewer are masked entirely, so short values reveal nothing.
func Mask(number string) string {
	total := 0
	for _, r := range number {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			total++
		}
	}
	keep := 4
	if total <= 4 {
		keep = 0
	}
	var b strings.Builder
	seen := 0
	for _, r := range number {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			seen++
			if seen <= total-keep {
				r = '*'
			}
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Masked returns the client as everyone may see it: tax and bank numbers masked.
// Notes stay: they are encrypted at rest, not hidden from the firm's own people.
func (c Client) Masked() Client {
	c.Sensitive.TaxID = Mask(c.Sensitive.TaxID)
	c.Sensitive.BankAccount = Mask(c.Sensitive.BankAccount)
	c.Sensitive.BankRouting = Mask(c.Sensitive.BankRouting)
	return c
}

// RevealedFields names the sensitive fields that have a value to reveal.
func (c Client) RevealedFields() []string {
	var out []string
	for _, f := range []struct {
		name, value string
	}{{"tax_id", c.Sensitive.TaxID}, {"bank_account_number", c.Sensitive.BankAccount}, {"bank_routing_number", c.Sensitive.BankRouting}} {
		if f.value != "" {
			out = append(out, f.name)
		}
	}
	return out
}

// MayReveal is the rule for seeing tax and bank numbers in full: owners and admins,
// and API keys trusted to write clients (clients:write). Members never do, whatever
// the permission matrix lets them read: the matrix says which clients, this says
// which fields.
func MayReveal(p principal.Principal) bool {
	switch p.Kind {
	case principal.KindUser:
		return p.Role == principal.RoleOwner || p.Role == principal.RoleAdmin
	case principal.KindAPIKey:
		return p.HasScope("clients", "write")
	}
	return false
}

// ErrRevealNotAllowed refuses a request for revealed fields by a caller MayReveal
// rejects.
var ErrRevealNotAllowed = apierr.PermissionDenied("REVEAL_NOT_ALLOWED",
	"only owners, admins and API keys with clients:write may see full tax and bank numbers; ask for the masked view")

// singleLine reports whether s is at most max characters and has no control
// characters.
func singleLine(s string, max int) bool {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
		return false
	}
	return !strings.ContainsFunc(s, unicode.IsControl)
}

// multiLine is singleLine allowing line breaks and tabs.
func multiLine(s string, max int) bool {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t' })
}

// accountNumber reports whether s is an account-like number: ASCII letters and
// digits with the given separators, at least one letter or digit. The masking
// character '*' is never allowed, so a masked value read back cannot be stored.
func accountNumber(s string, max int, separators string) bool {
	if len(s) > max {
		return false
	}
	alnum := 0
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
			alnum++
		case strings.ContainsRune(separators, r):
		default:
			return false
		}
	}
	return alnum > 0
}

func checkAssignees(ids []string) string {
	if len(ids) > MaxClientAssignees {
		return fmt.Sprintf("at most %d assignees", MaxClientAssignees)
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if !resource.IsID(id) {
			return "assignees are members: firms/{firm}/members/{member} of this firm"
		}
		if seen[id] {
			return "an assignee is listed twice"
		}
		seen[id] = true
	}
	return ""
}

func checkLabels(labels []string, maxLen int) string {
	if len(labels) > MaxClientLabels {
		return fmt.Sprintf("at most %d", MaxClientLabels)
	}
	seen := map[string]bool{}
	for _, l := range labels {
		if l == "" || strings.ContainsRune(l, ';') || !singleLine(l, maxLen) {
			return fmt.Sprintf("each 1 to %d characters, no control characters or semicolons", maxLen)
		}
		if seen[l] {
			return fmt.Sprintf("%q is listed twice", l)
		}
		seen[l] = true
	}
	return ""
}

// InvalidFields turns problems into one INVALID_ARGUMENT error with the fields
// under prefix (e.g. "client."), or nil when there are none.
func InvalidFields(prefix string, problems []apierr.FieldViolation) error {
	if len(problems) == 0 {
		return nil
	}
	e := apierr.InvalidArgument(prefix+problems[0].Field, problems[0].Rule, problems[0].Description)
	e.Violations = nil
	var msgs []string
	for _, p := range problems {
		p.Field = prefix + p.Field
		e.Violations = append(e.Violations, p)
		msgs = append(msgs, p.Field+": "+p.Description)
	}
	e.Message = strings.Join(msgs, "; ")
	return e
}

// ExportSize is roughly how many bytes the client takes in an export, to keep
// export pages within a response's size.
func (c Client) ExportSize() int {
	n := 256 + len(c.DisplayName) + 2*len(c.Description) + len(c.ExternalID) + 60*len(c.Assignees) +
		len(c.Sensitive.TaxID) + len(c.Sensitive.BankAccount) + len(c.Sensitive.BankRouting) + 2*len(c.Sensitive.Notes)
	for _, l := range [][]string{c.Services, c.Tags} {
		for _, s := range l {
			n += len(s) + 4
		}
	}
	for k, v := range c.CustomFields {
		n += len(k) + len(FormatCell(v)) + 8
	}
	return n
}

// ClientOrder is an order List offers.
type ClientOrder string

const (
	ClientsOldestFirst ClientOrder = "create_time"
	ClientsNewestFirst ClientOrder = "create_time desc"
	ClientsByName      ClientOrder = "display_name"
	// ClientsByUpdateTime is the order to sync in (see Changes).
	ClientsByUpdateTime ClientOrder = "update_time"
)

// ClientFilter narrows a list of clients; zero fields do not filter.
type ClientFilter struct {
	Tag        string
	AssigneeID string // a member id
	Kind       ClientKind
	ExternalID string
	Order      ClientOrder
	Changes    Changes
}

// MemberID is the member id in name when name is a member of the firm,
// firms/{firm}/members/{member}.
func MemberID(firmID, name string) (string, bool) {
	ids, err := resource.Parse("member", name, "firms/{firm}/members/{member}")
	if err != nil || ids[0] != firmID {
		return "", false
	}
	return ids[1], true
}
