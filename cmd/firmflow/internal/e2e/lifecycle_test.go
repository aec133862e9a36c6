package e2e

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	identityv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/identity/v1"
	lifecyclev1 "github.com/firmflow/firmflow/pkg/gen/firmflow/lifecycle/v1"
	workflowv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/workflow/v1"
	"github.com/firmflow/firmflow/pkg/keyfile"
	"github.com/firmflow/firmflow/pkg/natsx"
	"github.com/firmflow/firmflow/pkg/outbox"
	"github.com/firmflow/firmflow/services/lifecycle/certificate"
)

// get fetches a path as it is, without decoding, for binary bodies.
func (c *client) raw(t *testing.T, path string, header map[string]string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.sys.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, body
}

// eventually polls check every 200ms for up to 30s.
func eventually(t *testing.T, what string, check func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !check() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestFirmDeletionEndToEnd deletes one of two firms over HTTPS: bad requests change
// nothing, the grace period makes the firm read-only and can be cancelled, a deletion
// with grace 0 leaves no row in any service, the deleted firm's session and API key
// stop working, the other firm is untouched, and the certificate fetched with the
// token verifies offline and fails once altered.
func TestFirmDeletionEndToEnd(t *testing.T) {
	t.Parallel()
	sys := start(t, nil)
	doomed := sys.signUp(t, "doomed")
	kept := sys.signUp(t, "kept")
	for _, f := range []firm{doomed, kept} {
		want(t, f.client.do("POST", "/v1/"+f.name+"/clients", map[string]any{"display_name": "Ada of " + f.name, "tax_id": "123-45-6789"}),
			http.StatusCreated, "client")
	}
	// A deleted client's tombstone is the firm's data too: the residue scan must find none.
	gone := message[*workflowv1.Client](t, want(t, doomed.client.do("POST", "/v1/"+doomed.name+"/clients", map[string]any{"display_name": "Gone", "external_id": "crm-9"}),
		http.StatusCreated, "client to delete")).GetName()
	want(t, doomed.client.do("DELETE", "/v1/"+gone, nil), http.StatusOK, "delete client")
	key := message[*identityv1.ApiKey](t, want(t, doomed.client.do("POST", "/v1/"+doomed.name+"/apiKeys", map[string]any{
		"display_name": "crm", "scopes": []string{"identity:read", "clients:write"},
	}), http.StatusCreated, "key")).GetSecret()
	crm := sys.integration(key)
	request := "/v1/" + doomed.name + ":requestDeletion"

	// Refusals, each naming the rule, none changing anything.
	r := want(t, crm.do("POST", request, map[string]any{"password": password, "grace_days": 0}), http.StatusForbidden, "API key")
	if r.reason() != "API_KEY_NOT_ALLOWED" {
		t.Errorf("API key: reason %q", r.reason())
	}
	r = want(t, doomed.client.do("POST", request, map[string]any{"password": "wrong password", "grace_days": 0}), http.StatusUnauthorized, "wrong password")
	if r.reason() != "BAD_CREDENTIALS" {
		t.Errorf("wrong password: reason %q", r.reason())
	}
	r = want(t, doomed.client.do("POST", request, map[string]any{"password": password, "grace_days": 31}), http.StatusBadRequest, "grace 31")
	if !slices.Contains(r.fields(), "grace_days") {
		t.Errorf("grace 31: fields %v", r.fields())
	}
	want(t, kept.client.do("POST", request, map[string]any{"password": password}), http.StatusNotFound, "another firm's deletion")
	ops := want(t, doomed.client.do("GET", "/v1/"+doomed.name+"/operations", nil), http.StatusOK, "operations")
	if len(message[*lifecyclev1.ListOperationsResponse](t, ops).GetOperations()) != 0 {
		t.Fatalf("refused requests left operations: %s", ops.raw)
	}

	// A grace period: read-only, then cancelled.
	r = want(t, doomed.client.do("POST", request, map[string]any{"password": password}), http.StatusCreated, "request with default grace")
	if s := message[*lifecyclev1.RequestFirmDeletionResponse](t, r); s.GetOperation().GetMetadata().GetState() != lifecyclev1.OperationState_OPERATION_STATE_SCHEDULED ||
		!strings.HasPrefix(s.GetCertificateToken(), "ffdc_") {
		t.Fatalf("scheduled: %s", r.raw)
	}
	want(t, doomed.client.do("POST", request, map[string]any{"password": password}), http.StatusConflict, "second request")
	w := want(t, doomed.client.do("POST", "/v1/"+doomed.name+"/clients", map[string]any{"display_name": "Late"}), http.StatusBadRequest, "write during grace")
	if w.reason() != "FIRM_DELETION_SCHEDULED" {
		t.Errorf("write during grace: reason %q", w.reason())
	}
	want(t, doomed.client.do("GET", "/v1/"+doomed.name+"/clients", nil), http.StatusOK, "read during grace")
	want(t, kept.client.do("POST", "/v1/"+kept.name+"/clients", map[string]any{"display_name": "Unaffected"}), http.StatusCreated, "other firm writes")
	c := want(t, doomed.client.do("POST", "/v1/"+doomed.name+":cancelDeletion", map[string]any{}), http.StatusOK, "cancel")
	if op := message[*lifecyclev1.Operation](t, c); op.GetMetadata().GetState() != lifecyclev1.OperationState_OPERATION_STATE_CANCELLED || !op.GetDone() {
		t.Fatalf("cancelled: %s", c.raw)
	}
	want(t, doomed.client.do("POST", "/v1/"+doomed.name+"/clients", map[string]any{"display_name": "After cancel"}), http.StatusCreated, "write after cancel")

	// Every message naming the other firm, as the deletion begins.
	keptBefore := firmMessages(t, sys.stack.NATSURL, strings.TrimPrefix(kept.name, "firms/"))

	// Grace 0: the deletion runs at once.
	r = want(t, doomed.client.do("POST", request, map[string]any{"password": password, "grace_days": 0}), http.StatusCreated, "request with grace 0")
	requested := message[*lifecyclev1.RequestFirmDeletionResponse](t, r)
	token, op := requested.GetCertificateToken(), requested.GetOperation().GetName()
	anon := sys.browser()
	cert, got, pub := awaitCertificate(t, sys, token)
	if got.Firm != doomed.name || got.Deletion != op || !got.ResidueClean || got.AuditChainHead == "" || len(got.DestroyedKeys) == 0 {
		t.Errorf("certificate: %s", cert)
	}
	for _, service := range []string{"identity", "workflow", "billing", "audit"} {
		if len(got.Residue[service]) == 0 {
			t.Errorf("no residue scan of %s", service)
		}
		for _, table := range got.Residue[service] {
			if table.Rows != 0 {
				t.Errorf("residue %s.%s = %d", service, table.Table, table.Rows)
			}
		}
		var deleted int64
		for _, table := range got.Deleted[service] {
			deleted += table.Rows
		}
		if deleted == 0 && service != "billing" {
			t.Errorf("%s deleted nothing: %v", service, got.Deleted[service])
		}
		var before int64
		for _, table := range got.Inventory[service] {
			before += table.Rows
		}
		// The firm was read-only, so nothing changed between the count and the
		// deletion, except audit, which records the requests up to it.
		if service != "audit" && before != deleted {
			t.Errorf("%s: %d rows before, %d deleted", service, before, deleted)
		}
	}
	// JetStream: nothing names the deleted firm alone; what it shares with other firms
	// is what the certificate counts and dates; every message of the other firm stays.
	var purged, shared int64
	for _, st := range got.Streams {
		if !st.Purged || st.Unbounded {
			t.Errorf("stream %+v: want purged and bounded", st)
		}
		purged, shared = purged+st.PurgedMessages, shared+st.SharedMessages
	}
	if purged == 0 || !got.StreamsClearAfter.Equal(got.CompleteAt.Add(30*24*time.Hour)) {
		t.Errorf("streams: %d messages purged, clear after %s (complete %s)", purged, got.StreamsClearAfter, got.CompleteAt)
	}
	var left int64
	for stream, msgs := range firmMessages(t, sys.stack.NATSURL, strings.TrimPrefix(doomed.name, "firms/")) {
		for seq, firms := range msgs {
			if len(firms) == 1 {
				t.Errorf("%s message %d names only the deleted firm", stream, seq)
			}
			left++
		}
	}
	if left != shared {
		t.Errorf("%d messages still name the deleted firm beside others, the certificate counts %d", left, shared)
	}
	keptAfter := firmMessages(t, sys.stack.NATSURL, strings.TrimPrefix(kept.name, "firms/"))
	keptMsgs := 0
	for _, msgs := range keptAfter {
		keptMsgs += len(msgs)
	}
	t.Logf("streams: %d messages of the deleted firm purged, %d shared left; the other firm's %d kept", purged, shared, keptMsgs)
	for stream, msgs := range keptBefore {
		for seq := range msgs {
			if _, ok := keptAfter[stream][seq]; !ok {
				t.Errorf("the other firm's message %d of %s is gone", seq, stream)
			}
		}
	}
	if len(keptBefore["FIRMFLOW_IDENTITY"]) == 0 || len(keptBefore["FIRMFLOW_WORKFLOW"]) == 0 || len(keptBefore["FIRMFLOW_GATEWAY"]) == 0 {
		t.Errorf("the other firm's messages per stream: %d identity, %d workflow, %d gateway; want some in each",
			len(keptBefore["FIRMFLOW_IDENTITY"]), len(keptBefore["FIRMFLOW_WORKFLOW"]), len(keptBefore["FIRMFLOW_GATEWAY"]))
	}

	altered := bytes.Replace(cert, []byte(doomed.name), []byte(kept.name), 1)
	if _, err := certificate.Verify(altered, pub); err == nil {
		t.Error("an altered certificate verifies")
	}

	// The deleted firm's credentials are refused; the other firm is as it was.
	want(t, doomed.client.do("GET", "/v1/caller", nil), http.StatusUnauthorized, "deleted firm's session")
	want(t, crm.do("GET", "/v1/"+doomed.name+"/clients", nil), http.StatusUnauthorized, "deleted firm's API key")
	want(t, kept.client.do("GET", "/v1/caller", nil), http.StatusOK, "other firm's session")
	clients := want(t, kept.client.do("GET", "/v1/"+kept.name+"/clients", nil), http.StatusOK, "other firm's clients")
	if n := len(message[*workflowv1.ListClientsResponse](t, clients).GetClients()); n != 2 {
		t.Errorf("other firm has %d clients, want 2", n)
	}
	bogus := "ffdc_" + strings.Repeat("A", 43)
	if status, _, _ := anon.raw(t, "/v1/deletionCertificates/"+bogus, nil); status != http.StatusNotFound {
		t.Errorf("unknown token: %d", status)
	}
}

// awaitCertificate fetches the deletion certificate with its token, without signing
// in, once it is served, and verifies it with lifecycle's public key, which it
// returns too.
func awaitCertificate(t *testing.T, sys *system, token string) ([]byte, certificate.Certificate, ed25519.PublicKey) {
	t.Helper()
	anon := sys.browser()
	var cert []byte
	eventually(t, "certificate", func() bool {
		status, _, body := anon.raw(t, "/v1/deletionCertificates/"+token, nil)
		cert = body
		return status == http.StatusOK
	})
	pub, err := keyfile.LoadPublic(filepath.Join(filepath.Dir(sys.stack.Material.PublicKey), "lifecycle.pub"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := certificate.Verify(cert, pub)
	if err != nil {
		t.Fatalf("certificate does not verify: %v\n%s", err, cert)
	}
	return cert, c, pub
}

// firmMessages reads every message of every stream and returns, per stream and
// sequence, the firms named by the messages that name firm.
func firmMessages(t *testing.T, url, firm string) map[string]map[uint64][]string {
	t.Helper()
	// One deadline for the whole walk rather than the client's 5 s a request: on a
	// busy machine one of its thousands of lookups may wait longer than that.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	nc, js, err := natsx.Connect(url, "e2e-streams")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	out := map[string]map[uint64][]string{}
	names := js.StreamNames(ctx)
	for name := range names.Name() {
		stream, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		state := stream.CachedInfo().State
		out[name] = map[uint64][]string{}
		for seq := state.FirstSeq; state.Msgs > 0 && seq <= state.LastSeq; seq++ {
			m, err := stream.GetMsg(ctx, seq)
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if firms := m.Header.Values(outbox.HeaderFirmID); slices.Contains(firms, firm) {
				out[name][seq] = firms
			}
		}
	}
	if err := names.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestFirmExportEndToEnd exports a firm and downloads the archive, whole and by range.
func TestFirmExportEndToEnd(t *testing.T) {
	t.Parallel()
	sys := start(t, nil)
	f := sys.signUp(t, "exporter")
	want(t, f.client.do("POST", "/v1/"+f.name+"/clients", map[string]any{"display_name": "=cmd|' /C calc'!A0", "tax_id": "123-45-6789"}),
		http.StatusCreated, "client")
	op := message[*lifecyclev1.Operation](t, want(t, f.client.do("POST", "/v1/"+f.name+"/exports", map[string]any{}), http.StatusCreated, "export")).GetName()
	var export string
	eventually(t, "export done", func() bool {
		r := message[*lifecyclev1.Operation](t, want(t, f.client.do("GET", "/v1/"+op, nil), http.StatusOK, "operation"))
		export = r.GetResponse().GetExport()
		return r.GetDone()
	})
	status, header, archive := f.client.raw(t, "/v1/"+export+":download", nil)
	if status != http.StatusOK || header.Get("Content-Type") != "application/zip" || header.Get("Content-Length") == "" {
		t.Fatalf("download: %d %v", status, header)
	}
	zr, err := zip.NewReader(bytes.NewReader(archive), int64(len(archive)))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, zf := range zr.File {
		rc, _ := zf.Open()
		files[zf.Name], _ = io.ReadAll(rc)
		rc.Close()
	}
	var manifest struct {
		Files []struct {
			Path string `json:"path"`
			Rows int64  `json:"rows"`
		} `json:"files"`
	}
	if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil || len(manifest.Files) == 0 {
		t.Fatalf("manifest: %v %s", err, files["manifest.json"])
	}
	var csvClients []byte
	for name, body := range files {
		if strings.HasPrefix(name, "workflow/") && strings.Contains(name, "client") && strings.HasSuffix(name, ".csv") && bytes.Contains(body, []byte("calc")) {
			csvClients = body
		}
	}
	if !bytes.Contains(csvClients, []byte("'=cmd")) || !bytes.Contains(csvClients, []byte("123-45-6789")) {
		t.Errorf("clients CSV lacks the guarded name or the decrypted tax id:\n%s", csvClients)
	}
	status, header, part := f.client.raw(t, "/v1/"+export+":download", map[string]string{"Range": "bytes=0-9"})
	if status != http.StatusPartialContent || !bytes.Equal(part, archive[:10]) || !strings.HasPrefix(header.Get("Content-Range"), "bytes 0-9/") {
		t.Errorf("range: %d %q %q", status, part, header.Get("Content-Range"))
	}
	other := sys.signUp(t, "snooper")
	if status, _, _ := other.client.raw(t, "/v1/"+export+":download", nil); status != http.StatusNotFound {
		t.Errorf("another firm downloads: %d", status)
	}
}
