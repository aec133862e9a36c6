package grpcapi_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/firmflow/firmflow/pkg/fieldcrypt"
	"github.com/firmflow/firmflow/pkg/firmdata/firmdatatest"
	lifecyclev1 "github.com/firmflow/firmflow/pkg/gen/firmflow/lifecycle/v1"
	"github.com/firmflow/firmflow/pkg/inbox"
	"github.com/firmflow/firmflow/pkg/keystore"
	"github.com/firmflow/firmflow/pkg/keystore/keystoretest"
	"github.com/firmflow/firmflow/pkg/pg/pgtest"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/services/workflow/internal/app"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
	"github.com/firmflow/firmflow/services/workflow/internal/grpcapi"
	"github.com/firmflow/firmflow/services/workflow/internal/store"
	"github.com/firmflow/firmflow/services/workflow/migrations"
)

type firmDataFixture struct {
	db      *pgtest.Database
	keysDB  *pgtest.Database
	kek     *fieldcrypt.KEK
	keys    *keystore.Postgres
	app     *app.App
	callers firmdatatest.Callers
}

func newFirmDataFixture(t *testing.T) firmDataFixture {
	t.Helper()
	d := pgtest.New(t, "workflow", migrations.FS)
	keysDB, kek := keystoretest.Database(t), keystoretest.KEK(t)
	keys := keystoretest.Open(t, keysDB, kek, "workflow")
	a := app.New(store.New(d.Open(t)), keys)
	callers := firmdatatest.Serve(t, "workflow", func(srv *grpc.Server) { grpcapi.Register(srv, a) })
	return firmDataFixture{db: d, keysDB: keysDB, kek: kek, keys: keys, app: a, callers: callers}
}

// seed gives firm one row of every workflow table: a client with all four sensitive
// fields through the app (so they are sealed as in production), the rest as the
// administrator. It returns the client's sensitive values, which carry the firm's
// name so that a value of one firm is recognisable in the other's export.
func (f firmDataFixture) seed(t *testing.T, firm, label string) domain.Sensitive {
	t.Helper()
	ctx := context.Background()
	owner := principal.Principal{Kind: principal.KindUser, FirmID: firm, UserID: uuid.NewString(), Role: principal.RoleOwner}
	joined := inbox.Message{EventID: uuid.NewString(), FirmID: firm, Subject: "firmflow.identity.member_joined", OccurredAt: time.Now()}
	if err := f.app.MemberJoined(ctx, joined, owner.UserID); err != nil { // a members row and an inbox row
		t.Fatal(err)
	}
	sensitive := domain.Sensitive{TaxID: "TAX-" + label, BankAccount: "ACCT-" + label, BankRouting: "RT-" + label, Notes: "notes of " + label}
	c, err := f.app.CreateClient(ctx, owner, firm, domain.Client{DisplayName: "Client " + label, Tags: []string{"vip"},
		Assignees: []string{owner.UserID}, Sensitive: sensitive}, "req-"+label)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, f.db.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tpl, contact, field, series, project, hook := uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString()
	for _, stmt := range []string{
		`insert into permissions (firm_id, role, category, action, scope) values ($1, 'member', 'clients', 'read', 'all')`,
		fmt.Sprintf(`insert into custom_field_definitions (id, firm_id, key, display_name, type, create_time, update_time)
			values ('%s', $1, 'code', 'Code', 'text', now(), now())`, field),
		fmt.Sprintf(`insert into client_field_values (firm_id, client_id, field_id, value) values ($1, '%s', '%s', '"x"')`, c.ID, field),
		fmt.Sprintf(`insert into contacts (id, firm_id, display_name, create_time, update_time) values ('%s', $1, 'Contact', now(), now())`, contact),
		fmt.Sprintf(`insert into client_contacts (firm_id, client_id, contact_id, create_time, update_time) values ($1, '%s', '%s', now(), now())`, c.ID, contact),
		fmt.Sprintf(`insert into templates (id, firm_id, display_name, create_time, update_time) values ('%s', $1, 'Monthly close', now(), now())`, tpl),
		fmt.Sprintf(`insert into template_revisions (firm_id, template_id, revision, display_name, description, budget_minutes, tasks, create_time)
			values ($1, '%s', 1, 'Monthly close', '', 0, '[]', now())`, tpl),
		fmt.Sprintf(`insert into series (id, firm_id, client_id, template_id, display_name, frequency, interval_count, start_date,
			due_kind, weekend_shift, create_ahead_days, create_time, update_time)
			values ('%s', $1, '%s', '%s', 'Close', 'monthly', 1, '2026-01-01', 'last_day', 'none', 7, now(), now())`, series, c.ID, tpl),
		fmt.Sprintf(`insert into projects (id, firm_id, client_id, display_name, status, due_date, series_id, create_time, update_time)
			values ('%s', $1, '%s', 'January close', 'not_started', '2026-01-31', '%s', now(), now())`, project, c.ID, series),
		fmt.Sprintf(`insert into tasks (id, firm_id, project_id, client_id, position, title, status, create_time, update_time)
			values (gen_random_uuid(), $1, '%s', '%s', 0, 'Reconcile', 'ready', now(), now())`, project, c.ID),
		fmt.Sprintf(`insert into series_periods (firm_id, series_id, period_start, project_id, create_time)
			values ($1, '%s', '2026-01-01', '%s', now())`, series, project),
		`insert into member_capacities (firm_id, member_id, weekly_minutes, update_time) values ($1, gen_random_uuid(), 2400, now())`,
		fmt.Sprintf(`insert into webhook_subscriptions (id, firm_id, url, event_types, state, secret, create_time, update_time)
			values ('%s', $1, 'https://hooks.example.com/firmflow', '{client.updated}', 'active', '\x00', now(), now())`, hook),
		fmt.Sprintf(`insert into webhook_deliveries (id, firm_id, subscription_id, object, event_type, sequence, state, occur_time,
			create_time, expire_time, next_attempt_time) values (gen_random_uuid(), $1, '%s', 'firms/x/clients/y', 'client.updated', 1,
			'pending', now(), now(), now() + interval '1 day', now())`, hook),
		`insert into outbox (id, firm_id, subject, payload) values (gen_random_uuid(), $1, 'firmflow.workflow.test', '\x00')`,
	} {
		if _, err := conn.Exec(ctx, stmt, firm); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	return sensitive
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
	if _, err := f.callers.Lifecycle.CountFirmRows(ctx, &lifecyclev1.CountFirmRowsRequest{Firm: "firms/" + strings.Repeat("-", 36)}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("CountFirmRows of a malformed firm: %v, want InvalidArgument", err)
	}
	// The stream's request is validated like a unary one (protovalidate's pattern).
	stream, err = f.callers.Lifecycle.ExportFirmData(ctx, &lifecyclev1.ExportFirmDataRequest{Firm: "firms/1"})
	if err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "string.pattern") {
		t.Errorf("ExportFirmData of a malformed firm: %v, want InvalidArgument from the string.pattern rule", err)
	}
}

func TestFirmDataExportsEverythingThenDeletesOnlyTheFirm(t *testing.T) {
	f := newFirmDataFixture(t)
	firmID, controlID := uuid.NewString(), uuid.NewString()
	firm, control := "firms/"+firmID, "firms/"+controlID
	want := f.seed(t, firmID, "firm")
	f.seed(t, controlID, "control")
	lc := f.callers.Lifecycle

	export := firmdatatest.ExportFirm(t, lc, firm)
	for _, entity := range store.ExportEntities() {
		if len(export.Rows[entity]) == 0 {
			t.Errorf("export has no %s", entity)
		}
	}
	clients := export.Rows["clients"]
	if len(clients) != 1 {
		t.Fatalf("exported clients %v", clients)
	}
	got := clients[0]
	if got["tax_id"] != want.TaxID || got["bank_account"] != want.BankAccount || got["bank_routing"] != want.BankRouting || got["notes"] != want.Notes {
		t.Errorf("exported client %v, want sensitive fields decrypted %+v", got, want)
	}
	for _, leak := range []string{controlID, "control"} {
		if strings.Contains(string(export.Raw), leak) {
			t.Errorf("export of the firm holds %q of the control firm", leak)
		}
	}
	if p := export.Rows["projects"][0]; p["due_date"] != "2026-01-31" {
		t.Errorf("project due_date exported as %v, want 2026-01-31", p["due_date"])
	}

	before, controlBefore := firmdatatest.Counts(t, lc, firm), firmdatatest.Counts(t, lc, control)
	for _, table := range []string{"clients", "client_tags", "outbox", "tasks", "series_periods", "create_requests"} {
		if before[table] == 0 {
			t.Errorf("before deletion, %s has no row of the firm: %v", table, before)
		}
	}
	if slices.Contains(mapsKeys(before), "firm_keys") {
		t.Error("workflow still has a firm_keys table: keys belong in the key store")
	}

	deleted, _ := firmdatatest.Delete(t, lc, firm)
	if firmdatatest.Total(deleted) != firmdatatest.Total(before) {
		t.Errorf("deleted %v, the firm had %v", deleted, before)
	}
	after := firmdatatest.Counts(t, lc, firm)
	if n := firmdatatest.Total(after); n != 0 {
		t.Errorf("after deletion the firm still has %d rows: %v", n, after)
	}
	if controlAfter := firmdatatest.Counts(t, lc, control); !firmdatatest.EqualCounts(controlBefore, controlAfter) {
		t.Errorf("control firm changed: %v, then %v", controlBefore, controlAfter)
	}
	if ctl := firmdatatest.ExportFirm(t, lc, control).Rows["clients"]; len(ctl) != 1 || ctl[0]["tax_id"] != "TAX-control" {
		t.Errorf("control firm's clients after the deletion: %v", ctl)
	}
	again, _ := firmdatatest.Delete(t, lc, firm)
	if n := firmdatatest.Total(again); n != 0 {
		t.Errorf("second deletion removed %d rows: %v", n, again)
	}
	if e := firmdatatest.ExportFirm(t, lc, firm); len(e.Rows) != 0 {
		t.Errorf("export after deletion: %v", e.Rows)
	}
}

func mapsKeys(m map[string]int64) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// sealedClientFields lists every sealed value in a workflow database.
const sealedClientFields = `
	select firm_id::text, 'clients', c.column_name, id::text, c.value from clients,
	lateral (values ('tax_id', tax_id), ('bank_account', bank_account), ('bank_routing', bank_routing), ('notes', notes))
	  as c(column_name, value)
	where c.value is not null`

// TestDeletedFirmStaysUnreadableInRestoredBackups takes backups of workflow's
// database and of the key store, deletes the firm and destroys its keys (as
// identity's deletion does at the end of the saga), restores workflow's backup and
// tries every sealed value with all the live system holds: the key store and the
// KEK. None of the firm's opens; all of the control firm's do. The key store's own
// backup still opens them, which is why it is kept for days, not months.
func TestDeletedFirmStaysUnreadableInRestoredBackups(t *testing.T) {
	f := newFirmDataFixture(t)
	firmID, controlID := uuid.NewString(), uuid.NewString()
	f.seed(t, firmID, "firm")
	f.seed(t, controlID, "control")
	backup, keysBackup := pgtest.Dump(t, f.db), pgtest.Dump(t, f.keysDB)

	firmdatatest.Delete(t, f.callers.Lifecycle, "firms/"+firmID)
	if ids, err := f.keys.DestroyFirm(context.Background(), firmID); err != nil || len(ids) != 1 {
		t.Fatalf("destroy the firm's keys: %v, %v", ids, err)
	}

	values := keystoretest.ReadSealed(t, pgtest.Restore(t, backup), sealedClientFields)
	total := keystoretest.Count(values)
	if total[firmID] != 4 || total[controlID] != 4 {
		t.Fatalf("restored backup holds %v sealed values, want 4 of each firm", total)
	}
	opened := keystoretest.Opened(t, f.keysDB, f.kek, values)
	if opened[firmID] != 0 {
		t.Errorf("%d sealed values of the deleted firm opened from the restored backup", opened[firmID])
	}
	if opened[controlID] != total[controlID] {
		t.Errorf("%d of %d values of the control firm opened", opened[controlID], total[controlID])
	}
	if fromKeysBackup := keystoretest.Opened(t, pgtest.Restore(t, keysBackup), f.kek, values); fromKeysBackup[firmID] != total[firmID] {
		t.Errorf("the key store's backup opened %d of %d values: the check above would prove nothing", fromKeysBackup[firmID], total[firmID])
	}
}

// A table added later is counted without touching the scan, so a deletion that
// forgets it shows up as rows left behind rather than passing unnoticed.
func TestCountFirmRowsFindsATableAddedLater(t *testing.T) {
	f := newFirmDataFixture(t)
	firmID := uuid.NewString()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, f.db.OwnerURL) // as a migration would
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, stmt := range []string{
		"create table invoices_later (id uuid primary key, firm_id uuid not null)",
		"insert into invoices_later values (gen_random_uuid(), '" + firmID + "')",
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	firmdatatest.Delete(t, f.callers.Lifecycle, "firms/"+firmID)
	if n := firmdatatest.Counts(t, f.callers.Lifecycle, "firms/"+firmID)["invoices_later"]; n != 1 {
		t.Errorf("rows of the firm in a new table: %d, want 1 counted", n)
	}
}
