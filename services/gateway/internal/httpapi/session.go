package httpapi

import (
	"context"
	"math"
	"net/http"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	identityv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/identity/v1"
	lifecyclev1 "github.com/firmflow/firmflow/pkg/gen/firmflow/lifecycle/v1"
	workflowv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/workflow/v1"
)

// sessionCookie is the forward-response option that keeps the session token out of
// the page's reach: Login's token goes into an HttpOnly cookie (script cannot read
// it, so an XSS cannot steal it) and is removed from the JSON body; Logout expires
// the cookie. SameSite=Strict keeps other sites' pages from sending it.
func sessionCookie(ctx context.Context, w http.ResponseWriter, resp proto.Message) error {
	if login, ok := resp.(*identityv1.LoginResponse); ok && login.GetSessionToken() != "" {
		setSessionCookie(w, login.GetSessionToken(), login.GetSession().GetExpireTime())
		login.SessionToken = ""
		return nil
	}
	if method, _ := runtime.RPCMethod(ctx); method == identityv1.IdentityService_Logout_FullMethodName {
		clearSessionCookie(w)
	}
	return nil
}

func setSessionCookie(w http.ResponseWriter, token string, expires *timestamppb.Timestamp) {
	c := newSessionCookie(token)
	if expires != nil {
		// Max-Age, unlike Expires, does not depend on the browser's clock.
		seconds := math.Ceil(time.Until(expires.AsTime()).Seconds())
		c.MaxAge = int(seconds)
		if seconds < 1 {
			c.MaxAge = -1 // a session already over deletes the cookie
		}
	}
	http.SetCookie(w, c)
}

func clearSessionCookie(w http.ResponseWriter) {
	c := newSessionCookie("")
	c.MaxAge = -1 // written as Max-Age=0: delete now
	http.SetCookie(w, c)
}

func newSessionCookie(value string) *http.Cookie {
	return &http.Cookie{
		Name:     SessionCookie,
		Value:    value,
		Path:     "/",
		HttpOnly: true,
		Secure:   true,
		SameSite: http.SameSiteStrictMode,
	}
}

// createdBy are the methods whose success creates a resource, answered with 201.
var createdBy = map[string]bool{
	identityv1.IdentityService_SignUp_FullMethodName:                true,
	identityv1.IdentityService_CreateInvitation_FullMethodName:      true,
	identityv1.IdentityService_AcceptInvitation_FullMethodName:      true,
	identityv1.IdentityService_CreateApiKey_FullMethodName:          true,
	identityv1.IdentityService_RotateApiKey_FullMethodName:          true,
	identityv1.StaffService_RequestSupportAccess_FullMethodName:     true,
	workflowv1.ClientService_CreateClient_FullMethodName:            true,
	workflowv1.ClientService_ImportClients_FullMethodName:           true,
	workflowv1.ClientService_CreateCustomField_FullMethodName:       true,
	workflowv1.ContactService_CreateContact_FullMethodName:          true,
	workflowv1.ContactService_CreateClientContact_FullMethodName:    true,
	workflowv1.TemplateService_CreateTemplate_FullMethodName:        true,
	workflowv1.ProjectService_CreateProject_FullMethodName:          true,
	workflowv1.ProjectService_CreateTask_FullMethodName:             true,
	workflowv1.SeriesService_CreateSeries_FullMethodName:            true,
	lifecyclev1.LifecycleService_RequestFirmDeletion_FullMethodName: true,
	lifecyclev1.LifecycleService_CreateExport_FullMethodName:        true,
}

// createdStatus is the forward-response option that answers 201 Created for methods
// that create. It writes the status line, so it must be the last option.
func createdStatus(ctx context.Context, w http.ResponseWriter, _ proto.Message) error {
	if method, _ := runtime.RPCMethod(ctx); createdBy[method] {
		w.WriteHeader(http.StatusCreated)
	}
	return nil
}
