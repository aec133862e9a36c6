package store_test

import (
	"context"
	"io/fs"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/firmflow/firmflow/pkg/pg"
	"github.com/firmflow/firmflow/pkg/pg/pgtest"
	"github.com/firmflow/firmflow/services/identity/internal/domain"
	"github.com/firmflow/firmflow/services/identity/internal/store"
	"github.com/firmflow/firmflow/services/identity/migrations"
)

// BenchmarkAuthenticateStatement measures the statement behind every request the
// gateway forwards, authenticating an API key, at saturation (many callers on the
// runtime role's pool), two ways in the same run: through the store as it is
// (PL/pgSQL, migration 014), and through migration 006's SQL-language definition
// of the same function, read from that migration and created beside it.
func BenchmarkAuthenticateStatement(b *testing.B) {
	ctx := context.Background()
	database := pgtest.New(b, "identity", migrations.FS)
	const secret = "ffk_bench_secret"
	admin, err := pgx.Connect(ctx, database.AdminURL)
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close(ctx)
	firm := uuid.NewString()
	for _, sql := range []string{
		`insert into firms (id, display_name) values ($1, 'Bench')`,
		`insert into api_keys (id, firm_id, display_name, prefix, secret_hash, scopes, created_by)
		 values (gen_random_uuid(), $1, 'bench', 'ffk_bench', $2, '{projects:write}', 'bench')`,
	} {
		args := []any{firm, domain.HashSecret(secret)}[:strings.Count(sql, "$")]
		if _, err := admin.Exec(ctx, sql, args...); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := admin.Exec(ctx, sqlFunctionOf006(b)); err != nil {
		b.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "grant execute on function authenticate_api_key_006(bytea, timestamptz) to "+database.Roles.Runtime); err != nil {
		b.Fatal(err)
	}
	db, err := pg.Open(ctx, database.RuntimeURL)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	s := store.New(db)

	hash := domain.HashSecret(secret)
	perCall := map[string]time.Duration{}
	measure := func(name string, call func() error) {
		b.Run(name, func(b *testing.B) {
			b.SetParallelism(4) // callers per CPU: enough to keep PostgreSQL busy
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := call(); err != nil {
						b.Error(err)
						return
					}
				}
			})
			perCall[name] = time.Since(start) / time.Duration(b.N)
			if old := perCall["sql_006"]; name == "plpgsql_014" && old > 0 {
				b.ReportMetric(float64(old)/float64(perCall[name]), "sql/plpgsql")
			}
		})
	}
	measure("sql_006", func() error {
		var id string
		return db.Pool.QueryRow(ctx, "select api_key_id::text from authenticate_api_key_006($1, $2)", hash, time.Now()).Scan(&id)
	})
	measure("plpgsql_014", func() error {
		_, ok, err := s.AuthenticateAPIKey(ctx, hash, time.Now())
		if err == nil && !ok {
			b.Fatal("the key was not found")
		}
		return err
	})
}

// sqlFunctionOf006 is migration 006's definition of authenticate_api_key, renamed.
func sqlFunctionOf006(b *testing.B) string {
	raw, err := fs.ReadFile(migrations.FS, "006_authenticate.sql")
	if err != nil {
		b.Fatal(err)
	}
	def := regexp.MustCompile(`(?s)create function authenticate_api_key\(.*?\n\$\$;`).FindString(string(raw))
	if def == "" {
		b.Fatal("006_authenticate.sql defines no authenticate_api_key")
	}
	return strings.Replace(def, "authenticate_api_key(", "authenticate_api_key_006(", 1)
}
