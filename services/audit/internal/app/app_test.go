package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc/codes"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/pg"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/services/audit/chain"
	"github.com/firmflow/firmflow/services/audit/export"
	"github.com/firmflow/firmflow/services/audit/internal/app"
	"github.com/firmflow/firmflow/services/audit/internal/audittest"
	"github.com/firmflow/firmflow/services/audit/internal/domain"
	"github.com/firmflow/firmflow/services/audit/internal/store"
)

func owner(firm uuid.UUID) principal.Principal {
	return principal.Principal{Kind: principal.KindUser, FirmID: firm.String(), UserID: uuid.NewString(), Role: principal.RoleOwner}
}

// access is a request event of firm by actor at t.
func access(firm uuid.UUID, actor, code string, t time.Time) chain.Event {
	return domain.Access{
		EventID: uuid.NewString(), Firm: "firms/" + firm.String(), Actor: actor, Category: "general",
		RPCMethod: "/firmflow.identity.v1.IdentityService/GetFirm", Resources: []string{"firms/" + firm.String()},
		Code: code, Time: t, Subject: "firmflow.gateway.access", Payload: []byte{1, 2, 3},
	}.Event()
}

func appendN(t *testing.T, a interface {
	Append(context.Context, []chain.Event) (int, error)
}, firm uuid.UUID, n int) []chain.Event {
	t.Helper()
	events := make([]chain.Event, n)
	for i := range events {
		events[i] = access(firm, fmt.Sprintf("users/u%d", i%3), "OK", time.Now())
	}
	if got, err := a.Append(context.Background(), events); err != nil || got != n {
		t.Fatalf("append %d: %d, %v", n, got, err)
	}
	return events
}

func TestAppendSkipsEventsAlreadyInTheLog(t *testing.T) {
	t.Parallel()
	f := audittest.New(t)
	ctx := context.Background()
	firmA, firmB := uuid.New(), uuid.New()
	batch := []chain.Event{access(firmA, "users/a", "OK", time.Now()), access(firmB, "users/b", "OK", time.Now())}
	batch = append(batch, batch[0]) // the same event twice in one batch
	if n, err := f.App.Append(ctx, batch); err != nil || n != 2 {
		t.Fatalf("first delivery: %d, %v", n, err)
	}
	again := append(slices.Clone(batch[:2]), access(firmA, "users/a", "OK", time.Now()))
	if n, err := f.App.Append(ctx, again); err != nil || n != 1 {
		t.Fatalf("redelivery with one new event: %d, %v", n, err)
	}
	events, _, err := f.App.Events(ctx, owner(firmA), firmA.String(), domain.Filter{}, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 || events[0].Sequence != 2 || events[1].Sequence != 1 {
		t.Errorf("firm A's log: %d events, newest first expected", len(events))
	}
}

// A large batch records its ids with COPY, taking them all to be new; redelivered
// with new events among its own, it must still append only the new ones, in order.
func TestALargeBatchRedeliveredAppendsOnlyItsNewEvents(t *testing.T) {
	t.Parallel()
	f := audittest.New(t)
	ctx := context.Background()
	firmA, firmB := uuid.New(), uuid.New()
	var batch []chain.Event
	for i := range 300 {
		batch = append(batch, access([]uuid.UUID{firmA, firmB}[i%2], "users/a", "OK", time.Now()))
	}
	if n, err := f.App.Append(ctx, batch); err != nil || n != len(batch) {
		t.Fatalf("first delivery: %d, %v", n, err)
	}
	var fresh []chain.Event
	for range 150 {
		fresh = append(fresh, access(firmA, "users/b", "OK", time.Now()))
	}
	again := append(slices.Clone(batch[100:]), fresh...)
	if n, err := f.App.Append(ctx, again); err != nil || n != len(fresh) {
		t.Fatalf("redelivery of 200 events with 150 new: %d appended, %v", n, err)
	}
	for firm, want := range map[uuid.UUID]int{firmA: 150 + 150, firmB: 150} {
		report, err := f.App.Verify(ctx, owner(firm), firm.String())
		if err != nil {
			t.Fatal(err)
		}
		if !report.Valid() || report.Events != int64(want) {
			t.Errorf("firm chain after the redelivery: %+v, want %d events verified", report, want)
		}
	}
}

func TestEventsFilterAndPageNewestFirst(t *testing.T) {
	t.Parallel()
	f := audittest.New(t)
	ctx := context.Background()
	firm := uuid.New()
	start := time.Now().Add(-time.Hour)
	var batch []chain.Event
	for i := range 30 {
		code := "OK"
		if i%5 == 0 {
			code = "PERMISSION_DENIED"
		}
		batch = append(batch, access(firm, fmt.Sprintf("users/u%d", i%3), code, start.Add(time.Duration(i)*time.Minute)))
	}
	batch = append(batch, domain.Change{EventID: uuid.NewString(), FirmID: firm.String(), Actor: "users/u0",
		Subject: "firmflow.billing.seats_changed", Resource: "firms/" + firm.String() + "/subscription", Time: start}.Event())
	if _, err := f.App.Append(ctx, batch); err != nil {
		t.Fatal(err)
	}
	p := owner(firm)
	cases := []struct {
		name   string
		filter domain.Filter
		want   int
	}{
		{"everything", domain.Filter{}, 31},
		{"one actor", domain.Filter{Actor: "users/u1"}, 10},
		{"failures", domain.Filter{Outcome: domain.Failed}, 6},
		{"successes of one actor", domain.Filter{Actor: "users/u0", Outcome: domain.Succeeded}, 9},
		{"billing", domain.Filter{Category: "billing"}, 1},
		{"changes", domain.Filter{Kind: domain.KindChange}, 1},
		{"a resource", domain.Filter{Resource: "firms/" + firm.String() + "/subscription"}, 1},
		{"an action", domain.Filter{Action: "firmflow.identity.v1.IdentityService/GetFirm"}, 30},
		{"a time range", domain.Filter{Start: start.Add(10 * time.Minute), End: start.Add(20 * time.Minute)}, 10},
	}
	for _, tc := range cases {
		var got []chain.Event
		token := ""
		for page := 0; ; page++ {
			events, next, err := f.App.Events(ctx, p, firm.String(), tc.filter, 4, token)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			got = append(got, events...)
			if token = next; token == "" || page > 20 {
				break
			}
		}
		if len(got) != tc.want {
			t.Errorf("%s: %d events, want %d", tc.name, len(got), tc.want)
		}
		if !slices.IsSortedFunc(got, func(a, b chain.Event) int { return int(b.Sequence - a.Sequence) }) {
			t.Errorf("%s: not newest first", tc.name)
		}
	}
	_, token, _ := f.App.Events(ctx, p, firm.String(), domain.Filter{}, 4, "")
	if _, _, err := f.App.Events(ctx, p, firm.String(), domain.Filter{Actor: "users/u1"}, 4, token); !apierr.HasCode(err, codes.InvalidArgument) {
		t.Errorf("a page token of another filter: %v", err)
	}
}

func TestAnotherFirmsLogIsNotFound(t *testing.T) {
	t.Parallel()
	f := audittest.New(t)
	ctx := context.Background()
	mine, theirs := uuid.New(), uuid.New()
	appendN(t, f.App, theirs, 2)
	_, _, err := f.App.Events(ctx, owner(mine), theirs.String(), domain.Filter{}, 0, "")
	if !apierr.HasCode(err, codes.NotFound) {
		t.Errorf("list: %v", err)
	}
	if _, err := f.App.Verify(ctx, owner(mine), theirs.String()); !apierr.HasCode(err, codes.NotFound) {
		t.Errorf("verify: %v", err)
	}
	if _, err := f.App.Export(ctx, owner(mine), theirs.String(), ""); !apierr.HasCode(err, codes.NotFound) {
		t.Errorf("export: %v", err)
	}
	system := chain.SystemFirm.String()
	if _, _, err := f.App.Events(ctx, principal.Principal{Kind: principal.KindUser, FirmID: system, Role: principal.RoleOwner}, system, domain.Filter{}, 0, ""); !apierr.HasCode(err, codes.NotFound) {
		t.Errorf("the system chain: %v", err)
	}
}

func TestAnonymousRequestsGoToTheSystemChain(t *testing.T) {
	t.Parallel()
	f := audittest.New(t)
	ctx := context.Background()
	e := domain.Access{EventID: uuid.NewString(), Actor: "", Code: "UNAUTHENTICATED", Time: time.Now(), HTTPMethod: "GET", Route: "unmatched"}.Event()
	if e.FirmID != chain.SystemFirm || e.Actor != domain.Anonymous || e.Action != "GET unmatched" {
		t.Fatalf("anonymous request: %+v", e)
	}
	if n, err := f.App.Append(ctx, []chain.Event{e}); err != nil || n != 1 {
		t.Fatalf("append: %d, %v", n, err)
	}
	if n, err := f.App.CheckpointAll(ctx); err != nil || n != 1 {
		t.Errorf("checkpoint of the system chain: %d, %v", n, err)
	}
}

// tamper runs SQL as the administrator with triggers off (session_replication_role
// replica), as an attacker with full database access could.
func tamper(t *testing.T, f audittest.Fixture, sql string, args ...any) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, f.DB.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "set session_replication_role = replica"); err != nil {
		t.Fatal(err)
	}
	if tag, err := conn.Exec(ctx, sql, args...); err != nil || tag.RowsAffected() == 0 {
		t.Fatalf("tamper %q: %v (%d rows)", sql, err, tag.RowsAffected())
	}
}

// TestVerifyReportsTamperingInTheDatabase changes each firm's stored chain in one
// way and expects VerifyAuditChain to name it, while untouched chains verify clean.
func TestVerifyReportsTamperingInTheDatabase(t *testing.T) {
	t.Parallel()
	f := audittest.New(t)
	ctx := context.Background()
	forgeTail := func(firm uuid.UUID) (string, []any) {
		var head chain.Head
		var hash []byte
		conn, _ := pgx.Connect(ctx, f.DB.AdminURL)
		defer conn.Close(ctx)
		_ = conn.QueryRow(ctx, "select seq, hash, record_time from audit_chain_heads where firm_id = $1", firm).Scan(&head.Sequence, &hash, &head.RecordTime)
		copy(head.Hash[:], hash)
		head.FirmID = firm
		e := access(firm, "users/forger", "OK", time.Now())
		head.Append(&e, time.Now())
		return `insert into audit_events (firm_id, seq, event_id, record_time, time, kind, category, actor, action, resources, code, subject, payload, prev_hash, hash)
			values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
			[]any{firm, e.Sequence, e.ID, e.RecordTime, e.Time, e.Kind, e.Category, e.Actor, e.Action, e.Resources, e.Code, e.Subject, e.Payload, e.PrevHash[:], e.Hash[:]}
	}
	cases := []struct {
		name   string
		tamper func(firm uuid.UUID) (string, []any)
		want   chain.ProblemKind
	}{
		{"change an event", func(firm uuid.UUID) (string, []any) {
			return "update audit_events set actor = 'users/someone-else' where firm_id = $1 and seq = 4", []any{firm}
		}, chain.EventAltered},
		{"delete an event", func(firm uuid.UUID) (string, []any) {
			return "delete from audit_events where firm_id = $1 and seq = 4", []any{firm}
		}, chain.EventsMissing},
		{"reorder two events", func(firm uuid.UUID) (string, []any) {
			// Two statements: the primary key holds at every step.
			return fmt.Sprintf(`update audit_events set seq = -seq where firm_id = '%[1]s' and seq in (3, 4);
				update audit_events set seq = case seq when -3 then 4 else 3 end where firm_id = '%[1]s' and seq in (-3, -4)`, firm), nil
		}, chain.EventAltered},
		{"insert a copy of an event", func(firm uuid.UUID) (string, []any) {
			return `insert into audit_events select firm_id, seq, gen_random_uuid(), record_time + interval '1 microsecond', time, kind,
				category, 'users/forger', action, resources, code, subject, payload, prev_hash, hash
				from audit_events where firm_id = $1 and seq = 5`, []any{firm}
		}, chain.OutOfOrder},
		{"append a forged event", forgeTail, chain.HeadMismatch},
		{"truncate the tail", func(firm uuid.UUID) (string, []any) {
			return "delete from audit_events where firm_id = $1 and seq > 6", []any{firm}
		}, chain.ChainTruncated},
		{"alter a checkpoint", func(firm uuid.UUID) (string, []any) {
			return "update audit_checkpoints set signed_note = replace(signed_note, E'\\n8\\n', E'\\n7\\n') where firm_id = $1", []any{firm}
		}, chain.CheckpointInvalid},
	}
	clean := uuid.New()
	appendN(t, f.App, clean, 8)
	firms := make([]uuid.UUID, len(cases))
	for i := range cases {
		firms[i] = uuid.New()
		appendN(t, f.App, firms[i], 8)
	}
	if _, err := f.App.CheckpointAll(ctx); err != nil {
		t.Fatal(err)
	}
	for i, tc := range cases {
		sql, args := tc.tamper(firms[i])
		tamper(t, f, sql, args...)
	}
	for i, tc := range cases {
		report, err := f.App.Verify(ctx, owner(firms[i]), firms[i].String())
		if err != nil {
			t.Fatal(err)
		}
		if report.Valid() || !slices.ContainsFunc(report.Problems, func(p chain.Problem) bool { return p.Kind == tc.want }) {
			t.Errorf("%s: problems %v, want %s", tc.name, report.Problems, tc.want)
		}
	}
	report, err := f.App.Verify(ctx, owner(clean), clean.String())
	if err != nil || !report.Valid() || report.Events != 8 || report.Checkpoints != 1 {
		t.Errorf("untouched chain: %+v, %v", report, err)
	}
}

// TestExportVerifiesOffline exports a chain and checks the file as `firmflow audit
// verify` does, with only the public key; a chain changed in the database exports
// to a file that fails.
func TestExportVerifiesOffline(t *testing.T) {
	t.Parallel()
	f := audittest.New(t)
	ctx := context.Background()
	firm, changed := uuid.New(), uuid.New()
	for _, id := range []uuid.UUID{firm, changed} {
		appendN(t, f.App, id, 5)
		if _, _, err := f.App.Checkpoint(ctx, owner(id), id.String()); err != nil {
			t.Fatal(err)
		}
		appendN(t, f.App, id, 3)
	}
	tamper(t, f, "update audit_events set code = 'OK', actor = 'users/nobody' where firm_id = $1 and seq = 2", changed)

	file, err := f.App.Export(ctx, owner(firm), firm.String(), "")
	if err != nil {
		t.Fatal(err)
	}
	report, err := export.Verify(bytes.NewReader(file), f.Verifier)
	if err != nil || !report.Valid() || report.Events != 8 || report.Checkpoints != 1 {
		t.Errorf("export of an untouched chain: %+v, %v", report, err)
	}
	file, err = f.App.Export(ctx, owner(changed), changed.String(), "")
	if err != nil {
		t.Fatal(err)
	}
	if report, err := export.Verify(bytes.NewReader(file), f.Verifier); err != nil || report.Valid() {
		t.Errorf("export of a changed chain: %+v, %v", report, err)
	}
}

// TestRetentionDropsWholeExpiredMonths appends events 15 months ago and now, runs
// retention as audit_retention and expects the old month gone, the chain verifiable
// from its first retained event, and a firm that keeps events longer to hold back
// the months it has events in.
func TestRetentionDropsWholeExpiredMonths(t *testing.T) {
	t.Parallel()
	f := audittest.New(t)
	ctx := context.Background()
	now := time.Now()
	firm, keeper := uuid.New(), uuid.New()

	f.App.UseClock(func() time.Time { return now.AddDate(0, -15, 0) })
	appendN(t, f.App, firm, 4)
	if _, err := f.App.CheckpointAll(ctx); err != nil {
		t.Fatal(err)
	}
	f.App.UseClock(func() time.Time { return now.AddDate(0, -14, 0) })
	appendN(t, f.App, keeper, 2)
	if _, err := f.App.LengthenRetention(ctx, owner(keeper), keeper.String(), 1000); err != nil {
		t.Fatal(err)
	}
	f.App.UseClock(time.Now)
	appendN(t, f.App, firm, 3)
	if _, err := f.App.CheckpointAll(ctx); err != nil {
		t.Fatal(err)
	}

	dropped, err := store.DropExpiredPartitions(ctx, f.DB.AdminURL, audittest.RetentionRole, now)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"audit_events_" + now.AddDate(0, -15, 0).UTC().Format("200601")}; !slices.Equal(dropped, want) {
		t.Errorf("dropped %v, want %v (the keeper's month stays)", dropped, want)
	}
	report, err := f.App.Verify(ctx, owner(firm), firm.String())
	if err != nil || !report.Valid() || report.FirstSequence != 5 || report.Events != 3 || report.Checkpoints != 2 {
		t.Errorf("chain after retention: %+v, %v", report, err)
	}
	file, err := f.App.Export(ctx, owner(firm), firm.String(), "")
	if err != nil {
		t.Fatal(err)
	}
	if report, err := export.Verify(bytes.NewReader(file), f.Verifier); err != nil || !report.Valid() || report.FirstSequence != 5 {
		t.Errorf("export after retention: %+v, %v", report, err)
	}
	if _, err := store.DropExpiredPartitions(ctx, f.DB.RuntimeURL, "audit_app", now); err == nil {
		t.Error("the runtime role ran retention")
	}
}

func TestRetentionOnlyGrows(t *testing.T) {
	t.Parallel()
	f := audittest.New(t)
	ctx := context.Background()
	firm := uuid.New()
	p := owner(firm)
	s, err := f.App.Settings(ctx, p, firm.String())
	if err != nil || s.RetentionDays != domain.DefaultRetentionDays {
		t.Fatalf("default settings: %+v, %v", s, err)
	}
	if s, err = f.App.LengthenRetention(ctx, p, firm.String(), 800); err != nil || s.RetentionDays != 800 {
		t.Fatalf("lengthen: %+v, %v", s, err)
	}
	if _, err := f.App.LengthenRetention(ctx, p, firm.String(), 500); !apierr.HasCode(err, codes.FailedPrecondition) {
		t.Errorf("shorten: %v", err)
	}
	if s, _ := f.App.Settings(ctx, p, firm.String()); s.RetentionDays != 800 {
		t.Errorf("after refused shortening: %d", s.RetentionDays)
	}
}

func TestCheckpointsCoverMovedHeadsOnly(t *testing.T) {
	t.Parallel()
	f := audittest.New(t)
	ctx := context.Background()
	a, b := uuid.New(), uuid.New()
	appendN(t, f.App, a, 2)
	appendN(t, f.App, b, 2)
	if n, err := f.App.CheckpointAll(ctx); err != nil || n != 2 {
		t.Fatalf("first round: %d, %v", n, err)
	}
	appendN(t, f.App, a, 1)
	if n, err := f.App.CheckpointAll(ctx); err != nil || n != 1 {
		t.Errorf("second round, one head moved: %d, %v", n, err)
	}
	empty := uuid.New()
	if _, _, err := f.App.Checkpoint(ctx, owner(empty), empty.String()); !apierr.HasCode(err, codes.FailedPrecondition) {
		t.Errorf("checkpoint of an empty chain: %v", err)
	}
	cp, signed, err := f.App.Checkpoint(ctx, owner(a), a.String())
	if err != nil || cp.Sequence != 3 {
		t.Fatalf("on demand: %+v, %v", cp, err)
	}
	if opened, err := chain.Open(signed, f.Verifier); err != nil || opened.Hash != cp.Hash {
		t.Errorf("signed note: %v", err)
	}
}

// TestExportPagesAppendIntoOneVerifiableFile exports a chain too long for one page
// and checks the pages, appended in order, as one file.
func TestExportPagesAppendIntoOneVerifiableFile(t *testing.T) {
	t.Parallel()
	f := audittest.New(t)
	ctx := context.Background()
	firm := uuid.New()
	for range 10 {
		appendN(t, f.App, firm, 1000)
	}
	if _, err := f.App.CheckpointAll(ctx); err != nil {
		t.Fatal(err)
	}
	var file bytes.Buffer
	token, pages := "", 0
	for {
		page, err := f.App.Export(ctx, owner(firm), firm.String(), token)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		file.Write(page)
		lines := bytes.Split(bytes.TrimSpace(page), []byte("\n"))
		var last struct {
			Type      string `json:"type"`
			PageToken string `json:"page_token"`
		}
		if err := json.Unmarshal(lines[len(lines)-1], &last); err != nil {
			t.Fatal(err)
		}
		if last.Type != export.TypeNextPage {
			break
		}
		token = last.PageToken
	}
	if pages < 2 {
		t.Fatalf("%d page(s); the test needs a chain longer than one page", pages)
	}
	report, err := export.Verify(bytes.NewReader(file.Bytes()), f.Verifier)
	if err != nil || !report.Valid() || report.Events != 10000 || report.Checkpoints != 1 {
		t.Errorf("%d pages appended: %+v, %v", pages, report, err)
	}
}

// TestStartSignsOnlyCheckpointsOlderThanTheInterval: a restart signs the moved heads
// whose last checkpoint is older than the interval (so frequent restarts still sign),
// and not those signed moments ago.
func TestStartSignsOnlyCheckpointsOlderThanTheInterval(t *testing.T) {
	t.Parallel()
	f := audittest.New(t)
	ctx := context.Background()
	fresh, stale, never := uuid.New(), uuid.New(), uuid.New()
	appendN(t, f.App, fresh, 1)
	appendN(t, f.App, stale, 1)
	if n, err := f.App.CheckpointAll(ctx); err != nil || n < 2 {
		t.Fatalf("first checkpoints: %d, %v", n, err)
	}
	// stale's checkpoint was signed an hour ago; both heads move again.
	tamper(t, f, "update audit_checkpoints set time = time - interval '1 hour' where firm_id = $1", stale)
	appendN(t, f.App, fresh, 1)
	appendN(t, f.App, stale, 1)
	appendN(t, f.App, never, 1)

	if n, err := f.App.CheckpointStale(ctx, time.Now().Add(-time.Minute)); err != nil || n != 2 {
		t.Fatalf("checkpoints at start: %d, %v; want 2 (the stale firm and the never signed one)", n, err)
	}
	if n, err := f.App.CheckpointStale(ctx, time.Now().Add(-time.Minute)); err != nil || n != 0 {
		t.Errorf("a second start signed %d again (%v)", n, err)
	}
	// The fresh firm's moved head is still signed at the next interval or at stop.
	if n, err := f.App.CheckpointAll(ctx); err != nil || n != 1 {
		t.Errorf("checkpoints at stop: %d, %v; want the fresh firm's", n, err)
	}
}

// TestVerifyAllChecksEveryFirmsChain is what the restore drill runs on a restored
// copy of the log, as an administrator: every firm's chain, a tampered one reported.
func TestVerifyAllChecksEveryFirmsChain(t *testing.T) {
	t.Parallel()
	f := audittest.New(t)
	ctx := context.Background()
	clean, tampered := uuid.New(), uuid.New()
	appendN(t, f.App, clean, 5)
	appendN(t, f.App, tampered, 5)
	if _, err := f.App.CheckpointAll(ctx); err != nil {
		t.Fatal(err)
	}
	tamper(t, f, "update audit_events set actor = 'users/someone-else' where firm_id = $1 and seq = 2", tampered)
	admin, err := pg.Open(ctx, f.DB.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	reports, err := app.New(store.New(admin, nil), nil, f.Verifier).VerifyAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byFirm := map[uuid.UUID]chain.Report{}
	for _, r := range reports {
		byFirm[r.FirmID] = r
	}
	if r := byFirm[clean]; len(reports) != 2 || !r.Valid() || r.Events != 5 || r.Checkpoints != 1 {
		t.Errorf("clean chain: %+v (of %d reports)", r, len(reports))
	}
	if r := byFirm[tampered]; r.Valid() || !slices.ContainsFunc(r.Problems, func(p chain.Problem) bool { return p.Kind == chain.EventAltered }) {
		t.Errorf("tampered chain: problems %v, want %s", r.Problems, chain.EventAltered)
	}
}
