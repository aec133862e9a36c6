package main

import (
	"context"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	identity "github.com/firmflow/firmflow/services/identity/server"
)

// Mailpit's own default ports, on loopback only.
const (
	mailpitSMTP = "127.0.0.1:1025"
	mailpitUI   = "127.0.0.1:8025"
)

// startMailpit runs Mailpit for `firmflow dev` as the local mail sink, keeping its
// mail in dataDir, and returns the SMTP address identity should send to and the web
// UI's URL. A Mailpit already answering on its port is used as it is. Without the
// binary (`make run` builds it into .bin and names it in FIRMFLOW_MAILPIT) it returns
// empty strings and dev runs without email. It stops with ctx.
func startMailpit(ctx context.Context, dataDir string, logger *slog.Logger) (smtpAddr, webURL string) {
	if answers(mailpitSMTP) {
		return mailpitSMTP, "http://" + mailpitUI
	}
	bin := os.Getenv("FIRMFLOW_MAILPIT")
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("mailpit"); err != nil {
			logger.Warn("Mailpit is not installed; running without email (invitation tokens go back to the inviter)",
				"install", "make tools, then FIRMFLOW_MAILPIT=.bin/mailpit")
			return "", ""
		}
	}
	// Mailpit keeps its mail in the data dir, which the stack only creates later: on a
	// fresh checkout it would exit at once without it.
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		logger.Warn("Mailpit cannot keep its mail; running without email", "error", err)
		return "", ""
	}
	cmd := exec.CommandContext(ctx, bin, "--smtp", mailpitSMTP, "--listen", mailpitUI,
		"--database", filepath.Join(dataDir, "mailpit.db"), "--disable-version-check", "--quiet")
	if err := cmd.Start(); err != nil {
		logger.Warn("Mailpit did not start; running without email", "error", err)
		return "", ""
	}
	go func() { _ = cmd.Wait() }()
	for deadline := time.Now().Add(5 * time.Second); !answers(mailpitSMTP); {
		if time.Now().After(deadline) {
			logger.Warn("Mailpit does not answer; running without email", "smtp", mailpitSMTP)
			return "", ""
		}
		time.Sleep(50 * time.Millisecond)
	}
	return mailpitSMTP, "http://" + mailpitUI
}

func answers(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// devMail points identity's mail at the sink: plain SMTP is fine on loopback.
func devMail(smtpAddr string) func(*identity.Config) {
	return func(c *identity.Config) {
		c.SMTPAddr = smtpAddr
		if smtpAddr != "" {
			c.SMTPTLS = "none"
		}
	}
}
