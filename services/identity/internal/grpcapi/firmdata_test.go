package grpcapi_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
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
	"github.com/firmflow/firmflow/pkg/keystore"
	"github.com/firmflow/firmflow/pkg/keystore/keystoretest"
	"github.com/firmflow/firmflow/pkg/mail"
	"github.com/firmflow/firmflow/pkg/pg/pgtest"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/services/identity/internal/app"
	"github.com/firmflow/firmflow/services/identity/internal/domain"
	"github.com/firmflow/firmflow/services/identity/internal/grpcapi"
	"github.com/firmflow/firmflow/services/identity/internal/store"
	"github.com/firmflow/firmflow/services/identity/migrations"
)

const password = "correct horse battery staple"

type firmDataFixture struct {
	db      *pgtest.Database
	keysDB  *pgtest.Database
	kek     *fieldcrypt.KEK
	keys    *keystore.Postgres
	app     *app.App
	callers firmdatatest.Callers
	staff   principal.Principal
}

func newFirmDataFixture(t *testing.T) firmDataFixture {
	t.Helper()
	d := pgtest.New(t, "identity", migrations.FS)
	keysDB, kek := keystoretest.Database(t), keystoretest.KEK(t)
	keys := keystoretest.Open(t, keysDB, kek, "identity")
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	// Mail is on, so that the firm has queued email and password resets too.
	outbox, err := mail.NewOutbox(bytes.Repeat([]byte("k"), mail.MinSecretSize))
	if err != nil {
		t.Fatal(err)
	}
	a := app.New(store.New(d.Open(t)), kek, keys, principal.NewSigner(priv), app.Config{
		Sessions: domain.SessionPolicy{Idle: time.Hour, Absolute: 8 * time.Hour}, Lockout: domain.DefaultLockout,
		Mail: app.Mail{Outbox: outbox, From: "no-reply@firmflow.test", PublicURL: "https://firmflow.test"},
	})
	callers := firmdatatest.Serve(t, "identity", func(srv *grpc.Server) { grpcapi.Register(srv, a) })
	s, _, _, err := a.CreateStaff(context.Background(), "ada@firmflow.example", "Ada Support", password)
	if err != nil {
		t.Fatal(err)
	}
	return firmDataFixture{db: d, keysDB: keysDB, kek: kek, keys: keys, app: a, callers: callers,
		staff: principal.Principal{Kind: principal.KindStaff, StaffID: s.ID}}
}

// seeded is a firm as seeded, with every secret handed out on the way.
type seeded struct {
	firmID  string
	secrets []string
}

// seed signs a firm up and gives it a row of every identity table through the app:
// a session, a pending TOTP secret (sealed with the firm's key), an API key, an
// invitation, a support request and its notification, a password reset, and the
// emails they queued (whose sealed bodies hold the invitation and reset tokens).
func (f firmDataFixture) seed(t *testing.T, label string) seeded {
	t.Helper()
	ctx := context.Background()
	email := label + "@example.com"
	firm, owner, err := f.app.SignUp(ctx, "Firm "+label, email, "Owner "+label, password)
	if err != nil {
		t.Fatal(err)
	}
	p := principal.Principal{Kind: principal.KindUser, FirmID: firm.ID, UserID: owner.ID, Role: principal.RoleOwner}
	login, err := f.app.Login(ctx, email, password, "", "test agent", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	totp, _, err := f.app.BeginTOTP(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	_, apiKey, err := f.app.CreateAPIKey(ctx, p, firm.ID, "CRM", []string{"clients:read"}, time.Time{}, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.app.Invite(ctx, p, firm.ID, "invitee-"+email, domain.RoleMember, ""); err != nil {
		t.Fatal(err)
	}
	if err := f.app.RequestPasswordReset(ctx, email, "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.app.HandlePasswordResets(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := f.app.RequestSupportAccess(ctx, f.staff, firm.ID, "customer asked", "T-1"); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, f.db.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var hash string
	if err := conn.QueryRow(ctx, "select password_hash from members where id = $1", owner.ID).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	return seeded{firmID: firm.ID, secrets: []string{password, hash, login.SessionToken, login.CSRFToken, totp, apiKey}}
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

func TestFirmDataExportsEverythingThenDeletesOnlyTheFirm(t *testing.T) {
	f := newFirmDataFixture(t)
	s, c := f.seed(t, "firm"), f.seed(t, "control")
	firm, control := "firms/"+s.firmID, "firms/"+c.firmID
	lc := f.callers.Lifecycle

	export := firmdatatest.ExportFirm(t, lc, firm)
	for _, entity := range store.ExportEntities() {
		if len(export.Rows[entity]) == 0 {
			t.Errorf("export has no %s", entity)
		}
	}
	if m := export.Rows["members"]; len(m) != 1 || m[0]["email"] != "firm@example.com" {
		t.Errorf("exported members %v", m)
	}
	raw := string(export.Raw)
	for _, secret := range s.secrets {
		if strings.Contains(raw, secret) {
			t.Errorf("export holds a secret (%d characters)", len(secret))
		}
	}
	for _, key := range []string{"password_hash", "totp_secret", "totp_pending", "token_hash", "secret_hash", "csrf_hash", "body"} {
		if strings.Contains(raw, `"`+key+`"`) {
			t.Errorf("export has a %s column", key)
		}
	}
	for _, leak := range []string{c.firmID, "control"} {
		if strings.Contains(raw, leak) {
			t.Errorf("export of the firm holds %q of the control firm", leak)
		}
	}

	before, controlBefore := firmdatatest.Counts(t, lc, firm), firmdatatest.Counts(t, lc, control)
	for _, table := range []string{"firms", "members", "sessions", "api_keys", "invitations", "support_grants", "notifications", "outbox", "password_resets", "mail_outbox"} {
		if before[table] == 0 {
			t.Errorf("before deletion, %s has no row of the firm: %v", table, before)
		}
	}
	if _, ok := before["firm_keys"]; ok {
		t.Error("identity still has a firm_keys table: keys belong in the key store")
	}

	deleted, facts := firmdatatest.Delete(t, lc, firm)
	if firmdatatest.Total(deleted) != firmdatatest.Total(before) {
		t.Errorf("deleted %v, the firm had %v", deleted, before)
	}
	if facts[app.FactDestroyedKeys] == "" {
		t.Errorf("facts %v name no destroyed key", facts)
	}
	if n := firmdatatest.Total(firmdatatest.Counts(t, lc, firm)); n != 0 {
		t.Errorf("after deletion the firm still has %d rows", n)
	}
	if controlAfter := firmdatatest.Counts(t, lc, control); !firmdatatest.EqualCounts(controlBefore, controlAfter) {
		t.Errorf("control firm changed: %v, then %v", controlBefore, controlAfter)
	}
	if _, err := f.keys.DataKey(context.Background(), c.firmID); err != nil {
		t.Errorf("control firm's key: %v", err)
	}
	again, facts := firmdatatest.Delete(t, lc, firm)
	if n := firmdatatest.Total(again); n != 0 || len(facts) != 0 {
		t.Errorf("second deletion removed %d rows, facts %v", n, facts)
	}
	// The firm's email is free again: the account is gone, not hidden.
	if _, _, err := f.app.SignUp(context.Background(), "Again", "firm@example.com", "Owner", password); err != nil {
		t.Errorf("sign up again with the deleted firm's email: %v", err)
	}
}

// TestDeletedFirmTOTPSecretsStayUnreadableInRestoredBackups: backups of identity's
// database and of the key store are taken, the firm is deleted (which destroys its
// keys), identity's backup is restored and every sealed TOTP secret in it is tried
// with all the live system holds. None of the firm's opens; the control firm's do.
func TestDeletedFirmTOTPSecretsStayUnreadableInRestoredBackups(t *testing.T) {
	f := newFirmDataFixture(t)
	s, c := f.seed(t, "firm"), f.seed(t, "control")
	backup, keysBackup := pgtest.Dump(t, f.db), pgtest.Dump(t, f.keysDB)

	firmdatatest.Delete(t, f.callers.Lifecycle, "firms/"+s.firmID)

	values := keystoretest.ReadSealed(t, pgtest.Restore(t, backup), `
		select firm_id::text, 'members', c.column_name, id::text, c.value from members,
		lateral (values ('totp_secret', totp_secret), ('totp_pending', totp_pending)) as c(column_name, value)
		where c.value is not null`)
	total := keystoretest.Count(values)
	if total[s.firmID] == 0 || total[c.firmID] == 0 {
		t.Fatalf("restored backup holds %v sealed values, want some of each firm", total)
	}
	opened := keystoretest.Opened(t, f.keysDB, f.kek, values)
	if opened[s.firmID] != 0 {
		t.Errorf("%d sealed values of the deleted firm opened from the restored backup", opened[s.firmID])
	}
	if opened[c.firmID] != total[c.firmID] {
		t.Errorf("%d of %d values of the control firm opened", opened[c.firmID], total[c.firmID])
	}
	if fromKeysBackup := keystoretest.Opened(t, pgtest.Restore(t, keysBackup), f.kek, values); fromKeysBackup[s.firmID] != total[s.firmID] {
		t.Errorf("the key store's backup opened %d of %d values: the check above would prove nothing", fromKeysBackup[s.firmID], total[s.firmID])
	}
}
