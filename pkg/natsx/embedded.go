package natsx

import (
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// EmbeddedOptions configures an in-process nats-server.
type EmbeddedOptions struct {
	Host string // empty means 127.0.0.1
	Port int    // -1 picks a free port; 0 means the NATS default, 4222
	// StoreDir is where JetStream keeps streams; reusing it across restarts keeps
	// their messages and duplicate-detection state.
	StoreDir string
	// SyncAlways fsyncs every JetStream write before acknowledging it, which is
	// the only way NATS offers to make acknowledged audit and billing events survive
	// a power loss (see SyncMetadataKey). It applies to every stream on the server.
	SyncAlways bool
}

// RunEmbedded starts nats-server with JetStream inside this process and returns it
// once it accepts connections; ClientURL gives its address. It installs no signal
// handlers and logs nothing, leaving both to the host process. Stop it with
// Shutdown and WaitForShutdown.
func RunEmbedded(opts EmbeddedOptions) (*server.Server, error) {
	if opts.StoreDir == "" {
		return nil, errors.New("natsx: embedded server needs a store directory")
	}
	host := opts.Host
	if host == "" {
		host = "127.0.0.1"
	}
	ns, err := server.NewServer(&server.Options{
		Host:       host,
		Port:       opts.Port,
		JetStream:  true,
		StoreDir:   opts.StoreDir,
		SyncAlways: opts.SyncAlways,
		NoSigs:     true,
		NoLog:      true,
	})
	if err != nil {
		return nil, fmt.Errorf("configure embedded nats: %w", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, fmt.Errorf("embedded nats on %s:%d not ready within 10s", host, opts.Port)
	}
	return ns, nil
}
