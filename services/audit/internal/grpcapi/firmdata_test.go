package grpcapi_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/firmflow/firmflow/pkg/firmdata"
	"github.com/firmflow/firmflow/pkg/firmdata/firmdatatest"
	lifecyclev1 "github.com/firmflow/firmflow/pkg/gen/firmflow/lifecycle/v1"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/services/audit/chain"
	"github.com/firmflow/firmflow/services/audit/internal/app"
	"github.com/firmflow/firmflow/services/audit/internal/audittest"
	"github.com/firmflow/firmflow/services/audit/internal/domain"
	"github.com/firmflow/firmflow/services/audit/internal/grpcapi"
	"github.com/firmflow/firmflow/services/audit/internal/store"
)

type firmDataFixture struct {
	audittest.Fixture
	callers firmdatatest.Callers
}

func newFirmDataFixture(t *testing.T) firmDataFixture {
	t.Helper()
	f := audittest.New(t)
	callers := firmdatatest.Serve(t, "audit", grpcapi.Policies(), func(srv *grpc.Server) { grpcapi.Register(srv, f.App) })
	return firmDataFixture{Fixture: f, callers: callers}
}

// seed appends events to the firm's chain (more than one export batch), signs a
// checkpoint, and adds the rows audit keeps beside the chain.
func (f firmDataFixture) seed(t *testing.T, firm uuid.UUID, events int) {
	t.Helper()
	ctx := context.Background()
	batch := make([]chain.Event, events)
	for i := range batch {
		batch[i] = domain.Access{
			EventID: uuid.NewString(), Firm: "firms/" + firm.String(), Actor: fmt.Sprintf("users/u%d", i%3), Category: "general",
			RPCMethod: "/firmflow.identity.v1.IdentityService/GetFirm", Resources: []string{"firms/" + firm.String()},
			Code: "OK", Time: time.Now(), Subject: "firmflow.gateway.access", Payload: []byte{1, 2, 3},
		}.Event()
	}
	if n, err := f.App.Append(ctx, batch); err != nil || n != events {
		t.Fatalf("append: %d, %v", n, err)
	}
	owner := principal.Principal{Kind: principal.KindUser, FirmID: firm.String(), UserID: uuid.NewString(), Role: principal.RoleOwner}
	if _, _, err := f.App.Checkpoint(ctx, owner, firm.String()); err != nil {
		t.Fatal(err)
	}
	f.admin(t, func(conn *pgx.Conn) error {
		for _, stmt := range []string{
			`insert into audit_settings (firm_id, retention_days) values ($1, 500)`,
			`insert into audit_chain_starts (firm_id, first_seq, prev_hash) values ($1, 1, '\x00')`,
			`insert into outbox (id, firm_id, subject, payload) values (gen_random_uuid(), $1, 'firmflow.audit.test', '\x00')`,
		} {
			if _, err := conn.Exec(ctx, stmt, firm); err != nil {
				return fmt.Errorf("%s: %w", stmt, err)
			}
		}
		return nil
	})
}

func (f firmDataFixture) admin(t *testing.T, fn func(*pgx.Conn) error) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, f.DB.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := fn(conn); err != nil {
		t.Fatal(err)
	}
}

func TestFirmDataRefusesCallersOtherThanLifecycle(t *testing.T) {
	f := newFirmDataFixture(t)
	firm := "firms/" + uuid.NewString()
	ctx := context.Background()
	stream, err := f.callers.Other.ExportFirmData(ctx, &lifecyclev1.ExportFirmDataRequest{Firm: firm})
	if err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("ExportFirmData as gateway: %v, want PermissionDenied", err)
	}
	if _, err := f.callers.Other.DeleteFirmData(ctx, &lifecyclev1.DeleteFirmDataRequest{Firm: firm}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("DeleteFirmData as gateway: %v, want PermissionDenied", err)
	}
	if _, err := f.callers.Other.CountFirmRows(ctx, &lifecyclev1.CountFirmRowsRequest{Firm: firm}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("CountFirmRows as gateway: %v, want PermissionDenied", err)
	}
}

func TestFirmDataExportsTheChainThenDeletesOnlyTheFirm(t *testing.T) {
	f := newFirmDataFixture(t)
	firmID, controlID := uuid.New(), uuid.New()
	f.seed(t, firmID, firmdata.BatchRows+20)
	f.seed(t, controlID, 5)
	firm, control := "firms/"+firmID.String(), "firms/"+controlID.String()
	lc := f.callers.Lifecycle

	export := firmdatatest.ExportFirm(t, lc, firm)
	for _, entity := range store.ExportEntities() {
		if len(export.Rows[entity]) == 0 {
			t.Errorf("export has no %s", entity)
		}
	}
	if n := len(export.Rows["audit_events"]); n != firmdata.BatchRows+20 {
		t.Errorf("exported %d events, want %d", n, firmdata.BatchRows+20)
	}
	if strings.Contains(string(export.Raw), controlID.String()) {
		t.Error("export of the firm holds the control firm's id")
	}
	head := export.Rows["audit_chain_head"][0]["hash"]

	before, controlBefore := firmdatatest.Counts(t, lc, firm), firmdatatest.Counts(t, lc, control)
	for _, table := range []string{"audit_events", "audit_event_ids", "audit_checkpoints", "audit_chain_starts", "audit_chain_heads", "audit_settings", "outbox"} {
		if before[table] == 0 {
			t.Errorf("before deletion, %s has no row of the firm: %v", table, before)
		}
	}

	deleted, facts := firmdatatest.Delete(t, lc, firm)
	if facts[app.FactChainHead] == "" || facts[app.FactChainHead] != head {
		t.Errorf("fact %s = %q, want the exported head %v", app.FactChainHead, facts[app.FactChainHead], head)
	}
	if firmdatatest.Total(deleted) != firmdatatest.Total(before) {
		t.Errorf("deleted %v, the firm had %v", deleted, before)
	}
	if n := firmdatatest.Total(firmdatatest.Counts(t, lc, firm)); n != 0 {
		t.Errorf("after deletion the firm still has %d rows", n)
	}
	if controlAfter := firmdatatest.Counts(t, lc, control); !firmdatatest.EqualCounts(controlBefore, controlAfter) {
		t.Errorf("control firm changed: %v, then %v", controlBefore, controlAfter)
	}
	ctx := context.Background()
	owner := principal.Principal{Kind: principal.KindUser, FirmID: controlID.String(), UserID: uuid.NewString(), Role: principal.RoleOwner}
	if report, err := f.App.Verify(ctx, owner, controlID.String()); err != nil || len(report.Problems) > 0 || report.Events != 5 {
		t.Errorf("control firm's chain after the deletion: %+v, %v", report, err)
	}
	again, facts := firmdatatest.Delete(t, lc, firm)
	if n := firmdatatest.Total(again); n != 0 || len(facts) != 0 {
		t.Errorf("second deletion removed %d rows, facts %v", n, facts)
	}
}

// The deletion path is the only one: the owner's own DELETE of the control firm's
// events, checkpoints and chain starts is still refused, and so is a deletion
// function called for a firm other than the transaction's.
func TestAuditLogStaysAppendOnlyOutsideFirmDeletion(t *testing.T) {
	f := newFirmDataFixture(t)
	firm := uuid.New()
	f.seed(t, firm, 3)
	ctx := context.Background()
	owner, err := pgx.Connect(ctx, f.DB.OwnerURL)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close(ctx)
	for _, table := range []string{"audit_events", "audit_checkpoints", "audit_chain_starts"} {
		if _, err := owner.Exec(ctx, "delete from "+table+" where firm_id = $1", firm); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("owner's delete from %s: %v, want refused as append-only", table, err)
		}
	}
	if _, err := owner.Exec(ctx, "select * from audit_delete_firm($1)", firm); err == nil {
		t.Error("audit_delete_firm outside a transaction scoped to the firm ran")
	}
	counts := firmdatatest.Counts(t, f.callers.Lifecycle, "firms/"+firm.String())
	if counts["audit_events"] != 3 {
		t.Errorf("events after the refused deletes: %v", counts)
	}
}
