package server_test

import (
	"testing"

	"github.com/firmflow/firmflow/pkg/config"
	"github.com/firmflow/firmflow/services/audit/server"
)

func TestDefaultsWorkAndNonsenseIsRefused(t *testing.T) {
	var cfg server.Config
	if err := config.LoadFrom(&cfg, map[string]string{}); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if len(cfg.Streams) != 3 || cfg.Streams[0] != "FIRMFLOW_GATEWAY" || cfg.Batch != 1000 {
		t.Errorf("defaults: %+v", cfg)
	}
	for name, env := range map[string]map[string]string{
		"no streams":      {"FIRMFLOW_AUDIT_STREAMS": " , "},
		"huge batch":      {"FIRMFLOW_AUDIT_BATCH": "100000"},
		"instant ack":     {"FIRMFLOW_AUDIT_ACK_WAIT": "10ms"},
		"busy checkpoint": {"FIRMFLOW_AUDIT_CHECKPOINT_INTERVAL": "1ms"},
	} {
		var cfg server.Config
		if err := config.LoadFrom(&cfg, env); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
