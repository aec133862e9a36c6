package main

import (
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2/options"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/compiler/protogen"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The gateway's headers and cookie (services/gateway/internal/httpapi).
const (
	sessionCookie      = "firmflow_session"
	csrfHeader         = "X-CSRF-Token"
	supportGrantHeader = "X-Support-Grant"
)

// maxQueryDepth bounds how deep nested request messages become query parameters, as
// the gateway's own reading of the routes does.
const maxQueryDepth = 4

type generator struct {
	schemas  *schemas
	policies *policyReader
	doc      *document
	// ids are the operation ids: the method's name, or Service_Method where two
	// services have a method of the same name.
	ids map[*protogen.Method]string
}

func build(p *protogen.Plugin) (*document, error) {
	policies, err := newPolicyReader(p.Request)
	if err != nil {
		return nil, err
	}
	g := &generator{schemas: newSchemas(p.Files), policies: policies, doc: newDocument(), ids: map[*protogen.Method]string{}}
	var methods []*protogen.Method
	for _, f := range p.Files {
		if !f.Generate {
			continue
		}
		for _, svc := range f.Services {
			for _, m := range svc.Methods {
				if httpRule(m) != nil {
					methods = append(methods, m)
				}
			}
		}
	}
	count := map[string]int{}
	for _, m := range methods {
		count[m.GoName]++
	}
	tagged := map[string]bool{}
	for _, m := range methods {
		g.ids[m] = m.GoName
		if count[m.GoName] > 1 {
			g.ids[m] = m.Parent.GoName + "_" + m.GoName
		}
		if svc := m.Parent; !tagged[svc.GoName] {
			tagged[svc.GoName] = true
			g.doc.Tags = append(g.doc.Tags, tag{Name: svc.GoName, Description: comment(svc.Comments.Leading)})
		}
		if err := g.addMethod(m); err != nil {
			return nil, err
		}
	}
	g.addExportDownload()
	sort.Slice(g.doc.Tags, func(i, j int) bool { return g.doc.Tags[i].Name < g.doc.Tags[j].Name })
	for name, s := range g.schemas.out {
		g.doc.Components.Schemas[name] = s
	}
	return g.doc, nil
}

func httpRule(m *protogen.Method) *annotations.HttpRule {
	if m.Desc.IsStreamingClient() || m.Desc.IsStreamingServer() {
		return nil
	}
	rule, _ := proto.GetExtension(m.Desc.Options(), annotations.E_Http).(*annotations.HttpRule)
	return rule
}

func (g *generator) addMethod(m *protogen.Method) error {
	rule := httpRule(m)
	pol, ok := g.policies.read(m.Desc.Options())
	if !ok {
		return fmt.Errorf("%s has an HTTP binding but no firmflow.api.v1.policy", m.Desc.FullName())
	}
	for i, r := range append([]*annotations.HttpRule{rule}, rule.GetAdditionalBindings()...) {
		verb, template := ruleVerb(r)
		if verb == "" {
			return fmt.Errorf("%s: unsupported HTTP rule %v", m.Desc.FullName(), r)
		}
		id := g.ids[m]
		if i > 0 {
			id = fmt.Sprintf("%s_%d", id, i+1)
		}
		op, path, err := g.operation(m, pol, verb, template, r.GetBody(), id)
		if err != nil {
			return fmt.Errorf("%s: %w", m.Desc.FullName(), err)
		}
		if err := g.put(path, verb, op); err != nil {
			return fmt.Errorf("%s: %w", m.Desc.FullName(), err)
		}
	}
	return nil
}

func (g *generator) put(path, verb string, op *operation) error {
	item := g.doc.Paths[path]
	if item == nil {
		item = &pathItem{}
		g.doc.Paths[path] = item
	}
	slot := map[string]**operation{
		http.MethodGet: &item.Get, http.MethodPut: &item.Put, http.MethodPost: &item.Post,
		http.MethodDelete: &item.Delete, http.MethodPatch: &item.Patch,
	}[verb]
	if *slot != nil {
		return fmt.Errorf("%s %s is bound twice: %s and %s", verb, path, (*slot).OperationID, op.OperationID)
	}
	*slot = op
	return nil
}

func ruleVerb(r *annotations.HttpRule) (string, string) {
	switch p := r.GetPattern().(type) {
	case *annotations.HttpRule_Get:
		return http.MethodGet, p.Get
	case *annotations.HttpRule_Post:
		return http.MethodPost, p.Post
	case *annotations.HttpRule_Patch:
		return http.MethodPatch, p.Patch
	case *annotations.HttpRule_Put:
		return http.MethodPut, p.Put
	case *annotations.HttpRule_Delete:
		return http.MethodDelete, p.Delete
	}
	return "", ""
}

func (g *generator) operation(m *protogen.Method, pol policy, verb, template, body, id string) (*operation, string, error) {
	path, params, bound := expandPath(template)
	desc := comment(m.Comments.Leading)
	op := &operation{
		OperationID: id,
		Summary:     summary(desc, m.GoName),
		Description: desc,
		Tags:        []string{m.Parent.GoName},
		Security:    security(pol, verb),
		Responses:   map[string]*response{},
		Policy:      &policyExtension{RPC: string(m.Desc.FullName()), Public: pol.public, Roles: pol.roles, Scope: pol.scope},
	}
	for _, p := range params {
		field := fieldByPath(m.Input, p.field)
		if field == nil {
			return nil, "", fmt.Errorf("path variable %s names no field of %s", p.field, m.Input.Desc.FullName())
		}
		op.Parameters = append(op.Parameters, &parameter{
			Name: p.name, In: "path", Required: true, Description: p.description,
			Schema: &schema{Type: "string", Pattern: "^[^/]+$"},
		})
	}
	if pol.supportGrant() {
		op.Parameters = append(op.Parameters, &parameter{Ref: ref("parameters", "SupportGrant")})
	}
	ifMatch := false
	switch body {
	case "*":
		skip := map[string]bool{}
		for _, b := range bound {
			skip[b] = true
		}
		s := g.schemas.message(m.Input, skip)
		if len(skip) == 0 {
			s = g.schemas.ref(m.Input.Desc.FullName())
		}
		op.RequestBody = &requestBody{Required: true, Content: map[string]mediaType{"application/json": {Schema: s}}}
		ifMatch = m.Input.Desc.Fields().ByName("etag") != nil
	case "":
		op.Parameters = append(op.Parameters, g.queryParams(m.Input, "", boundSet(bound, ""), maxQueryDepth)...)
		ifMatch = m.Input.Desc.Fields().ByName("etag") != nil
	default:
		field := fieldByPath(m.Input, body)
		if field == nil || field.Message == nil {
			return nil, "", fmt.Errorf("body %q is not a message field of %s", body, m.Input.Desc.FullName())
		}
		op.RequestBody = &requestBody{
			Description: comment(field.Comments.Leading),
			Required:    fieldRequired(field),
			Content:     map[string]mediaType{"application/json": {Schema: g.schemas.single(field, nil)}},
		}
		op.Parameters = append(op.Parameters, g.queryParams(m.Input, "", boundSet(bound, body), maxQueryDepth)...)
		ifMatch = field.Message.Desc.Fields().ByName("etag") != nil || m.Input.Desc.Fields().ByName("etag") != nil
	}
	// The gateway puts If-Match into the request's etag on PATCH, DELETE and upserts.
	ifMatch = ifMatch && (verb == http.MethodPatch || verb == http.MethodDelete || pol.upsert)
	if ifMatch {
		op.Parameters = append(op.Parameters, &parameter{Ref: ref("parameters", "IfMatch")})
	}
	if pol.upsert {
		// An upsert answers 201 when it created the resource, 200 when it changed it.
		created := pol
		created.created = true
		op.Responses["201"] = g.success(m, created)
		op.Responses["200"] = g.success(m, pol)
		op.Responses["200"].Description = "OK: the resource existed and was changed"
	} else {
		op.Responses[successCode(pol)] = g.success(m, pol)
	}
	for _, code := range errorResponses(pol, verb, ifMatch) {
		op.Responses[code] = &response{Ref: ref("responses", errorResponseNames[code])}
	}
	return op, path, nil
}

func successCode(pol policy) string {
	switch {
	case pol.created:
		return "201"
	case pol.accepted:
		return "202"
	}
	return "200"
}

// success is the answer of a call that worked: the response message as JSON, or for
// a google.api.HttpBody the media types the method's openapiv2_operation option
// names, with the headers the gateway adds (ETag, Location).
func (g *generator) success(m *protogen.Method, pol policy) *response {
	out := m.Output
	r := &response{
		Description: map[string]string{"200": "OK", "201": "Created", "202": "Accepted"}[successCode(pol)],
		Content:     map[string]mediaType{},
		Headers:     rateLimitHeaders(),
	}
	switch out.Desc.FullName() {
	case "google.api.HttpBody":
		produces := []string{"application/octet-stream"}
		if o, _ := proto.GetExtension(m.Desc.Options(), options.E_Openapiv2Operation).(*options.Operation); len(o.GetProduces()) > 0 {
			produces = o.GetProduces()
		}
		for _, media := range produces {
			s := &schema{Type: "string"}
			switch {
			case media == "application/json":
				s = &schema{Type: "object", AdditionalProperties: &schema{}}
			case media == "application/jsonl" || media == "application/x-ndjson":
				s = &schema{Type: "string", Description: "JSON Lines: one JSON object a line."}
			case !strings.HasPrefix(media, "text/"):
				s = &schema{Type: "string", ContentMediaType: media}
			}
			r.Content[media] = mediaType{Schema: s}
		}
	case "google.protobuf.Empty":
		r.Content["application/json"] = mediaType{Schema: &schema{Type: "object", Description: "An empty object."}}
	default:
		r.Content["application/json"] = mediaType{Schema: g.schemas.ref(out.Desc.FullName())}
		if out.Desc.Fields().ByName("etag") != nil {
			r.Headers["ETag"] = &header{Ref: ref("headers", "ETag")}
		}
		if pol.created && out.Desc.Fields().ByName("name") != nil {
			r.Headers["Location"] = &header{Ref: ref("headers", "Location")}
		}
	}
	if cookie, ok := sessionCookies[m.Desc.FullName()]; ok {
		r.Headers["Set-Cookie"] = &header{Description: cookie, Required: true, Schema: &schema{Type: "string"}}
	}
	return r
}

// sessionCookies are the methods whose answer the gateway gives the session cookie
// (services/gateway/internal/httpapi/session.go).
var sessionCookies = map[protoreflect.FullName]string{
	"firmflow.identity.v1.IdentityService.Login": "`" + sessionCookie + "=<session token>; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=<session lifetime>`: " +
		"the session, which the gateway takes out of the JSON body so that scripts never see it.",
	"firmflow.identity.v1.IdentityService.Logout": "`" + sessionCookie + "=; Max-Age=0`: the browser forgets the session.",
}

// errorResponses are the error statuses an operation can answer, by the AIP-193
// mapping the gateway applies to every error.
func errorResponses(pol policy, verb string, ifMatch bool) []string {
	codes := []string{"400", "401"}
	if !pol.public {
		codes = append(codes, "403")
	}
	codes = append(codes, "404")
	if verb != http.MethodGet {
		codes = append(codes, "409")
	}
	if ifMatch {
		codes = append(codes, "412")
	}
	return append(codes, "429", "500", "503")
}

var errorResponseNames = map[string]string{
	"400": "BadRequest", "401": "Unauthenticated", "403": "PermissionDenied", "404": "NotFound",
	"409": "Conflict", "412": "PreconditionFailed", "429": "TooManyRequests", "500": "Internal",
	"503": "Unavailable",
}

// security lists the credentials a method takes: none when public; otherwise the
// session cookie (with X-CSRF-Token unless the method is GET) for members, a bearer
// API key with the method's scope, a bearer staff session for staff.
func security(pol policy, verb string) []securityRequirement {
	if pol.public {
		return []securityRequirement{}
	}
	var out []securityRequirement
	if len(pol.roles) > 0 || pol.duringEnrollment {
		if verb == http.MethodGet {
			out = append(out, securityRequirement{"session": {}})
		} else {
			out = append(out, securityRequirement{"session": {}, "csrf": {}})
		}
	}
	if pol.scope != "" {
		out = append(out, securityRequirement{"apiKey": {pol.scope}})
	}
	if pol.staff || (len(pol.roles) > 0 && !pol.noSupport) {
		out = append(out, securityRequirement{"staffSession": {}})
	}
	if len(out) == 0 {
		out = append(out, securityRequirement{"session": {}})
	}
	return out
}

// queryParams are the request fields neither the path nor the body binds, as
// grpc-gateway reads them from the query: nested messages with dotted names, lists
// as repeated parameters.
func (g *generator) queryParams(msg *protogen.Message, prefix string, bound map[string]bool, depth int) []*parameter {
	var out []*parameter
	for _, f := range msg.Fields {
		name := prefix + string(f.Desc.Name())
		if bound[name] || f.Desc.IsMap() || outputOnly(f) {
			continue
		}
		if f.Message != nil && !f.Desc.IsList() && g.schemas.wellKnown(f.Message.Desc.FullName()) == nil {
			if depth > 1 {
				out = append(out, g.queryParams(f.Message, name+".", bound, depth-1)...)
			}
			continue
		}
		s := g.schemas.field(f)
		p := &parameter{Name: name, In: "query", Description: s.Description, Schema: s, Required: fieldRequired(f)}
		s.Description = ""
		if f.Desc.IsList() {
			p.Explode = new(bool)
			*p.Explode = true
		}
		out = append(out, p)
	}
	return out
}

func boundSet(paths []string, body string) map[string]bool {
	out := map[string]bool{}
	for _, p := range paths {
		out[p] = true
	}
	if body != "" {
		out[body] = true
	}
	return out
}

func fieldByPath(msg *protogen.Message, path string) *protogen.Field {
	parts := strings.Split(path, ".")
	for i, part := range parts {
		var found *protogen.Field
		for _, f := range msg.Fields {
			if string(f.Desc.Name()) == part {
				found = f
			}
		}
		if found == nil {
			return nil
		}
		if i == len(parts)-1 {
			return found
		}
		if found.Message == nil {
			return nil
		}
		msg = found.Message
	}
	return nil
}

type pathParam struct {
	name, field, description string
}

var pathVariable = regexp.MustCompile(`\{([a-zA-Z0-9_.]+)(?:=([^}]*))?\}`)

// expandPath turns a google.api.http template into an OpenAPI path with one
// parameter per resource id: "/v1/{name=firms/*/clients/*}" is
// "/v1/firms/{firm}/clients/{client}". It returns the parameters and the request
// fields the path binds.
func expandPath(template string) (string, []pathParam, []string) {
	var params []pathParam
	var bound []string
	used := map[string]int{}
	unique := func(name string) string {
		used[name]++
		if used[name] > 1 {
			return fmt.Sprintf("%s%d", name, used[name])
		}
		return name
	}
	path := pathVariable.ReplaceAllStringFunc(template, func(v string) string {
		m := pathVariable.FindStringSubmatch(v)
		field, pattern := m[1], m[2]
		bound = append(bound, field)
		last := field[strings.LastIndex(field, ".")+1:]
		if pattern == "" || pattern == "*" {
			name := unique(lowerCamel(last))
			params = append(params, pathParam{name: name, field: field, description: fmt.Sprintf("The request's `%s`.", field)})
			return "{" + name + "}"
		}
		segments := strings.Split(pattern, "/")
		for i, seg := range segments {
			if seg != "*" && seg != "**" {
				continue
			}
			name := lowerCamel(last)
			if i > 0 && segments[i-1] != "*" {
				name = singular(segments[i-1])
			}
			name = unique(name)
			params = append(params, pathParam{name: name, field: field,
				description: fmt.Sprintf("The %s id: `%s` is `%s`.", name, field, resourcePattern(segments))})
			segments[i] = "{" + name + "}"
		}
		return strings.Join(segments, "/")
	})
	return path, params, bound
}

// resourcePattern writes a name pattern with its ids named: firms/{firm}/clients/{client}.
func resourcePattern(segments []string) string {
	out := make([]string, len(segments))
	for i, seg := range segments {
		out[i] = seg
		if seg == "*" && i > 0 {
			out[i] = "{" + singular(segments[i-1]) + "}"
		}
	}
	return strings.Join(out, "/")
}

// singular names one element of a collection segment: clients -> client,
// capacities -> capacity, series -> series.
func singular(collection string) string {
	switch {
	case strings.HasSuffix(collection, "series"):
		return collection
	case strings.HasSuffix(collection, "ies"):
		return strings.TrimSuffix(collection, "ies") + "y"
	case strings.HasSuffix(collection, "sses"):
		return strings.TrimSuffix(collection, "es")
	}
	return strings.TrimSuffix(collection, "s")
}

func lowerCamel(snake string) string {
	parts := strings.Split(snake, "_")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}

// summary is the first sentence of the method's comment, or its name.
func summary(desc, name string) string {
	text := strings.Join(strings.Fields(desc), " ")
	if text == "" {
		return name
	}
	if i := strings.Index(text, ". "); i >= 0 {
		text = text[:i+1]
	}
	return text
}
