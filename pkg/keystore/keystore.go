// Package keystore keeps each firm's data keys apart from the data they protect, so
// that destroying a firm's keys shreds its sealed values in the live databases and in
// every backup of them. Services depend on the small Store interface; Postgres is the
// implementation on its own database (firmflow_keys), and a cloud KMS or Vault can
// stand in later without changing them.
package keystore

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/fieldcrypt"
	"github.com/firmflow/firmflow/pkg/keystore/migrations"
	"github.com/firmflow/firmflow/pkg/pg"
)

// Database is the key store's database; Roles are its owner and runtime roles.
const Database = "firmflow_keys"

// Roles are the key store's database roles: keys_owner migrates, keys_app serves.
var Roles = pg.RolesFor("keys")

// ErrFirmDestroyed is returned for a firm whose keys were destroyed: nothing may be
// sealed for it again.
var ErrFirmDestroyed = apierr.NotFound("firm")

// Store is where a service gets a firm's data key.
type Store interface {
	// DataKey opens the firm's data key, creating it on first use. The caller
	// destroys the returned key when done with it.
	DataKey(ctx context.Context, firmID string) (*fieldcrypt.DataKey, error)
	// DestroyFirm deletes every data key of the firm, of every service, and refuses
	// new ones; it answers the ids of the keys destroyed (none on a repeat).
	DestroyFirm(ctx context.Context, firmID string) (keyIDs []string, err error)
}

// Postgres is the Store on the key store database, for one service's keys.
type Postgres struct {
	db      *pg.DB
	kek     fieldcrypt.KeyWrapper
	kekID   string
	service string
}

var _ Store = (*Postgres)(nil)

// NewPostgres returns the key store on db (connected as the runtime role) for the
// keys of service, wrapped by kek.
func NewPostgres(db *pg.DB, kek *fieldcrypt.KEK, service string) *Postgres {
	return &Postgres{db: db, kek: kek, kekID: kek.KEKID(), service: service}
}

// DefaultURL is the key store as `firmflow dev` provisions it, for the runtime role.
const DefaultURL = "postgres://keys_app@127.0.0.1:5432/firmflow_keys?sslmode=disable"

// Open connects to the key store at databaseURL (the runtime role) for service's keys.
// Close releases the connections.
func Open(ctx context.Context, databaseURL string, kek *fieldcrypt.KEK, service string) (*Postgres, error) {
	db, err := pg.Open(ctx, databaseURL)
	if err != nil {
		return nil, fmt.Errorf("key store: %w", err)
	}
	if err := db.ObservePool(service); err != nil {
		db.Close()
		return nil, err
	}
	return NewPostgres(db, kek, service), nil
}

// Close releases the key store's connections.
func (s *Postgres) Close() { s.db.Close() }

// Provision creates the key store's database and roles as an administrator.
func Provision(ctx context.Context, adminURL string) error {
	return pg.Provision(ctx, adminURL, Database, Roles)
}

// Migrate applies the key store's migrations as its owner.
func Migrate(ctx context.Context, ownerURL string) error {
	return pg.Migrate(ctx, ownerURL, migrations.FS, Roles)
}

// Ping reports whether the key store answers.
func (s *Postgres) Ping(ctx context.Context) error { return s.db.Ping(ctx) }

// DataKey opens the firm's key for the service, creating it on first use.
func (s *Postgres) DataKey(ctx context.Context, firmID string) (*fieldcrypt.DataKey, error) {
	var wrapped []byte
	err := s.inFirmLock(ctx, firmID, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, "select wrapped_key from data_keys where firm_id = $1 and service = $2",
			firmID, s.service).Scan(&wrapped)
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		var destroyed bool
		if err := tx.QueryRow(ctx, "select exists (select 1 from destroyed_firms where firm_id = $1)", firmID).Scan(&destroyed); err != nil {
			return err
		}
		if destroyed {
			return ErrFirmDestroyed
		}
		key, fresh, err := fieldcrypt.NewDataKey(s.kek, firmID)
		if err != nil {
			return err
		}
		key.Destroy()
		wrapped = fresh
		_, err = tx.Exec(ctx, `insert into data_keys (id, firm_id, service, wrapped_key, kek_id) values ($1, $2, $3, $4, $5)`,
			uuid.Must(uuid.NewV7()), firmID, s.service, fresh, s.kekID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("key store: %w", err)
	}
	return fieldcrypt.OpenDataKey(s.kek, firmID, wrapped)
}

// DestroyFirm deletes the firm's keys of every service and records the firm as
// destroyed. Repeated, it destroys nothing more and answers no ids.
func (s *Postgres) DestroyFirm(ctx context.Context, firmID string) ([]string, error) {
	var ids []string
	err := s.inFirmLock(ctx, firmID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, "delete from data_keys where firm_id = $1 returning id::text", firmID)
		if err != nil {
			return err
		}
		if ids, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `insert into destroyed_firms (firm_id, key_ids) values ($1, $2::uuid[])
			on conflict (firm_id) do nothing`, firmID, ids)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("key store: destroy firm keys: %w", err)
	}
	return ids, nil
}

// inFirmLock runs fn in a transaction holding the firm's advisory lock, so that a
// key being created and the firm's keys being destroyed never interleave: a key
// created concurrently with destruction would otherwise survive it.
func (s *Postgres) inFirmLock(ctx context.Context, firmID string, fn func(pgx.Tx) error) error {
	if _, err := uuid.Parse(firmID); err != nil {
		return fmt.Errorf("firm id is not a uuid")
	}
	return s.db.InTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "select pg_advisory_xact_lock(hashtextextended($1, 0))", "keystore:"+firmID); err != nil {
			return err
		}
		return fn(tx)
	})
}
