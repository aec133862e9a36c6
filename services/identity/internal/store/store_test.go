package store_test

import (
	"testing"

	"github.com/firmflow/firmflow/pkg/pg/pgtest"
	"github.com/firmflow/firmflow/services/identity/migrations"
)

func TestSchemaKeepsFirmsApart(t *testing.T) {
	t.Parallel()
	pgtest.CheckTenancy(t, pgtest.New(t, "identity", migrations.FS))
}
