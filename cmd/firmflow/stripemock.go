package main

import (
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"time"
)

// stripeMock is the stripe-mock `firmflow dev` runs, if any.
type stripeMock struct {
	// url is where stripe-mock answers ("" when nothing does).
	url string
	cmd *exec.Cmd
}

// startStripeMock runs stripe-mock for `firmflow dev` when billing is pointed at the
// default local address, nothing answers there yet, and the binary is installed
// (`make run` builds it into .bin and names it in FIRMFLOW_STRIPE_MOCK). Without it
// billing keeps retrying and loses nothing. The child is in a process group of its
// own, so a Ctrl-C in the terminal does not stop it before billing; stop ends it
// after the stack has stopped, and childProcessAttr makes the kernel end it if dev
// dies without stopping (kill -9).
func startStripeMock(apiURL string, logger *slog.Logger) stripeMock {
	u, err := url.Parse(apiURL)
	if err != nil || u.Hostname() != "127.0.0.1" {
		return stripeMock{}
	}
	if conn, err := net.DialTimeout("tcp", u.Host, 200*time.Millisecond); err == nil {
		conn.Close()
		return stripeMock{url: apiURL} // someone else's
	}
	bin := os.Getenv("FIRMFLOW_STRIPE_MOCK")
	if bin == "" {
		if bin, err = exec.LookPath("stripe-mock"); err != nil {
			logger.Warn("stripe-mock is not installed; billing will wait for Stripe", "install", "make tools, then FIRMFLOW_STRIPE_MOCK=.bin/stripe-mock")
			return stripeMock{}
		}
	}
	cmd := exec.Command(bin, "-http-addr", u.Host, "-https-addr", "127.0.0.1:")
	cmd.SysProcAttr = childProcessAttr()
	if err := cmd.Start(); err != nil {
		logger.Warn("stripe-mock did not start", "error", err)
		return stripeMock{}
	}
	return stripeMock{url: apiURL, cmd: cmd}
}

// stop ends the stripe-mock this process started.
func (m stripeMock) stop() {
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Kill()
	_ = m.cmd.Wait()
}
