package keystore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/firmflow/firmflow/pkg/fieldcrypt"
	"github.com/firmflow/firmflow/pkg/keystore"
	"github.com/firmflow/firmflow/pkg/keystore/migrations"
	"github.com/firmflow/firmflow/pkg/pg/pgtest"
)

func TestDestroyedFirmKeysNeitherOpenNorComeBack(t *testing.T) {
	ctx := context.Background()
	db := pgtest.New(t, "keys", migrations.FS).Open(t)
	kek, err := fieldcrypt.ParseKEK(fieldcrypt.GenerateKEK())
	if err != nil {
		t.Fatal(err)
	}
	identity := keystore.NewPostgres(db, kek, "identity")
	workflow := keystore.NewPostgres(db, kek, "workflow")
	firm, control := uuid.NewString(), uuid.NewString()
	where := fieldcrypt.Binding{FirmID: firm, Table: "clients", Column: "notes", RowID: "1"}

	key, err := workflow.DataKey(ctx, firm)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := key.Seal([]byte("secret"), where)
	if err != nil {
		t.Fatal(err)
	}
	again, err := workflow.DataKey(ctx, firm)
	if err != nil {
		t.Fatal(err)
	}
	if plain, err := again.Open(sealed, where); err != nil || string(plain) != "secret" {
		t.Fatalf("reopened key: %q, %v", plain, err)
	}
	other, err := identity.DataKey(ctx, firm)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Open(sealed, where); !errors.Is(err, fieldcrypt.ErrDecrypt) {
		t.Errorf("identity's key opened workflow's value: %v", err)
	}
	if _, err := workflow.DataKey(ctx, control); err != nil {
		t.Fatal(err)
	}

	ids, err := identity.DestroyFirm(ctx, firm)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2 {
		t.Errorf("destroyed %v, want the firm's two keys (identity's and workflow's)", ids)
	}
	if ids, err := identity.DestroyFirm(ctx, firm); err != nil || len(ids) != 0 {
		t.Errorf("repeat destroy = %v, %v; want nothing", ids, err)
	}
	if _, err := workflow.DataKey(ctx, firm); err == nil {
		t.Error("a destroyed firm got a fresh data key")
	}
	if _, err := workflow.DataKey(ctx, control); err != nil {
		t.Errorf("control firm's key: %v", err)
	}
}
