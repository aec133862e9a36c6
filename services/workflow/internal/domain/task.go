package domain

import (
	"fmt"
	"strconv"
	"time"

	"github.com/firmflow/firmflow/pkg/apierr"
)

// TaskStatus is where a task stands.
type TaskStatus string

const (
	TaskReady      TaskStatus = "ready"
	TaskInProgress TaskStatus = "in_progress"
	TaskComplete   TaskStatus = "complete"
)

// ChecklistItem is one tick box on a task.
type ChecklistItem struct {
	ID   string
	Text string
	Done bool
}

// Task is one step of a project.
type Task struct {
	ID              string
	FirmID          string
	ProjectID       string
	ClientID        string
	Position        int
	Title           string
	Description     string
	Role            string
	Status          TaskStatus
	AssigneeID      string
	DueDate         Date
	EstimateMinutes int
	Checklist       []ChecklistItem
	// FromTemplate marks tasks a template made; a template edit replaces them on
	// projects that have not started, and keeps the tasks people added by hand.
	FromTemplate bool
	CompleteTime time.Time
	// EarlierOpen says an earlier task of the project is not complete (read with
	// the task; it makes the task blocked).
	EarlierOpen bool
	Version     int64
	CreateTime  time.Time
	UpdateTime  time.Time
	DeleteTime  time.Time // set on tombstones only
}

// TaskFlags are what a task's list shows at a glance.
type TaskFlags struct {
	// UpNext: open and nothing before it is open, so it is the one to do now.
	UpNext bool
	// Overdue: open and due before today.
	Overdue bool
	// Blocked: open while an earlier task of the project is still open.
	Blocked bool
}

// Open reports whether the task still needs doing.
func (t Task) Open() bool { return t.Status != TaskComplete }

// Flags derives the task's flags on today.
func (t Task) Flags(today Date) TaskFlags {
	if !t.Open() {
		return TaskFlags{}
	}
	return TaskFlags{
		UpNext:  !t.EarlierOpen,
		Overdue: !t.DueDate.IsZero() && t.DueDate.Before(today),
		Blocked: t.EarlierOpen,
	}
}

// SetStatus moves the task to s; completing records when, reopening forgets it.
func (t *Task) SetStatus(s TaskStatus, now time.Time) error {
	switch s {
	case TaskReady, TaskInProgress:
		t.CompleteTime = time.Time{}
	case TaskComplete:
		if t.Status != TaskComplete {
			t.CompleteTime = now
		}
	default:
		return apierr.InvalidArgument("task.status", "enum", "must be ready, in_progress or complete")
	}
	t.Status = s
	return nil
}

// SetChecklist replaces the checklist. Items keep the id they were sent with; new
// items (no id) get the next free number, so clients can toggle items by id.
func (t *Task) SetChecklist(items []ChecklistItem) error {
	if len(items) > MaxChecklist {
		return apierr.InvalidArgument("task.checklist", "max_items", fmt.Sprintf("at most %d items", MaxChecklist))
	}
	next, seen := 1, map[string]bool{}
	for _, it := range items {
		if n, err := strconv.Atoi(it.ID); err == nil && n >= next {
			next = n + 1
		}
	}
	out := make([]ChecklistItem, len(items))
	for i, it := range items {
		if it.Text == "" {
			return apierr.InvalidArgument(fmt.Sprintf("task.checklist[%d].text", i), "required", "must not be empty")
		}
		if it.ID == "" {
			it.ID, next = strconv.Itoa(next), next+1
		}
		if seen[it.ID] {
			return apierr.InvalidArgument(fmt.Sprintf("task.checklist[%d].id", i), "unique", "ids must be unique")
		}
		seen[it.ID] = true
		out[i] = it
	}
	t.Checklist = out
	return nil
}

// Validate refuses a task that cannot be stored.
func (t Task) Validate() error {
	switch {
	case t.Title == "":
		return apierr.InvalidArgument("task.title", "required", "must not be empty")
	case t.EstimateMinutes < 0:
		return apierr.InvalidArgument("task.estimate_minutes", "range", "must not be negative")
	case t.Position < 0:
		return apierr.InvalidArgument("task.position", "range", "must not be negative")
	}
	return nil
}

// TaskOrder is a keyset order ListTasks offers.
type TaskOrder string

const (
	TasksByPosition   TaskOrder = "position" // within one project
	TasksByDueDate    TaskOrder = "due_date"
	TasksByUpdateTime TaskOrder = "update_time"
)

// OrDefault is o, or when unset the order a task list takes by default: by position
// within one project, by due date across projects.
func (o TaskOrder) OrDefault(projectID string) TaskOrder {
	switch {
	case o != "":
		return o
	case projectID == "":
		return TasksByDueDate
	default:
		return TasksByPosition
	}
}

// TaskFilter narrows a task list; zero fields do not filter.
type TaskFilter struct {
	ProjectID  string // empty: every project
	Status     TaskStatus
	AssigneeID string
	ClientID   string
	DueAfter   Date
	DueBefore  Date
	OpenOnly   bool
	Order      TaskOrder
	Changes    Changes
}
