package e2e

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/firmflow/firmflow/cmd/firmflow/internal/e2e/harness"
	lifecyclev1 "github.com/firmflow/firmflow/pkg/gen/firmflow/lifecycle/v1"
	"github.com/firmflow/firmflow/pkg/pg"
	"github.com/firmflow/firmflow/pkg/pg/pgtest"
	"github.com/firmflow/firmflow/services/lifecycle/certificate"
	lifecycle "github.com/firmflow/firmflow/services/lifecycle/server"
)

// switchProxy forwards TCP to a service and can be switched off: while off it drops
// every connection it holds and closes each new one at once, as a stopped service's
// port does for its callers.
type switchProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	off    bool
	conns  map[net.Conn]bool
}

func newSwitchProxy(t *testing.T, target string) *switchProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &switchProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { ln.Close(); p.set(true) })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *switchProxy) addr() string { return p.ln.Addr().String() }

func (p *switchProxy) set(off bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.off = off
	if off {
		for c := range p.conns {
			c.Close()
		}
		clear(p.conns)
	}
}

func (p *switchProxy) serve(c net.Conn) {
	p.mu.Lock()
	if p.off {
		p.mu.Unlock()
		c.Close()
		return
	}
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		p.mu.Unlock()
		c.Close()
		return
	}
	p.conns[c], p.conns[up] = true, true
	p.mu.Unlock()
	go func() { _, _ = io.Copy(up, c); up.Close() }()
	_, _ = io.Copy(c, up)
	c.Close()
}

// TestDeletionSurvivesLifecycleKilledMidSagaAndAServiceDown runs the saga against the
// real stack in lifecycle processes of the test's own (the stack's lifecycle serves
// the API and runs no deletion): the first is stopped in the middle of workflow's
// deletion (held there by a row lock the test takes), holding its lease, while billing is stopped too; a second, started in its
// place, waits for the lease, then retries billing for as long as it is down without
// ever finishing early; once billing is back the deletion completes once: one
// certificate, the Stripe customer deleted once, every service's deleted rows equal
// to what it held (workflow's only if its interrupted deletion rolled back, zero
// otherwise), residue clean.
func TestDeletionSurvivesLifecycleKilledMidSagaAndAServiceDown(t *testing.T) {
	t.Parallel()
	var cfg lifecycle.Config
	sys := startWith(t, harness.Options{LifecycleTuning: func(c *lifecycle.Config) {
		cfg = *c
		c.RunInterval = time.Hour // the stack's lifecycle takes no deletion during the test
	}})
	billing := newSwitchProxy(t, cfg.BillingAddr)
	cfg.BillingAddr = billing.addr()
	cfg.GRPCAddr, cfg.AdminAddr = "127.0.0.1:0", "off"
	cfg.RunInterval, cfg.RetryBase, cfg.RetryMax, cfg.Lease = 50*time.Millisecond, 100*time.Millisecond, 500*time.Millisecond, 8*time.Second
	ctx := context.Background()

	doomed := sys.signUp(t, "resilient")
	firmID := strings.TrimPrefix(doomed.name, "firms/")
	customer := ""
	eventually(t, "billing account", func() bool {
		customer = queryString(t, sys, "billing", "select coalesce(max(stripe_customer_id), '') from accounts where firm_id = $1", firmID)
		return customer != ""
	})
	// Enough tasks that workflow's deletion lasts long enough to stop lifecycle in it.
	if _, err := admin(t, sys, "workflow").Exec(ctx, `with c as (
			insert into clients (id, firm_id, display_name, kind, priority, create_time, update_time)
			select gen_random_uuid(), $1, 'Resilient ' || g, 'business', 'normal', now(), now() from generate_series(1, 200) g
			returning id),
		p as (
			insert into projects (id, firm_id, client_id, display_name, status, budget_minutes, task_count,
				completed_task_count, version, create_time, update_time)
			select gen_random_uuid(), $1, c.id, 'Year end', 'in_progress', 0, 0, 0, 1, now(), now() from c
			returning id, client_id)
		insert into tasks (id, firm_id, project_id, client_id, position, title, status, version, create_time, update_time)
		select gen_random_uuid(), $1, p.id, p.client_id, k, 'Task ' || k, 'ready', 1, now(), now()
		from p, generate_series(1, 400) k`, firmID); err != nil {
		t.Fatal(err)
	}

	run := func(name string) (stop func()) {
		keys, err := lifecycle.OpenKeyStore(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		srv, err := lifecycle.New(ctx, cfg, keys, slog.New(slog.NewTextHandler(io.Discard, nil)).With("process", name))
		if err != nil {
			t.Fatal(err)
		}
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- srv.Run(runCtx) }()
		return func() {
			cancel()
			if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("%s: %v", name, err)
			}
			keys.Close()
		}
	}
	operation := func(name string) *lifecyclev1.Operation {
		return message[*lifecyclev1.Operation](t, want(t, doomed.client.do("GET", "/v1/"+name, nil), http.StatusOK, "operation"))
	}

	// A row of the firm's locked by another transaction holds workflow's deletion
	// in its DELETE for as long as the test needs, however fast the machine.
	hold, err := admin(t, sys, "workflow").Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = hold.Rollback(ctx) }()
	if _, err := hold.Exec(ctx, "select 1 from tasks where firm_id = $1 limit 1 for update", firmID); err != nil {
		t.Fatal(err)
	}

	stopFirst := run("first")
	r := want(t, doomed.client.do("POST", "/v1/"+doomed.name+":requestDeletion", map[string]any{"password": password, "grace_days": 0}),
		http.StatusCreated, "request deletion")
	requested := message[*lifecyclev1.RequestFirmDeletionResponse](t, r)
	token, op := requested.GetCertificateToken(), requested.GetOperation().GetName()
	eventually(t, "workflow's deletion under way", func() bool {
		return operation(op).GetMetadata().GetStep() == "delete:workflow"
	})
	billing.set(true)
	stopFirst()
	if err := hold.Rollback(ctx); err != nil {
		t.Fatal(err)
	}

	anon := sys.browser()
	certificateStatus := func() int {
		status, _, _ := anon.raw(t, "/v1/deletionCertificates/"+token, nil)
		return status
	}
	if s := certificateStatus(); s != http.StatusNotFound {
		t.Fatalf("certificate with lifecycle stopped mid-saga: %d", s)
	}
	stopSecond := run("second")
	defer stopSecond()
	eventually(t, "billing retried", func() bool {
		m := operation(op)
		return m.GetMetadata().GetStep() == "delete:billing" && m.GetMetadata().GetAttempts() >= 2
	})
	m := operation(op)
	if m.GetDone() || !strings.Contains(m.GetMetadata().GetLastError(), "billing") || certificateStatus() != http.StatusNotFound {
		t.Fatalf("while billing is down: %v", m)
	}
	if n := len(sys.stripe.Requests(http.MethodDelete, "/v1/customers/")); n != 0 {
		t.Fatalf("Stripe customer deleted %d times while billing was unreachable", n)
	}
	billing.set(false)
	cert, c, _ := awaitCertificate(t, sys, token)
	if !c.ResidueClean || c.Deletion != op {
		t.Errorf("certificate: %s", cert)
	}
	total := func(tables []certificate.TableCount) (n int64) {
		for _, tc := range tables {
			n += tc.Rows
		}
		return n
	}
	for _, service := range []string{"workflow", "billing", "identity"} {
		held, deleted := total(c.Inventory[service]), total(c.Deleted[service])
		// Workflow's deletion was cut off: rolled back, the retry deleted everything;
		// committed with its answer lost, the retry found nothing left.
		lost := service == "workflow" && deleted == 0
		if deleted != held && !lost {
			t.Errorf("%s: held %d rows, deleted %d", service, held, deleted)
		}
	}
	t.Logf("workflow held %d rows, the certificate counts %d deleted; billing attempts before it came back: %v",
		total(c.Inventory["workflow"]), total(c.Deleted["workflow"]), m.GetMetadata().GetAttempts())
	if total(c.Inventory["workflow"]) < 80_000 {
		t.Errorf("workflow held %d rows, want the 80,000 tasks seeded and more", total(c.Inventory["workflow"]))
	}
	if got := sys.stripe.Requests(http.MethodDelete, "/v1/customers/"+customer); len(got) != 1 {
		t.Errorf("Stripe customer %s deleted %d times, want once", customer, len(got))
	}
	if c.Facts["billing"]["stripe_customer_deleted"] != customer {
		t.Errorf("billing facts %v, want customer %s deleted", c.Facts["billing"], customer)
	}
	if n := queryString(t, sys, "lifecycle", "select count(*)::text from tombstones where firm_id = $1", firmID); n != "1" {
		t.Errorf("%s tombstones of the firm, want 1", n)
	}
}

// admin connects to a service's database as the administrator, until the test ends.
func admin(t *testing.T, sys *system, service string) *pgx.Conn {
	t.Helper()
	url, err := pg.WithUserAndDatabase(pgtest.AdminURL(), "", sys.stack.Databases[service])
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// queryString answers a one-value query against a service's database.
func queryString(t *testing.T, sys *system, service, sql string, args ...any) string {
	t.Helper()
	var out string
	if err := admin(t, sys, service).QueryRow(context.Background(), sql, args...).Scan(&out); err != nil {
		t.Fatal(err)
	}
	return out
}
