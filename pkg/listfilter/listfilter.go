// Package listfilter parses the `filter` of List requests: the subset of AIP-160 a
// list offers, comparisons of a field with a literal joined by AND, for instance
//
//	update_time > "2026-12-01T00:00:00Z" AND kind = CLIENT_KIND_PERSON
//
// Each list declares its fields and their types in a [Schema]; anything else (an
// unknown field, an operator the field does not take, OR, NOT, parentheses,
// functions, a timestamp that is not RFC 3339) is refused with INVALID_ARGUMENT
// naming `filter` and the rule broken, so a typo never widens a list. The error
// never repeats a value from the filter.
//
// A filter is parsed once, in the handler; its [Filter.String] is canonical (the
// same conditions always print the same), which is what binds page tokens to it.
//
// go.einride.tech/aip/filtering parses the whole AIP-160 grammar into a CEL
// expression that a list would then have to walk and mostly refuse (OR, NOT,
// functions, traversal), and its errors are free text; lists need only
// conjunctions of comparisons, with errors in pkg/apierr's shape, so this parser
// is small and strict instead (FuzzParse checks it).
package listfilter

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/firmflow/firmflow/pkg/apierr"
)

// MaxTerms bounds the comparisons in one filter.
const MaxTerms = 16

// Type is what a field compares with.
type Type int

const (
	// Timestamp fields take RFC 3339 timestamps and <, <=, > and >=.
	Timestamp Type = iota + 1
	// String fields take = with a string.
	String
	// Enum fields take = with one of Field.Values.
	Enum
)

// Field declares one filterable field.
type Field struct {
	Type Type
	// Values an Enum field may take.
	Values []string
	// Pattern, when set, is what a String field's value must match.
	Pattern *regexp.Regexp
}

// Schema is the fields one list can be filtered by, by name.
type Schema map[string]Field

// Op is a comparison operator.
type Op string

const (
	Equal        Op = "="
	Less         Op = "<"
	LessEqual    Op = "<="
	Greater      Op = ">"
	GreaterEqual Op = ">="
)

// Term is one comparison.
type Term struct {
	Field string
	Op    Op
	Value string    // as written, without quotes
	Time  time.Time // for Timestamp fields
}

// Bound is one comparison of a timestamp field.
type Bound struct {
	Op   Op
	Time time.Time
}

// Filter is a parsed filter: every term must hold.
type Filter struct {
	terms []Term
}

func invalid(rule, format string, args ...any) error {
	return apierr.InvalidArgument("filter", "filter."+rule, fmt.Sprintf(format, args...))
}

// Parse reads s against schema. The empty filter matches everything.
func Parse(s string, schema Schema) (Filter, error) {
	var f Filter
	l := lexer{src: s}
	if l.skipSpace(); l.done() {
		return f, nil
	}
	for {
		t, err := l.term(schema)
		if err != nil {
			return Filter{}, err
		}
		if err := f.add(t, schema); err != nil {
			return Filter{}, err
		}
		if l.skipSpace(); l.done() {
			return f, nil
		}
		if !l.keyword("AND") {
			return Filter{}, invalid("syntax", "expected AND at position %d: terms are joined by AND (OR, NOT and parentheses are not supported)", l.pos+1)
		}
	}
}

func (f *Filter) add(t Term, schema Schema) error {
	if len(f.terms) == MaxTerms {
		return invalid("terms", "at most %d comparisons", MaxTerms)
	}
	if schema[t.Field].Type != Timestamp && slices.ContainsFunc(f.terms, func(o Term) bool { return o.Field == t.Field }) {
		return invalid("repeated", "%s may be compared once", t.Field)
	}
	f.terms = append(f.terms, t)
	return nil
}

// Empty reports whether the filter has no terms.
func (f Filter) Empty() bool { return len(f.terms) == 0 }

// Has reports whether the filter compares field.
func (f Filter) Has(field string) bool {
	return slices.ContainsFunc(f.terms, func(t Term) bool { return t.Field == field })
}

// Value is the value an equality term gives field, "" when it has none.
func (f Filter) Value(field string) string {
	for _, t := range f.terms {
		if t.Field == field && t.Op == Equal {
			return t.Value
		}
	}
	return ""
}

// Bounds are the comparisons of the timestamp field, in the filter's order.
func (f Filter) Bounds(field string) []Bound {
	var out []Bound
	for _, t := range f.terms {
		if t.Field == field {
			out = append(out, Bound{Op: t.Op, Time: t.Time})
		}
	}
	return out
}

// Merge is the value of field from the filter or from the request parameter of the
// same name, which must agree when both are set.
func (f Filter) Merge(field, param string) (string, error) {
	v := f.Value(field)
	switch {
	case v == "":
		return param, nil
	case param != "" && param != v:
		return "", invalid("conflict", "%s is given both as a parameter and in filter, with different values", field)
	}
	return v, nil
}

// String is the canonical form of the filter: terms in order, values quoted,
// timestamps in UTC. It parses back to the same filter.
func (f Filter) String() string {
	parts := make([]string, len(f.terms))
	for i, t := range f.terms {
		v := t.Value
		if !t.Time.IsZero() {
			v = t.Time.UTC().Format(time.RFC3339Nano)
		}
		parts[i] = t.Field + " " + string(t.Op) + " " + quote(v)
	}
	return strings.Join(parts, " AND ")
}

// quote writes v as a filter string: only " and \ are escaped, as value reads them.
func quote(v string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
}

type lexer struct {
	src string
	pos int
}

func (l *lexer) done() bool { return l.pos >= len(l.src) }

func (l *lexer) skipSpace() {
	for !l.done() && (l.src[l.pos] == ' ' || l.src[l.pos] == '\t' || l.src[l.pos] == '\n' || l.src[l.pos] == '\r') {
		l.pos++
	}
}

// keyword consumes word when it comes next as a whole word.
func (l *lexer) keyword(word string) bool {
	rest := l.src[l.pos:]
	if !strings.HasPrefix(rest, word) || (len(rest) > len(word) && isIdent(rest[len(word)])) {
		return false
	}
	l.pos += len(word)
	return true
}

func isIdent(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isBare(c byte) bool {
	return isIdent(c) || c == '.' || c == ':' || c == '+' || c == '-'
}

// term reads `field op value`.
func (l *lexer) term(schema Schema) (Term, error) {
	var t Term
	l.skipSpace()
	start := l.pos
	for !l.done() && isIdent(l.src[l.pos]) {
		l.pos++
	}
	t.Field = l.src[start:l.pos]
	if t.Field == "" || t.Field == "AND" || t.Field == "OR" || t.Field == "NOT" {
		return t, invalid("syntax", "expected a field name at position %d", start+1)
	}
	field, ok := schema[t.Field]
	if !ok {
		return t, invalid("field", "no field %s to filter by; the fields are %s", quoteField(t.Field), fieldNames(schema))
	}
	l.skipSpace()
	op, err := l.operator()
	if err != nil {
		return t, err
	}
	t.Op = op
	l.skipSpace()
	if t.Value, err = l.value(); err != nil {
		return t, err
	}
	return t, check(&t, field)
}

// quoteField shows a field name the caller wrote, shortened: it is a name, not a value.
func quoteField(name string) string {
	if len(name) > 40 {
		name = name[:40] + "..."
	}
	return strconv.Quote(name)
}

func fieldNames(schema Schema) string {
	names := make([]string, 0, len(schema))
	for name := range schema {
		names = append(names, name)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

func (l *lexer) operator() (Op, error) {
	for _, op := range []Op{"!=", LessEqual, GreaterEqual, Equal, Less, Greater, ":"} {
		if strings.HasPrefix(l.src[l.pos:], string(op)) {
			if op == "!=" || op == ":" {
				return "", invalid("operator", "operator %s is not supported; use =, <, <=, > or >=", op)
			}
			l.pos += len(op)
			return op, nil
		}
	}
	return "", invalid("syntax", "expected an operator (=, <, <=, >, >=) at position %d", l.pos+1)
}

// value reads a "quoted" string (with \" and \\ escapes) or a bare literal.
func (l *lexer) value() (string, error) {
	if l.done() {
		return "", invalid("syntax", "expected a value at the end of the filter")
	}
	if l.src[l.pos] != '"' {
		start := l.pos
		for !l.done() && isBare(l.src[l.pos]) {
			l.pos++
		}
		if l.pos == start {
			return "", invalid("syntax", "expected a value at position %d: a \"quoted string\" or a literal", start+1)
		}
		return l.src[start:l.pos], nil
	}
	start := l.pos
	var b strings.Builder
	for l.pos++; !l.done(); l.pos++ {
		c := l.src[l.pos]
		switch {
		case c == '"':
			l.pos++
			return b.String(), nil
		case c == '\\' && l.pos+1 < len(l.src) && (l.src[l.pos+1] == '"' || l.src[l.pos+1] == '\\'):
			l.pos++
			b.WriteByte(l.src[l.pos])
		case c == '\\':
			return "", invalid("syntax", "only \\\" and \\\\ escapes are allowed in a string (position %d)", l.pos+1)
		case c < 0x20 || c == 0x7f:
			return "", invalid("syntax", "control character in the string at position %d", l.pos+1)
		default:
			b.WriteByte(c)
		}
	}
	return "", invalid("syntax", "string opened at position %d is not closed", start+1)
}

// check applies the field's type to a term.
func check(t *Term, field Field) error {
	switch field.Type {
	case Timestamp:
		if t.Op == Equal {
			return invalid("operator", "%s takes <, <=, > or >=", t.Field)
		}
		ts, err := time.Parse(time.RFC3339Nano, t.Value)
		if err != nil {
			return invalid("timestamp", "%s takes an RFC 3339 timestamp, e.g. \"2026-12-01T00:00:00Z\"", t.Field)
		}
		t.Time = ts.UTC()
	case Enum:
		if t.Op != Equal {
			return invalid("operator", "%s takes =", t.Field)
		}
		if !slices.Contains(field.Values, t.Value) {
			return invalid("value", "%s takes one of %s", t.Field, strings.Join(field.Values, ", "))
		}
	default:
		if t.Op != Equal {
			return invalid("operator", "%s takes =", t.Field)
		}
		if !utf8Printable(t.Value) || field.Pattern != nil && !field.Pattern.MatchString(t.Value) {
			return invalid("value", "%s does not take this value", t.Field)
		}
	}
	return nil
}

func utf8Printable(s string) bool {
	if !utf8.ValidString(s) || s == "" {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}
