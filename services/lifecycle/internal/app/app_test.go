package app_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/pg/pgtest"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/services/lifecycle/certificate"
	"github.com/firmflow/firmflow/services/lifecycle/internal/app"
	"github.com/firmflow/firmflow/services/lifecycle/internal/domain"
	"github.com/firmflow/firmflow/services/lifecycle/internal/store"
	"github.com/firmflow/firmflow/services/lifecycle/migrations"
)

// firmData is a service holding rows per firm and table in memory: the contract
// lifecycle's FirmData interface states (idempotent delete, counts after it), with a
// switch that makes it unavailable as a stopped service is.
type firmData struct {
	name  string
	mu    sync.Mutex
	rows  map[string]map[string]int64  // firm -> table -> rows
	facts map[string]map[string]string // firm -> facts its deletion reports
	down  bool
	// loseAnswer makes the next Delete delete and then fail, as when the answer
	// never reaches lifecycle.
	loseAnswer bool
	deletes    int // successful Delete calls that removed rows
	// expired is what the next Prune removes, per table; prunedAt records the clock
	// each Prune was given. pruning, when set, is told of a Prune and holds it until
	// closed, for tests of a second runner.
	expired  map[string]int64
	prunedAt []time.Time
	pruning  chan chan struct{}
}

func newFirmData(name string) *firmData {
	return &firmData{name: name, rows: map[string]map[string]int64{}, facts: map[string]map[string]string{}}
}

func (f *firmData) seed(firm string, table string, n int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rows[firm] == nil {
		f.rows[firm] = map[string]int64{}
	}
	f.rows[firm][table] += n
}

func (f *firmData) setDown(down bool) { f.mu.Lock(); f.down = down; f.mu.Unlock() }

func (f *firmData) err() error {
	if f.down {
		return status.Error(codes.Unavailable, "connection refused to "+f.name+" with secret detail")
	}
	return nil
}

func (f *firmData) Export(ctx context.Context, firm string, emit func(app.Batch) error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.err(); err != nil {
		return err
	}
	for table, n := range f.rows[firm] {
		var rows [][]byte
		for range n {
			rows = append(rows, []byte(`{"table":"`+table+`"}`))
		}
		if err := emit(app.Batch{Entity: table, SchemaVersion: 1, Rows: rows}); err != nil {
			return err
		}
	}
	return nil
}

func (f *firmData) Delete(ctx context.Context, firm, deletion string) (app.Deleted, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.err(); err != nil {
		return app.Deleted{}, err
	}
	var out app.Deleted
	removed := false
	for table, n := range f.rows[firm] {
		out.Tables = append(out.Tables, domain.TableCount{Table: table, Rows: n})
		removed = removed || n > 0
		f.rows[firm][table] = 0
	}
	if removed {
		f.deletes++
	}
	if f.loseAnswer {
		f.loseAnswer = false
		return app.Deleted{}, status.Error(codes.Unavailable, "connection reset")
	}
	out.Facts = f.facts[firm]
	return out, nil
}

func (f *firmData) Count(ctx context.Context, firm string) ([]domain.TableCount, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.err(); err != nil {
		return nil, err
	}
	out := []domain.TableCount{{Table: "firms_marker", Rows: 0}}
	for table, n := range f.rows[firm] {
		out = append(out, domain.TableCount{Table: table, Rows: n})
	}
	return out, nil
}

func (f *firmData) Prune(ctx context.Context, now time.Time, run string) ([]domain.TableCount, error) {
	f.mu.Lock()
	hold := f.pruning
	f.mu.Unlock()
	if hold != nil {
		release := make(chan struct{})
		hold <- release
		<-release
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.err(); err != nil {
		return nil, err
	}
	f.prunedAt = append(f.prunedAt, now)
	var out []domain.TableCount
	for table, n := range f.expired {
		out = append(out, domain.TableCount{Table: table, Rows: n})
		f.expired[table] = 0
	}
	return out, nil
}

type identity struct {
	mu        sync.Mutex
	password  string
	totp      string // "" when the owner has none
	scheduled map[string]bool
	down      bool
}

func (i *identity) VerifyOwnerCredentials(ctx context.Context, firm, user, password, code string) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.down {
		return status.Error(codes.Unavailable, "down")
	}
	if i.totp != "" && code == "" {
		return apierr.InvalidArgument("totp_code", "TOTP_REQUIRED", "enter the code from your authenticator app")
	}
	if password != i.password || code != i.totp {
		return apierr.Unauthenticated("CREDENTIALS_INVALID", "wrong password or code")
	}
	return nil
}

func (i *identity) SetDeletionScheduled(ctx context.Context, firm string, scheduled bool) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.down {
		return status.Error(codes.Unavailable, "down")
	}
	i.scheduled[firm] = scheduled
	return nil
}

func (i *identity) isScheduled(firm string) bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.scheduled[firm]
}

type keys struct {
	mu        sync.Mutex
	byFirm    map[string][]string
	destroyed []string
}

func (k *keys) DestroyFirm(ctx context.Context, firm string) ([]string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	ids := k.byFirm[firm]
	k.destroyed = append(k.destroyed, ids...)
	delete(k.byFirm, firm)
	return ids, nil // a second call destroys nothing more and answers none
}

type streams struct{}

func (streams) Purge(ctx context.Context, firm string, now time.Time) ([]domain.StreamHorizon, error) {
	return []domain.StreamHorizon{{Stream: "FIRMFLOW_WORKFLOW", MaxAge: "720h0m0s", ClearAfter: now.Add(720 * time.Hour)}}, nil
}

type fixture struct {
	exportDir string
	exportKey []byte
	store     *store.Store
	services  map[string]*firmData
	identity  *identity
	keys      *keys
	pub       ed25519.PublicKey
	priv      ed25519.PrivateKey
	now       time.Time
	mu        sync.Mutex
}

func newFixture(t *testing.T) *fixture {
	db := pgtest.New(t, "lifecycle", migrations.FS).Open(t)
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	f := &fixture{
		store: store.New(db), services: map[string]*firmData{},
		identity: &identity{password: "correct horse", scheduled: map[string]bool{}},
		keys:     &keys{byFirm: map[string][]string{}},
		pub:      pub, priv: priv, now: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC),
	}
	for _, s := range domain.DataServices {
		f.services[s] = newFirmData(s)
	}
	f.exportDir, f.exportKey = t.TempDir(), make([]byte, 32)
	_, _ = rand.Read(f.exportKey)
	return f
}

func (f *fixture) clock() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }

func (f *fixture) advance(d time.Duration) { f.mu.Lock(); f.now = f.now.Add(d); f.mu.Unlock() }

// runner is one lifecycle process: a new App is a new runner id over the same database.
func (f *fixture) runner(t *testing.T) *app.App {
	t.Helper()
	svcs := map[string]app.FirmData{}
	for name, s := range f.services {
		svcs[name] = s
	}
	a, err := app.New(app.Deps{
		Store: f.store, Services: svcs, Identity: f.identity, Keys: f.keys, Streams: streams{},
		Signer: f.priv, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}, app.Config{Retry: domain.Retry{Base: time.Second, Max: 8 * time.Second}, Lease: time.Minute, BackupRetention: 35 * 24 * time.Hour, KeyBackupRetention: 7 * 24 * time.Hour,
		ExportDir: f.exportDir, ExportKey: f.exportKey})
	if err != nil {
		t.Fatal(err)
	}
	a.UseClock(f.clock)
	return a
}

// firm seeds a firm's rows in every service and its keys.
func (f *fixture) firm() (string, principal.Principal) {
	firm := uuid.NewString()
	for i, s := range domain.DataServices {
		f.services[s].seed(firm, s+"_rows", int64(i+2))
	}
	// Identity's deletion destroys two keys and reports them; one more, made late,
	// is left for the saga's own key step.
	f.services["identity"].facts[firm] = map[string]string{app.FactDestroyedKeys: "key-" + firm[:8] + "-1,key-" + firm[:8] + "-2"}
	f.services["audit"].facts[firm] = map[string]string{"audit_chain_head": "9f2c" + firm[:4]}
	f.keys.byFirm[firm] = []string{"key-" + firm[:8] + "-3"}
	return firm, principal.Principal{Kind: principal.KindUser, FirmID: firm, UserID: uuid.NewString(), Role: principal.RoleOwner}
}

func days(n int) *int { return &n }

func wantCode(t *testing.T, err error, code codes.Code, reason string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s %s", code, reason)
	}
	st := apierr.Status(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)), err)
	if st.Code() != code || (reason != "" && apierr.Reason(st.Err()) != reason) {
		t.Fatalf("got %v, want %s %s", err, code, reason)
	}
}

// runAll runs a until nothing is due.
func runAll(t *testing.T, a *app.App) int {
	t.Helper()
	n, err := a.RunDeletions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRequestRefusesBadInputAndChangesNothing(t *testing.T) {
	f := newFixture(t)
	a := f.runner(t)
	ctx := context.Background()
	firm, owner := f.firm()

	_, _, err := a.RequestDeletion(ctx, owner, firm, "correct horse", "", days(31))
	wantCode(t, err, codes.InvalidArgument, "INVALID_ARGUMENT")
	_, _, err = a.RequestDeletion(ctx, owner, firm, "wrong", "", nil)
	wantCode(t, err, codes.Unauthenticated, "CREDENTIALS_INVALID")
	f.identity.totp = "123456"
	_, _, err = a.RequestDeletion(ctx, owner, firm, "correct horse", "", nil)
	wantCode(t, err, codes.InvalidArgument, "INVALID_ARGUMENT")
	other, _ := f.firm()
	_, _, err = a.RequestDeletion(ctx, owner, other, "correct horse", "123456", nil)
	wantCode(t, err, codes.NotFound, "NOT_FOUND")
	f.identity.down = true
	_, _, err = a.RequestDeletion(ctx, owner, firm, "correct horse", "123456", nil)
	wantCode(t, err, codes.Unavailable, "")
	f.identity.down = false

	if ops, _, err := a.Operations(ctx, owner, firm, 0, ""); err != nil || len(ops) != 0 {
		t.Fatalf("refused requests left operations: %v %v", ops, err)
	}
	if f.identity.isScheduled(firm) {
		t.Fatal("refused request marked the firm read-only")
	}

	d, token, err := a.RequestDeletion(ctx, owner, firm, "correct horse", "123456", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !d.GraceEnd.Equal(f.clock().AddDate(0, 0, 14)) || len(token) != 48 || !f.identity.isScheduled(firm) {
		t.Errorf("default grace end %s, token %q, scheduled %v", d.GraceEnd, token, f.identity.isScheduled(firm))
	}
	_, _, err = a.RequestDeletion(ctx, owner, firm, "correct horse", "123456", days(0))
	wantCode(t, err, codes.AlreadyExists, "DELETION_PENDING")
	if ops, _, _ := a.Operations(ctx, owner, firm, 0, ""); len(ops) != 1 {
		t.Errorf("second request: %d operations", len(ops))
	}
}

func TestCancelDuringGraceThenRefusedAfter(t *testing.T) {
	f := newFixture(t)
	a := f.runner(t)
	ctx := context.Background()
	firm, owner := f.firm()

	d, _, err := a.RequestDeletion(ctx, owner, firm, "correct horse", "", days(2))
	if err != nil {
		t.Fatal(err)
	}
	f.advance(24 * time.Hour)
	if n := runAll(t, a); n != 0 {
		t.Fatalf("ran %d steps during the grace period", n)
	}
	cancelled, err := a.CancelDeletion(ctx, owner, firm)
	if err != nil {
		t.Fatal(err)
	}
	if cancelled.State != domain.StateCancelled || f.identity.isScheduled(firm) {
		t.Fatalf("cancel: state %s, still read-only %v", cancelled.State, f.identity.isScheduled(firm))
	}
	f.advance(30 * 24 * time.Hour)
	if n := runAll(t, a); n != 0 {
		t.Fatalf("a cancelled deletion ran %d steps", n)
	}
	if f.services["workflow"].deletes != 0 {
		t.Fatal("a cancelled deletion deleted data")
	}
	op, err := a.Operation(ctx, owner, d.ID)
	if err != nil || op.Deletion.State != domain.StateCancelled {
		t.Fatalf("operation after cancel: %+v %v", op, err)
	}

	// A new request, whose grace period then ends: too late to cancel.
	d2, _, err := a.RequestDeletion(ctx, owner, firm, "correct horse", "", days(1))
	if err != nil {
		t.Fatal(err)
	}
	f.advance(24 * time.Hour)
	_, err = a.CancelDeletion(ctx, owner, firm)
	wantCode(t, err, codes.FailedPrecondition, "DELETION_STARTED")
	_, err = a.CancelOperation(ctx, owner, "00000000-0000-4000-8000-000000000000")
	wantCode(t, err, codes.NotFound, "NOT_FOUND")
	if _, err := a.RunDeletionStep(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = a.CancelOperation(ctx, owner, d2.ID)
	wantCode(t, err, codes.FailedPrecondition, "DELETION_STARTED")
}

func TestDeletionWithGraceZeroDeletesEverythingAndCertifiesIt(t *testing.T) {
	f := newFixture(t)
	a := f.runner(t)
	ctx := context.Background()
	firm, owner := f.firm()
	keep, keepOwner := f.firm()

	_, token, err := a.RequestDeletion(ctx, owner, firm, "correct horse", "", days(0))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Certificate(ctx, token); !apierr.HasCode(err, codes.NotFound) {
		t.Fatalf("certificate before completion: %v", err)
	}
	if n := runAll(t, a); n != 1+len(domain.Steps) {
		t.Fatalf("ran %d steps, want %d", n, 1+len(domain.Steps))
	}
	file, err := a.Certificate(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	c, err := certificate.Verify(file, f.pub)
	if err != nil {
		t.Fatal(err)
	}
	if c.Firm != "firms/"+firm || c.RequestedBy != owner.Actor() || !c.ResidueClean || c.AuditChainHead != "9f2c"+firm[:4] || c.DestroyedKeys[0] != "key-"+firm[:8]+"-1" {
		t.Errorf("certificate: %+v", c)
	}
	for i, s := range domain.DataServices {
		got := c.Deleted[s]
		if len(got) != 1 || got[0].Rows != int64(i+2) {
			t.Errorf("%s deleted %v, want %d rows", s, got, i+2)
		}
		if f.services[s].deletes != 1 {
			t.Errorf("%s deleted %d times", s, f.services[s].deletes)
		}
	}
	if len(c.DestroyedKeys) != 3 || !c.StreamsClearAfter.Equal(c.CompleteAt.Add(720*time.Hour)) || !c.BackupsClearAfter.Equal(c.CompleteAt.Add(35*24*time.Hour)) ||
		!c.KeyBackupsClearAfter.Equal(c.CompleteAt.Add(7*24*time.Hour)) {
		t.Errorf("keys %v streams %s backups %s", c.DestroyedKeys, c.StreamsClearAfter, c.BackupsClearAfter)
	}
	// Only the tombstone is left; the other firm is untouched.
	if gone, _ := f.store.Tombstoned(ctx, firm); !gone {
		t.Error("no tombstone")
	}
	if ops, _, _ := a.Operations(ctx, owner, firm, 0, ""); len(ops) != 0 {
		t.Errorf("operations kept after deletion: %d", len(ops))
	}
	for _, s := range domain.DataServices {
		if counts, _ := f.services[s].Count(ctx, keep); sum(counts) == 0 {
			t.Errorf("%s: the other firm lost its rows", s)
		}
	}
	if _, err := a.CancelDeletion(ctx, keepOwner, keep); !apierr.HasCode(err, codes.NotFound) {
		t.Errorf("other firm has a deletion: %v", err)
	}
	other, _ := newTokenLike(token)
	if _, err := a.Certificate(ctx, other); !apierr.HasCode(err, codes.NotFound) {
		t.Errorf("another token fetched the certificate: %v", err)
	}
}

// newTokenLike changes one character of a token.
func newTokenLike(token string) (string, bool) {
	last := token[len(token)-1]
	swap := byte('A')
	if last == 'A' {
		swap = 'B'
	}
	return token[:len(token)-1] + string(swap), true
}

func sum(counts []domain.TableCount) int64 {
	var n int64
	for _, c := range counts {
		n += c.Rows
	}
	return n
}

// TestServiceDownHoldsTheDeletionAndARestartedRunnerFinishesOnce stops the runner in
// the middle of the saga while billing is down, starts a new runner, and shows that
// the deletion waited (never done early), then completed exactly once with counts
// that match what each service held.
func TestServiceDownHoldsTheDeletionAndARestartedRunnerFinishesOnce(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	firm, owner := f.firm()
	first := f.runner(t)
	d, token, err := first.RequestDeletion(ctx, owner, firm, "correct horse", "", days(0))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 { // begin, inventory, workflow; then billing goes down and fails twice
		if i == 3 {
			f.services["billing"].setDown(true)
		}
		if _, err := first.RunDeletionStep(ctx); err != nil {
			t.Fatal(err)
		}
		f.advance(10 * time.Second)
	}
	op, err := first.Operation(ctx, owner, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	got := op.Deletion
	if got.State != domain.StateRunning || got.Step() != domain.StepDeleteBilling || got.Attempts < 2 ||
		got.LastError != "billing is unavailable; retrying" || got.Progress() != 2*100/len(domain.Steps) || len(got.Record.Inventory["billing"]) == 0 {
		t.Fatalf("while billing is down: state %s step %s attempts %d error %q progress %d",
			got.State, got.Step(), got.Attempts, got.LastError, got.Progress())
	}
	if _, err := first.Certificate(ctx, token); err == nil {
		t.Fatal("certificate issued while billing was down")
	}
	// The first runner is gone (as after a crash, holding no lease now); billing comes
	// back; a new runner picks the deletion up when its retry is due.
	f.services["billing"].setDown(false)
	f.advance(time.Minute)
	second := f.runner(t)
	runAll(t, second)
	file, err := second.Certificate(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	c, err := certificate.Verify(file, f.pub)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range domain.DataServices {
		if f.services[s].deletes != 1 || len(c.Deleted[s]) != 1 || c.Deleted[s][0].Rows != int64(i+2) {
			t.Errorf("%s: %d deletions, certificate says %v, want %d rows", s, f.services[s].deletes, c.Deleted[s], i+2)
		}
	}
	if n := runAll(t, first); n != 0 {
		t.Errorf("the old runner found %d more steps after completion", n)
	}
}

// TestCrashedRunnersLeaseExpiresAndAnotherResumes leaves a claim held by a runner that
// never saved (it crashed mid-step): no one else may take it until the lease ends.
func TestCrashedRunnersLeaseExpiresAndAnotherResumes(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	firm, owner := f.firm()
	a := f.runner(t)
	if _, _, err := a.RequestDeletion(ctx, owner, firm, "correct horse", "", days(0)); err != nil {
		t.Fatal(err)
	}
	if _, _, ok, err := f.store.Claim(ctx, domain.KindDeletion, "crashed-runner", f.clock(), time.Minute); err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	if n := runAll(t, a); n != 0 {
		t.Fatalf("took over a live lease: %d steps", n)
	}
	f.advance(time.Minute + time.Second)
	if n := runAll(t, a); n != 1+len(domain.Steps) {
		t.Fatalf("after the lease expired: %d steps", n)
	}
}

// TestTwoRunnersApplyEachStepOnce runs two runners at once over the same deletions.
func TestTwoRunnersApplyEachStepOnce(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var tokens []string
	a, b := f.runner(t), f.runner(t)
	for range 3 {
		firm, owner := f.firm()
		_, token, err := a.RequestDeletion(ctx, owner, firm, "correct horse", "", days(0))
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, token)
	}
	var wg sync.WaitGroup
	steps := make([]int, 2)
	for i, r := range []*app.App{a, b} {
		wg.Go(func() {
			n, err := r.RunDeletions(ctx)
			if err != nil {
				t.Error(err)
			}
			steps[i] = n
		})
	}
	wg.Wait()
	if steps[0]+steps[1] != 3*(1+len(domain.Steps)) {
		t.Errorf("steps %v, want %d in all", steps, 3*(1+len(domain.Steps)))
	}
	for _, s := range domain.DataServices {
		if f.services[s].deletes != 3 {
			t.Errorf("%s: %d deletions for 3 firms", s, f.services[s].deletes)
		}
	}
	for _, token := range tokens {
		if _, err := a.Certificate(ctx, token); err != nil {
			t.Error(err)
		}
	}
}

func TestResidueHoldsTheCertificateBack(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	firm, owner := f.firm()
	a := f.runner(t)
	_, token, err := a.RequestDeletion(ctx, owner, firm, "correct horse", "", days(0))
	if err != nil {
		t.Fatal(err)
	}
	for range 7 { // begin, inventory, four deletions, keys
		if _, err := a.RunDeletionStep(ctx); err != nil {
			t.Fatal(err)
		}
	}
	f.services["workflow"].seed(firm, "late_rows", 3) // written after the deletion ran
	runAll(t, a)
	ops, _, _ := a.Operations(ctx, owner, firm, 0, "")
	if len(ops) != 1 || ops[0].Deletion.Step() != domain.StepResidueScan || ops[0].Deletion.LastError != "rows of the firm remain: workflow.late_rows=3" {
		t.Fatalf("residue: %+v", ops[0].Deletion)
	}
	if _, err := a.Certificate(ctx, token); err == nil {
		t.Fatal("certificate issued with residue left")
	}
}

// TestLostDeleteAnswerKeepsTheInventory loses workflow's answer after it deleted: the
// retry answers zero rows, the residue scan is clean, and the certificate's inventory
// still says what was there.
func TestLostDeleteAnswerKeepsTheInventory(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	firm, owner := f.firm()
	a := f.runner(t)
	_, token, err := a.RequestDeletion(ctx, owner, firm, "correct horse", "", days(0))
	if err != nil {
		t.Fatal(err)
	}
	f.services["workflow"].loseAnswer = true
	runAll(t, a)
	f.advance(time.Minute)
	runAll(t, a)
	file, err := a.Certificate(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	c, err := certificate.Verify(file, f.pub)
	if err != nil {
		t.Fatal(err)
	}
	inv := c.Inventory["workflow"]
	if len(inv) != 1 || inv[0].Rows != 2 || !c.ResidueClean {
		t.Errorf("inventory %v residue clean %v", inv, c.ResidueClean)
	}
	if got := c.Deleted["workflow"]; len(got) != 1 || got[0].Rows != 0 {
		t.Errorf("deleted as answered by the retry: %v", got)
	}
}

// TestCancelWithIdentityDownChangesNothing: the cancellation can be tried again, and
// the firm is never left read-only without a deletion to cancel.
func TestCancelWithIdentityDownChangesNothing(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	firm, owner := f.firm()
	a := f.runner(t)
	if _, _, err := a.RequestDeletion(ctx, owner, firm, "correct horse", "", days(3)); err != nil {
		t.Fatal(err)
	}
	f.identity.down = true
	_, err := a.CancelDeletion(ctx, owner, firm)
	wantCode(t, err, codes.Unavailable, "DEPENDENCY_UNAVAILABLE")
	if !f.identity.isScheduled(firm) {
		t.Fatal("mark cleared although the cancellation failed")
	}
	f.identity.down = false
	d, err := a.CancelDeletion(ctx, owner, firm)
	if err != nil || d.State != domain.StateCancelled || f.identity.isScheduled(firm) {
		t.Fatalf("second cancel: %v %s scheduled=%v", err, d.State, f.identity.isScheduled(firm))
	}
}
