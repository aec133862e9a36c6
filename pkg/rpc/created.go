package rpc

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// CreatedHeader is the response header an upsert method (Policy.Upsert) sends when
// it created the resource rather than changing one; the gateway turns it into 201
// Created and does not pass it on.
const CreatedHeader = "firmflow-created"

// MarkCreated tells the caller of an upsert method that its response is a resource
// the call created. Outside a gRPC call (a handler called directly) there is no
// caller to tell.
func MarkCreated(ctx context.Context) {
	_ = grpc.SetHeader(ctx, metadata.Pairs(CreatedHeader, "true"))
}

// WasCreated reports whether response header md marks a creation (MarkCreated).
func WasCreated(md metadata.MD) bool {
	v := md.Get(CreatedHeader)
	return len(v) == 1 && v[0] == "true"
}
