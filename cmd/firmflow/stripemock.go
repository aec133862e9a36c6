package main

import (
	"context"
	"log/slog"
	"net"
	"net/url"
	"os/exec"
	"path/filepath"
	"time"
)

// startStripeMock runs stripe-mock for `firmflow dev` when billing is pointed at the
// default local address, nothing answers there yet, and the binary is installed
// (`make run` installs it). It stops with ctx. Without it billing keeps retrying and
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
	bin, err := exec.LookPath("stripe-mock")
	if err != nil {
		if bin, err = exec.LookPath(filepath.Join(goBin(), "stripe-mock")); err != nil {
			logger.Warn("stripe-mock is not installed; billing will wait for Stripe", "install", "go install github.com/stripe/stripe-mock@v0.203.0")
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

func goBin() string {
	out, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		return ""
	}
	return filepath.Join(string(out[:len(out)-1]), "bin")
}
