package domain

import (
	"time"

	"github.com/firmflow/firmflow/pkg/apierr"
)

// ProjectStatus is where a project stands; it is derived from its tasks, never set.
type ProjectStatus string

const (
	ProjectNotStarted ProjectStatus = "not_started"
	ProjectInProgress ProjectStatus = "in_progress"
	ProjectCompleted  ProjectStatus = "completed"
)

// Project is a piece of work for a client: a template applied to it, or built ad hoc.
type Project struct {
	ID               string
	FirmID           string
	ClientID         string
	DisplayName      string
	Description      string
	Status           ProjectStatus
	StartDate        Date
	DueDate          Date
	DeadlineDate     Date // statutory deadline, shown beside the firm's own due date
	AssigneeID       string
	BudgetMinutes    int
	Tags             []string
	TemplateID       string // empty for ad hoc projects
	TemplateRevision int64
	SeriesID         string // set when a series created it
	PeriodStart      Date
	TaskCount        int
	CompletedTasks   int
	Version          int64
	CreateTime       time.Time
	UpdateTime       time.Time
	DeleteTime       time.Time // set on tombstones only
}

// TaskTally counts a project's tasks by status.
type TaskTally struct {
	Ready, InProgress, Complete int
}

// Total is the number of tasks.
func (c TaskTally) Total() int { return c.Ready + c.InProgress + c.Complete }

// DeriveStatus is a project's status from its tasks: completed when every task is
// complete, in progress once any task has started or finished, else not started. A
// project without tasks has not started.
func DeriveStatus(c TaskTally) ProjectStatus {
	switch {
	case c.Total() > 0 && c.Complete == c.Total():
		return ProjectCompleted
	case c.InProgress > 0 || c.Complete > 0:
		return ProjectInProgress
	}
	return ProjectNotStarted
}

// Replannable reports whether a change to the project's template or series may
// rewrite it: only work that has not started is ever touched.
func (p Project) Replannable() bool { return p.Status == ProjectNotStarted }

// Validate refuses a project that cannot be stored.
func (p Project) Validate() error {
	switch {
	case p.DisplayName == "":
		return apierr.InvalidArgument("project.display_name", "required", "must not be empty")
	case p.ClientID == "":
		return apierr.InvalidArgument("project.client", "required", "must name a client")
	case p.BudgetMinutes < 0:
		return apierr.InvalidArgument("project.budget_minutes", "range", "must not be negative")
	case !p.DueDate.IsZero() && !p.StartDate.IsZero() && p.DueDate.Before(p.StartDate):
		return apierr.InvalidArgument("project.due_date", "after_start", "must not be before start_date")
	}
	return nil
}

// ApplyPlan sets the fields a template or series decides.
func (p *Project) ApplyPlan(plan ProjectPlan) {
	p.DisplayName, p.AssigneeID, p.BudgetMinutes = plan.DisplayName, plan.AssigneeID, plan.BudgetMinutes
	p.StartDate, p.DueDate = plan.StartDate, plan.DueDate
}

// ProjectOrder is a keyset order ListProjects offers.
type ProjectOrder string

const (
	ProjectsByCreateTime     ProjectOrder = "create_time"
	ProjectsByCreateTimeDesc ProjectOrder = "create_time desc"
	ProjectsByDueDate        ProjectOrder = "due_date"
	ProjectsByDueDateDesc    ProjectOrder = "due_date desc"
	ProjectsByUpdateTime     ProjectOrder = "update_time"
)

// OrDefault is o, or creation order when unset.
func (o ProjectOrder) OrDefault() ProjectOrder {
	if o == "" {
		return ProjectsByCreateTime
	}
	return o
}

// ProjectFilter narrows a project list; zero fields do not filter.
type ProjectFilter struct {
	ClientID   string
	AssigneeID string
	Status     ProjectStatus
	Tag        string
	DueAfter   Date
	DueBefore  Date
	Order      ProjectOrder
	Changes    Changes
}
