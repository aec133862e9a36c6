package tlsconf

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// handshakeResult is what each side of one TLS handshake saw.
type handshakeResult struct {
	server    tls.ConnectionState
	serverErr error
	client    tls.ConnectionState
	clientErr error
}

// handshake runs one TLS handshake over loopback between a server and a client
// configuration. The server's verdict is the authoritative one: under TLS 1.3 a
// client finishes its handshake before the server has judged its certificate.
func handshake(t *testing.T, serverCfg, clientCfg *tls.Config) handshakeResult {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	type serverSide struct {
		state tls.ConnectionState
		err   error
	}
	done := make(chan serverSide, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			done <- serverSide{err: err}
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second)) // guards against a hung test only
		srv := tls.Server(conn, serverCfg)
		err = srv.Handshake()
		done <- serverSide{state: srv.ConnectionState(), err: err}
	}()

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	cfg := clientCfg.Clone()
	cfg.ServerName = "localhost"
	client := tls.Client(conn, cfg)
	clientErr := client.Handshake()
	clientState := client.ConnectionState()
	if clientErr != nil {
		conn.Close() // lets the server's handshake end instead of waiting for us
	}
	s := <-done
	return handshakeResult{server: s.state, serverErr: s.err, client: clientState, clientErr: clientErr}
}

func devPKI(t *testing.T, names ...string) *DevPKI {
	t.Helper()
	pki, err := EnsureDevPKI(filepath.Join(t.TempDir(), "pki"), names)
	if err != nil {
		t.Fatal(err)
	}
	return pki
}

// rsaServerFiles issues an RSA certificate for localhost from the dev CA, so the
// RSA key-exchange suites have a certificate they could work with and their
// refusal is down to our policy alone.
func rsaServerFiles(t *testing.T, pki *DevPKI) (certFile, keyFile string) {
	t.Helper()
	caCert, caKey, err := loadPair(pki.CAFile, pki.caKeyFile())
	if err != nil {
		t.Fatal(err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := newSerial()
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "rsa-server"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, caCert, key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "rsa.pem"), filepath.Join(dir, "rsa-key.pem")
	if err := writePair(certFile, keyFile, der, key); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestServerConfigAcceptsOnlyModernTLS(t *testing.T) {
	pki := devPKI(t, "gateway")
	ecdsaServer, err := ServerConfig(pki.CertFile("gateway"), pki.KeyFile("gateway"))
	if err != nil {
		t.Fatal(err)
	}
	rsaCert, rsaKey := rsaServerFiles(t, pki)
	rsaServer, err := ServerConfig(rsaCert, rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	roots, err := LoadCertPool(pki.CAFile)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name        string
		server      *tls.Config
		minVersion  uint16
		maxVersion  uint16
		suites      []uint16
		wantOK      bool
		wantVersion uint16
	}{
		{name: "TLS 1.0 refused", server: ecdsaServer, minVersion: tls.VersionTLS10, maxVersion: tls.VersionTLS10},
		{name: "TLS 1.1 refused", server: ecdsaServer, minVersion: tls.VersionTLS11, maxVersion: tls.VersionTLS11},
		{name: "TLS 1.2 RSA key exchange refused", server: rsaServer, minVersion: tls.VersionTLS12, maxVersion: tls.VersionTLS12,
			suites: []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_AES_256_GCM_SHA384}},
		{name: "TLS 1.2 ECDHE-ECDSA CBC refused", server: ecdsaServer, minVersion: tls.VersionTLS12, maxVersion: tls.VersionTLS12,
			suites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256}},
		{name: "TLS 1.2 ECDHE-RSA CBC refused", server: rsaServer, minVersion: tls.VersionTLS12, maxVersion: tls.VersionTLS12,
			suites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256}},
		{name: "TLS 1.2 ECDHE-ECDSA AES-GCM accepted", server: ecdsaServer, minVersion: tls.VersionTLS12, maxVersion: tls.VersionTLS12,
			suites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}, wantOK: true, wantVersion: tls.VersionTLS12},
		{name: "TLS 1.2 ECDHE-ECDSA CHACHA20 accepted", server: ecdsaServer, minVersion: tls.VersionTLS12, maxVersion: tls.VersionTLS12,
			suites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}, wantOK: true, wantVersion: tls.VersionTLS12},
		{name: "TLS 1.2 ECDHE-RSA AES-GCM accepted", server: rsaServer, minVersion: tls.VersionTLS12, maxVersion: tls.VersionTLS12,
			suites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384}, wantOK: true, wantVersion: tls.VersionTLS12},
		{name: "TLS 1.3 accepted", server: ecdsaServer, minVersion: tls.VersionTLS13, maxVersion: tls.VersionTLS13,
			wantOK: true, wantVersion: tls.VersionTLS13},
		{name: "TLS 1.3 chosen when the client offers everything", server: ecdsaServer, minVersion: tls.VersionTLS10,
			wantOK: true, wantVersion: tls.VersionTLS13},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client := &tls.Config{RootCAs: roots, MinVersion: tc.minVersion, MaxVersion: tc.maxVersion, CipherSuites: tc.suites}
			got := handshake(t, tc.server, client)
			if !tc.wantOK {
				if got.serverErr == nil {
					t.Fatalf("server accepted version %x suite %s", got.server.Version, tls.CipherSuiteName(got.server.CipherSuite))
				}
				t.Logf("refused: %v", got.serverErr)
				return
			}
			if got.serverErr != nil || got.clientErr != nil {
				t.Fatalf("handshake failed: server %v, client %v", got.serverErr, got.clientErr)
			}
			if got.server.Version != tc.wantVersion {
				t.Errorf("negotiated version %x, want %x", got.server.Version, tc.wantVersion)
			}
			if len(tc.suites) == 1 && got.server.CipherSuite != tc.suites[0] {
				t.Errorf("negotiated %s, want %s", tls.CipherSuiteName(got.server.CipherSuite), tls.CipherSuiteName(tc.suites[0]))
			}
		})
	}
}

func TestServerConfigNegotiatesHTTP2(t *testing.T) {
	pki := devPKI(t, "gateway")
	server, err := ServerConfig(pki.CertFile("gateway"), pki.KeyFile("gateway"))
	if err != nil {
		t.Fatal(err)
	}
	client, err := ClientConfig(pki.CAFile, "", "")
	if err != nil {
		t.Fatal(err)
	}
	client.NextProtos = []string{"h2", "http/1.1"}
	got := handshake(t, server, client)
	if got.serverErr != nil {
		t.Fatal(got.serverErr)
	}
	if got.client.NegotiatedProtocol != "h2" {
		t.Errorf("negotiated protocol %q, want h2", got.client.NegotiatedProtocol)
	}
	if name := PeerCommonName(got.server); name != "" {
		t.Errorf("PeerCommonName without a client certificate = %q, want empty", name)
	}
}

func TestMutualServerConfigAdmitsOnlyOurServices(t *testing.T) {
	pki := devPKI(t, "identity", "gateway")
	otherPKI := devPKI(t, "gateway")
	server, err := MutualServerConfig(pki.CAFile, pki.CertFile("identity"), pki.KeyFile("identity"))
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		certFile   string
		keyFile    string
		wantOK     bool
		wantCaller string
	}{
		{name: "client certificate from our CA", certFile: pki.CertFile("gateway"), keyFile: pki.KeyFile("gateway"), wantOK: true, wantCaller: "gateway"},
		{name: "no client certificate"},
		{name: "client certificate from another CA", certFile: otherPKI.CertFile("gateway"), keyFile: otherPKI.KeyFile("gateway")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client, err := ClientConfig(pki.CAFile, tc.certFile, tc.keyFile)
			if err != nil {
				t.Fatal(err)
			}
			got := handshake(t, server, client)
			if !tc.wantOK {
				if got.serverErr == nil {
					t.Fatalf("server admitted a client presenting %q", PeerCommonName(got.server))
				}
				t.Logf("refused: %v", got.serverErr)
				return
			}
			if got.serverErr != nil {
				t.Fatalf("server refused: %v", got.serverErr)
			}
			if caller := PeerCommonName(got.server); caller != tc.wantCaller {
				t.Errorf("PeerCommonName = %q, want %q", caller, tc.wantCaller)
			}
		})
	}
}

func TestClientConfigRefusesCertificateWithoutKey(t *testing.T) {
	pki := devPKI(t, "gateway")
	if _, err := ClientConfig(pki.CAFile, pki.CertFile("gateway"), ""); err == nil {
		t.Error("ClientConfig accepted a certificate without its key")
	}
	if _, err := ClientConfig(filepath.Join(t.TempDir(), "missing.pem"), "", ""); err == nil {
		t.Error("ClientConfig accepted a missing CA file")
	}
}

func TestClientConfigRefusesServerFromAnotherCA(t *testing.T) {
	pki := devPKI(t, "identity")
	otherPKI := devPKI(t, "identity")
	server, err := ServerConfig(otherPKI.CertFile("identity"), otherPKI.KeyFile("identity"))
	if err != nil {
		t.Fatal(err)
	}
	client, err := ClientConfig(pki.CAFile, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if got := handshake(t, server, client); got.clientErr == nil {
		t.Error("client trusted a server certificate from another CA")
	}
}

func TestEnsureDevPKIIssuesCertificatesForServerAndClientUse(t *testing.T) {
	pki := devPKI(t, "gateway", "identity")

	assertMode(t, pki.Dir, 0o700)
	assertMode(t, pki.caKeyFile(), 0o600)
	for _, name := range []string{"gateway", "identity"} {
		assertMode(t, pki.KeyFile(name), 0o600)
		cert := readCert(t, pki.CertFile(name))
		if cert.Subject.CommonName != name {
			t.Errorf("CommonName = %q, want %q", cert.Subject.CommonName, name)
		}
		roots, err := LoadCertPool(pki.CAFile)
		if err != nil {
			t.Fatal(err)
		}
		for _, host := range []string{name, "localhost", "127.0.0.1", "::1"} {
			for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
				if _, err := cert.Verify(x509.VerifyOptions{DNSName: host, Roots: roots, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
					t.Errorf("%s certificate for host %s, usage %v: %v", name, host, usage, err)
				}
			}
		}
	}
}

func TestEnsureDevPKIReusesExistingFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	first, err := EnsureDevPKI(dir, []string{"gateway"})
	if err != nil {
		t.Fatal(err)
	}
	caBefore := readFile(t, first.CAFile)
	leafBefore := readFile(t, first.CertFile("gateway"))

	second, err := EnsureDevPKI(dir, []string{"gateway"})
	if err != nil {
		t.Fatal(err)
	}
	if string(readFile(t, second.CAFile)) != string(caBefore) {
		t.Error("second call replaced the CA")
	}
	if string(readFile(t, second.CertFile("gateway"))) != string(leafBefore) {
		t.Error("second call replaced a valid leaf certificate")
	}
}

func TestEnsureDevPKIReissuesUnusableLeaf(t *testing.T) {
	tests := []struct {
		name  string
		spoil func(t *testing.T, pki *DevPKI)
	}{
		{name: "certificate deleted", spoil: func(t *testing.T, pki *DevPKI) {
			if err := os.Remove(pki.CertFile("gateway")); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "key deleted", spoil: func(t *testing.T, pki *DevPKI) {
			if err := os.Remove(pki.KeyFile("gateway")); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "signed by another CA", spoil: func(t *testing.T, pki *DevPKI) {
			other := devPKI(t, "gateway")
			copyFile(t, other.CertFile("gateway"), pki.CertFile("gateway"))
			copyFile(t, other.KeyFile("gateway"), pki.KeyFile("gateway"))
		}},
		{name: "expires within 30 days", spoil: func(t *testing.T, pki *DevPKI) {
			caCert, caKey, err := loadPair(pki.CAFile, pki.caKeyFile())
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			if err := issueLeaf(pki, &authority{cert: caCert, key: caKey}, "gateway", now, now.Add(10*24*time.Hour)); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pki := devPKI(t, "gateway")
			caBefore := readFile(t, pki.CAFile)
			tc.spoil(t, pki)

			again, err := EnsureDevPKI(pki.Dir, []string{"gateway"})
			if err != nil {
				t.Fatal(err)
			}
			if string(readFile(t, again.CAFile)) != string(caBefore) {
				t.Error("the CA was replaced")
			}
			if _, err := ServerConfig(again.CertFile("gateway"), again.KeyFile("gateway")); err != nil {
				t.Fatalf("reissued pair does not load: %v", err)
			}
			caCert := readCert(t, again.CAFile)
			leaf := readCert(t, again.CertFile("gateway"))
			if err := leaf.CheckSignatureFrom(caCert); err != nil {
				t.Errorf("reissued leaf not signed by the CA: %v", err)
			}
			if !validAt(leaf, time.Now()) {
				t.Errorf("reissued leaf expires %v", leaf.NotAfter)
			}
		})
	}
}

func TestEnsureDevPKIConcurrentCallersAgreeOnOneCA(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	const callers = 4
	errs := make(chan error, callers)
	for range callers {
		go func() {
			_, err := EnsureDevPKI(dir, []string{"gateway", "identity"})
			errs <- err
		}()
	}
	for range callers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	pki := &DevPKI{Dir: dir, CAFile: filepath.Join(dir, "ca.pem")}
	if _, _, err := loadPair(pki.CAFile, pki.caKeyFile()); err != nil {
		t.Fatalf("CA certificate and key do not match: %v", err)
	}
	caCert := readCert(t, pki.CAFile)
	for _, name := range []string{"gateway", "identity"} {
		if err := readCert(t, pki.CertFile(name)).CheckSignatureFrom(caCert); err != nil {
			t.Errorf("%s not signed by the CA on disk: %v", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, ".lock")); !os.IsNotExist(err) {
		t.Errorf("lock file left behind: %v", err)
	}
}

func TestEnsureDevPKIRejectsUnsafeNames(t *testing.T) {
	for _, name := range []string{"", "ca", "../gateway", "gate/way", "Gateway", "-gateway"} {
		if _, err := EnsureDevPKI(filepath.Join(t.TempDir(), "pki"), []string{name}); err == nil {
			t.Errorf("name %q accepted", name)
		}
	}
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != want {
		t.Errorf("%s has mode %o, want %o", filepath.Base(path), got, want)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(readFile(t, path))
	if block == nil {
		t.Fatalf("%s holds no PEM", path)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	if err := os.WriteFile(to, readFile(t, from), 0o600); err != nil {
		t.Fatal(err)
	}
}
