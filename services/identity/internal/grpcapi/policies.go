package grpcapi

import (
	identityv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/identity/v1"
	"github.com/firmflow/firmflow/pkg/rpc"
)

// Policies is identity's authorization table: every RPC and who may call it.
var Policies = rpc.Policies{
	identityv1.IdentityService_SignUp_FullMethodName:           {Public: true},
	identityv1.IdentityService_Login_FullMethodName:            {Public: true},
	identityv1.IdentityService_AcceptInvitation_FullMethodName: {Public: true},

	identityv1.IdentityService_Logout_FullMethodName:                {Roles: rpc.Everyone, DuringEnrollment: true},
	identityv1.IdentityService_ListSessions_FullMethodName:          {Roles: rpc.Everyone, DuringEnrollment: true},
	identityv1.IdentityService_RevokeSession_FullMethodName:         {Roles: rpc.Everyone, DuringEnrollment: true},
	identityv1.IdentityService_GetCaller_FullMethodName:             {Roles: rpc.Everyone, Scope: "identity:read", DuringEnrollment: true},
	identityv1.IdentityService_BeginTotpEnrollment_FullMethodName:   {Roles: rpc.Everyone, DuringEnrollment: true},
	identityv1.IdentityService_ConfirmTotpEnrollment_FullMethodName: {Roles: rpc.Everyone, DuringEnrollment: true},

	identityv1.IdentityService_GetFirm_FullMethodName:     {Roles: rpc.Everyone, Scope: "identity:read"},
	identityv1.IdentityService_ListMembers_FullMethodName: {Roles: rpc.Everyone, Scope: "identity:read"},
	identityv1.IdentityService_GetMember_FullMethodName:   {Roles: rpc.Everyone, Scope: "identity:read"},

	identityv1.IdentityService_UpdateFirm_FullMethodName:       {Roles: rpc.Managers},
	identityv1.IdentityService_UpdateMember_FullMethodName:     {Roles: rpc.Managers},
	identityv1.IdentityService_RemoveMember_FullMethodName:     {Roles: rpc.Managers},
	identityv1.IdentityService_CreateInvitation_FullMethodName: {Roles: rpc.Managers, Scope: "identity:write"},
	identityv1.IdentityService_ListInvitations_FullMethodName:  {Roles: rpc.Managers, Scope: "identity:read"},

	// API keys manage API keys only through a person: a leaked key cannot mint more.
	identityv1.IdentityService_CreateApiKey_FullMethodName: {Roles: rpc.Managers},
	identityv1.IdentityService_ListApiKeys_FullMethodName:  {Roles: rpc.Managers},
	identityv1.IdentityService_GetApiKey_FullMethodName:    {Roles: rpc.Managers},
	identityv1.IdentityService_RotateApiKey_FullMethodName: {Roles: rpc.Managers},
	identityv1.IdentityService_RevokeApiKey_FullMethodName: {Roles: rpc.Managers},

	identityv1.AuthService_Authenticate_FullMethodName: {Peers: []string{"gateway"}},
}
