package domain

import (
	"slices"
	"testing"
)

func TestContactProblemsNameTheBadEntry(t *testing.T) {
	c := Contact{
		DisplayName: "Grace Hopper",
		Emails:      []ContactEmail{{Address: "grace@example.com"}, {Address: "Grace <g@example.com>"}},
		Phones:      []ContactPhone{{Number: "+1 (555) 010-9999"}, {Number: "call me"}},
		Addresses:   []PostalAddress{{Lines: []string{"1 Navy Way"}, CountryCode: "us"}},
	}
	var got []string
	for _, p := range c.Problems() {
		got = append(got, p.Field)
	}
	if want := []string{"addresses[0]", "emails[1].address", "phones[1].number"}; !slices.Equal(got, want) {
		t.Errorf("problems at %v, want %v", got, want)
	}
}
