package domain

import (
	"fmt"
	"time"

	"github.com/firmflow/firmflow/pkg/apierr"
)

// DueAnchor is the project date a template task's offset counts from.
type DueAnchor string

const (
	AnchorStart DueAnchor = "start" // days after the project's start date
	AnchorDue   DueAnchor = "due"   // days relative to the project's due date (negative: before)
)

// TemplateTask is one step of a template, copied into every project made from it.
type TemplateTask struct {
	Title       string
	Description string
	// Role names who usually does the step ("preparer", "reviewer"); shown on the task.
	Role            string
	Anchor          DueAnchor
	OffsetDays      int
	AssigneeID      string // default assignee; empty: the project's assignee
	EstimateMinutes int
	Checklist       []string
}

// Limits on templates, so that projects stay readable.
const (
	MaxTemplateTasks = 200
	MaxChecklist     = 100
	MaxOffsetDays    = 3660
)

// Template is a reusable, versioned process. Every change that alters what new
// projects get makes a new Revision; projects remember the revision they came from.
type Template struct {
	ID            string
	FirmID        string
	DisplayName   string
	Description   string
	BudgetMinutes int
	Tasks         []TemplateTask
	Revision      int64 // also the etag version: each edit is a new revision
	CreateTime    time.Time
	UpdateTime    time.Time
	DeleteTime    time.Time // set on tombstones only
}

// Validate refuses a template whose tasks cannot be instantiated.
func (t Template) Validate() error {
	if t.DisplayName == "" {
		return apierr.InvalidArgument("template.display_name", "required", "must not be empty")
	}
	if t.BudgetMinutes < 0 {
		return apierr.InvalidArgument("template.budget_minutes", "range", "must not be negative")
	}
	if len(t.Tasks) > MaxTemplateTasks {
		return apierr.InvalidArgument("template.tasks", "max_items", fmt.Sprintf("at most %d tasks", MaxTemplateTasks))
	}
	for i, task := range t.Tasks {
		field := fmt.Sprintf("template.tasks[%d]", i)
		switch {
		case task.Title == "":
			return apierr.InvalidArgument(field+".title", "required", "must not be empty")
		case task.Anchor != AnchorStart && task.Anchor != AnchorDue:
			return apierr.InvalidArgument(field+".anchor", "enum", "must be start or due")
		case task.OffsetDays < -MaxOffsetDays || task.OffsetDays > MaxOffsetDays:
			return apierr.InvalidArgument(field+".offset_days", "range", "must be within ten years")
		case task.EstimateMinutes < 0:
			return apierr.InvalidArgument(field+".estimate_minutes", "range", "must not be negative")
		case len(task.Checklist) > MaxChecklist:
			return apierr.InvalidArgument(field+".checklist", "max_items", fmt.Sprintf("at most %d items", MaxChecklist))
		}
	}
	return nil
}

// ProjectPlan is the project-level input to instantiating a template: dates, the
// default assignee and budget.
type ProjectPlan struct {
	DisplayName   string
	AssigneeID    string
	BudgetMinutes int
	StartDate     Date
	DueDate       Date
}

// DueDateFor fills in a plan's due date when none was given: the latest task that
// counts from the start date, or the start date itself.
func (t Template) DueDateFor(plan ProjectPlan) Date {
	if !plan.DueDate.IsZero() {
		return plan.DueDate
	}
	due := plan.StartDate
	for _, task := range t.Tasks {
		if d := plan.StartDate.AddDays(task.OffsetDays); task.Anchor == AnchorStart && d.After(due) {
			due = d
		}
	}
	return due
}

// Instantiate makes the tasks of a project planned from this template: in order,
// due dates from their offsets, the template's assignee or else the project's.
// Positions start at 1; IDs are left to the caller.
func (t Template) Instantiate(plan ProjectPlan) []Task {
	due := t.DueDateFor(plan)
	tasks := make([]Task, 0, len(t.Tasks))
	for i, tt := range t.Tasks {
		anchor := plan.StartDate
		if tt.Anchor == AnchorDue {
			anchor = due
		}
		assignee := tt.AssigneeID
		if assignee == "" {
			assignee = plan.AssigneeID
		}
		checklist := make([]ChecklistItem, len(tt.Checklist))
		for j, text := range tt.Checklist {
			checklist[j] = ChecklistItem{ID: fmt.Sprintf("%d", j+1), Text: text}
		}
		tasks = append(tasks, Task{
			Position: i + 1, Title: tt.Title, Description: tt.Description, Role: tt.Role,
			Status: TaskReady, AssigneeID: assignee, DueDate: anchor.AddDays(tt.OffsetDays),
			EstimateMinutes: tt.EstimateMinutes, Checklist: checklist, FromTemplate: true,
		})
	}
	return tasks
}
