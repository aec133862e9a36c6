package e2e

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/firmflow/firmflow/pkg/keyfile"
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
	gone := want(t, doomed.client.do("POST", "/v1/"+doomed.name+"/clients", map[string]any{"display_name": "Gone", "external_id": "crm-9"}),
		http.StatusCreated, "client to delete").str("name")
	want(t, doomed.client.do("DELETE", "/v1/"+gone, nil), http.StatusOK, "delete client")
	key := want(t, doomed.client.do("POST", "/v1/"+doomed.name+"/apiKeys", map[string]any{
		"display_name": "crm", "scopes": []string{"identity:read", "clients:write"},
	}), http.StatusCreated, "key").str("secret")
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
	if len(ops.list("operations")) != 0 {
		t.Fatalf("refused requests left operations: %s", ops.raw)
	}

	// A grace period: read-only, then cancelled.
	r = want(t, doomed.client.do("POST", request, map[string]any{"password": password}), http.StatusCreated, "request with default grace")
	if r.str("operation", "metadata", "state") != "OPERATION_STATE_SCHEDULED" || !strings.HasPrefix(r.str("certificate_token"), "ffdc_") {
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
	if c.str("metadata", "state") != "OPERATION_STATE_CANCELLED" || c.get("done") != true {
		t.Fatalf("cancelled: %s", c.raw)
	}
	want(t, doomed.client.do("POST", "/v1/"+doomed.name+"/clients", map[string]any{"display_name": "After cancel"}), http.StatusCreated, "write after cancel")

	// Grace 0: the deletion runs at once.
	r = want(t, doomed.client.do("POST", request, map[string]any{"password": password, "grace_days": 0}), http.StatusCreated, "request with grace 0")
	token, op := r.str("certificate_token"), r.str("operation", "name")
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
	got, err := certificate.Verify(cert, pub)
	if err != nil {
		t.Fatalf("certificate does not verify: %v\n%s", err, cert)
	}
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
	altered := bytes.Replace(cert, []byte(doomed.name), []byte(kept.name), 1)
	if _, err := certificate.Verify(altered, pub); err == nil {
		t.Error("an altered certificate verifies")
	}

	// The deleted firm's credentials are refused; the other firm is as it was.
	want(t, doomed.client.do("GET", "/v1/caller", nil), http.StatusUnauthorized, "deleted firm's session")
	want(t, crm.do("GET", "/v1/"+doomed.name+"/clients", nil), http.StatusUnauthorized, "deleted firm's API key")
	want(t, kept.client.do("GET", "/v1/caller", nil), http.StatusOK, "other firm's session")
	clients := want(t, kept.client.do("GET", "/v1/"+kept.name+"/clients", nil), http.StatusOK, "other firm's clients")
	if n := len(clients.list("clients")); n != 2 {
		t.Errorf("other firm has %d clients, want 2", n)
	}
	bogus := "ffdc_" + strings.Repeat("A", 43)
	if status, _, _ := anon.raw(t, "/v1/deletionCertificates/"+bogus, nil); status != http.StatusNotFound {
		t.Errorf("unknown token: %d", status)
	}
}

// TestFirmExportEndToEnd exports a firm and downloads the archive, whole and by range.
func TestFirmExportEndToEnd(t *testing.T) {
	t.Parallel()
	sys := start(t, nil)
	f := sys.signUp(t, "exporter")
	want(t, f.client.do("POST", "/v1/"+f.name+"/clients", map[string]any{"display_name": "=cmd|' /C calc'!A0", "tax_id": "123-45-6789"}),
		http.StatusCreated, "client")
	op := want(t, f.client.do("POST", "/v1/"+f.name+"/exports", map[string]any{}), http.StatusCreated, "export").str("name")
	var export string
	eventually(t, "export done", func() bool {
		r := want(t, f.client.do("GET", "/v1/"+op, nil), http.StatusOK, "operation")
		export = r.str("response", "export")
		return r.get("done") == true
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
