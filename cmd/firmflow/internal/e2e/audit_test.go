package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/firmflow/firmflow/pkg/pg"
	"github.com/firmflow/firmflow/pkg/pg/pgtest"
	"github.com/firmflow/firmflow/services/audit/chain"
)

// auditRow is what the audit log holds about one request or change.
type auditRow struct {
	firm, actor, action, code, kind string
}

// auditOf waits until the audit log holds an event whose payload carries marker (a
// request id) and returns it; the gateway's stream reaches the log asynchronously.
func (s *system) auditOf(t *testing.T, conn *pgx.Conn, marker string) auditRow {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var r auditRow
		err := conn.QueryRow(context.Background(), `select firm_id::text, actor, action, code, kind from audit_events
			where position(convert_to($1, 'UTF8') in payload) > 0`, marker).Scan(&r.firm, &r.actor, &r.action, &r.code, &r.kind)
		if err == nil {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("no audit event for %s: %v", marker, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRequestsAndChangesReachTheAuditChains follows requests from the gateway into
// the audit log: the owner's request lands in the firm's chain, an anonymous one in
// the system chain, sign-up's change events beside them, and every chain links up.
func TestRequestsAndChangesReachTheAuditChains(t *testing.T) {
	t.Parallel()
	sys := start(t, nil)
	f := sys.signUp(t, "audited")
	got := want(t, f.client.do("GET", "/v1/"+f.name, nil), http.StatusOK, "get firm")
	lost := sys.browser().do("GET", "/v1/nowhere", nil)

	url, err := pg.WithUserAndDatabase(pgtest.AdminURL(), "", sys.stack.Databases["audit"])
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())

	firmID := strings.TrimPrefix(f.name, "firms/")
	owner := sys.auditOf(t, conn, got.header.Get("X-Request-Id"))
	if owner.firm != firmID || !strings.HasPrefix(owner.actor, "users/") ||
		owner.action != "firmflow.identity.v1.IdentityService/GetFirm" || owner.code != "OK" {
		t.Errorf("the owner's request: %+v", owner)
	}
	anonymous := sys.auditOf(t, conn, lost.header.Get("X-Request-Id"))
	if anonymous.firm != chain.SystemFirm.String() || anonymous.actor != "anonymous" || anonymous.code != "NOT_FOUND" {
		t.Errorf("the anonymous request: %+v", anonymous)
	}
	var changes int
	if err := conn.QueryRow(context.Background(), "select count(*) from audit_events where firm_id = $1 and kind = 'change'", firmID).Scan(&changes); err != nil || changes == 0 {
		t.Errorf("sign-up's change events in the firm's chain: %d (%v)", changes, err)
	}

	rows, err := conn.Query(context.Background(), `select firm_id, seq, event_id, time, record_time, kind, category, actor, action,
		resources, code, subject, payload, prev_hash, hash from audit_events order by firm_id, seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	prev := map[uuid.UUID]chain.Hash{}
	for rows.Next() {
		var e chain.Event
		var prevHash, hash []byte
		if err := rows.Scan(&e.FirmID, &e.Sequence, &e.ID, &e.Time, &e.RecordTime, &e.Kind, &e.Category, &e.Actor, &e.Action,
			&e.Resources, &e.Code, &e.Subject, &e.Payload, &prevHash, &hash); err != nil {
			t.Fatal(err)
		}
		copy(e.PrevHash[:], prevHash)
		copy(e.Hash[:], hash)
		if !e.Sealed() || e.PrevHash != prev[e.FirmID] {
			t.Errorf("event %d of firm %s does not link up", e.Sequence, e.FirmID)
		}
		prev[e.FirmID] = e.Hash
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}
