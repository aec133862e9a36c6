package grpcapi

import (
	"context"

	"google.golang.org/protobuf/types/known/emptypb"

	identityv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/identity/v1"
)

func (s *Server) CreatePasswordReset(ctx context.Context, req *identityv1.CreatePasswordResetRequest) (*emptypb.Empty, error) {
	_, clientIP := clientInfo(ctx)
	return &emptypb.Empty{}, s.app.RequestPasswordReset(ctx, req.GetEmail(), clientIP)
}

func (s *Server) CompletePasswordReset(ctx context.Context, req *identityv1.CompletePasswordResetRequest) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, s.app.CompletePasswordReset(ctx, req.GetToken(), req.GetPassword())
}

func (s *Server) ChangePassword(ctx context.Context, req *identityv1.ChangePasswordRequest) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, s.app.ChangePassword(ctx, caller(ctx), req.GetCurrentPassword(), req.GetNewPassword())
}
