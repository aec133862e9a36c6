// Package firmdatatest serves a service's FirmDataService over mutual TLS, as in
// production, and gives tests what they check of it: the export as decoded rows,
// the row counts, and callers with lifecycle's certificate and with another's.
package firmdatatest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	lifecyclev1 "github.com/firmflow/firmflow/pkg/gen/firmflow/lifecycle/v1"
	"github.com/firmflow/firmflow/pkg/rpc"
	"github.com/firmflow/firmflow/pkg/tlsconf"
)

// Callers are clients of a served FirmDataService: Lifecycle presents lifecycle's
// certificate, Other the gateway's.
type Callers struct {
	Lifecycle lifecyclev1.FirmDataServiceClient
	Other     lifecyclev1.FirmDataServiceClient
}

// Serve builds a gRPC server as production does (mTLS, the standard interceptors,
// policies), lets register add the service's implementations, and serves it until
// the test ends.
func Serve(t testing.TB, service string, policies rpc.Policies, register func(*grpc.Server)) Callers {
	t.Helper()
	pki, err := tlsconf.EnsureDevPKI(filepath.Join(t.TempDir(), "tls"), []string{service, "lifecycle", "gateway"})
	if err != nil {
		t.Fatal(err)
	}
	serverTLS, err := tlsconf.MutualServerConfig(pki.CAFile, pki.CertFile(service), pki.KeyFile(service))
	if err != nil {
		t.Fatal(err)
	}
	srv, _, err := rpc.NewServer(rpc.ServerConfig{TLS: serverTLS, Policies: policies, Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	register(srv)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)

	client := func(name string) lifecyclev1.FirmDataServiceClient {
		cfg, err := tlsconf.ClientConfig(pki.CAFile, pki.CertFile(name), pki.KeyFile(name))
		if err != nil {
			t.Fatal(err)
		}
		cfg.ServerName = service
		conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return lifecyclev1.NewFirmDataServiceClient(conn)
	}
	return Callers{Lifecycle: client("lifecycle"), Other: client("gateway")}
}

// Export is a firm's export as the test reads it: rows per entity, decoded, and the
// raw bytes of every row for searching.
type Export struct {
	Rows map[string][]map[string]any
	Raw  []byte
}

// ExportFirm calls ExportFirmData and decodes it, failing the test when rows of one
// entity differ in keys or their order, or an entity changes schema version.
func ExportFirm(t testing.TB, c lifecyclev1.FirmDataServiceClient, firm string) Export {
	t.Helper()
	stream, err := c.ExportFirmData(context.Background(), &lifecyclev1.ExportFirmDataRequest{Firm: firm})
	if err != nil {
		t.Fatal(err)
	}
	out := Export{Rows: map[string][]map[string]any{}}
	keysOf := map[string][]string{}
	versions := map[string]uint32{}
	for {
		b, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("export: %v", err)
		}
		if v, ok := versions[b.GetEntity()]; ok && v != b.GetSchemaVersion() {
			t.Errorf("%s: schema version %d then %d", b.GetEntity(), v, b.GetSchemaVersion())
		}
		versions[b.GetEntity()] = b.GetSchemaVersion()
		if b.GetSchemaVersion() == 0 {
			t.Errorf("%s: no schema version", b.GetEntity())
		}
		for _, raw := range b.GetRows() {
			keys, err := orderedKeys(raw)
			if err != nil {
				t.Fatalf("%s: row is not a JSON object: %v", b.GetEntity(), err)
			}
			if first, ok := keysOf[b.GetEntity()]; !ok {
				keysOf[b.GetEntity()] = keys
			} else if !equal(first, keys) {
				t.Errorf("%s: row keys %v, first row had %v", b.GetEntity(), keys, first)
			}
			var row map[string]any
			if err := json.Unmarshal(raw, &row); err != nil {
				t.Fatal(err)
			}
			out.Rows[b.GetEntity()] = append(out.Rows[b.GetEntity()], row)
			out.Raw = append(append(out.Raw, raw...), '\n')
		}
	}
}

// Counts calls CountFirmRows and answers rows per table.
func Counts(t testing.TB, c lifecyclev1.FirmDataServiceClient, firm string) map[string]int64 {
	t.Helper()
	resp, err := c.CountFirmRows(context.Background(), &lifecyclev1.CountFirmRowsRequest{Firm: firm})
	if err != nil {
		t.Fatalf("count firm rows: %v", err)
	}
	out := map[string]int64{}
	for _, tc := range resp.GetTables() {
		out[tc.GetTable()] = tc.GetRows()
	}
	return out
}

// Delete calls DeleteFirmData and answers rows removed per table and the facts.
func Delete(t testing.TB, c lifecyclev1.FirmDataServiceClient, firm string) (map[string]int64, map[string]string) {
	t.Helper()
	resp, err := c.DeleteFirmData(context.Background(), &lifecyclev1.DeleteFirmDataRequest{Firm: firm, Deletion: "deletions/test"})
	if err != nil {
		t.Fatalf("delete firm data: %v", err)
	}
	out := map[string]int64{}
	for _, tc := range resp.GetDeleted() {
		out[tc.GetTable()] += tc.GetRows()
	}
	return out, resp.GetFacts()
}

// Total sums counts.
func Total(counts map[string]int64) int64 {
	var n int64
	for _, c := range counts {
		n += c
	}
	return n
}

// EqualCounts reports whether two count maps hold the same tables and numbers.
func EqualCounts(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func orderedKeys(raw []byte) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// testWriter sends the server's log to the test's, so a failed call says why.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
