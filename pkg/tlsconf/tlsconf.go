// Package tlsconf builds the TLS configurations every firmflow listener and client
// uses, so the promise "TLS 1.2 or newer, modern suites only, mTLS between services"
// is kept in one place rather than re-decided by each service.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// tls12CipherSuites are the only TLS 1.2 suites we accept: forward secrecy (ECDHE)
// with an AEAD. TLS 1.3 suites are not configurable in crypto/tls and are all AEAD.
var tls12CipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// curvePreferences lists the key-exchange groups we offer and accept.
var curvePreferences = []tls.CurveID{tls.X25519, tls.CurveP256}

// baseConfig is the policy shared by servers and clients. crypto/tls negotiates
// TLS 1.3 whenever both sides support it, so no MaxVersion is set.
func baseConfig() *tls.Config {
	return &tls.Config{
		MinVersion:       tls.VersionTLS12,
		CipherSuites:     tls12CipherSuites,
		CurvePreferences: curvePreferences,
	}
}

// ServerConfig is the configuration for a public HTTPS listener (the gateway):
// it presents the certificate in certFile/keyFile and asks nothing of clients.
func ServerConfig(certFile, keyFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load server certificate %s: %w", certFile, err)
	}
	cfg := baseConfig()
	cfg.Certificates = []tls.Certificate{cert}
	cfg.NextProtos = []string{"h2", "http/1.1"}
	return cfg, nil
}

// MutualServerConfig is ServerConfig for service-to-service listeners: the peer
// must present a certificate issued by the CA in caFile, so only our own services
// can connect.
func MutualServerConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	cfg, err := ServerConfig(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	pool, err := LoadCertPool(caFile)
	if err != nil {
		return nil, err
	}
	cfg.ClientAuth = tls.RequireAndVerifyClientCert
	cfg.ClientCAs = pool
	return cfg, nil
}

// ClientConfig trusts only the CA in caFile and, when certFile and keyFile are
// given, presents that certificate for mTLS. Leave both empty for a client that
// only needs to verify the server. The caller (or grpc's credentials) sets
// ServerName from the address it dials.
func ClientConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("client certificate and key must be given together")
	}
	pool, err := LoadCertPool(caFile)
	if err != nil {
		return nil, err
	}
	cfg := baseConfig()
	cfg.RootCAs = pool
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("load client certificate %s: %w", certFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// PeerCommonName is the CommonName of the peer's verified certificate, which on a
// mutual-TLS connection names the calling service. It is "" when the peer
// presented no certificate or it was not verified, so an unverified name is never
// trusted.
func PeerCommonName(state tls.ConnectionState) string {
	if len(state.VerifiedChains) == 0 || len(state.VerifiedChains[0]) == 0 {
		return ""
	}
	return state.VerifiedChains[0][0].Subject.CommonName
}

// LoadCertPool reads the PEM certificates in caFile into a pool.
func LoadCertPool(caFile string) (*x509.CertPool, error) {
	pemBytes, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("CA file %s holds no PEM certificate", caFile)
	}
	return pool, nil
}
