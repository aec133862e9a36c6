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

// operatorConfig is where `firmflow staff` finds its mTLS material. Unset, it uses
// the development PKI under FIRMFLOW_DATA_DIR (creating the operator certificate
// there); production operators point it at the certificate issued to them.
type operatorConfig struct {
	CAFile   string `env:"FIRMFLOW_TLS_CA"`
	CertFile string `env:"FIRMFLOW_OPERATOR_TLS_CERT"`
	KeyFile  string `env:"FIRMFLOW_OPERATOR_TLS_KEY"`
}

const staffUsage = `usage:
  firmflow staff create EMAIL DISPLAY_NAME   (reads the password from standard input)
  firmflow staff offboard EMAIL|staff/ID`

// staffCommand runs `firmflow staff create|offboard` against identity's
// StaffAdminService, which only the operator certificate may call.
func staffCommand(ctx context.Context, cfg devConfig, args []string) error {
	if len(args) == 0 {
		return errors.New(staffUsage)
	}
	client, closeConn, err := dialStaffAdmin(cfg)
	if err != nil {
		return err
	}
	defer closeConn()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()

	switch {
	case args[0] == "create" && len(args) == 3:
		password, err := readPassword(os.Stdin)
		if err != nil {
			return err
		}
		res, err := client.CreateStaff(ctx, &identityv1.CreateStaffRequest{Email: args[1], DisplayName: args[2], Password: password})
		if err != nil {
			return fmt.Errorf("create staff: %w", err)
		}
		fmt.Printf("created %s (%s)\n", res.GetStaff().GetName(), res.GetStaff().GetEmail())
		fmt.Printf("TOTP secret (shown once; add it to the authenticator app): %s\n", res.GetTotpSecret())
		fmt.Printf("otpauth URI: %s\n", res.GetOtpauthUri())
		return nil
	case args[0] == "offboard" && len(args) == 2:
		req := &identityv1.OffboardStaffRequest{Staff: &identityv1.OffboardStaffRequest_Email{Email: args[1]}}
		if strings.HasPrefix(args[1], "staff/") {
			req.Staff = &identityv1.OffboardStaffRequest_Name{Name: args[1]}
		}
		res, err := client.OffboardStaff(ctx, req)
		if err != nil {
			return fmt.Errorf("offboard staff: %w", err)
		}
		fmt.Printf("offboarded %s (%s): sessions ended, %d support grants revoked\n",
			res.GetStaff().GetName(), res.GetStaff().GetEmail(), res.GetRevokedGrants())
		return nil
	}
	return errors.New(staffUsage)
}

func dialStaffAdmin(cfg devConfig) (identityv1.StaffAdminServiceClient, func(), error) {
	conn, err := dialOperator(cfg, cfg.IdentityAddr)
	if err != nil {
		return nil, nil, err
	}
	return identityv1.NewStaffAdminServiceClient(conn), func() { _ = conn.Close() }, nil
}

// dialOperator connects to addr with the operator's certificate: the only one the
// operator methods (peers: ["operator"]) accept.
func dialOperator(cfg devConfig, addr string) (*grpc.ClientConn, error) {
	var op operatorConfig
	if err := config.Load(&op); err != nil {
		return nil, err
	}
	if op.CertFile == "" {
		material, err := stack.Init(cfg.DataDir)
		if err != nil {
			return nil, err
		}
		op = operatorConfig{
			CAFile: material.PKI.CAFile, CertFile: material.PKI.CertFile("operator"), KeyFile: material.PKI.KeyFile("operator"),
		}
	}
	tlsConfig, err := tlsconf.ClientConfig(op.CAFile, op.CertFile, op.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("operator TLS: %w", err)
	}
	return rpc.Dial(addr, tlsConfig)
}

// readPassword reads the first line of r, so the password stays out of the command
// line and the shell history: pipe it in, or type it at the prompt.
func readPassword(r io.Reader) (string, error) {
	if f, ok := r.(*os.File); ok {
		if info, err := f.Stat(); err == nil && info.Mode()&os.ModeCharDevice != 0 {
			fmt.Fprint(os.Stderr, "password for the new staff account (at least 12 characters): ")
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
