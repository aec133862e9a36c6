package cardscan

import (
	"slices"
	"testing"
)

func TestFindsCardNumbersHoweverWritten(t *testing.T) {
	cases := []struct {
		text string
		want []string
	}{
		{`{"pan":"4242424242424242"}`, []string{"4242424242424242"}},
		{"card 4000 0566 5566 5556 declined", []string{"4000 0566 5566 5556"}},
		{"amex 3782-822463-10005.", []string{"3782-822463-10005"}},
		{"visa13=4222222222222 end", []string{"4222222222222"}},
		{"two cards 5555555555554444 and 6011111111111117", []string{"5555555555554444", "6011111111111117"}},
		{"qty 3 4242424242424242", []string{"3 4242424242424242"}},
	}
	for _, tc := range cases {
		if got := Find(tc.text); !slices.Equal(got, tc.want) {
			t.Errorf("Find(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
}

func TestIgnoresWhatIsNoCardNumber(t *testing.T) {
	for _, text := range []string{
		`{"time":"2026-03-01T09:00:00.123456789Z","firm_id":"0b0e5f6e-4c2a-4a37-9d0b-1f0e7f4b2a11"}`,
		`"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"`,
		"created 1732435200 period_end 1735027200",
		"4242424242424241",            // fails the Luhn check
		"424242424242",                // too short
		"42424242424242424242",        // too long
		"cus_4242424242424242",        // an identifier
		"in_1MtHbELkdIwHu7ixl4OzzPMv", // Stripe ids
	} {
		if got := Find(text); len(got) > 0 {
			t.Errorf("Find(%q) = %q, want nothing", text, got)
		}
	}
}
