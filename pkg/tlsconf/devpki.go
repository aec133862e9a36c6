package tlsconf

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"time"
)

const (
	caValidity   = 10 * 365 * 24 * time.Hour
	leafValidity = 365 * 24 * time.Hour
	// renewBefore is how close to expiry a certificate may come before we replace
	// it, so a developer never meets an expired certificate mid-week.
	renewBefore = 30 * 24 * time.Hour
	// clockSkew backdates NotBefore so a peer whose clock runs slightly behind
	// still accepts a certificate issued a moment ago.
	clockSkew = 5 * time.Minute
)

// validName keeps service names usable both as file names and as DNS SANs, and
// keeps them from colliding with the CA's own files.
var validName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// DevPKI locates the development CA and the per-service certificates that
// EnsureDevPKI keeps in a directory.
type DevPKI struct {
	Dir    string
	CAFile string
}

// CertFile is the path of the certificate issued to name.
func (p *DevPKI) CertFile(name string) string { return filepath.Join(p.Dir, name+".pem") }

// KeyFile is the path of the private key of the certificate issued to name.
func (p *DevPKI) KeyFile(name string) string { return filepath.Join(p.Dir, name+"-key.pem") }

func (p *DevPKI) caKeyFile() string { return filepath.Join(p.Dir, "ca-key.pem") }

// authority is a CA certificate together with the key that signs with it.
type authority struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// EnsureDevPKI makes sure dir holds a development CA and, for each name, a
// certificate usable as both TLS server and client (CommonName name; SANs name,
// localhost, 127.0.0.1, ::1), so `firmflow dev` runs every service with real mTLS
// and no manual setup. Existing files are reused; a certificate that is missing,
// expires within 30 days or was not signed by the current CA is issued anew.
// Concurrent callers, in one process or several, are serialised by a lock file
// in dir, and every file is written to a temporary name and renamed into place.
// It is for development only: production certificates come from the deployment.
func EnsureDevPKI(dir string, names []string) (*DevPKI, error) {
	for _, name := range names {
		if name == "ca" || !validName.MatchString(name) {
			return nil, fmt.Errorf("dev PKI: invalid certificate name %q", name)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("dev PKI: create %s: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("dev PKI: restrict %s: %w", dir, err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	defer unlock()

	pki := &DevPKI{Dir: dir, CAFile: filepath.Join(dir, "ca.pem")}
	now := time.Now()
	ca, err := ensureCA(pki, now)
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		if err := ensureLeaf(pki, ca, name, now); err != nil {
			return nil, err
		}
	}
	return pki, nil
}

// ensureCA reuses the CA on disk when it is intact and not about to expire, and
// otherwise replaces it; every leaf it signed is then reissued by ensureLeaf.
func ensureCA(pki *DevPKI, now time.Time) (*authority, error) {
	cert, key, err := loadPair(pki.CAFile, pki.caKeyFile())
	if err == nil && cert.IsCA && validAt(cert, now) {
		return &authority{cert: cert, key: key}, nil
	}
	return issueCA(pki, now)
}

func ensureLeaf(pki *DevPKI, ca *authority, name string, now time.Time) error {
	cert, _, err := loadPair(pki.CertFile(name), pki.KeyFile(name))
	if err == nil && cert.Subject.CommonName == name && validAt(cert, now) &&
		cert.CheckSignatureFrom(ca.cert) == nil {
		return nil
	}
	return issueLeaf(pki, ca, name, now, now.Add(leafValidity))
}

// validAt reports whether cert is in force at now and stays so for renewBefore.
func validAt(cert *x509.Certificate, now time.Time) bool {
	return !now.Before(cert.NotBefore) && now.Add(renewBefore).Before(cert.NotAfter)
}

func issueCA(pki *DevPKI, now time.Time) (*authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("dev PKI: generate CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	template := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "firmflow development CA", Organization: []string{"firmflow (development)"}},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("dev PKI: sign CA certificate: %w", err)
	}
	if err := writePair(pki.CAFile, pki.caKeyFile(), der, key); err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("dev PKI: parse new CA certificate: %w", err)
	}
	return &authority{cert: cert, key: key}, nil
}

// issueLeaf signs a certificate for name valid until notAfter, or until the CA
// itself expires if that comes first.
func issueLeaf(pki *DevPKI, ca *authority, name string, now, notAfter time.Time) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("dev PKI: generate key for %s: %w", name, err)
	}
	serial, err := newSerial()
	if err != nil {
		return err
	}
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter
	}
	dnsNames := []string{name}
	if name != "localhost" {
		dnsNames = append(dnsNames, "localhost")
	}
	template := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name, Organization: []string{"firmflow (development)"}},
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     dnsNames,
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, ca.cert, key.Public(), ca.key)
	if err != nil {
		return fmt.Errorf("dev PKI: sign certificate for %s: %w", name, err)
	}
	return writePair(pki.CertFile(name), pki.KeyFile(name), der, key)
}

func newSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("dev PKI: generate serial number: %w", err)
	}
	return serial, nil
}

// loadPair reads a PEM certificate and its PKCS#8 key and checks they belong
// together, so a half-replaced pair is treated as missing.
func loadPair(certFile, keyFile string) (*x509.Certificate, crypto.Signer, error) {
	certDER, err := readPEM(certFile, "CERTIFICATE")
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(certDER)
	if err != nil {
		return nil, nil, fmt.Errorf("parse %s: %w", certFile, err)
	}
	keyDER, err := readPEM(keyFile, "PRIVATE KEY")
	if err != nil {
		return nil, nil, err
	}
	parsed, err := x509.ParsePKCS8PrivateKey(keyDER)
	if err != nil {
		return nil, nil, fmt.Errorf("parse key %s: %w", keyFile, err)
	}
	key, ok := parsed.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("key %s cannot sign", keyFile)
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, nil, fmt.Errorf("key %s does not match %s", keyFile, certFile)
	}
	return cert, key, nil
}

func readPEM(path, blockType string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != blockType {
		return nil, fmt.Errorf("%s holds no %s PEM block", path, blockType)
	}
	return block.Bytes, nil
}

// writePair writes the key before the certificate: a reader that sees the new
// certificate is then sure to find its key.
func writePair(certFile, keyFile string, certDER []byte, key crypto.Signer) error {
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("dev PKI: encode key: %w", err)
	}
	if err := writeFileAtomic(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	return writeFileAtomic(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER}), 0o644)
}

// writeFileAtomic replaces path in one rename, so no reader ever sees a partly
// written file.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("dev PKI: create temporary file: %w", err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // no-op after a successful rename
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("dev PKI: set mode of %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("dev PKI: write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("dev PKI: sync %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("dev PKI: close %s: %w", path, err)
	}
	if err := os.Rename(tmpName, path); err != nil {
		return fmt.Errorf("dev PKI: install %s: %w", path, err)
	}
	return nil
}

const (
	lockWait = 30 * time.Second
	// lockStale is far longer than issuing a CA and a handful of leaves takes, so
	// a lock this old was left by a process that died holding it.
	lockStale = time.Minute
	lockPoll  = 20 * time.Millisecond
)

var errLockTimeout = errors.New("dev PKI: timed out waiting for the lock in the PKI directory")

// lockDir takes an exclusive lock on dir by creating a lock file, which works
// across processes on every platform. Without it two processes starting together
// could each issue a CA and leave ca.pem from one and ca-key.pem from the other.
func lockDir(dir string) (unlock func(), err error) {
	path := filepath.Join(dir, ".lock")
	deadline := time.Now().Add(lockWait)
	for {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err == nil {
			f.Close()
			return func() { os.Remove(path) }, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("dev PKI: take lock: %w", err)
		}
		if info, statErr := os.Stat(path); statErr == nil && time.Since(info.ModTime()) > lockStale {
			os.Remove(path)
			continue
		}
		if time.Now().After(deadline) {
			return nil, errLockTimeout
		}
		time.Sleep(lockPoll)
	}
}
