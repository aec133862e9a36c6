package httpapi

import (
	"context"
	"net/http"
	"strings"
	"testing"

	auditv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/audit/v1"
	billingv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/billing/v1"
	identityv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/identity/v1"
	workflowv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/workflow/v1"
	"github.com/firmflow/firmflow/pkg/rpc"
	"github.com/firmflow/firmflow/pkg/rpc/rpctest"
)

// fakeAudit answers AuditService's checkpoint and verify calls with canned data.
type fakeAudit struct {
	auditv1.UnimplementedAuditServiceServer
}

func (fakeAudit) CreateAuditCheckpoint(_ context.Context, req *auditv1.CreateAuditCheckpointRequest) (*auditv1.AuditCheckpoint, error) {
	return &auditv1.AuditCheckpoint{Name: req.GetParent() + "/auditCheckpoints/7", Sequence: 7}, nil
}

func (fakeAudit) VerifyAuditChain(context.Context, *auditv1.VerifyAuditChainRequest) (*auditv1.VerifyAuditChainResponse, error) {
	return &auditv1.VerifyAuditChainResponse{Valid: true}, nil
}

// A checkpoint is a new resource like every other create; verifying the chain creates
// nothing.
func TestAuditCheckpointAnswers201(t *testing.T) {
	mux := NewREST(Errors{Logger: discardLogger()})
	if err := auditv1.RegisterAuditServiceHandlerServer(context.Background(), mux, fakeAudit{}); err != nil {
		t.Fatal(err)
	}
	const firm = "/v1/firms/0b0e5f6e-4c2a-4a37-9d0b-1f0e7f4b2a11"
	for _, c := range []struct {
		path string
		want int
	}{
		{firm + "/auditCheckpoints", http.StatusCreated},
		{firm + "/auditEvents:verify", http.StatusOK},
	} {
		if res := serve(mux, jsonRequest(http.MethodPost, c.path, `{}`)); res.StatusCode != c.want {
			t.Errorf("POST %s: status %d, want %d", c.path, res.StatusCode, c.want)
		}
	}
}

// The gateway answers 201 from the created flag of the method's declared policy; the
// flag must agree with the method's name on every method it routes, so that no create
// answers 200 because someone forgot the flag.
func TestCreatedIsDeclaredOnEveryCreate(t *testing.T) {
	declared := rpc.DeclaredPolicies()
	for _, method := range []string{
		identityv1.IdentityService_SignUp_FullMethodName,
		identityv1.StaffService_RequestSupportAccess_FullMethodName,
		workflowv1.ClientService_ImportClients_FullMethodName,
		auditv1.AuditService_CreateAuditCheckpoint_FullMethodName,
	} {
		if !declared[method].Created {
			t.Errorf("%s is not declared created", method)
		}
	}
	for _, method := range []string{
		identityv1.IdentityService_Login_FullMethodName,
		billingv1.BillingService_CheckoutSubscription_FullMethodName,
		workflowv1.SeriesService_RunSeries_FullMethodName,
	} {
		if declared[method].Created {
			t.Errorf("%s is declared created", method)
		}
	}
	rpctest.CreatesAnswerCreated(t, declared)
}

// fakeClients answers upserts as created when the external id is "new", and marks
// an update as created too, which the gateway must not believe of a method not
// declared an upsert.
type fakeClients struct {
	workflowv1.UnimplementedClientServiceServer
}

func (fakeClients) UpsertClient(ctx context.Context, req *workflowv1.UpsertClientRequest) (*workflowv1.Client, error) {
	if req.GetClient().GetExternalId() == "new" {
		rpc.MarkCreated(ctx)
	}
	return &workflowv1.Client{Name: req.GetParent() + "/clients/0b0e5f6e-4c2a-4a37-9d0b-1f0e7f4b2a12", Etag: `"1"`}, nil
}

func (fakeClients) UpdateClient(ctx context.Context, req *workflowv1.UpdateClientRequest) (*workflowv1.Client, error) {
	rpc.MarkCreated(ctx)
	return req.GetClient(), nil
}

// An upsert answers 201 with Location when the service marks its response as a
// creation, 200 without Location otherwise; the mark means nothing on other methods
// and never reaches the client as a header.
func TestUpsertAnswers201OnlyWhenItCreated(t *testing.T) {
	mux := NewREST(Errors{Logger: discardLogger()})
	if err := workflowv1.RegisterClientServiceHandlerServer(context.Background(), mux, fakeClients{}); err != nil {
		t.Fatal(err)
	}
	const firm = "/v1/firms/0b0e5f6e-4c2a-4a37-9d0b-1f0e7f4b2a11"
	for _, c := range []struct {
		method, path, body string
		want               int
	}{
		{http.MethodPost, firm + "/clients:upsert", `{"external_id":"new"}`, http.StatusCreated},
		{http.MethodPost, firm + "/clients:upsert", `{"external_id":"old"}`, http.StatusOK},
		{http.MethodPatch, firm + "/clients/0b0e5f6e-4c2a-4a37-9d0b-1f0e7f4b2a12?update_mask=display_name", `{"display_name":"x"}`, http.StatusOK},
	} {
		res := serve(mux, jsonRequest(c.method, c.path, c.body))
		if res.StatusCode != c.want {
			t.Errorf("%s %s %s: status %d, want %d", c.method, c.path, c.body, res.StatusCode, c.want)
		}
		if hasLocation := res.Header.Get("Location") != ""; hasLocation != (c.want == http.StatusCreated) {
			t.Errorf("%s %s: Location %q with status %d", c.method, c.body, res.Header.Get("Location"), res.StatusCode)
		}
		for name := range res.Header {
			if strings.Contains(strings.ToLower(name), rpc.CreatedHeader) {
				t.Errorf("the service's mark leaked as header %s", name)
			}
		}
	}
}
