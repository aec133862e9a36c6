package process

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Healthcheck asks the admin listener at adminAddr whether the service is ready
// (GET /readyz) and fails unless it answers 200. Service images have no shell or
// curl, so their HEALTHCHECK runs the binary itself: `<service> healthcheck`.
// A wildcard host (0.0.0.0, ::, none) is asked on the loopback address.
func Healthcheck(ctx context.Context, adminAddr string) error {
	if adminAddr == "" || adminAddr == "off" {
		return fmt.Errorf("healthcheck: the admin listener is off; set the service's _ADMIN_ADDR")
	}
	host, port, err := net.SplitHostPort(adminAddr)
	if err != nil {
		return fmt.Errorf("healthcheck: admin address: %w", err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/readyz", nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: not ready (%s)", resp.Status)
	}
	return nil
}
