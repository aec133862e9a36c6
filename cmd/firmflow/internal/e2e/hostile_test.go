package e2e

import (
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// hostileOperation is a REST binding with what the generator needs to fill it: the
// request message and which of its fields travel in the body.
type hostileOperation struct {
	operation
	request protoreflect.MessageDescriptor
	reply   protoreflect.MessageDescriptor
	body    string // "" (none: fields go in the query), "*", or one field's name
	inPath  map[string]bool
}

// hostileOperations reads the REST bindings with their request messages from the
// registered protos, as restOperations does for the cross-firm matrix.
func hostileOperations(t *testing.T) []hostileOperation {
	t.Helper()
	var ops []hostileOperation
	protoregistry.GlobalFiles.RangeFiles(func(file protoreflect.FileDescriptor) bool {
		if !strings.HasPrefix(string(file.Package()), "firmflow.") {
			return true
		}
		for i := range file.Services().Len() {
			methods := file.Services().Get(i).Methods()
			for j := range methods.Len() {
				m := methods.Get(j)
				rule, _ := proto.GetExtension(m.Options(), annotations.E_Http).(*annotations.HttpRule)
				if rule == nil {
					continue
				}
				for _, r := range append([]*annotations.HttpRule{rule}, rule.GetAdditionalBindings()...) {
					method, path := httpBinding(r)
					inPath := map[string]bool{}
					for _, v := range templateVariable.FindAllString(path, -1) {
						name, _, _ := strings.Cut(strings.Trim(v, "{}"), "=")
						top, _, _ := strings.Cut(name, ".")
						inPath[top] = true
					}
					ops = append(ops, hostileOperation{
						operation: operation{rpc: string(m.FullName()), method: method, path: expandTemplate(path)},
						request:   m.Input(), reply: m.Output(), body: r.GetBody(), inPath: inPath,
					})
				}
			}
		}
		return true
	})
	if len(ops) < 50 {
		t.Fatalf("found %d REST operations in the registered protos", len(ops))
	}
	return ops
}

// hostileStrings are values that have broken parsers, queries and templates elsewhere.
// Raw ones are written into JSON bodies as bytes, unescaped, so invalid UTF-8 reaches
// the server as sent.
var hostileStrings = []string{
	"", " ", "\x00", "\xed\xa0\x80", "\xff\xfe", "' OR 1=1 --", "\"; DROP TABLE clients; --", "%00", "%ED%A0%80",
	"../../etc/passwd", "firms/../../x", "firms/-/clients/-", "{{7*7}}${jndi:ldap://x}", "<script>alert(1)</script>",
	"\u202e\u0644\u0627", "🧾会計", "NaN", "-1", "1e309", "9223372036854775808", "2026-13-45T99:99:99Z", "-999999999s",
	strings.Repeat("a", 70_000), strings.Repeat("\\u0000", 1000),
}

// hostileRequest builds one hostile request for op: ids in the path (the firm's own
// or hostile), query parameters and a body whose fields get values of wrong types,
// out of range or hostile strings; sometimes a body that is not JSON at all.
func hostileRequest(r *rand.Rand, op hostileOperation, ids map[string]string) (path, body string) {
	segs := strings.Split(op.path, "/")
	for i, seg := range segs {
		base, verb, _ := strings.Cut(seg, ":")
		if base != "*" {
			continue
		}
		id := ids[segs[i-1]]
		if id == "" || r.IntN(3) == 0 {
			hostile := hostileStrings[r.IntN(len(hostileStrings))]
			id = url.PathEscape(hostile[:min(200, len(hostile))])
		}
		segs[i] = id
		if verb != "" {
			segs[i] += ":" + verb
		}
	}
	path = strings.Join(segs, "/")

	fields := op.request.Fields()
	if op.body != "" && op.body != "*" {
		if f := fields.ByName(protoreflect.Name(op.body)); f != nil && f.Message() != nil {
			fields = f.Message().Fields()
		}
	}
	query := url.Values{}
	var members []string
	for i := range fields.Len() {
		f := fields.Get(i)
		if op.inPath[string(f.Name())] || r.IntN(2) == 0 {
			continue
		}
		if op.body == "" {
			// Capped: a client will not send a header list over the server's
			// advertised limit at all.
			hostile := hostileStrings[r.IntN(len(hostileStrings))]
			query.Set(f.JSONName(), hostile[:min(2000, len(hostile))])
			continue
		}
		members = append(members, strconv.Quote(f.JSONName())+":"+hostileValue(r, f, 0))
	}
	if op.body == "" && r.IntN(4) == 0 {
		query.Set("unknown_"+strconv.Itoa(r.IntN(9)), "x") // a parameter no request has
	}
	if len(query) > 0 {
		path += "?" + query.Encode()
	}
	if op.body == "" {
		return path, ""
	}
	switch r.IntN(12) {
	case 0:
		return path, "{" // truncated
	case 1:
		return path, strings.Repeat("[", 5000) // deep nesting
	case 2:
		return path, "[]"
	case 3:
		return path, `{"a":1,"a":2}`
	}
	return path, "{" + strings.Join(members, ",") + "}"
}

// hostileValue is a JSON value for field f: usually the wrong kind or out of range.
func hostileValue(r *rand.Rand, f protoreflect.FieldDescriptor, depth int) string {
	if (f.IsList() || f.IsMap()) && r.IntN(3) == 0 {
		switch r.IntN(3) {
		case 0:
			return "[" + strings.TrimSuffix(strings.Repeat(`"x",`, 20_000), ",") + "]"
		case 1:
			return `{"k":` + scalarHostile(r, f) + `}`
		default:
			return "null"
		}
	}
	if f.Message() != nil && depth < 3 && r.IntN(2) == 0 {
		var members []string
		fields := f.Message().Fields()
		for i := range fields.Len() {
			members = append(members, strconv.Quote(fields.Get(i).JSONName())+":"+hostileValue(r, fields.Get(i), depth+1))
		}
		return "{" + strings.Join(members, ",") + "}"
	}
	return scalarHostile(r, f)
}

func scalarHostile(r *rand.Rand, f protoreflect.FieldDescriptor) string {
	switch r.IntN(6) {
	case 0:
		return "1e400"
	case 1:
		return "-9223372036854775809"
	case 2:
		return "true"
	case 3:
		return `{"nested":[null]}`
	case 4:
		if f.Kind() == protoreflect.EnumKind {
			return `"` + string(f.Enum().FullName()) + `_NOPE"`
		}
	}
	s := hostileStrings[r.IntN(len(hostileStrings))]
	if r.IntN(2) == 0 {
		return `"` + s + `"` // raw: control bytes and invalid UTF-8 as they are
	}
	b, _ := json.Marshal(s)
	return string(b)
}

// TestHostileInputOverEveryOperation sends hostile requests to every REST operation the
// protos declare, as a signed-in owner with the firm's real ids: wrong types, values out
// of range, invalid UTF-8 and control bytes, huge strings and lists, broken and deeply
// nested JSON, hostile path segments and unknown query parameters. No answer may be a
// 5xx, and the stack must serve a plain read afterwards. FIRMFLOW_HOSTILE_REQUESTS sets
// how many requests (default: 4 per operation); `make fuzz` sends 100,000.
func TestHostileInputOverEveryOperation(t *testing.T) {
	t.Parallel()
	sys := start(t, nil)
	f := sys.signUp(t, "hostilegen")
	w := seedWork(t, f)
	ids := map[string]string{
		"firms": lastID(f.name), "clients": lastID(w.client), "templates": lastID(w.template), "projects": lastID(w.project),
		"tasks": lastID(w.task), "series": lastID(w.series), "members": lastID(f.owner), "capacities": lastID(f.owner),
	}
	ops := hostileOperations(t)
	var usable []hostileOperation
	for _, op := range ops {
		// Sign-out would end the session the rest of the run uses.
		if !strings.HasSuffix(op.path, "logout") && !strings.HasPrefix(op.path, "/v1/sessions/") {
			usable = append(usable, op)
		}
	}
	total := 4 * len(usable)
	if n, err := strconv.Atoi(os.Getenv("FIRMFLOW_HOSTILE_REQUESTS")); err == nil && n > 0 {
		total = n
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("%d hostile requests over %d operations, seed %d", total, len(usable), seed)
	r := rand.New(rand.NewPCG(seed, 0))

	statuses := map[int]int{}
	for i := range total {
		op := usable[i%len(usable)]
		path, body := hostileRequest(r, op, ids)
		var sent any
		if body != "" {
			sent = body
		}
		resp := f.client.do(op.method, path, sent)
		statuses[resp.status]++
		if resp.status >= 500 {
			t.Errorf("%d %s from %s (%s) %s\nbody sent: %s", resp.status, truncate(string(resp.raw), 300), op.method, op.rpc,
				truncate(path, 300), truncate(body, 300))
		}
		if resp.status == http.StatusUnauthorized && f.client.do("GET", "/v1/caller", nil).status != http.StatusOK {
			t.Fatalf("%s %s ended the session: %s", op.method, truncate(path, 300), truncate(string(resp.raw), 300))
		}
	}
	t.Logf("answers by status: %v", statuses)
	want(t, f.client.do("GET", "/v1/"+w.client, nil), http.StatusOK, "a plain read after the hostile run")
	if len(statuses) < 3 {
		t.Errorf("answers %v: the generator hardly varied what it sent", statuses)
	}
}
