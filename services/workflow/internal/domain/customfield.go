package domain

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/firmflow/firmflow/pkg/apierr"
)

// CustomFieldType is the kind of value a custom field holds.
type CustomFieldType string

const (
	FieldText         CustomFieldType = "text"
	FieldNumber       CustomFieldType = "number"
	FieldDate         CustomFieldType = "date" // "YYYY-MM-DD"
	FieldBoolean      CustomFieldType = "boolean"
	FieldMember       CustomFieldType = "member" // firms/{firm}/members/{member}
	FieldSingleSelect CustomFieldType = "single_select"
	FieldMultiSelect  CustomFieldType = "multi_select"
)

// CustomFieldTypes lists every type.
var CustomFieldTypes = []CustomFieldType{FieldText, FieldNumber, FieldDate, FieldBoolean, FieldMember, FieldSingleSelect, FieldMultiSelect}

// Limits of custom fields.
const (
	MaxCustomFields      = 100 // per firm
	MaxCustomOptions     = 100
	MaxCustomOptionLen   = 100
	MaxCustomTextLen     = 1000
	MaxCustomDisplayName = 200
)

// CustomFieldKeyPattern is what a key looks like: it names values in the API and CSV
// columns, so it is plain.
var CustomFieldKeyPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// CustomField is a typed field a firm adds to its clients.
type CustomField struct {
	ID          string
	FirmID      string
	Key         string // never changes
	DisplayName string
	Type        CustomFieldType // never changes
	Options     []string        // the choices of select fields
	Version     int64
	CreateTime  time.Time
	UpdateTime  time.Time
	DeleteTime  time.Time // set on tombstones only
}

// Selects reports whether the field's values are chosen from its options.
func (f CustomField) Selects() bool { return f.Type == FieldSingleSelect || f.Type == FieldMultiSelect }

// Problems lists what is wrong with a definition, by API field name.
func (f CustomField) Problems() []apierr.FieldViolation {
	var out []apierr.FieldViolation
	add := func(field, rule, desc string) {
		out = append(out, apierr.FieldViolation{Field: field, Rule: rule, Description: desc})
	}
	if !CustomFieldKeyPattern.MatchString(f.Key) {
		add("key", "string.pattern", "a lower-case letter, then up to 62 lower-case letters, digits or underscores")
	}
	if strings.TrimSpace(f.DisplayName) == "" || !singleLine(f.DisplayName, MaxCustomDisplayName) {
		add("display_name", "string.text", fmt.Sprintf("1 to %d characters, no control characters", MaxCustomDisplayName))
	}
	if !slices.Contains(CustomFieldTypes, f.Type) {
		add("type", "enum", "text, number, date, boolean, member, single_select or multi_select")
	}
	switch {
	case f.Selects() && len(f.Options) == 0:
		add("options", "repeated.min_items", "a select field needs options")
	case !f.Selects() && len(f.Options) > 0:
		add("options", "repeated.max_items", "only select fields have options")
	default:
		if msg := checkOptions(f.Options); msg != "" {
			add("options", "repeated.option", msg)
		}
	}
	return out
}

func checkOptions(options []string) string {
	if len(options) > MaxCustomOptions {
		return fmt.Sprintf("at most %d options", MaxCustomOptions)
	}
	seen := map[string]bool{}
	for _, o := range options {
		if o == "" || strings.ContainsRune(o, ';') || !singleLine(o, MaxCustomOptionLen) {
			return fmt.Sprintf("each option 1 to %d characters, no control characters or semicolons", MaxCustomOptionLen)
		}
		if seen[o] {
			return fmt.Sprintf("option %q is listed twice", o)
		}
		seen[o] = true
	}
	return ""
}

// RemovedOptions returns the options of f that next no longer has.
func (f CustomField) RemovedOptions(next []string) []string {
	var out []string
	for _, o := range f.Options {
		if !slices.Contains(next, o) {
			out = append(out, o)
		}
	}
	return out
}

// CheckValue returns v in its stored form if it fits the field, or a description of
// what a value must look like. v is as encoding/json decodes it.
func (f CustomField) CheckValue(v any, firmID string) (any, string) {
	switch f.Type {
	case FieldText:
		if s, ok := v.(string); ok && multiLine(s, MaxCustomTextLen) {
			return s, ""
		}
		return nil, fmt.Sprintf("text of at most %d characters", MaxCustomTextLen)
	case FieldNumber:
		if n, ok := v.(float64); ok && !math.IsNaN(n) && !math.IsInf(n, 0) {
			return n, ""
		}
		return nil, "a finite number"
	case FieldDate:
		if s, ok := v.(string); ok {
			if d, err := time.Parse(time.DateOnly, s); err == nil {
				return d.Format(time.DateOnly), ""
			}
		}
		return nil, "a date as YYYY-MM-DD"
	case FieldBoolean:
		if b, ok := v.(bool); ok {
			return b, ""
		}
		return nil, "true or false"
	case FieldMember:
		if s, ok := v.(string); ok {
			if _, ok := MemberID(firmID, s); ok {
				return s, ""
			}
		}
		return nil, "a member of this firm: firms/{firm}/members/{member}"
	case FieldSingleSelect:
		if s, ok := v.(string); ok && slices.Contains(f.Options, s) {
			return s, ""
		}
		return nil, "one of the field's options"
	case FieldMultiSelect:
		list, ok := v.([]any)
		if !ok {
			return nil, "a list of the field's options"
		}
		out := make([]any, 0, len(list))
		seen := map[string]bool{}
		for _, item := range list {
			s, ok := item.(string)
			if !ok || !slices.Contains(f.Options, s) || seen[s] {
				return nil, "a list of distinct options of the field"
			}
			seen[s] = true
			out = append(out, s)
		}
		return out, ""
	}
	return nil, "a value of a known type"
}

// CheckCustomValues checks a client's values against the firm's definitions (by
// key) and returns them in stored form, or the problems, named custom_fields.<key>.
func CheckCustomValues(values map[string]any, defs map[string]CustomField, firmID string) (map[string]any, []apierr.FieldViolation) {
	var problems []apierr.FieldViolation
	out := make(map[string]any, len(values))
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		field := "custom_fields." + k
		def, ok := defs[k]
		if !ok {
			problems = append(problems, apierr.FieldViolation{Field: field, Rule: "custom_field.defined", Description: "the firm has no custom field " + k})
			continue
		}
		v, msg := def.CheckValue(values[k], firmID)
		if msg != "" {
			problems = append(problems, apierr.FieldViolation{Field: field, Rule: "custom_field." + string(def.Type), Description: msg})
			continue
		}
		out[k] = v
	}
	return out, problems
}

// ParseCell reads a value of the field from a CSV cell; an empty cell is no value
// (nil). Multi-select options are separated by semicolons.
func (f CustomField) ParseCell(cell string) (any, string) {
	cell = strings.TrimSpace(cell)
	if cell == "" {
		return nil, ""
	}
	var v any = cell
	switch f.Type {
	case FieldNumber:
		n, err := strconv.ParseFloat(cell, 64)
		if err != nil {
			return nil, "a number such as 1200 or 12.5"
		}
		v = n
	case FieldBoolean:
		switch strings.ToLower(cell) {
		case "true", "yes", "1":
			v = true
		case "false", "no", "0":
			v = false
		default:
			return nil, "true or false"
		}
	case FieldMultiSelect:
		var list []any
		for _, part := range strings.Split(cell, ";") {
			if part = strings.TrimSpace(part); part != "" {
				list = append(list, part)
			}
		}
		v = list
	}
	return f.CheckValue(v, f.FirmID)
}

// FormatCell writes a stored value as a CSV cell, the inverse of ParseCell.
func FormatCell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case []any:
		parts := make([]string, 0, len(x))
		for _, item := range x {
			parts = append(parts, FormatCell(item))
		}
		return strings.Join(parts, ";")
	}
	return fmt.Sprint(v)
}
