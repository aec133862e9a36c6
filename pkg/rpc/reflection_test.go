package rpc_test

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"slices"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"

	"github.com/firmflow/firmflow/pkg/rpc"
	"github.com/firmflow/firmflow/pkg/tlsconf"
)

// TestReflectionAnswersOperatorsOverMutualTLS: grpcurl with the operator certificate
// can list a service's methods and resolve google.rpc.ErrorInfo (so it decodes error
// details); a client without a certificate of our CA gets nothing.
func TestReflectionAnswersOperatorsOverMutualTLS(t *testing.T) {
	pki, err := tlsconf.EnsureDevPKI(t.TempDir(), []string{"identity", "operator"})
	if err != nil {
		t.Fatal(err)
	}
	serverTLS, err := tlsconf.MutualServerConfig(pki.CAFile, pki.CertFile("identity"), pki.KeyFile("identity"))
	if err != nil {
		t.Fatal(err)
	}
	srv, _, err := rpc.NewServer(rpc.ServerConfig{TLS: serverTLS, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)

	operatorTLS, err := tlsconf.ClientConfig(pki.CAFile, pki.CertFile("operator"), pki.KeyFile("operator"))
	if err != nil {
		t.Fatal(err)
	}
	ask := func(tlsConfig *tls.Config, req *reflectionpb.ServerReflectionRequest) (*reflectionpb.ServerReflectionResponse, error) {
		conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(tlsConfig)))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(context.Background())
		if err != nil {
			return nil, err
		}
		if err := stream.Send(req); err != nil {
			return nil, err
		}
		return stream.Recv()
	}

	res, err := ask(operatorTLS, &reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}})
	if err != nil {
		t.Fatalf("list services as the operator: %v", err)
	}
	var names []string
	for _, s := range res.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	if !slices.Contains(names, "grpc.health.v1.Health") || !slices.Contains(names, "grpc.reflection.v1.ServerReflection") {
		t.Errorf("services listed: %v", names)
	}
	res, err = ask(operatorTLS, &reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: "google.rpc.ErrorInfo"}})
	if err != nil || len(res.GetFileDescriptorResponse().GetFileDescriptorProto()) == 0 {
		t.Errorf("google.rpc.ErrorInfo not resolvable: %v %v", err, res.GetErrorResponse())
	}

	anonymous := &tls.Config{RootCAs: operatorTLS.RootCAs, MinVersion: tls.VersionTLS12}
	if _, err := ask(anonymous, &reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err == nil {
		t.Error("reflection answered a client without a certificate")
	}
}
