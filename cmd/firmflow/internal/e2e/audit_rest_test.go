package e2e

import (
	"bytes"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/firmflow/firmflow/cmd/firmflow/internal/stack"
	auditv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/audit/v1"
	identityv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/identity/v1"
	"github.com/firmflow/firmflow/services/audit/chain"
	"github.com/firmflow/firmflow/services/audit/export"
)

// TestFirmReadsExportsAndVerifiesItsAuditLog drives the audit API as an owner and an
// integration would: requests show up in the log within seconds, filters narrow it,
// the export verifies offline with the audit public key, and members, other firms
// and keys without audit:read are kept out.
func TestFirmReadsExportsAndVerifiesItsAuditLog(t *testing.T) {
	t.Parallel()
	sys := start(t, nil)
	f := sys.signUp(t, "logged")
	other := sys.signUp(t, "elsewhere")
	probe := want(t, f.client.do("GET", "/v1/"+f.name+"/members", nil), http.StatusOK, "a request to find in the log")

	// Within a few seconds the request is in the log, newest first.
	var events []*auditv1.AuditEvent
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := want(t, f.client.do("GET", "/v1/"+f.name+"/auditEvents?action=firmflow.identity.v1.IdentityService/ListMembers", nil), http.StatusOK, "list")
		events = message[*auditv1.ListAuditEventsResponse](t, r).GetAuditEvents()
		if len(events) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(events) != 1 {
		t.Fatalf("%d ListMembers events in the log", len(events))
	}
	if e := events[0]; e.GetAccess() == nil || e.GetAccess().GetRequestId() != probe.header.Get("X-Request-Id") || !strings.HasPrefix(e.GetActor(), "users/") {
		t.Errorf("the event: %v", e)
	}
	changes := message[*auditv1.ListAuditEventsResponse](t, want(t, f.client.do("GET", "/v1/"+f.name+"/auditEvents?kind=AUDIT_EVENT_KIND_CHANGE", nil), http.StatusOK, "changes")).GetAuditEvents()
	if len(changes) == 0 || changes[0].GetChange() == nil {
		t.Errorf("sign-up's changes: %v", changes)
	}

	want(t, f.client.do("POST", "/v1/"+f.name+"/auditCheckpoints", map[string]any{}), http.StatusCreated, "checkpoint")
	verified := want(t, f.client.do("POST", "/v1/"+f.name+"/auditEvents:verify", map[string]any{}), http.StatusOK, "verify")
	if !message[*auditv1.VerifyAuditChainResponse](t, verified).GetValid() {
		t.Errorf("stored chain: %s", verified.raw)
	}

	exported := want(t, f.client.do("GET", "/v1/"+f.name+"/auditEvents:export", nil), http.StatusOK, "export")
	if ct := exported.header.Get("Content-Type"); ct != "application/jsonl" {
		t.Errorf("export content type %q", ct)
	}
	verifier, err := chain.LoadVerifier(stack.AuditPublicKey(filepath.Dir(sys.stack.Material.PKI.Dir)))
	if err != nil {
		t.Fatal(err)
	}
	report, err := export.Verify(bytes.NewReader(exported.raw), verifier)
	if err != nil || !report.Valid() || report.Checkpoints == 0 {
		t.Errorf("offline verification of the export: %+v, %v", report, err)
	}

	for what, r := range map[string]response{
		"another firm's log": other.client.do("GET", "/v1/"+f.name+"/auditEvents", nil),
		"a key without audit:read": sys.integration(message[*identityv1.ApiKey](t, want(t, f.client.do("POST", "/v1/"+f.name+"/apiKeys",
			map[string]any{"display_name": "crm", "scopes": []string{"identity:read"}}), http.StatusCreated, "key")).GetSecret()).
			do("GET", "/v1/"+f.name+"/auditEvents", nil),
		"shortening retention": f.client.do("PATCH", "/v1/"+f.name+"/auditSettings?update_mask=retention_days",
			map[string]any{"retention_days": 399}),
	} {
		if r.status < 400 {
			t.Errorf("%s: %d", what, r.status)
		}
	}
	reader := sys.integration(message[*identityv1.ApiKey](t, want(t, f.client.do("POST", "/v1/"+f.name+"/apiKeys",
		map[string]any{"display_name": "siem", "scopes": []string{"audit:read"}}), http.StatusCreated, "key")).GetSecret())
	want(t, reader.do("GET", "/v1/"+f.name+"/auditEvents?page_size=5", nil), http.StatusOK, "an audit:read key lists")
	if r := reader.do("POST", "/v1/"+f.name+"/auditCheckpoints", map[string]any{}); r.status != http.StatusForbidden {
		t.Errorf("an audit:read key signs a checkpoint: %d", r.status)
	}
}
