package keystoretest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/firmflow/firmflow/pkg/fieldcrypt"
	"github.com/firmflow/firmflow/pkg/pg/pgtest"
)

// Sealed is a sealed value as found in a database, with the binding it was sealed to.
type Sealed struct {
	Binding    fieldcrypt.Binding
	Ciphertext []byte
}

// ReadSealed reads sealed values from d as its administrator: query returns the
// firm id, table, column and row id of each value, then the ciphertext.
func ReadSealed(t testing.TB, d *pgtest.Database, query string) []Sealed {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, d.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, query)
	if err != nil {
		t.Fatal(err)
	}
	values, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Sealed, error) {
		var s Sealed
		err := r.Scan(&s.Binding.FirmID, &s.Binding.Table, &s.Binding.Column, &s.Binding.RowID, &s.Ciphertext)
		return s, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return values
}

// Opened counts the values that open with anything the key store in keys holds:
// every wrapped key in it is unwrapped with kek for each value's firm, and every key
// that unwraps is tried on the value. It answers the count per firm.
func Opened(t testing.TB, keys *pgtest.Database, kek *fieldcrypt.KEK, values []Sealed) map[string]int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, keys.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "select wrapped_key from data_keys")
	if err != nil {
		t.Fatal(err)
	}
	wrapped, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		t.Fatal(err)
	}
	opened := map[string]int{}
	for _, v := range values {
		for _, w := range wrapped {
			key, err := fieldcrypt.OpenDataKey(kek, v.Binding.FirmID, w)
			if err != nil {
				continue
			}
			_, err = key.Open(v.Ciphertext, v.Binding)
			key.Destroy()
			if err == nil {
				opened[v.Binding.FirmID]++
				break
			}
		}
	}
	return opened
}

// Count counts the values of each firm.
func Count(values []Sealed) map[string]int {
	out := map[string]int{}
	for _, v := range values {
		out[v.Binding.FirmID]++
	}
	return out
}
