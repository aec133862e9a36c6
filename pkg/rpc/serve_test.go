package rpc

import (
	"context"
	"net"
	"net/http"
	"testing"

	"google.golang.org/grpc"
)

// A service told to stop before it began serving (a signal during start-up) stops
// cleanly: no error, and nothing left listening.
func TestServeStopsCleanlyWhenTheContextEndedBeforeIt(t *testing.T) {
	for range 50 {
		l, err := Listen("127.0.0.1:0", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := Serve(ctx, grpc.NewServer(), &http.Server{}, l); err != nil {
			t.Fatalf("Serve = %v, want nil for a stop asked for", err)
		}
		for _, addr := range []net.Addr{l.GRPC.Addr(), l.Admin.Addr()} {
			if c, err := net.Dial("tcp", addr.String()); err == nil {
				c.Close()
				t.Fatalf("%s still accepts connections after Serve returned", addr)
			}
		}
	}
}
