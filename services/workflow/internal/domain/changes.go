package domain

import (
	"time"

	"github.com/firmflow/firmflow/pkg/listfilter"
)

// TombstoneRetention is how long a deleted client, contact, project, task, template,
// series or custom field stays listable (with show_deleted) before the retention run purges it.
const TombstoneRetention = 30 * 24 * time.Hour

// ExpireTime is when a tombstone deleted at deleteTime is purged; zero for a live
// object.
func ExpireTime(deleteTime time.Time) time.Time {
	if deleteTime.IsZero() {
		return time.Time{}
	}
	return deleteTime.Add(TombstoneRetention)
}

// Changes narrows a list to what changed, for integrators that sync: bounds on
// update_time (a delete moves update_time too) and whether tombstones are listed.
type Changes struct {
	UpdateTime  []listfilter.Bound
	ShowDeleted bool
}

// TimeOrder is an order of a list that offers creation order (the default) and
// update order (to sync in): contacts, templates, series and custom fields.
type TimeOrder string

const (
	ByCreateTime TimeOrder = "create_time"
	ByUpdateTime TimeOrder = "update_time"
)

// ChangeFilter narrows a list in TimeOrder to what changed.
type ChangeFilter struct {
	Order   TimeOrder
	Changes Changes
}

// SeriesFilter narrows a list of series; a zero ClientID does not filter.
type SeriesFilter struct {
	ClientID string
	ChangeFilter
}
