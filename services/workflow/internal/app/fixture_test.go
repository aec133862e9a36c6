package app

// Inside the package so the tests can set the clock the firm's calendar runs on.

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/inbox"
	"github.com/firmflow/firmflow/pkg/keystore/keystoretest"
	"github.com/firmflow/firmflow/pkg/pg/pgtest"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
	"github.com/firmflow/firmflow/services/workflow/internal/store"
	"github.com/firmflow/firmflow/services/workflow/migrations"
)

// fixture is a migrated database, the app on it, and the callers of one firm and of
// another. The app runs on real time unless withClock stops its clock.
type fixture struct {
	app    *App
	db     *pgtest.Database
	clock  *time.Time // nil: real time
	firm   string
	owner  principal.Principal
	admin  principal.Principal
	member principal.Principal
	reader principal.Principal // API key with clients:read
	writer principal.Principal // API key with clients:write
	key    principal.Principal // API key with projects:write
	other  principal.Principal // owner of another firm
}

func newFixture(t testing.TB) fixture {
	t.Helper()
	d := pgtest.New(t, "workflow", migrations.FS)
	keys := keystoretest.New(t, "workflow")
	a := New(store.New(d.Open(t)), keys)
	firm := uuid.NewString()
	user := func(role principal.Role) principal.Principal {
		return principal.Principal{Kind: principal.KindUser, FirmID: firm, UserID: uuid.NewString(), Role: role}
	}
	key := func(scopes ...string) principal.Principal {
		return principal.Principal{Kind: principal.KindAPIKey, FirmID: firm, APIKeyID: uuid.NewString(), Scopes: scopes}
	}
	// A reference to a member not known yet waits this long for identity's event.
	a.memberWait = 300 * time.Millisecond
	f := fixture{
		app: a, db: d, firm: firm,
		owner: user(principal.RoleOwner), admin: user(principal.RoleAdmin), member: user(principal.RoleMember),
		reader: key("clients:read"), writer: key("clients:write"), key: key("projects:write"),
		other: principal.Principal{Kind: principal.KindUser, FirmID: uuid.NewString(), UserID: uuid.NewString(), Role: principal.RoleOwner},
	}
	for _, p := range []principal.Principal{f.owner, f.admin, f.member, f.other} {
		f.join(t, p.FirmID, p.UserID)
	}
	return f
}

// identityEvent is an identity event as workflow's consumer hands it over.
func identityEvent(firmID, event string) inbox.Message {
	return inbox.Message{
		EventID: uuid.NewString(), FirmID: firmID, Subject: "firmflow.identity." + event,
		Actor: "users/" + uuid.NewString(), OccurredAt: time.Now().UTC(),
	}
}

// join makes memberID a member of the firm, as identity's member_joined event does.
func (f fixture) join(t testing.TB, firmID, memberID string) {
	t.Helper()
	if err := f.app.MemberJoined(context.Background(), identityEvent(firmID, "member_joined"), memberID); err != nil {
		t.Fatalf("member %s joins: %v", memberID, err)
	}
}

// tuesday is where the work tests' clock starts.
var tuesday = time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)

// withClock sets the app's clock at start; a test moves it through f.clock.
func (f fixture) withClock(start time.Time) fixture {
	clock := start
	f.clock = &clock
	f.app.now = func() time.Time { return *f.clock }
	return f
}

// create makes a client through the use case.
func (f fixture) create(t testing.TB, p principal.Principal, c domain.Client) domain.Client {
	t.Helper()
	created, err := f.app.CreateClient(context.Background(), p, p.FirmID, c, "")
	if err != nil {
		t.Fatalf("create client %q: %v", c.DisplayName, err)
	}
	return created
}

// client inserts a client row as the database administrator, for tests that need
// only that one exists.
func (f fixture) client(t testing.TB, firmID string) string {
	t.Helper()
	id := uuid.NewString()
	f.sql(t, func(conn *pgx.Conn) error {
		_, err := conn.Exec(context.Background(), `insert into clients (id, firm_id, display_name, kind, priority, create_time, update_time)
			values ($1, $2, 'Client', 'business', 'normal', now(), now())`, id, firmID)
		return err
	})
	return id
}

// sql runs fn on a connection as the database administrator, outside row-level
// security.
func (f fixture) sql(t testing.TB, fn func(*pgx.Conn) error) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, f.db.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := fn(conn); err != nil {
		t.Fatal(err)
	}
}

// events returns the payloads of the firm's queued events with the subject.
func (f fixture) events(t testing.TB, firmID, subject string, into func() proto.Message) []proto.Message {
	t.Helper()
	var payloads [][]byte
	f.sql(t, func(conn *pgx.Conn) error {
		rows, err := conn.Query(context.Background(), "select payload from outbox where firm_id = $1 and subject = $2 order by seq",
			firmID, "firmflow.workflow."+subject)
		if err != nil {
			return err
		}
		payloads, err = pgx.CollectRows(rows, pgx.RowTo[[]byte])
		return err
	})
	var out []proto.Message
	for _, raw := range payloads {
		m := into()
		if err := proto.Unmarshal(raw, m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// eventCount counts the firm's queued events with the subject.
func (f fixture) eventCount(t testing.TB, event string) int {
	t.Helper()
	var n int
	f.sql(t, func(conn *pgx.Conn) error {
		return conn.QueryRow(context.Background(), "select count(*) from outbox where firm_id = $1 and subject = $2",
			f.firm, "firmflow.workflow."+event).Scan(&n)
	})
	return n
}

// wantCode fails the test unless err carries code; what says which step failed.
func wantCode(t testing.TB, err error, code codes.Code, what ...string) {
	t.Helper()
	if !apierr.HasCode(err, code) {
		t.Fatalf("%v: err = %v, want %s", what, err, code)
	}
}

func wantReason(t testing.TB, err error, reason string) {
	t.Helper()
	var e *apierr.Error
	if !errors.As(err, &e) || e.Reason != reason {
		t.Fatalf("err = %v, want reason %s", err, reason)
	}
}

func violations(err error) []string {
	var e *apierr.Error
	if !errors.As(err, &e) {
		return nil
	}
	var out []string
	for _, v := range e.Violations {
		out = append(out, v.Field)
	}
	return out
}

func ptr[T any](v T) *T { return &v }
