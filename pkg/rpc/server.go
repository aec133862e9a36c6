// Package rpc builds every service's gRPC server and clients the same way: mTLS,
// recovery, tracing, logging, the signed principal, the per-method policy declared in
// the proto, protovalidate request validation and the one mapping of errors to
// statuses.
package rpc

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"buf.build/go/protovalidate"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/logging"
	"github.com/firmflow/firmflow/pkg/principal"
)

// RequestIDKey is the metadata entry carrying the gateway's request id.
const RequestIDKey = "x-request-id"

// ServerConfig is what every service's gRPC server needs.
type ServerConfig struct {
	TLS *tls.Config // mutual TLS; nil only in tests of this package
	// Policies decide who may call each method; nil means the policies declared in the
	// protos (DeclaredPolicies), which is what every service uses.
	Policies Policies
	Verifier *principal.Verifier
	Logger   *slog.Logger
}

// NewServer returns a gRPC server with the standard interceptor chain, a health
// service and server reflection. Register the service's implementations on it, and check in a test that
// each has a declared policy (rpctest.EveryMethodHasAPolicy).
func NewServer(cfg ServerConfig) (*grpc.Server, *health.Server, error) {
	if cfg.Policies == nil {
		// Read at construction, not at package init: by now every generated package the
		// process links has registered its descriptors.
		cfg.Policies = DeclaredPolicies()
	}
	validator, err := protovalidate.New()
	if err != nil {
		return nil, nil, fmt.Errorf("create validator: %w", err)
	}
	chain := &interceptor{cfg: cfg, validator: validator}
	opts := []grpc.ServerOption{
		grpc.StatsHandler(otelgrpc.NewServerHandler()),
		grpc.ChainUnaryInterceptor(chain.unary),
		grpc.ChainStreamInterceptor(chain.stream),
		grpc.MaxRecvMsgSize(2 << 20),
	}
	if cfg.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(cfg.TLS)))
	}
	srv := grpc.NewServer(opts...)
	healthSrv := health.NewServer()
	healthpb.RegisterHealthServer(srv, healthSrv)
	// Reflection answers from the descriptors linked into the binary, which include
	// google.rpc's error details, so grpcurl shows ErrorInfo and field violations.
	reflection.Register(srv)
	return srv, healthSrv, nil
}

type interceptor struct {
	cfg       ServerConfig
	validator protovalidate.Validator
}

// unary runs, in order: request id and logging, panic recovery, principal
// verification, the method's policy, validation, then the handler; every error on
// the way out becomes a client-safe status.
func (i *interceptor) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	start := time.Now()
	md, _ := metadata.FromIncomingContext(ctx)
	if ids := md.Get(RequestIDKey); len(ids) > 0 {
		ctx = logging.WithRequestID(ctx, ids[0])
	}
	defer func() {
		if r := recover(); r != nil {
			i.cfg.Logger.ErrorContext(ctx, "panic in handler", slog.String("method", info.FullMethod),
				slog.Any("panic", r), slog.String("stack", string(debug.Stack())))
			resp, err = nil, errors.New("panic")
		}
		if err != nil {
			err = apierr.Status(ctx, i.cfg.Logger, err).Err()
		}
		i.log(ctx, info.FullMethod, err, time.Since(start))
	}()

	p, hasPrincipal, err := i.principal(md)
	if err != nil {
		return nil, err
	}
	if hasPrincipal {
		ctx = principal.NewContext(ctx, p)
	}
	if err := i.cfg.Policies.authorize(info.FullMethod, p, hasPrincipal, peerName(ctx)); err != nil {
		return nil, err
	}
	if msg, ok := req.(proto.Message); ok {
		if err := i.validate(msg); err != nil {
			return nil, err
		}
		ctx = withFingerprint(ctx, msg)
	}
	return handler(ctx, req)
}

// stream applies to streaming methods what unary applies to unary ones: the
// principal, the method's policy, then validation of each request message as the
// handler receives it. Without it a streaming method would run with no policy at all.
func (i *interceptor) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	start := time.Now()
	ctx := ss.Context()
	md, _ := metadata.FromIncomingContext(ctx)
	if ids := md.Get(RequestIDKey); len(ids) > 0 {
		ctx = logging.WithRequestID(ctx, ids[0])
	}
	defer func() {
		if r := recover(); r != nil {
			i.cfg.Logger.ErrorContext(ctx, "panic in handler", slog.String("method", info.FullMethod),
				slog.Any("panic", r), slog.String("stack", string(debug.Stack())))
			err = errors.New("panic")
		}
		if err != nil {
			err = apierr.Status(ctx, i.cfg.Logger, err).Err()
		}
		i.log(ctx, info.FullMethod, err, time.Since(start))
	}()

	p, hasPrincipal, err := i.principal(md)
	if err != nil {
		return err
	}
	if hasPrincipal {
		ctx = principal.NewContext(ctx, p)
	}
	if err := i.cfg.Policies.authorize(info.FullMethod, p, hasPrincipal, peerName(ctx)); err != nil {
		return err
	}
	return handler(srv, &checkedStream{ServerStream: ss, ctx: ctx, validate: i.validate})
}

// checkedStream carries the interceptor's context to the handler and validates every
// message it receives.
type checkedStream struct {
	grpc.ServerStream
	ctx      context.Context
	validate func(proto.Message) error
}

func (s *checkedStream) Context() context.Context { return s.ctx }

func (s *checkedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if msg, ok := m.(proto.Message); ok {
		return s.validate(msg)
	}
	return nil
}

func (i *interceptor) principal(md metadata.MD) (principal.Principal, bool, error) {
	tokens := md.Get(principal.MetadataKey)
	if len(tokens) == 0 {
		return principal.Principal{}, false, nil
	}
	if i.cfg.Verifier == nil {
		return principal.Principal{}, false, apierr.Unauthenticated("UNAUTHENTICATED", "credential not accepted")
	}
	p, err := i.cfg.Verifier.Verify(tokens[0])
	if err != nil {
		return principal.Principal{}, false, apierr.Unauthenticated("UNAUTHENTICATED", "credential not accepted")
	}
	return p, true, nil
}

func (i *interceptor) validate(msg proto.Message) error {
	err := i.validator.Validate(msg)
	if err == nil {
		return nil
	}
	var verr *protovalidate.ValidationError
	if !errors.As(err, &verr) {
		return fmt.Errorf("validate request: %w", err)
	}
	out := &apierr.Error{Code: codes.InvalidArgument, Reason: "INVALID_ARGUMENT"}
	for _, v := range verr.Violations {
		field := protovalidate.FieldPathString(v.Proto.GetField())
		out.Violations = append(out.Violations, apierr.FieldViolation{
			Field: field, Rule: v.Proto.GetRuleId(), Description: v.Proto.GetMessage(),
		})
	}
	if len(out.Violations) > 0 {
		first := out.Violations[0]
		out.Message = fmt.Sprintf("%s: %s (%s)", first.Field, first.Description, first.Rule)
	}
	return out
}

func (i *interceptor) log(ctx context.Context, method string, err error, took time.Duration) {
	code := status.Code(err)
	level := slog.LevelInfo
	if code == codes.Internal || code == codes.Unknown {
		level = slog.LevelError
	}
	attrs := []slog.Attr{
		slog.String("method", method), slog.String("code", code.String()),
		logging.Duration(took),
	}
	if p, ok := principal.FromContext(ctx); ok {
		attrs = append(attrs, slog.String("firm_id", p.FirmID), slog.String("actor", p.Actor()))
	}
	i.cfg.Logger.LogAttrs(ctx, level, "rpc", attrs...)
}

// peerName is the verified client certificate's common name, "" without mTLS.
func peerName(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return ""
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.PeerCertificates) == 0 {
		return ""
	}
	return info.State.PeerCertificates[0].Subject.CommonName
}

// Dial connects to another service over mutual TLS with tracing.
func Dial(target string, tlsConfig *tls.Config) (*grpc.ClientConn, error) {
	creds := credentials.NewTLS(tlsConfig)
	conn, err := grpc.NewClient(target,
		grpc.WithTransportCredentials(creds),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler()),
	)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", target, err)
	}
	return conn, nil
}
