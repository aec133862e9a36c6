package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

type sample struct {
	Addr    string        `env:"SAMPLE_ADDR" envDefault:"127.0.0.1:9000"`
	Timeout time.Duration `env:"SAMPLE_TIMEOUT" envDefault:"5s"`
	Secret  string        `env:"SAMPLE_SECRET,required"`
}

func (s sample) Validate() error {
	if s.Timeout <= 0 {
		return errors.New("SAMPLE_TIMEOUT must be positive")
	}
	return nil
}

func TestLoadAppliesDefaultsAndValidates(t *testing.T) {
	var cfg sample
	if err := LoadFrom(&cfg, map[string]string{"SAMPLE_SECRET": "s3cret-value"}); err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:9000" || cfg.Timeout != 5*time.Second {
		t.Errorf("defaults not applied: %+v", cfg)
	}
	err := LoadFrom(&cfg, map[string]string{"SAMPLE_SECRET": "s3cret-value", "SAMPLE_TIMEOUT": "-1s"})
	if err == nil || !strings.Contains(err.Error(), "SAMPLE_TIMEOUT") {
		t.Errorf("negative timeout: err = %v", err)
	}
}

func TestLoadNamesTheVariableNotTheValue(t *testing.T) {
	var cfg sample
	err := LoadFrom(&cfg, map[string]string{"SAMPLE_SECRET": "x", "SAMPLE_TIMEOUT": "hunter2-not-a-duration"})
	if err == nil || !strings.Contains(err.Error(), "SAMPLE_TIMEOUT") {
		t.Fatalf("err = %v, want it to name SAMPLE_TIMEOUT", err)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error echoes the value: %v", err)
	}
	if err := LoadFrom(&cfg, map[string]string{}); err == nil || !strings.Contains(err.Error(), "SAMPLE_SECRET") {
		t.Errorf("missing required variable: err = %v", err)
	}
}

func TestStreamMaxAgeDefaultsToThirtyDaysAndRefusesLessThanADay(t *testing.T) {
	var s Shared
	if err := LoadFrom(&s, map[string]string{}); err != nil {
		t.Fatal(err)
	}
	if s.StreamMaxAge != 30*24*time.Hour {
		t.Errorf("FIRMFLOW_STREAM_MAX_AGE default %v, want 720h", s.StreamMaxAge)
	}
	if err := s.Check(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	s.StreamMaxAge = time.Hour
	if err := s.Check(); err == nil || !strings.Contains(err.Error(), "FIRMFLOW_STREAM_MAX_AGE") {
		t.Errorf("an hour: err = %v, want it to name FIRMFLOW_STREAM_MAX_AGE", err)
	}
}
