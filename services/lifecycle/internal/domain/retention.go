package domain

import "time"

// RetentionRun is one scheduled pruning of every service: what each removed, per
// table, and why any service could not prune.
type RetentionRun struct {
	ID        string
	Runner    string
	State     State // running, succeeded or failed
	StartTime time.Time
	EndTime   time.Time
	Removed   []RetentionCount
	// Failures maps a service to why its pruning failed; the next run retries it.
	Failures map[string]string
}

// RetentionCount is how many rows a service removed from one table.
type RetentionCount struct {
	Service string `json:"service"`
	Table   string `json:"table"`
	Rows    int64  `json:"rows"`
}

// Finish records the services' answers as of end: failed when any service failed.
func (r *RetentionRun) Finish(removed []RetentionCount, failures map[string]string, end time.Time) {
	r.Removed, r.Failures, r.EndTime, r.State = removed, failures, end, StateSucceeded
	if len(failures) > 0 {
		r.State = StateFailed
	}
}
