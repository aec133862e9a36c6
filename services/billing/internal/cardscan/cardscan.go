// Package cardscan finds what could be a payment card number in text: 13 to 19
// digits, possibly grouped by spaces or dashes, passing the Luhn check. Billing's
// tests run it over every log line they capture, to show that no card number ever
// reaches a log.
package cardscan

import (
	"regexp"
	"strings"
)

// digitRun is digits, each optionally followed by one space or dash before the next.
var digitRun = regexp.MustCompile(`[0-9](?:[ -]?[0-9])*`)

// Find returns the card-like numbers in text. A run of digits glued to letters or an
// underscore is part of an identifier (cus_4242..., a hex trace id) and not counted.
func Find(text string) []string {
	var found []string
	for _, loc := range digitRun.FindAllStringIndex(text, -1) {
		if joined(text, loc[0]-1) || joined(text, loc[1]) {
			continue
		}
		run := text[loc[0]:loc[1]]
		candidates := []string{strings.NewReplacer(" ", "", "-", "").Replace(run)}
		// Groups may be separate numbers side by side; try each on its own too.
		candidates = append(candidates, strings.FieldsFunc(run, func(r rune) bool { return r == ' ' || r == '-' })...)
		for _, digits := range candidates {
			if len(digits) >= 13 && len(digits) <= 19 && Luhn(digits) {
				found = append(found, run)
				break
			}
		}
	}
	return found
}

// joined reports whether text[i] is a letter, digit or underscore.
func joined(text string, i int) bool {
	if i < 0 || i >= len(text) {
		return false
	}
	c := text[i]
	return c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

// Luhn reports whether a string of digits passes the Luhn check that card numbers
// carry.
func Luhn(digits string) bool {
	sum := 0
	double := false
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(digits[i] - '0')
		if d < 0 || d > 9 {
			return false
		}
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}
