// Package csvguard keeps CSV exports from running as spreadsheet formulas (CSV
// injection): a cell that starts like a formula is written with a leading quote, and
// an import takes the quote off again. Workflow's client CSV and lifecycle's data
// export both use it.
package csvguard

import "strings"

// formulaStarts are the first characters spreadsheets treat as a formula.
const formulaStarts = "=+-@\t\r"

// Guard prefixes a formula-like cell with a quote.
func Guard(s string) string {
	if s != "" && strings.ContainsRune(formulaStarts, rune(s[0])) {
		return "'" + s
	}
	return s
}

// Unguard takes off the quote Guard added.
func Unguard(s string) string {
	if len(s) > 1 && s[0] == '\'' && strings.ContainsRune(formulaStarts, rune(s[1])) {
		return s[1:]
	}
	return s
}
