// Package config reads a service's typed configuration from environment variables once,
// at start. Defaults work on a developer machine; Validate rejects what cannot work
// before anything listens.
package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
)

// Validator is implemented by configurations with rules beyond types and required
// fields (ranges, combinations).
type Validator interface {
	Validate() error
}

// Load fills cfg (a pointer to a struct with `env` and `envDefault` tags) from the
// environment and validates it. Errors name the variable, never its value.
func Load[T any](cfg *T) error {
	return LoadFrom(cfg, nil)
}

// LoadFrom is Load with an explicit environment (nil means the process environment);
// tests and the dev command use it.
func LoadFrom[T any](cfg *T, environ map[string]string) error {
	opts := env.Options{}
	if environ != nil {
		opts.Environment = environ
	}
	if err := env.ParseWithOptions(cfg, opts); err != nil {
		return fmt.Errorf("configuration: %w", scrub(err, reflect.TypeOf(*cfg)))
	}
	if v, ok := any(cfg).(Validator); ok {
		if err := v.Validate(); err != nil {
			return fmt.Errorf("configuration: %w", err)
		}
	}
	return nil
}

// scrub rewrites parse errors to name the variable and drop the value, which may be
// a secret.
func scrub(err error, cfgType reflect.Type) error {
	var agg env.AggregateError
	if errors.As(err, &agg) {
		msgs := make([]error, 0, len(agg.Errors))
		for _, e := range agg.Errors {
			var parseErr env.ParseError
			if errors.As(e, &parseErr) {
				msgs = append(msgs, fmt.Errorf("%s: cannot parse as %s", variableOf(cfgType, parseErr.Name), parseErr.Type))
				continue
			}
			msgs = append(msgs, e)
		}
		return errors.Join(msgs...)
	}
	return err
}

// variableOf returns the environment variable of a struct field, or the field name.
func variableOf(t reflect.Type, field string) string {
	if t.Kind() == reflect.Struct {
		if f, ok := t.FieldByName(field); ok {
			if name, _, _ := strings.Cut(f.Tag.Get("env"), ","); name != "" {
				return name
			}
		}
	}
	return field
}

// Shared is the part of the configuration every service has: the CA that issues
// the services' certificates, identity's public key that verifies principal tokens,
// and the JetStream server. Each service's Config embeds it, so one variable sets it
// for every service, `firmflow dev` included.
type Shared struct {
	// TLSCA is the PEM CA every service trusts for mutual TLS.
	TLSCA string `env:"FIRMFLOW_TLS_CA" envDefault:".data/tls/ca.pem"`
	// PublicKeyFile is identity's Ed25519 public key, which verifies principal tokens.
	PublicKeyFile string `env:"FIRMFLOW_PRINCIPAL_PUBLIC_KEY" envDefault:".data/keys/principal.pub"`
	// NATSURL is the JetStream server events and access records travel through.
	NATSURL string `env:"FIRMFLOW_NATS_URL" envDefault:"nats://127.0.0.1:4222"`
	// StreamMaxAge is how long every firmflow stream keeps a message: the bound a
	// firm's deletion certificate gives for messages that cannot be purged per firm.
	StreamMaxAge time.Duration `env:"FIRMFLOW_STREAM_MAX_AGE" envDefault:"720h"`
}

// MinStreamMaxAge is the shortest FIRMFLOW_STREAM_MAX_AGE: a consumer that is away
// for a day must still find the events it missed.
const MinStreamMaxAge = 24 * time.Hour

// Check reports the shared settings that are missing; a service's Validate joins it
// with its own findings.
func (s Shared) Check() error {
	var errs []error
	for _, v := range []struct{ name, value string }{
		{"FIRMFLOW_TLS_CA", s.TLSCA}, {"FIRMFLOW_PRINCIPAL_PUBLIC_KEY", s.PublicKeyFile}, {"FIRMFLOW_NATS_URL", s.NATSURL},
	} {
		if v.value == "" {
			errs = append(errs, fmt.Errorf("%s must be set", v.name))
		}
	}
	if s.StreamMaxAge < MinStreamMaxAge {
		errs = append(errs, fmt.Errorf("FIRMFLOW_STREAM_MAX_AGE must be at least %s", MinStreamMaxAge))
	}
	return errors.Join(errs...)
}

// Off reports whether an optional listener's address turns it off: empty, or "off"
// as the documentation spells it.
func Off(addr string) bool { return addr == "" || addr == "off" }
