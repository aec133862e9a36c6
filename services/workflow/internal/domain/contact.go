package domain

import (
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/firmflow/firmflow/pkg/apierr"
)

// Limits of a contact and its links.
const (
	MaxContactEmails    = 10
	MaxContactPhones    = 10
	MaxContactAddresses = 5
	MaxAddressLines     = 5
	MaxClientContacts   = 200 // contacts linked to one client
	MaxRelationshipLen  = 100
)

// ContactEmail is one email address of a contact.
type ContactEmail struct {
	Address string `json:"address"`
	Label   string `json:"label,omitempty"`
}

// ContactPhone is one phone number of a contact.
type ContactPhone struct {
	Number string `json:"number"`
	Label  string `json:"label,omitempty"`
}

// PostalAddress is one address of a contact.
type PostalAddress struct {
	Label       string   `json:"label,omitempty"`
	Lines       []string `json:"lines,omitempty"`
	Locality    string   `json:"locality,omitempty"`
	Region      string   `json:"region,omitempty"`
	PostalCode  string   `json:"postal_code,omitempty"`
	CountryCode string   `json:"country_code,omitempty"`
}

// Contact is a person the firm deals with, linked to any number of clients.
type Contact struct {
	ID          string
	FirmID      string
	DisplayName string
	GivenName   string
	FamilyName  string
	JobTitle    string
	Emails      []ContactEmail
	Phones      []ContactPhone
	Addresses   []PostalAddress
	// ExternalID is the contact's id in a CRM, unique in the firm.
	ExternalID string
	Version    int64
	CreateTime time.Time
	UpdateTime time.Time
	DeleteTime time.Time // set on tombstones only
}

var (
	phonePattern   = regexp.MustCompile(`^\+?[0-9 ().-]{3,32}$`)
	countryPattern = regexp.MustCompile(`^([A-Z]{2})?$`)
)

// Problems lists every field of c that breaks a rule, by API field name.
func (c Contact) Problems() []apierr.FieldViolation {
	var out []apierr.FieldViolation
	add := func(field, rule, desc string) {
		out = append(out, apierr.FieldViolation{Field: field, Rule: rule, Description: desc})
	}
	if strings.TrimSpace(c.DisplayName) == "" {
		add("display_name", "required", "a contact needs a name")
	} else if !singleLine(c.DisplayName, 200) {
		add("display_name", "string.text", "at most 200 characters, no control characters")
	}
	for field, v := range map[string]string{"given_name": c.GivenName, "family_name": c.FamilyName, "job_title": c.JobTitle} {
		if !singleLine(v, 100) {
			add(field, "string.text", "at most 100 characters, no control characters")
		}
	}
	if !singleLine(c.ExternalID, MaxExternalIDLen) {
		add("external_id", "string.text", fmt.Sprintf("at most %d characters, no control characters", MaxExternalIDLen))
	}
	if len(c.Emails) > MaxContactEmails {
		add("emails", "repeated.max_items", fmt.Sprintf("at most %d", MaxContactEmails))
	}
	for i, e := range c.Emails {
		if a, err := mail.ParseAddress(e.Address); err != nil || a.Address != e.Address || len(e.Address) > 254 {
			add(fmt.Sprintf("emails[%d].address", i), "string.email", "an email address such as ada@example.com")
		}
		if !singleLine(e.Label, 50) {
			add(fmt.Sprintf("emails[%d].label", i), "string.text", "at most 50 characters, no control characters")
		}
	}
	if len(c.Phones) > MaxContactPhones {
		add("phones", "repeated.max_items", fmt.Sprintf("at most %d", MaxContactPhones))
	}
	for i, p := range c.Phones {
		if !phonePattern.MatchString(p.Number) {
			add(fmt.Sprintf("phones[%d].number", i), "string.pattern", "digits with an optional leading + and spaces, dots, dashes or parentheses")
		}
		if !singleLine(p.Label, 50) {
			add(fmt.Sprintf("phones[%d].label", i), "string.text", "at most 50 characters, no control characters")
		}
	}
	if len(c.Addresses) > MaxContactAddresses {
		add("addresses", "repeated.max_items", fmt.Sprintf("at most %d", MaxContactAddresses))
	}
	for i, a := range c.Addresses {
		ok := len(a.Lines) <= MaxAddressLines && singleLine(a.Label, 50) && singleLine(a.Locality, 100) &&
			singleLine(a.Region, 100) && singleLine(a.PostalCode, 20) && countryPattern.MatchString(a.CountryCode)
		for _, l := range a.Lines {
			ok = ok && singleLine(l, 200)
		}
		if !ok {
			add(fmt.Sprintf("addresses[%d]", i), "address", "up to 5 lines of 200 characters, short locality, region and postal code, ISO country code")
		}
	}
	slices.SortStableFunc(out, func(a, b apierr.FieldViolation) int { return strings.Compare(a.Field, b.Field) })
	return out
}

// ClientContact links a contact to a client.
type ClientContact struct {
	FirmID       string
	ClientID     string
	ContactID    string
	Primary      bool
	Relationship string
	DisplayName  string // the contact's, for lists
	Version      int64
	CreateTime   time.Time
	UpdateTime   time.Time
}

// Problems lists what is wrong with a link.
func (l ClientContact) Problems() []apierr.FieldViolation {
	if !singleLine(l.Relationship, MaxRelationshipLen) {
		return []apierr.FieldViolation{{Field: "relationship", Rule: "string.text", Description: fmt.Sprintf("at most %d characters, no control characters", MaxRelationshipLen)}}
	}
	return nil
}
