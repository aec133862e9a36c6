package domain

// DefaultWeeklyCapacityMinutes is a member's capacity until an admin sets it: 40 hours.
const DefaultWeeklyCapacityMinutes = 40 * 60

// MemberLoad is one member's open work in a week.
type MemberLoad struct {
	MemberID string
	// OpenTasks are all of the member's tasks not complete.
	OpenTasks int
	// OverdueTasks are open tasks due before the day the workload is read.
	OverdueTasks int
	// DueThisWeek are open tasks due from Monday to Sunday of the week.
	DueThisWeek int
	// PlannedMinutes are the estimates of open tasks due by the week's end
	// (overdue ones included): the work the member has to fit into this week.
	PlannedMinutes int
	// CapacityMinutes is the member's weekly capacity.
	CapacityMinutes int
}

// OverCapacity reports whether the planned work does not fit the week.
func (m MemberLoad) OverCapacity() bool { return m.PlannedMinutes > m.CapacityMinutes }

// Capacity is a member's weekly capacity as an admin set it.
type Capacity struct {
	MemberID      string
	WeeklyMinutes int
	Version       int64
}

// Membership is what workflow knows of a member id from identity's events.
type Membership int

const (
	// MembershipUnknown: no event about the id has arrived (yet).
	MembershipUnknown Membership = iota
	// MembershipActive: the member joined the firm and was not removed.
	MembershipActive
	// MembershipRemoved: the member left the firm; identity never reuses the id.
	MembershipRemoved
)
