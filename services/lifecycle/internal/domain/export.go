package domain

import (
	"time"

	"github.com/firmflow/firmflow/pkg/apierr"
)

// ExportTTL is how long an export's archive can be downloaded before it is deleted.
const ExportTTL = 7 * 24 * time.Hour

// Export is a full export of a firm's data into an encrypted archive.
type Export struct {
	ID          string
	FirmID      string
	RequestedBy string
	CreateTime  time.Time
	State       State
	Attempts    int
	NextAttempt time.Time
	LastError   string
	EndTime     time.Time
	// Archive is the archive's file name, set once it is written.
	Archive    string
	Size       int64
	ExpireTime time.Time
}

// NewExport starts an export now.
func NewExport(id, firmID, requestedBy string, now time.Time) Export {
	return Export{ID: id, FirmID: firmID, RequestedBy: requestedBy, CreateTime: now, State: StateRunning, NextAttempt: now}
}

// Finish records the written archive: downloadable until ExportTTL from now.
func (e *Export) Finish(archive string, size int64, now time.Time) {
	e.State, e.Archive, e.Size, e.EndTime = StateSucceeded, archive, size, now
	e.ExpireTime, e.Attempts, e.LastError, e.NextAttempt = now.Add(ExportTTL), 0, "", time.Time{}
}

// Fail records a failed attempt; the export is written again from the start later.
func (e *Export) Fail(reason string, now time.Time, retry Retry) {
	e.Attempts++
	e.LastError, e.NextAttempt = reason, now.Add(retry.Delay(e.Attempts))
}

// Cancel stops an export that is not done.
func (e *Export) Cancel(now time.Time) error {
	if e.State.Done() {
		return apierr.FailedPrecondition("OPERATION_DONE", "the operation has already finished")
	}
	e.State, e.EndTime, e.NextAttempt = StateCancelled, now, time.Time{}
	return nil
}

// Ready reports whether the archive can be downloaded at now.
func (e *Export) Ready(now time.Time) error {
	switch {
	case e.State == StateRunning:
		return apierr.FailedPrecondition("EXPORT_NOT_READY", "the export is still running; poll its operation")
	case e.State != StateSucceeded || e.Archive == "" || !now.Before(e.ExpireTime):
		return apierr.NotFound("export")
	}
	return nil
}

// Kind tells deletions and exports apart.
type Kind string

const (
	KindDeletion Kind = "deletion"
	KindExport   Kind = "export"
)

// Operation is either kind, as the operations API lists them.
type Operation struct {
	Kind     Kind
	Deletion *Deletion
	Export   *Export
}
