package grpcapi

import (
	identityv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/identity/v1"
	"github.com/firmflow/firmflow/pkg/rpc"
)

// Policies is identity's authorization table: every RPC and who may call it.
//
// Staff on a support grant may call what admins may, except what is marked
// NoSupport: a member's own sessions and TOTP, the firm's security settings, who
// belongs to the firm, credentials (which would outlive the grant) and the firm's
// side of support access itself.
var Policies = rpc.Policies{
	identityv1.IdentityService_SignUp_FullMethodName:           {Public: true},
	identityv1.IdentityService_Login_FullMethodName:            {Public: true},
	identityv1.IdentityService_AcceptInvitation_FullMethodName: {Public: true},

	identityv1.IdentityService_Logout_FullMethodName:                {Roles: rpc.Everyone, DuringEnrollment: true, NoSupport: true},
	identityv1.IdentityService_ListSessions_FullMethodName:          {Roles: rpc.Everyone, DuringEnrollment: true, NoSupport: true},
	identityv1.IdentityService_RevokeSession_FullMethodName:         {Roles: rpc.Everyone, DuringEnrollment: true, NoSupport: true},
	identityv1.IdentityService_GetCaller_FullMethodName:             {Roles: rpc.Everyone, Scope: "identity:read", DuringEnrollment: true},
	identityv1.IdentityService_BeginTotpEnrollment_FullMethodName:   {Roles: rpc.Everyone, DuringEnrollment: true, NoSupport: true},
	identityv1.IdentityService_ConfirmTotpEnrollment_FullMethodName: {Roles: rpc.Everyone, DuringEnrollment: true, NoSupport: true},

	identityv1.IdentityService_GetFirm_FullMethodName:     {Roles: rpc.Everyone, Scope: "identity:read"},
	identityv1.IdentityService_ListMembers_FullMethodName: {Roles: rpc.Everyone, Scope: "identity:read"},
	identityv1.IdentityService_GetMember_FullMethodName:   {Roles: rpc.Everyone, Scope: "identity:read"},

	identityv1.IdentityService_UpdateFirm_FullMethodName:       {Roles: rpc.Managers, NoSupport: true},
	identityv1.IdentityService_UpdateMember_FullMethodName:     {Roles: rpc.Managers, NoSupport: true},
	identityv1.IdentityService_RemoveMember_FullMethodName:     {Roles: rpc.Managers, NoSupport: true},
	identityv1.IdentityService_CreateInvitation_FullMethodName: {Roles: rpc.Managers, Scope: "identity:write", NoSupport: true},
	identityv1.IdentityService_ListInvitations_FullMethodName:  {Roles: rpc.Managers, Scope: "identity:read"},

	// API keys manage API keys only through a person: a leaked key cannot mint more.
	identityv1.IdentityService_CreateApiKey_FullMethodName: {Roles: rpc.Managers, NoSupport: true},
	identityv1.IdentityService_ListApiKeys_FullMethodName:  {Roles: rpc.Managers},
	identityv1.IdentityService_GetApiKey_FullMethodName:    {Roles: rpc.Managers},
	identityv1.IdentityService_RotateApiKey_FullMethodName: {Roles: rpc.Managers, NoSupport: true},
	identityv1.IdentityService_RevokeApiKey_FullMethodName: {Roles: rpc.Managers, NoSupport: true},

	identityv1.AuthService_Authenticate_FullMethodName: {Peers: []string{"gateway"}},

	identityv1.ClosureService_VerifyOwnerCredentials_FullMethodName:   {Peers: []string{"lifecycle"}},
	identityv1.ClosureService_SetFirmDeletionScheduled_FullMethodName: {Peers: []string{"lifecycle"}},

	identityv1.StaffService_StaffLogin_FullMethodName:           {Public: true},
	identityv1.StaffService_StaffLogout_FullMethodName:          {Staff: true},
	identityv1.StaffService_RequestSupportAccess_FullMethodName: {Staff: true},
	identityv1.StaffService_ListMySupportGrants_FullMethodName:  {Staff: true},

	identityv1.SupportService_ListSupportGrants_FullMethodName:   {Roles: rpc.Managers, NoSupport: true},
	identityv1.SupportService_GetSupportGrant_FullMethodName:     {Roles: rpc.Managers, NoSupport: true},
	identityv1.SupportService_ApproveSupportGrant_FullMethodName: {Roles: rpc.Managers, NoSupport: true},
	identityv1.SupportService_DenySupportGrant_FullMethodName:    {Roles: rpc.Managers, NoSupport: true},
	identityv1.SupportService_RevokeSupportGrant_FullMethodName:  {Roles: rpc.Managers, NoSupport: true},
	identityv1.SupportService_ListNotifications_FullMethodName:   {Roles: rpc.Managers, NoSupport: true},

	// Operators run `firmflow staff` with the operator certificate; no principal can.
	identityv1.StaffAdminService_CreateStaff_FullMethodName:   {Peers: []string{"operator"}},
	identityv1.StaffAdminService_OffboardStaff_FullMethodName: {Peers: []string{"operator"}},
}
