package main

import (
	"context"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"time"
)

// startStripeMock runs stripe-mock for `firmflow dev` when billing is pointed at the
// default local address, nothing answers there yet, and the binary is installed
// (`make run` builds it into .bin and names it in FIRMFLOW_STRIPE_MOCK). It stops with ctx. Without it billing keeps retrying and
// loses nothing.
func startStripeMock(ctx context.Context, apiURL string, logger *slog.Logger) {
	u, err := url.Parse(apiURL)
	if err != nil || u.Hostname() != "127.0.0.1" {
		return
	}
	if conn, err := net.DialTimeout("tcp", u.Host, 200*time.Millisecond); err == nil {
		conn.Close()
		return
	}
	bin := os.Getenv("FIRMFLOW_STRIPE_MOCK")
	if bin == "" {
		if bin, err = exec.LookPath("stripe-mock"); err != nil {
			logger.Warn("stripe-mock is not installed; billing will wait for Stripe", "install", "make tools, then FIRMFLOW_STRIPE_MOCK=.bin/stripe-mock")
			return
		}
	}
	cmd := exec.CommandContext(ctx, bin, "-http-addr", u.Host, "-https-addr", "127.0.0.1:")
	if err := cmd.Start(); err != nil {
		logger.Warn("stripe-mock did not start", "error", err)
		return
	}
	go func() { _ = cmd.Wait() }()
}
