package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"

	"github.com/firmflow/firmflow/cmd/firmflow/internal/stack"
	"github.com/firmflow/firmflow/pkg/config"
	identityv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/identity/v1"
	"github.com/firmflow/firmflow/pkg/rpc"
	"github.com/firmflow/firmflow/pkg/tlsconf"
)

// operatorConfig is where `firmflow staff` and `firmflow incident` find identity,
// lifecycle and their mTLS material.
// Unset, it uses the development PKI under the data dir (creating the operator
// certificate there); production operators point it at the certificate issued to
// them.
type operatorConfig struct {
	IdentityAddr  string `env:"FIRMFLOW_IDENTITY_ADDR" envDefault:"127.0.0.1:9101"`
	LifecycleAddr string `env:"FIRMFLOW_LIFECYCLE_ADDR" envDefault:"127.0.0.1:9105"`
	CAFile        string `env:"FIRMFLOW_TLS_CA"`
	CertFile      string `env:"FIRMFLOW_OPERATOR_TLS_CERT"`
	KeyFile       string `env:"FIRMFLOW_OPERATOR_TLS_KEY"`
}

// staffCreate is `firmflow staff create EMAIL DISPLAY_NAME`, through identity's
// StaffAdminService, which only the operator certificate may call.
func staffCreate(ctx context.Context, dataDir, email, displayName string, s *streams) error {
	password, err := readPassword(s.stdin, s.stderr)
	if err != nil {
		return err
	}
	return withStaffAdmin(ctx, dataDir, func(ctx context.Context, client identityv1.StaffAdminServiceClient) error {
		res, err := client.CreateStaff(ctx, &identityv1.CreateStaffRequest{Email: email, DisplayName: displayName, Password: password})
		if err != nil {
			return fmt.Errorf("create staff: %w", err)
		}
		fmt.Fprintf(s.stdout, "created %s (%s)\n", res.GetStaff().GetName(), res.GetStaff().GetEmail())
		fmt.Fprintf(s.stdout, "TOTP secret (shown once; add it to the authenticator app): %s\n", res.GetTotpSecret())
		fmt.Fprintf(s.stdout, "otpauth URI: %s\n", res.GetOtpauthUri())
		return nil
	})
}

// staffOffboard is `firmflow staff offboard EMAIL|staff/ID`.
func staffOffboard(ctx context.Context, dataDir, who string, out io.Writer) error {
	req := &identityv1.OffboardStaffRequest{Staff: &identityv1.OffboardStaffRequest_Email{Email: who}}
	if strings.HasPrefix(who, "staff/") {
		req.Staff = &identityv1.OffboardStaffRequest_Name{Name: who}
	}
	return withStaffAdmin(ctx, dataDir, func(ctx context.Context, client identityv1.StaffAdminServiceClient) error {
		res, err := client.OffboardStaff(ctx, req)
		if err != nil {
			return fmt.Errorf("offboard staff: %w", err)
		}
		fmt.Fprintf(out, "offboarded %s (%s): sessions ended, %d support grants revoked\n",
			res.GetStaff().GetName(), res.GetStaff().GetEmail(), res.GetRevokedGrants())
		return nil
	})
}

func withStaffAdmin(ctx context.Context, dataDir string, fn func(context.Context, identityv1.StaffAdminServiceClient) error) error {
	conn, err := dialAsOperator(dataDir, func(op operatorConfig) string { return op.IdentityAddr })
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return fn(ctx, identityv1.NewStaffAdminServiceClient(conn))
}

// dialAsOperator connects, with the operator's certificate, to the service whose
// address addr picks from the configuration: the operator-only services (staff
// administration in identity, incidents in lifecycle) admit nothing else.
func dialAsOperator(dataDir string, addr func(operatorConfig) string) (*grpc.ClientConn, error) {
	var op operatorConfig
	if err := config.Load(&op); err != nil {
		return nil, err
	}
	if op.CertFile == "" {
		material, err := stack.Init(dataDir)
		if err != nil {
			return nil, err
		}
		op.CAFile, op.CertFile, op.KeyFile = material.PKI.CAFile, material.PKI.CertFile("operator"), material.PKI.KeyFile("operator")
	}
	tlsConfig, err := tlsconf.ClientConfig(op.CAFile, op.CertFile, op.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("operator TLS: %w", err)
	}
	return rpc.Dial(addr(op), tlsConfig)
}

// readPassword reads the first line of r, so the password stays out of the command
// line and the shell history: pipe it in, or type it at the prompt.
func readPassword(r io.Reader, prompt io.Writer) (string, error) {
	if f, ok := r.(*os.File); ok {
		if info, err := f.Stat(); err == nil && info.Mode()&os.ModeCharDevice != 0 {
			fmt.Fprint(prompt, "password for the new staff account (at least 12 characters): ")
		}
	}
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	password := strings.TrimRight(line, "\r\n")
	if password == "" {
		return "", errors.New("no password on standard input")
	}
	return password, nil
}
