package rpc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
)

// Listeners are a service's bound sockets: gRPC, and the admin HTTP port (metrics,
// health) when Admin is set.
type Listeners struct {
	GRPC  net.Listener
	Admin net.Listener
}

// Listen binds addresses before serving, so that port 0 works and callers learn the
// real addresses. An empty adminAddr disables the admin port.
func Listen(grpcAddr, adminAddr string) (Listeners, error) {
	var l Listeners
	var err error
	if l.GRPC, err = net.Listen("tcp", grpcAddr); err != nil {
		return l, fmt.Errorf("listen on %s: %w", grpcAddr, err)
	}
	if adminAddr != "" {
		if l.Admin, err = net.Listen("tcp", adminAddr); err != nil {
			l.GRPC.Close()
			return l, fmt.Errorf("listen on %s: %w", adminAddr, err)
		}
	}
	return l, nil
}

// Serve runs the gRPC server (and the admin server, when given) until ctx ends, then
// stops both gracefully, giving in-flight calls up to ten seconds.
func Serve(ctx context.Context, srv *grpc.Server, admin *http.Server, l Listeners) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		// Stopped before it began serving (ctx ended during start-up): Serve closes
		// the listener and says so, and a stop asked for is no failure.
		if err := srv.Serve(l.GRPC); !errors.Is(err, grpc.ErrServerStopped) {
			return err
		}
		return nil
	})
	if admin != nil && l.Admin != nil {
		g.Go(func() error {
			if err := admin.Serve(l.Admin); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
	}
	g.Go(func() error {
		<-ctx.Done()
		stopped := make(chan struct{})
		go func() { srv.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(10 * time.Second):
			srv.Stop()
		}
		if admin != nil {
			shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = admin.Shutdown(shutdownCtx)
		}
		return nil
	})
	return g.Wait()
}
