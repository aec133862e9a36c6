package domain

import (
	"testing"
	"time"
)

func TestProjectStatusIsDerivedFromTasks(t *testing.T) {
	cases := []struct {
		name  string
		tally TaskTally
		want  ProjectStatus
	}{
		{"no tasks", TaskTally{}, ProjectNotStarted},
		{"all ready", TaskTally{Ready: 3}, ProjectNotStarted},
		{"one in progress", TaskTally{Ready: 2, InProgress: 1}, ProjectInProgress},
		{"one complete", TaskTally{Ready: 2, Complete: 1}, ProjectInProgress},
		{"all complete", TaskTally{Complete: 3}, ProjectCompleted},
		{"last one reopened", TaskTally{Complete: 2, Ready: 1}, ProjectInProgress},
	}
	for _, tc := range cases {
		if got := DeriveStatus(tc.tally); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestOnlyNotStartedProjectsAreReplanned(t *testing.T) {
	for status, want := range map[ProjectStatus]bool{
		ProjectNotStarted: true, ProjectInProgress: false, ProjectCompleted: false,
	} {
		if got := (Project{Status: status}).Replannable(); got != want {
			t.Errorf("%s replannable = %v, want %v", status, got, want)
		}
	}
}

func TestTemplateInstantiatesTasksWithDueDatesFromOffsets(t *testing.T) {
	tmpl := Template{DisplayName: "Monthly close", Tasks: []TemplateTask{
		{Title: "Collect statements", Anchor: AnchorStart, OffsetDays: 2, Checklist: []string{"bank", "card"}},
		{Title: "Reconcile", Anchor: AnchorStart, OffsetDays: 10, Role: "preparer", EstimateMinutes: 90},
		{Title: "Review", Anchor: AnchorDue, OffsetDays: -1, AssigneeID: "reviewer"},
		{Title: "Send report", Anchor: AnchorDue, OffsetDays: 0},
	}}
	if err := tmpl.Validate(); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		plan     ProjectPlan
		wantDue  []string
		wantProj string
	}{
		{"with a due date", ProjectPlan{AssigneeID: "lead", StartDate: MustDate("2026-02-01"), DueDate: MustDate("2026-02-20")},
			[]string{"2026-02-03", "2026-02-11", "2026-02-19", "2026-02-20"}, "2026-02-20"},
		{"due date from the latest start offset", ProjectPlan{AssigneeID: "lead", StartDate: MustDate("2026-02-25")},
			[]string{"2026-02-27", "2026-03-07", "2026-03-06", "2026-03-07"}, "2026-03-07"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tmpl.DueDateFor(tc.plan).String(); got != tc.wantProj {
				t.Errorf("project due %s, want %s", got, tc.wantProj)
			}
			tasks := tmpl.Instantiate(tc.plan)
			if len(tasks) != len(tc.wantDue) {
				t.Fatalf("%d tasks", len(tasks))
			}
			for i, task := range tasks {
				if task.DueDate.String() != tc.wantDue[i] || task.Position != i+1 || task.Status != TaskReady || !task.FromTemplate {
					t.Errorf("task %d = %+v, want due %s at position %d", i, task, tc.wantDue[i], i+1)
				}
			}
			if tasks[0].AssigneeID != "lead" || tasks[2].AssigneeID != "reviewer" {
				t.Errorf("assignees %q, %q: want the project's unless the template names one", tasks[0].AssigneeID, tasks[2].AssigneeID)
			}
			if len(tasks[0].Checklist) != 2 || tasks[0].Checklist[1] != (ChecklistItem{ID: "2", Text: "card"}) {
				t.Errorf("checklist %+v", tasks[0].Checklist)
			}
			if tasks[1].Role != "preparer" || tasks[1].EstimateMinutes != 90 {
				t.Errorf("task 1 lost role or estimate: %+v", tasks[1])
			}
		})
	}
}

func TestTemplateRefusesUnusableTasks(t *testing.T) {
	cases := map[string]TemplateTask{
		"no title":          {Anchor: AnchorStart},
		"unknown anchor":    {Title: "x", Anchor: "sometime"},
		"offset too far":    {Title: "x", Anchor: AnchorStart, OffsetDays: 99999},
		"negative estimate": {Title: "x", Anchor: AnchorStart, EstimateMinutes: -5},
	}
	for name, task := range cases {
		if (Template{DisplayName: "t", Tasks: []TemplateTask{task}}).Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if (Template{}).Validate() == nil {
		t.Error("template without a name accepted")
	}
}

func TestTaskFlags(t *testing.T) {
	today := MustDate("2026-03-10")
	cases := []struct {
		name string
		task Task
		want TaskFlags
	}{
		{"first open task is up next", Task{Status: TaskReady, DueDate: MustDate("2026-03-12")}, TaskFlags{UpNext: true}},
		{"behind an open task it is blocked", Task{Status: TaskReady, EarlierOpen: true}, TaskFlags{Blocked: true}},
		{"due yesterday and open is overdue", Task{Status: TaskInProgress, DueDate: MustDate("2026-03-09")}, TaskFlags{UpNext: true, Overdue: true}},
		{"due today is not overdue", Task{Status: TaskReady, DueDate: today}, TaskFlags{UpNext: true}},
		{"complete has no flags", Task{Status: TaskComplete, DueDate: MustDate("2026-01-01"), EarlierOpen: true}, TaskFlags{}},
	}
	for _, tc := range cases {
		if got := tc.task.Flags(today); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestTaskCompletionRecordsWhen(t *testing.T) {
	now := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
	task := Task{Status: TaskReady}
	if err := task.SetStatus(TaskComplete, now); err != nil || !task.CompleteTime.Equal(now) {
		t.Fatalf("complete: %v %v", err, task.CompleteTime)
	}
	if err := task.SetStatus(TaskComplete, now.Add(time.Hour)); err != nil || !task.CompleteTime.Equal(now) {
		t.Errorf("completing again moved the completion time to %v", task.CompleteTime)
	}
	if err := task.SetStatus(TaskInProgress, now); err != nil || !task.CompleteTime.IsZero() {
		t.Errorf("reopening kept the completion time %v", task.CompleteTime)
	}
	if task.SetStatus("archived", now) == nil {
		t.Error("unknown status accepted")
	}
}

func TestChecklistKeepsIdsAndNumbersNewItems(t *testing.T) {
	task := Task{}
	err := task.SetChecklist([]ChecklistItem{{ID: "1", Text: "bank", Done: true}, {Text: "card"}, {ID: "7", Text: "loan"}, {Text: "cash"}})
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{}
	for _, it := range task.Checklist {
		ids = append(ids, it.ID)
	}
	if want := []string{"1", "8", "7", "9"}; len(ids) != 4 || ids[0] != want[0] || ids[1] != want[1] || ids[2] != want[2] || ids[3] != want[3] {
		t.Errorf("ids %v, want %v", ids, want)
	}
	if !task.Checklist[0].Done {
		t.Error("done flag lost")
	}
	if task.SetChecklist([]ChecklistItem{{ID: "1", Text: "a"}, {ID: "1", Text: "b"}}) == nil {
		t.Error("duplicate ids accepted")
	}
	if task.SetChecklist([]ChecklistItem{{Text: ""}}) == nil {
		t.Error("empty item accepted")
	}
}
