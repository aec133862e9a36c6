// Package csvguard keeps CSV exports from running as spreadsheet formulas (CSV
// injection): a cell that starts like a formula is written with a leading quote, and
// an import takes the quote off again. Workflow's client CSV and lifecycle's data
// export both use it.
package csvguard

import "strings"

// formulaStarts are the first characters spreadsheets treat as a formula.
const formulaStarts = "=+-@\t\r"

// Guard prefixes a formula-like cell with a quote. A cell that already starts with
// quotes before a formula character ("'=x") gets one more, so that Unguard can tell
// the quote it must take off from the user's own and every value survives an export
// and a re-import unchanged.
func Guard(s string) string {
	if formulaLike(s) {
		return "'" + s
	}
	return s
}

// Unguard takes off the quote Guard added.
func Unguard(s string) string {
	if rest, ok := strings.CutPrefix(s, "'"); ok && formulaLike(rest) {
		return rest
	}
	return s
}

// formulaLike reports whether s, after any leading quotes, starts like a formula.
func formulaLike(s string) bool {
	rest := strings.TrimLeft(s, "'")
	return rest != "" && strings.ContainsRune(formulaStarts, rune(rest[0]))
}
