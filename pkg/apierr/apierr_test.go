package apierr_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/pg/pgtest"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// closedPort is a local port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// wantUnavailable checks that err reaches a client as 503 material: UNAVAILABLE, a
// RetryInfo to become Retry-After, and nothing about our network in the message.
func wantUnavailable(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("no error from the unavailable dependency")
	}
	st := apierr.Status(context.Background(), discard(), err)
	if st.Code() != codes.Unavailable {
		t.Fatalf("status of %v = %s, want Unavailable", err, st.Code())
	}
	if strings.Contains(st.Message(), "127.0.0.1") || strings.Contains(st.Message(), "dial") {
		t.Errorf("message %q describes our network", st.Message())
	}
	var retry *errdetails.RetryInfo
	for _, d := range st.Details() {
		if r, ok := d.(*errdetails.RetryInfo); ok {
			retry = r
		}
	}
	if retry == nil || retry.GetRetryDelay().AsDuration() <= 0 {
		t.Errorf("status %v carries no retry delay", st.Proto())
	}
}

func TestDatabaseUnreachableIsUnavailable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := fmt.Sprintf("postgres://postgres@%s/postgres?sslmode=disable&connect_timeout=2", closedPort(t))

	_, err := pgx.Connect(ctx, url)
	wantUnavailable(t, fmt.Errorf("open: %w", err))

	pool, err := pgxpool.New(ctx, url) // connects lazily
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	_, err = pool.Begin(ctx)
	wantUnavailable(t, fmt.Errorf("begin: %w", err))
	err = pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{}, func(pgx.Tx) error { return nil })
	wantUnavailable(t, err)
}

func TestDatabaseStoppedDuringRequestsIsUnavailable(t *testing.T) {
	cluster := pgtest.NewCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool, err := pgxpool.New(ctx, cluster.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)

	cluster.Stop(t)
	_, err = tx.Exec(ctx, "select 1")
	wantUnavailable(t, err) // the server ended the session mid-transaction
	_, err = pool.Exec(ctx, "select 1")
	wantUnavailable(t, err) // and nothing answers now

	cluster.Start(t)
	if _, err := pool.Exec(ctx, "select 1"); err != nil {
		t.Fatalf("after restart: %v", err)
	}
}

func TestBrokerAndUpstreamUnavailableAreUnavailable(t *testing.T) {
	_, err := nats.Connect("nats://"+closedPort(t), nats.Timeout(time.Second))
	wantUnavailable(t, err)

	// A downstream service's UNAVAILABLE, with a message about its address, as the
	// gRPC client reports it.
	wantUnavailable(t, status.Error(codes.Unavailable, "connection error: desc = \"transport: Error while dialing: dial tcp 127.0.0.1:9: connect: connection refused\""))
}

func TestDependencyTimeoutIsUnavailableButTheCallersIsNot(t *testing.T) {
	// A bounded wait on a dependency ran out while the request itself still had time.
	wantUnavailable(t, fmt.Errorf("acquire connection: %w", context.DeadlineExceeded))

	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	if st := apierr.Status(ctx, discard(), ctx.Err()); st.Code() != codes.DeadlineExceeded {
		t.Errorf("the caller's own deadline = %s, want DeadlineExceeded", st.Code())
	}
}

func TestUnknownErrorsStayInternal(t *testing.T) {
	st := apierr.Status(context.Background(), discard(), errors.New("boom at 127.0.0.1"))
	if st.Code() != codes.Internal || st.Message() != "internal error" {
		t.Errorf("status = %s %q, want a generic INTERNAL", st.Code(), st.Message())
	}
}
