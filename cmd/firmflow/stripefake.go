package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/firmflow/firmflow/pkg/config"
	billing "github.com/firmflow/firmflow/services/billing/server"
	"github.com/firmflow/firmflow/services/billing/stripefake"
)

// startStripeFake serves the development Stripe (stripefake) for `firmflow dev` when
// billing is pointed at a local address where nothing answers yet. It keeps what
// billing creates, so a subscription paid on its Checkout page reads back as paid;
// its events reach billing through the gateway, signed with billing's development
// webhook secret. It runs in this process and stops with ctx. Pointed elsewhere
// (Stripe's test mode), billing talks to that instead.
func startStripeFake(ctx context.Context, cfg devConfig, logger *slog.Logger) {
	u, err := url.Parse(cfg.StripeAPIURL)
	if err != nil || u.Hostname() != "127.0.0.1" {
		return
	}
	if conn, err := net.DialTimeout("tcp", u.Host, 200*time.Millisecond); err == nil {
		conn.Close()
		return // something already answers there: the developer's own Stripe fake
	}
	listener, err := net.Listen("tcp", u.Host)
	if err != nil {
		logger.Warn("the development Stripe could not listen; billing will wait for Stripe", "addr", u.Host, "error", err)
		return
	}
	// The stack gives billing its configuration's defaults, this secret among them.
	var billingCfg billing.Config
	if err := config.LoadFrom(&billingCfg, map[string]string{}); err != nil {
		listener.Close()
		logger.Warn("the development Stripe has no webhook secret", "error", err)
		return
	}
	fake := stripefake.NewFake("http://" + u.Host)
	gateway := "https://" + strings.Replace(cfg.GatewayAddr, "127.0.0.1", "localhost", 1)
	fake.DeliverTo(gateway+"/v1/billing/stripe/webhook", billingCfg.StripeWebhookSecret,
		stripefake.TrustingClient(filepath.Join(cfg.DataDir, "tls", "ca.pem")))
	srv := &http.Server{Handler: fake, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Warn("the development Stripe stopped", "error", err)
		}
	}()
	context.AfterFunc(ctx, func() { _ = srv.Close() })
	logger.Info("development Stripe serving", "url", "http://"+u.Host)
}
