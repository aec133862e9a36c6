package domain

import (
	"time"

	"github.com/firmflow/firmflow/pkg/listfilter"
)

// TombstoneRetention is how long a deleted client, contact, project or task stays
// listable (with show_deleted) before the retention run purges it.
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

// ContactOrder is an order the contact list offers.
type ContactOrder string

const (
	ContactsByCreateTime ContactOrder = "create_time"
	ContactsByUpdateTime ContactOrder = "update_time"
)

// ContactFilter narrows a contact list.
type ContactFilter struct {
	Order   ContactOrder
	Changes Changes
}
