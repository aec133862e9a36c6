package main

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	neturl "net/url"
	"time"

	"github.com/firmflow/firmflow/cmd/firmflow/internal/stack"
	"github.com/firmflow/firmflow/pkg/config"
	billing "github.com/firmflow/firmflow/services/billing/server"
	"github.com/firmflow/firmflow/services/billing/stripefake"
)

// startStripeFake serves the development Stripe (stripefake) for `firmflow dev` when
// billing is pointed at a local address where nothing answers yet. It keeps what
// billing creates, so a subscription paid on its Checkout page reads back as paid;
// its events reach billing through the gateway st serves, signed with billing's
// webhook secret. It runs in this process until stop. Pointed elsewhere (Stripe's
// test mode), billing talks to that instead. It returns where Stripe answers, ""
// when dev serves none.
func startStripeFake(cfg devConfig, st *stack.Stack, logger *slog.Logger) (url string, stop func()) {
	stop = func() {}
	u, err := neturl.Parse(cfg.StripeAPIURL)
	if err != nil || u.Hostname() != "127.0.0.1" {
		return cfg.StripeAPIURL, stop
	}
	if conn, err := net.DialTimeout("tcp", u.Host, 200*time.Millisecond); err == nil {
		conn.Close()
		return cfg.StripeAPIURL, stop // something already answers there: the developer's own Stripe fake
	}
	listener, err := net.Listen("tcp", u.Host)
	if err != nil {
		logger.Warn("the development Stripe could not listen; billing will wait for Stripe", "addr", u.Host, "error", err)
		return "", stop
	}
	// Billing reads its webhook secret from the same environment.
	var billingCfg billing.Config
	if err := config.Load(&billingCfg); err != nil {
		listener.Close()
		logger.Warn("the development Stripe has no webhook secret", "error", err)
		return "", stop
	}
	fake := stripefake.NewFake("http://" + u.Host)
	fake.DeliverTo(st.GatewayURL+"/v1/billing/stripe/webhook", billingCfg.StripeWebhookSecret,
		stripefake.TrustingClient(st.Material.PKI.CAFile))
	srv := &http.Server{Handler: fake, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Warn("the development Stripe stopped", "error", err)
		}
	}()
	logger.Info("development Stripe serving", "url", "http://"+u.Host)
	return "http://" + u.Host + " (development Stripe)", func() { _ = srv.Close() }
}
