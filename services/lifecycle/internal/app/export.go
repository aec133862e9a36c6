package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/services/lifecycle/internal/archive"
	"github.com/firmflow/firmflow/services/lifecycle/internal/domain"
)

// CreateExport starts a full export of the firm's data; the runner writes it.
func (a *App) CreateExport(ctx context.Context, p principal.Principal, firmID string) (domain.Export, error) {
	if err := callerFirm(p, firmID); err != nil {
		return domain.Export{}, err
	}
	e := domain.NewExport(uuid.NewString(), firmID, p.Actor(), a.now().UTC())
	if err := a.store.CreateExport(ctx, e); err != nil {
		return domain.Export{}, err
	}
	return e, nil
}

// RunExports writes due exports until none is due or ctx ends.
func (a *App) RunExports(ctx context.Context) (int, error) {
	n := 0
	for ctx.Err() == nil {
		worked, err := a.RunExportStep(ctx)
		if err != nil || !worked {
			return n, err
		}
		n++
	}
	return n, nil
}

// RunExportStep claims one due export and writes its archive from every service's
// FirmDataService. A failed attempt leaves nothing behind and is retried with backoff.
func (a *App) RunExportStep(ctx context.Context) (bool, error) {
	now := a.now().UTC()
	id, firmID, ok, err := a.store.Claim(ctx, domain.KindExport, a.runner, now, a.cfg.Lease)
	if err != nil || !ok {
		return false, err
	}
	op, err := a.store.Operation(ctx, firmID, id)
	if err != nil {
		return true, err
	}
	before, e := *op.Export, *op.Export
	buildCtx, cancel := context.WithTimeout(ctx, a.cfg.Lease*9/10)
	name, size, failure := a.writeArchive(buildCtx, e, now)
	cancel()
	now = a.now().UTC()
	if failure != "" {
		if ctx.Err() != nil {
			return true, ctx.Err()
		}
		e.Fail(failure, now, a.cfg.Retry)
	} else {
		e.Finish(name, size, now)
	}
	err = a.store.SaveExport(ctx, before, e, a.runner)
	if err != nil && name != "" {
		_ = os.Remove(filepath.Join(a.cfg.ExportDir, name))
	}
	return true, a.lost(ctx, id, err)
}

// writeArchive streams every service's rows into temporary files, then seals the
// zip into <ExportDir>/<id>.ffx. It returns the file name and the archive's size.
func (a *App) writeArchive(ctx context.Context, e domain.Export, now time.Time) (string, int64, string) {
	fail := func(what string, err error) (string, int64, string) {
		a.logger.WarnContext(ctx, "export attempt failed", "operation", e.ID, "error", err)
		return "", 0, what + " " + describe(err)
	}
	if err := os.MkdirAll(a.cfg.ExportDir, 0o700); err != nil {
		return fail("export storage", err)
	}
	b, err := archive.NewBuilder(a.cfg.ExportDir)
	if err != nil {
		return fail("export storage", err)
	}
	defer b.Close()
	for _, service := range domain.DataServices {
		err := a.services[service].Export(ctx, e.FirmID, func(batch Batch) error {
			return b.Add(service, batch.Entity, batch.SchemaVersion, batch.Rows)
		})
		if err != nil {
			return fail(service, err)
		}
	}
	name := e.ID + ".ffx"
	tmp := filepath.Join(a.cfg.ExportDir, name+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fail("export storage", err)
	}
	defer os.Remove(tmp)
	sealed, err := archive.NewWriter(f, a.cfg.ExportKey, []byte(e.ID))
	if err == nil {
		_, err = b.WriteZip(sealed, "firms/"+e.FirmID, now)
	}
	if err == nil {
		err = sealed.Close()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(a.cfg.ExportDir, name))
	}
	if err != nil {
		return fail("export storage", err)
	}
	return name, sealed.Size(), ""
}

// ExportArchive is an open export archive: Size bytes, read by range.
type ExportArchive struct {
	*archive.Reader
	file *os.File
}

// Close closes the archive's file.
func (x *ExportArchive) Close() error { return x.file.Close() }

// OpenExport opens a finished, unexpired export of the caller's firm for reading.
func (a *App) OpenExport(ctx context.Context, p principal.Principal, firmID, exportID string) (*ExportArchive, error) {
	if err := callerFirm(p, firmID); err != nil {
		return nil, err
	}
	op, err := a.store.Operation(ctx, firmID, exportID)
	if err != nil {
		return nil, err
	}
	if op.Export == nil {
		return nil, apierr.NotFound("export")
	}
	if err := op.Export.Ready(a.now().UTC()); err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(a.cfg.ExportDir, op.Export.Archive))
	if errors.Is(err, os.ErrNotExist) {
		return nil, apierr.NotFound("export")
	}
	if err != nil {
		return nil, err
	}
	info, err := f.Stat()
	if err == nil {
		var r *archive.Reader
		if r, err = archive.NewReader(f, info.Size(), a.cfg.ExportKey, []byte(exportID)); err == nil {
			return &ExportArchive{Reader: r, file: f}, nil
		}
	}
	f.Close()
	return nil, fmt.Errorf("open export %s: %w", exportID, err)
}

// sweepExports deletes archives past their 7 days as of now and forgets them.
func (a *App) sweepExports(ctx context.Context, now time.Time) (int, error) {
	expired, err := a.store.ExpiredExports(ctx, now)
	if err != nil {
		return 0, err
	}
	for i, x := range expired {
		if err := os.Remove(filepath.Join(a.cfg.ExportDir, filepath.Base(x.Archive))); err != nil && !errors.Is(err, os.ErrNotExist) {
			return i, err
		}
		if err := a.store.ForgetArchive(ctx, x.FirmID, x.ID); err != nil {
			return i, err
		}
	}
	return len(expired), nil
}

// removeArchives deletes every export archive of the firm, for its deletion.
func (a *App) removeArchives(ctx context.Context, firmID string) error {
	names, err := a.store.FirmArchives(ctx, firmID)
	if err != nil {
		return err
	}
	for _, name := range names {
		if err := os.Remove(filepath.Join(a.cfg.ExportDir, filepath.Base(name))); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}
