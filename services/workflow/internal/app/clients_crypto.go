package app

import (
	"context"
	"fmt"

	"github.com/firmflow/firmflow/pkg/fieldcrypt"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
	"github.com/firmflow/firmflow/services/workflow/internal/store"
)

// Where each sensitive client field is stored; the ciphertext is bound to it.
const (
	clientsTable       = "clients"
	columnTaxID        = "tax_id"
	columnBankAccount  = "bank_account"
	columnBankRouting  = "bank_routing"
	columnClientsNotes = "notes"
)

// firmKey opens the firm's data key the first time a use case needs it, so reading
// clients without sensitive values never unwraps it. close destroys the opened key.
type firmKey struct {
	open func() (*fieldcrypt.DataKey, error)
	key  *fieldcrypt.DataKey
}

func (a *App) lazyFirmKey(ctx context.Context, q *store.Queries) *firmKey {
	return &firmKey{open: func() (*fieldcrypt.DataKey, error) { return a.dataKey(ctx, q) }}
}

func (k *firmKey) get() (*fieldcrypt.DataKey, error) {
	if k.key == nil {
		key, err := k.open()
		if err != nil {
			return nil, err
		}
		k.key = key
	}
	return k.key, nil
}

func (k *firmKey) close() {
	if k.key != nil {
		k.key.Destroy()
	}
}

// taxIDIndex is the blind index a tax id is found by.
func (k *firmKey) taxIDIndex(taxID string) ([]byte, error) {
	key, err := k.get()
	if err != nil {
		return nil, err
	}
	return key.BlindIndex(domain.TaxIDIndexPurpose, []byte(domain.NormalizeTaxID(taxID))), nil
}

// seal encrypts a client's sensitive fields for its row.
func (k *firmKey) seal(c domain.Client) (store.SealedClient, error) {
	var out store.SealedClient
	if c.Sensitive == (domain.Sensitive{}) {
		return out, nil
	}
	key, err := k.get()
	if err != nil {
		return out, err
	}
	for _, f := range []struct {
		column, value string
		dst           *[]byte
	}{
		{columnTaxID, c.Sensitive.TaxID, &out.TaxID},
		{columnBankAccount, c.Sensitive.BankAccount, &out.BankAccount},
		{columnBankRouting, c.Sensitive.BankRouting, &out.BankRouting},
		{columnClientsNotes, c.Sensitive.Notes, &out.Notes},
	} {
		if f.value == "" {
			continue
		}
		sealed, err := key.Seal([]byte(f.value), fieldcrypt.Binding{FirmID: c.FirmID, Table: clientsTable, Column: f.column, RowID: c.ID})
		if err != nil {
			return out, fmt.Errorf("seal client %s: %w", f.column, err)
		}
		*f.dst = sealed
	}
	if c.Sensitive.TaxID != "" {
		out.TaxIDIndex = key.BlindIndex(domain.TaxIDIndexPurpose, []byte(domain.NormalizeTaxID(c.Sensitive.TaxID)))
	}
	return out, nil
}

// openClient decrypts a stored client's sensitive fields.
func (k *firmKey) openClient(r store.ClientRecord) (domain.Client, error) {
	c := r.Client
	if r.Sealed.Empty() {
		return c, nil
	}
	key, err := k.get()
	if err != nil {
		return c, err
	}
	for _, f := range []struct {
		column string
		sealed []byte
		dst    *string
	}{
		{columnTaxID, r.Sealed.TaxID, &c.Sensitive.TaxID},
		{columnBankAccount, r.Sealed.BankAccount, &c.Sensitive.BankAccount},
		{columnBankRouting, r.Sealed.BankRouting, &c.Sensitive.BankRouting},
		{columnClientsNotes, r.Sealed.Notes, &c.Sensitive.Notes},
	} {
		if f.sealed == nil {
			continue
		}
		plain, err := key.Open(f.sealed, fieldcrypt.Binding{FirmID: c.FirmID, Table: clientsTable, Column: f.column, RowID: c.ID})
		if err != nil {
			// Never the value: only where it failed.
			return c, fmt.Errorf("open client %s of %s: %w", f.column, c.ID, err)
		}
		*f.dst = string(plain)
	}
	return c, nil
}

// OpenSample opens the sealed fields of up to n clients picked at random across
// firms, each with its firm's data key from the key store, and answers how many
// clients and firms it opened. The restore drill runs it on restored copies of the
// database and the key store: a value that does not open there would not open after a
// real restore either.
func (a *App) OpenSample(ctx context.Context, n int) (clients, firms int, err error) {
	records, err := a.store.SampleSealedClients(ctx, n)
	if err != nil {
		return 0, 0, err
	}
	keys := map[string]*firmKey{}
	defer func() {
		for _, k := range keys {
			k.close()
		}
	}()
	for _, r := range records {
		firm := r.Client.FirmID
		if keys[firm] == nil {
			keys[firm] = &firmKey{open: func() (*fieldcrypt.DataKey, error) { return a.keys.DataKey(ctx, firm) }}
		}
		if _, err := keys[firm].openClient(r); err != nil {
			return clients, len(keys), fmt.Errorf("firm %s: %w", firm, err)
		}
		clients++
	}
	return clients, len(keys), nil
}
