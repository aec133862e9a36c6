// Package natstest runs a real JetStream server for one test, in-process, with its
// own store directory, so tests exercise the broker the services use.
package natstest

import (
	"testing"

	"github.com/firmflow/firmflow/pkg/natsx"
)

// Start runs nats-server with JetStream on a free port until the test ends and
// returns its client URL.
func Start(t testing.TB) string {
	t.Helper()
	ns, err := natsx.RunEmbedded(natsx.EmbeddedOptions{Port: -1, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatalf("start nats: %v", err)
	}
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return ns.ClientURL()
}
