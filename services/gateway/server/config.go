package server

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"time"

	"github.com/firmflow/firmflow/pkg/config"
	"github.com/firmflow/firmflow/pkg/telemetry"
)

// Config is everything the gateway needs, read from the environment by config.Load.
// Tests and the dev command fill it directly; an address with port 0 picks a free
// port (see Server.Addr).
type Config struct {
	// FIRMFLOW_GATEWAY_ADDR is the public HTTPS listener, the only one the internet
	// reaches.
	Addr string `env:"FIRMFLOW_GATEWAY_ADDR" envDefault:"127.0.0.1:8443"`
	// FIRMFLOW_GATEWAY_TLS_CERT and FIRMFLOW_GATEWAY_TLS_KEY are the PEM certificate
	// and key the public listener presents; there is no plain-HTTP mode. The
	// defaults are the files of the development PKI (tlsconf.EnsureDevPKI in
	// .data/tls), as are those of the next three variables.
	TLSCert string `env:"FIRMFLOW_GATEWAY_TLS_CERT" envDefault:".data/tls/gateway.pem"`
	TLSKey  string `env:"FIRMFLOW_GATEWAY_TLS_KEY" envDefault:".data/tls/gateway-key.pem"`

	// Shared holds FIRMFLOW_TLS_CA (the CA that issues the services' certificates;
	// the gateway trusts only it when calling services), FIRMFLOW_PRINCIPAL_PUBLIC_KEY
	// (identity's key: the gateway reads who called from the principal token for the
	// access event) and FIRMFLOW_NATS_URL (the JetStream server access events are made
	// durable on before any response leaves).
	config.Shared

	// FIRMFLOW_GATEWAY_CLIENT_CERT and FIRMFLOW_GATEWAY_CLIENT_KEY are the
	// certificate the gateway presents to services (mTLS). Its common name is what
	// identity's policy admits to AuthService.Authenticate ("gateway"). In
	// production it differs from the public certificate, which a public CA issues.
	ClientCert string `env:"FIRMFLOW_GATEWAY_CLIENT_CERT" envDefault:".data/tls/gateway.pem"`
	ClientKey  string `env:"FIRMFLOW_GATEWAY_CLIENT_KEY" envDefault:".data/tls/gateway-key.pem"`

	// FIRMFLOW_IDENTITY_ADDR is identity's gRPC address (host:port).
	IdentityAddr string `env:"FIRMFLOW_IDENTITY_ADDR" envDefault:"127.0.0.1:9101"`
	// FIRMFLOW_WORKFLOW_ADDR is workflow's gRPC address (host:port).
	WorkflowAddr string `env:"FIRMFLOW_WORKFLOW_ADDR" envDefault:"127.0.0.1:9102"`
	// FIRMFLOW_BILLING_ADDR is billing's gRPC address (host:port).
	BillingAddr string `env:"FIRMFLOW_BILLING_ADDR" envDefault:"127.0.0.1:9104"`
	// FIRMFLOW_AUDIT_ADDR is audit's gRPC address (host:port).
	AuditAddr string `env:"FIRMFLOW_AUDIT_ADDR" envDefault:"127.0.0.1:9103"`
	// FIRMFLOW_LIFECYCLE_ADDR is lifecycle's gRPC address (host:port).
	LifecycleAddr string `env:"FIRMFLOW_LIFECYCLE_ADDR" envDefault:"127.0.0.1:9105"`

	// FIRMFLOW_CORS_ORIGINS are the browser origins (scheme://host[:port], comma
	// separated) allowed to call the API with credentials: the single-page app's.
	CORSOrigins []string `env:"FIRMFLOW_CORS_ORIGINS" envSeparator:"," envDefault:"http://localhost:5173"`

	// FIRMFLOW_GATEWAY_BODY_LIMIT is the largest request body accepted, in bytes;
	// larger ones get 400 BODY_TOO_LARGE and reach no service.
	BodyLimit int64 `env:"FIRMFLOW_GATEWAY_BODY_LIMIT" envDefault:"1048576"`

	// FIRMFLOW_GATEWAY_IP_RATE and FIRMFLOW_GATEWAY_IP_BURST limit requests per
	// client address (IPv6: per /64): the sustained rate per second and the burst.
	IPRate  float64 `env:"FIRMFLOW_GATEWAY_IP_RATE" envDefault:"20"`
	IPBurst int     `env:"FIRMFLOW_GATEWAY_IP_BURST" envDefault:"40"`
	// FIRMFLOW_GATEWAY_CREDENTIAL_RATE and FIRMFLOW_GATEWAY_CREDENTIAL_BURST limit
	// requests per session or API key, whatever address they come from.
	CredentialRate  float64 `env:"FIRMFLOW_GATEWAY_CREDENTIAL_RATE" envDefault:"50"`
	CredentialBurst int     `env:"FIRMFLOW_GATEWAY_CREDENTIAL_BURST" envDefault:"100"`

	// FIRMFLOW_GATEWAY_MAX_IN_FLIGHT caps the adaptive limit on requests in flight
	// (httpapi.ConcurrencyLimit); past the current limit and a short queue, requests
	// are refused at once with 503 OVERLOADED and Retry-After. Zero in a Config built
	// in code: 1024.
	MaxInFlight int `env:"FIRMFLOW_GATEWAY_MAX_IN_FLIGHT" envDefault:"1024"`

	// FIRMFLOW_TRUSTED_PROXIES are the networks (CIDRs, comma separated) of load
	// balancers whose X-Forwarded-For the gateway believes. Empty: the client is the
	// connection's peer, whatever headers say.
	TrustedProxies []netip.Prefix `env:"FIRMFLOW_TRUSTED_PROXIES" envSeparator:","`

	// FIRMFLOW_GATEWAY_ADMIN_ADDR is the plain-HTTP admin listener for /metrics,
	// /healthz and /readyz, reached only from inside the cluster. "off" (or an empty
	// Addr in a Config built in code) runs none.
	AdminAddr string `env:"FIRMFLOW_GATEWAY_ADMIN_ADDR" envDefault:"127.0.0.1:9200"`

	// FIRMFLOW_GATEWAY_SHUTDOWN_TIMEOUT is how long requests in flight may finish
	// once the gateway is told to stop (zero in a Config built in code: 10s).
	ShutdownTimeout time.Duration `env:"FIRMFLOW_GATEWAY_SHUTDOWN_TIMEOUT" envDefault:"10s"`

	// Telemetry, set by the process after telemetry.Setup, feeds /metrics on the
	// admin listener; nil serves no metrics. Not read from the environment.
	Telemetry *telemetry.Telemetry `env:"-"`
}

// Validate rejects a configuration the gateway cannot serve with; errors name the
// variable (and show no value but a refused CORS origin, which is public anyway).
func (c *Config) Validate() error {
	errs := []error{c.Shared.Check()}
	need := func(value, variable string) {
		if value == "" {
			errs = append(errs, fmt.Errorf("%s is required", variable))
		}
	}
	need(c.Addr, "FIRMFLOW_GATEWAY_ADDR")
	need(c.TLSCert, "FIRMFLOW_GATEWAY_TLS_CERT")
	need(c.TLSKey, "FIRMFLOW_GATEWAY_TLS_KEY")
	need(c.ClientCert, "FIRMFLOW_GATEWAY_CLIENT_CERT")
	need(c.ClientKey, "FIRMFLOW_GATEWAY_CLIENT_KEY")
	need(c.IdentityAddr, "FIRMFLOW_IDENTITY_ADDR")
	need(c.WorkflowAddr, "FIRMFLOW_WORKFLOW_ADDR")
	need(c.BillingAddr, "FIRMFLOW_BILLING_ADDR")
	need(c.AuditAddr, "FIRMFLOW_AUDIT_ADDR")
	need(c.LifecycleAddr, "FIRMFLOW_LIFECYCLE_ADDR")
	for _, origin := range c.CORSOrigins {
		if err := checkOrigin(origin); err != nil {
			errs = append(errs, fmt.Errorf("FIRMFLOW_CORS_ORIGINS: %w", err))
		}
	}
	if c.BodyLimit <= 0 {
		errs = append(errs, errors.New("FIRMFLOW_GATEWAY_BODY_LIMIT must be positive"))
	}
	if c.IPRate <= 0 || c.IPBurst < 1 {
		errs = append(errs, errors.New("FIRMFLOW_GATEWAY_IP_RATE must be positive and FIRMFLOW_GATEWAY_IP_BURST at least 1"))
	}
	if c.CredentialRate <= 0 || c.CredentialBurst < 1 {
		errs = append(errs, errors.New("FIRMFLOW_GATEWAY_CREDENTIAL_RATE must be positive and FIRMFLOW_GATEWAY_CREDENTIAL_BURST at least 1"))
	}
	for _, p := range c.TrustedProxies {
		if !p.IsValid() {
			errs = append(errs, errors.New("FIRMFLOW_TRUSTED_PROXIES holds an invalid network"))
		}
	}
	if c.MaxInFlight < 0 {
		errs = append(errs, errors.New("FIRMFLOW_GATEWAY_MAX_IN_FLIGHT must not be negative"))
	}
	if c.ShutdownTimeout < 0 {
		errs = append(errs, errors.New("FIRMFLOW_GATEWAY_SHUTDOWN_TIMEOUT must not be negative"))
	}
	return errors.Join(errs...)
}

// checkOrigin accepts exactly what browsers send in Origin: scheme, host and
// optional port. A wildcard is refused, since the API allows credentials.
func checkOrigin(origin string) error {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("origin %q is not scheme://host[:port]", origin)
	}
	return nil
}

func (c *Config) shutdownTimeout() time.Duration {
	if c.ShutdownTimeout == 0 {
		return 10 * time.Second
	}
	return c.ShutdownTimeout
}

func (c *Config) adminEnabled() bool {
	return !config.Off(c.AdminAddr)
}
