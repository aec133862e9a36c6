package main

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/compiler/protogen"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// schemas turns proto messages and enums into JSON schemas as the gateway's JSON
// (protojson with proto field names) reads and writes them, and collects every one
// it refers to under components.schemas.
type schemas struct {
	messages map[protoreflect.FullName]*protogen.Message
	enums    map[protoreflect.FullName]*protogen.Enum
	// names are the component names: the short proto name, or the package's
	// service segment and the name where two packages use the same one.
	names map[protoreflect.FullName]string
	out   map[string]*schema
}

func newSchemas(files []*protogen.File) *schemas {
	s := &schemas{
		messages: map[protoreflect.FullName]*protogen.Message{},
		enums:    map[protoreflect.FullName]*protogen.Enum{},
		names:    map[protoreflect.FullName]string{},
		out:      map[string]*schema{},
	}
	var walk func(ms []*protogen.Message)
	walk = func(ms []*protogen.Message) {
		for _, m := range ms {
			s.messages[m.Desc.FullName()] = m
			for _, e := range m.Enums {
				s.enums[e.Desc.FullName()] = e
			}
			walk(m.Messages)
		}
	}
	for _, f := range files {
		walk(f.Messages)
		for _, e := range f.Enums {
			s.enums[e.Desc.FullName()] = e
		}
	}
	short := map[string][]protoreflect.FullName{}
	add := func(full protoreflect.FullName, pkg protoreflect.FullName) {
		name := strings.TrimPrefix(string(full), string(pkg)+".")
		short[name] = append(short[name], full)
	}
	for full, m := range s.messages {
		add(full, m.Desc.ParentFile().Package())
	}
	for full, e := range s.enums {
		add(full, e.Desc.ParentFile().Package())
	}
	for name, fulls := range short {
		for _, full := range fulls {
			if len(fulls) == 1 {
				s.names[full] = name
				continue
			}
			// firmflow.workflow.v1.Operation -> workflow.Operation
			parts := strings.Split(string(full), ".")
			s.names[full] = parts[1] + "." + name
		}
	}
	return s
}

// ref returns a reference to the component schema of a message or enum, making it on
// first use.
func (s *schemas) ref(full protoreflect.FullName) *schema {
	name := s.names[full]
	if name == "" {
		panic(fmt.Sprintf("no schema for %s: its file is not in the request", full))
	}
	if _, done := s.out[name]; !done {
		s.out[name] = nil // placeholder against recursion
		if m, ok := s.messages[full]; ok {
			s.out[name] = s.message(m, nil)
		} else {
			s.out[name] = s.enum(s.enums[full])
		}
	}
	return &schema{Ref: ref("schemas", name)}
}

func (s *schemas) enum(e *protogen.Enum) *schema {
	out := &schema{Type: "string", Description: comment(e.Comments.Leading)}
	var values []string
	for _, v := range e.Values {
		values = append(values, string(v.Desc.Name()))
		if c := comment(v.Comments.Leading); c != "" {
			out.Description = strings.TrimSpace(out.Description + "\n- `" + string(v.Desc.Name()) + "`: " + strings.ReplaceAll(c, "\n", " "))
		}
	}
	out.Enum = values
	return out
}

// message is the object schema of m, without the fields in skip (bound to the path).
func (s *schemas) message(m *protogen.Message, skip map[string]bool) *schema {
	if wk := s.wellKnown(m.Desc.FullName()); wk != nil {
		return wk
	}
	out := &schema{Type: "object", Description: comment(m.Comments.Leading), Properties: map[string]*schema{}}
	for _, f := range m.Fields {
		name := string(f.Desc.Name())
		if skip[name] {
			continue
		}
		fs := s.field(f)
		out.Properties[name] = fs
		if fieldRequired(f) {
			out.Required = append(out.Required, name)
		}
	}
	// A required oneof: one of its fields must be set.
	for _, o := range m.Oneofs {
		if o.Desc.IsSynthetic() {
			continue
		}
		rules, _ := proto.GetExtension(o.Desc.Options(), validate.E_Oneof).(*validate.OneofRules)
		if rules.GetRequired() {
			var names []string
			for _, f := range o.Fields {
				names = append(names, "`"+string(f.Desc.Name())+"`")
			}
			out.Description = strings.TrimSpace(out.Description + "\n\nExactly one of " + strings.Join(names, ", ") + " is required.")
		}
	}
	return out
}

// field is the schema of one field: its type, its description, readOnly for output
// only fields, and the limits its buf.validate rules set.
func (s *schemas) field(f *protogen.Field) *schema {
	rules, _ := proto.GetExtension(f.Desc.Options(), validate.E_Field).(*validate.FieldRules)
	var out *schema
	switch {
	case f.Desc.IsMap():
		key, value := f.Message.Fields[0], f.Message.Fields[1]
		out = &schema{Type: "object", AdditionalProperties: s.single(value, rules.GetMap().GetValues())}
		if names := constrain(&schema{Type: "string"}, key.Desc, rules.GetMap().GetKeys()); names.Pattern != "" || names.MaxLength != nil {
			names.Type = ""
			out.PropertyNames = names
		}
		if r := rules.GetMap(); r != nil {
			if r.HasMinPairs() {
				out.MinProperties = u64(r.GetMinPairs())
			}
			if r.HasMaxPairs() {
				out.MaxProperties = u64(r.GetMaxPairs())
			}
		}
	case f.Desc.IsList():
		out = &schema{Type: "array", Items: s.single(f, rules.GetRepeated().GetItems())}
		if r := rules.GetRepeated(); r != nil {
			if r.HasMinItems() {
				out.MinItems = u64(r.GetMinItems())
			}
			if r.HasMaxItems() {
				out.MaxItems = u64(r.GetMaxItems())
			}
			out.UniqueItems = r.GetUnique()
		}
	default:
		out = s.single(f, rules)
	}
	desc := comment(f.Comments.Leading)
	if out.Ref != "" {
		// A $ref with siblings is fine in 3.1; keep the field's own description.
		out = &schema{Ref: out.Ref}
	}
	out.Description = joinText(desc, out.Description)
	if outputOnly(f) {
		out.ReadOnly = true
	}
	return out
}

// single is the schema of one value of f (an element of a list, a map's value).
func (s *schemas) single(f *protogen.Field, rules *validate.FieldRules) *schema {
	d := f.Desc
	switch d.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		if wk := s.wellKnown(d.Message().FullName()); wk != nil {
			return wk
		}
		return s.ref(d.Message().FullName())
	case protoreflect.EnumKind:
		if d.Enum().FullName() == "google.protobuf.NullValue" {
			return &schema{Type: "null"}
		}
		return s.ref(d.Enum().FullName())
	}
	return constrain(scalar(d.Kind()), d, rules)
}

func scalar(k protoreflect.Kind) *schema {
	switch k {
	case protoreflect.BoolKind:
		return &schema{Type: "boolean"}
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return &schema{Type: "integer", Format: "int32"}
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return &schema{Type: "integer", Format: "int64", Minimum: f64(0)}
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		// protojson writes 64-bit integers as strings.
		return &schema{Type: "string", Format: "int64", Pattern: "^-?[0-9]+$"}
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return &schema{Type: "string", Format: "uint64", Pattern: "^[0-9]+$"}
	case protoreflect.FloatKind:
		return &schema{Type: "number", Format: "float"}
	case protoreflect.DoubleKind:
		return &schema{Type: "number", Format: "double"}
	case protoreflect.BytesKind:
		return &schema{Type: "string", ContentEncoding: "base64"}
	}
	return &schema{Type: "string"}
}

// constrain adds the limits of a scalar's buf.validate rules to its schema.
func constrain(out *schema, d protoreflect.FieldDescriptor, rules *validate.FieldRules) *schema {
	if rules == nil {
		return out
	}
	if r := rules.GetString(); r != nil {
		if r.HasMinLen() {
			out.MinLength = u64(r.GetMinLen())
		}
		if r.HasMaxLen() {
			out.MaxLength = u64(r.GetMaxLen())
		}
		if r.HasLen() {
			out.MinLength, out.MaxLength = u64(r.GetLen()), u64(r.GetLen())
		}
		if r.HasPattern() {
			out.Pattern = r.GetPattern()
		}
		if len(r.GetIn()) > 0 {
			out.Enum = r.GetIn()
		}
		switch {
		case r.GetEmail():
			out.Format = "email"
		case r.GetUuid():
			out.Format = "uuid"
		case r.GetUri():
			out.Format = "uri"
		}
	}
	type bounds struct{ gte, lte, gt, lt *float64 }
	var b bounds
	switch {
	case rules.GetInt32() != nil:
		r := rules.GetInt32()
		if r.HasGte() {
			b.gte = f64(float64(r.GetGte()))
		}
		if r.HasGt() {
			b.gt = f64(float64(r.GetGt()))
		}
		if r.HasLte() {
			b.lte = f64(float64(r.GetLte()))
		}
		if r.HasLt() {
			b.lt = f64(float64(r.GetLt()))
		}
	case rules.GetUint32() != nil:
		r := rules.GetUint32()
		if r.HasGte() {
			b.gte = f64(float64(r.GetGte()))
		}
		if r.HasLte() {
			b.lte = f64(float64(r.GetLte()))
		}
	case rules.GetDouble() != nil:
		r := rules.GetDouble()
		if r.HasGte() {
			b.gte = f64(r.GetGte())
		}
		if r.HasGt() {
			b.gt = f64(r.GetGt())
		}
		if r.HasLte() {
			b.lte = f64(r.GetLte())
		}
		if r.HasLt() {
			b.lt = f64(r.GetLt())
		}
	case rules.GetInt64() != nil && out.Type == "integer":
		r := rules.GetInt64()
		if r.HasGte() {
			b.gte = f64(float64(r.GetGte()))
		}
		if r.HasLte() {
			b.lte = f64(float64(r.GetLte()))
		}
	}
	if b.gte != nil {
		out.Minimum = b.gte
	}
	if b.lte != nil {
		out.Maximum = b.lte
	}
	out.ExclusiveMinimum, out.ExclusiveMaximum = b.gt, b.lt
	if r := rules.GetBytes(); r != nil && r.HasMaxLen() {
		out.Description = fmt.Sprintf("At most %d bytes before base64.", r.GetMaxLen())
	}
	return out
}

// wellKnown is the JSON form protojson gives a google.protobuf type, or nil.
func (s *schemas) wellKnown(full protoreflect.FullName) *schema {
	switch full {
	case "google.protobuf.Timestamp":
		return &schema{Type: "string", Format: "date-time"}
	case "google.protobuf.Duration":
		return &schema{Type: "string", Pattern: `^-?[0-9]+(\.[0-9]{1,9})?s$`, Description: `Seconds with an "s" suffix, e.g. "3600s".`}
	case "google.protobuf.FieldMask":
		return &schema{Type: "string", Description: "Comma-separated field names, e.g. `display_name,tags`."}
	case "google.protobuf.Struct":
		return &schema{Type: "object", AdditionalProperties: &schema{}}
	case "google.protobuf.Value":
		return &schema{}
	case "google.protobuf.ListValue":
		return &schema{Type: "array", Items: &schema{}}
	case "google.protobuf.Empty":
		return &schema{Type: "object"}
	case "google.protobuf.StringValue":
		return &schema{Type: "string"}
	case "google.protobuf.BoolValue":
		return &schema{Type: "boolean"}
	case "google.protobuf.Int32Value", "google.protobuf.UInt32Value":
		return &schema{Type: "integer"}
	case "google.protobuf.Int64Value", "google.protobuf.UInt64Value":
		return &schema{Type: "string", Format: "int64"}
	case "google.protobuf.DoubleValue", "google.protobuf.FloatValue":
		return &schema{Type: "number"}
	case "google.protobuf.BytesValue":
		return &schema{Type: "string", ContentEncoding: "base64"}
	case "google.protobuf.Any":
		return &schema{Type: "object", Properties: map[string]*schema{"@type": {Type: "string"}}, Required: []string{"@type"}, AdditionalProperties: &schema{}}
	}
	return nil
}

// fieldRequired reports a field the request must set: buf.validate's required, or
// google.api.field_behavior REQUIRED.
func fieldRequired(f *protogen.Field) bool {
	rules, _ := proto.GetExtension(f.Desc.Options(), validate.E_Field).(*validate.FieldRules)
	if rules.GetRequired() || hasBehavior(f, annotations.FieldBehavior_REQUIRED) {
		return true
	}
	return zeroRefused(f, rules)
}

// zeroRefused reports a field whose rules refuse its zero value, which protovalidate
// checks on a field without presence unless told to ignore it: an empty string its
// pattern or minimum length rejects, a 0 outside its range or list. Sending nothing
// fails, so the field is required.
func zeroRefused(f *protogen.Field, rules *validate.FieldRules) bool {
	d := f.Desc
	if rules == nil || d.HasPresence() || d.IsList() || d.IsMap() ||
		rules.GetIgnore() == validate.Ignore_IGNORE_IF_ZERO_VALUE || rules.GetIgnore() == validate.Ignore_IGNORE_ALWAYS {
		return false
	}
	if r := rules.GetString(); r != nil {
		switch {
		case r.GetMinLen() > 0, r.GetLen() > 0, r.GetEmail(), r.GetUuid(), r.GetUri(), r.GetHostname():
			return true
		case r.HasPattern():
			re, err := regexp.Compile(r.GetPattern())
			if err == nil && !re.MatchString("") {
				return true
			}
		}
		return len(r.GetIn()) > 0 && !slices.Contains(r.GetIn(), "")
	}
	if r := rules.GetInt32(); r != nil {
		return (r.HasGt() && r.GetGt() >= 0) || (r.HasGte() && r.GetGte() > 0) ||
			(r.HasLt() && r.GetLt() <= 0) || (r.HasLte() && r.GetLte() < 0) ||
			(len(r.GetIn()) > 0 && !slices.Contains(r.GetIn(), 0))
	}
	if r := rules.GetEnum(); r != nil {
		return slices.Contains(r.GetNotIn(), 0) || (len(r.GetIn()) > 0 && !slices.Contains(r.GetIn(), 0))
	}
	return false
}

// outputOnly reports a field the service sets and ignores on input:
// google.api.field_behavior OUTPUT_ONLY, a comment that starts "Output only", or one
// of the standard fields AIP-148 defines as output only on a resource (a message with
// a name that is not a request).
func outputOnly(f *protogen.Field) bool {
	if hasBehavior(f, annotations.FieldBehavior_OUTPUT_ONLY) {
		return true
	}
	if strings.HasPrefix(strings.ToLower(comment(f.Comments.Leading)), "output only") {
		return true
	}
	owner := f.Parent.Desc
	return aipOutputOnly[f.Desc.Name()] && owner.Fields().ByName("name") != nil &&
		!strings.HasSuffix(string(owner.Name()), "Request")
}

// aipOutputOnly are AIP-148's output only standard fields.
var aipOutputOnly = map[protoreflect.Name]bool{"create_time": true, "update_time": true, "delete_time": true, "purge_time": true, "uid": true}

func hasBehavior(f *protogen.Field, b annotations.FieldBehavior) bool {
	behaviors, _ := proto.GetExtension(f.Desc.Options(), annotations.E_FieldBehavior).([]annotations.FieldBehavior)
	for _, x := range behaviors {
		if x == b {
			return true
		}
	}
	return false
}

// comment is a proto comment as Markdown: one space of indentation removed from
// each line.
func comment(c protogen.Comments) string {
	lines := strings.Split(strings.TrimRight(string(c), "\n "), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(l, " ")
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}

// joinText joins non-empty paragraphs.
func joinText(parts ...string) string {
	var kept []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, "\n\n")
}
