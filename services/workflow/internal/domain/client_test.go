package domain

import (
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/firmflow/firmflow/pkg/principal"
)

func TestMaskKeepsSeparatorsAndTheLastFour(t *testing.T) {
	for in, want := range map[string]string{
		"123-45-6789":            "***-**-6789",
		"12-3456789":             "**-***6789",
		"DE 123 456 789":         "** *** **6 789",
		"GB29NWBK60161331926819": "******************6819",
		"1234":                   "****", // too short to show any of it
		"12":                     "**",
		"":                       "",
	} {
		if got := Mask(in); got != want {
			t.Errorf("Mask(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNormalizedTaxIDsMatchHoweverTheyAreWritten(t *testing.T) {
	want := NormalizeTaxID("123-45-6789")
	for _, s := range []string{"123 45 6789", "123.45.6789", "123456789", " 123/45/6789 "} {
		if got := NormalizeTaxID(s); got != want {
			t.Errorf("NormalizeTaxID(%q) = %q, want %q", s, got, want)
		}
	}
	if NormalizeTaxID("de123456789") != NormalizeTaxID("DE 123 456 789") {
		t.Error("letter case matters")
	}
}

func TestOnlyOwnersAdminsAndWritingKeysMayReveal(t *testing.T) {
	cases := []struct {
		p    principal.Principal
		want bool
	}{
		{principal.Principal{Kind: principal.KindUser, Role: principal.RoleOwner}, true},
		{principal.Principal{Kind: principal.KindUser, Role: principal.RoleAdmin}, true},
		{principal.Principal{Kind: principal.KindUser, Role: principal.RoleMember}, false},
		{principal.Principal{Kind: principal.KindAPIKey, Scopes: []string{"clients:write"}}, true},
		{principal.Principal{Kind: principal.KindAPIKey, Scopes: []string{"clients:read", "contacts:write"}}, false},
		{principal.Principal{Kind: principal.KindStaff}, false},
	}
	for _, tc := range cases {
		if got := MayReveal(tc.p); got != tc.want {
			t.Errorf("MayReveal(%s %s %v) = %v", tc.p.Kind, tc.p.Role, tc.p.Scopes, got)
		}
	}
}

func TestClientProblemsNameEveryBadField(t *testing.T) {
	good := Client{DisplayName: "Ada", Kind: ClientPerson, Priority: PriorityHigh, Sensitive: Sensitive{TaxID: "123-45-6789", Notes: "line one\nline two\ttabbed"}}
	if p := good.Problems(); len(p) != 0 {
		t.Fatalf("good client: %v", p)
	}
	cases := []struct {
		field  string
		change func(*Client)
	}{
		{"display_name", func(c *Client) { c.DisplayName = "  " }},
		{"display_name", func(c *Client) { c.DisplayName = "Robert\x00'); DROP TABLE clients;--" }},
		{"display_name", func(c *Client) { c.DisplayName = strings.Repeat("é", MaxClientNameLen+1) }},
		{"kind", func(c *Client) { c.Kind = "alien" }},
		{"priority", func(c *Client) { c.Priority = "urgent" }},
		{"description", func(c *Client) { c.Description = "bell\a" }},
		{"assignees", func(c *Client) { c.Assignees = []string{"not-a-uuid"} }},
		{"assignees", func(c *Client) { id := uuid.NewString(); c.Assignees = []string{id, id} }},
		{"services", func(c *Client) { c.Services = []string{"a;b"} }},
		{"tags", func(c *Client) { c.Tags = []string{""} }},
		{"tags", func(c *Client) { c.Tags = []string{"x", "x"} }},
		{"external_id", func(c *Client) { c.ExternalID = "crm\n1" }},
		{"tax_id", func(c *Client) { c.Sensitive.TaxID = "***-**-6789" }},
		{"tax_id", func(c *Client) { c.Sensitive.TaxID = "' OR 1=1 --" }},
		{"tax_id", func(c *Client) { c.Sensitive.TaxID = "---" }},
		{"bank_account_number", func(c *Client) { c.Sensitive.BankAccount = "********6789" }},
		{"bank_routing_number", func(c *Client) { c.Sensitive.BankRouting = strings.Repeat("1", MaxBankRoutingLen+1) }},
		{"notes", func(c *Client) { c.Sensitive.Notes = "\x1b[31mred" }},
	}
	for _, tc := range cases {
		c := CloneClient(good)
		tc.change(&c)
		p := c.Problems()
		if len(p) != 1 || p[0].Field != tc.field {
			t.Errorf("%s broken: problems %v", tc.field, p)
		}
	}
}
