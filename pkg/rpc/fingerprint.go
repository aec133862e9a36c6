package rpc

import (
	"bytes"
	"context"
	"crypto/sha256"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/firmflow/firmflow/pkg/apierr"
)

type fingerprintKey struct{}

// withFingerprint notes, for a request that carries a request_id (AIP-155), the
// SHA-256 of the request as decoded. Deterministic proto encoding makes the same
// request give the same fingerprint however its JSON was written (key order,
// spacing, defaults spelt out or left out).
func withFingerprint(ctx context.Context, msg proto.Message) context.Context {
	m := msg.ProtoReflect()
	f := m.Descriptor().Fields().ByName("request_id")
	if f == nil || f.Kind() != protoreflect.StringKind || m.Get(f).String() == "" {
		return ctx
	}
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
	if err != nil {
		return ctx
	}
	sum := sha256.Sum256(raw)
	return context.WithValue(ctx, fingerprintKey{}, sum[:])
}

// RequestFingerprint is what a store keeps next to a request_id it claims, so that a
// retry can be told from another request reusing the id; nil outside a call with a
// request_id.
func RequestFingerprint(ctx context.Context) []byte {
	sum, _ := ctx.Value(fingerprintKey{}).([]byte)
	return sum
}

// CheckRequestReuse refuses a call whose request_id was first used with another
// request (earlier is the fingerprint stored then): replaying the first answer would
// tell the client its different request succeeded. A claim stored before
// fingerprints were kept (nil) is taken as the same request.
func CheckRequestReuse(ctx context.Context, earlier []byte) error {
	now := RequestFingerprint(ctx)
	if earlier == nil || now == nil || bytes.Equal(earlier, now) {
		return nil
	}
	return RequestIDReused()
}

// RequestIDReused is the error of a request_id used before for a different request
// (409 ALREADY_EXISTS), whoever found out: a store comparing fingerprints, or a
// payment provider comparing an idempotency key's parameters.
func RequestIDReused() *apierr.Error {
	return apierr.New(codes.AlreadyExists, "REQUEST_ID_REUSED",
		"this request_id was already used for a different request; send a new request_id")
}
