package pgtest_test

import (
	"fmt"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/firmflow/firmflow/pkg/pg/pgtest"
)

// recorder stands in for *testing.T to see what CheckTenancy reports.
type recorder struct {
	testing.TB
	failures []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatal(args ...any) { r.failures = append(r.failures, fmt.Sprint(args...)) }

func TestCheckTenancyReportsUnprotectedTablesAndOwnership(t *testing.T) {
	t.Parallel()
	leaky := fstest.MapFS{"001_leaky.sql": {Data: []byte(`
{{ template "shared/tenancy.sql" . }}
create table guarded (firm_id uuid not null);
{{ template "shared/firm_table.sql" dict "table" "guarded" "runtime_role" .runtime_role "privileges" "select" }}
create table leaky (firm_id uuid not null, secret text);
grant select on leaky to {{.runtime_role}};
create table half (firm_id uuid not null);
alter table half enable row level security;
`)}}
	d := pgtest.New(t, "pgtesttenancy", leaky)
	r := &recorder{TB: t}
	pgtest.CheckTenancy(r, d)
	report := strings.Join(r.failures, "\n")
	for _, table := range []string{"leaky", "half"} {
		if !strings.Contains(report, "table "+table+" ") {
			t.Errorf("CheckTenancy did not report %s:\n%s", table, report)
		}
	}
	if strings.Contains(report, "guarded") {
		t.Errorf("CheckTenancy reported a protected table:\n%s", report)
	}
}
