package grpcapi

import (
	"context"
	"time"

	"google.golang.org/protobuf/types/known/emptypb"

	workflowv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/workflow/v1"
	"github.com/firmflow/firmflow/pkg/paging"
	"github.com/firmflow/firmflow/pkg/resource"
	"github.com/firmflow/firmflow/services/workflow/internal/app"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
)

func (s *seriesServer) CreateSeries(ctx context.Context, req *workflowv1.CreateSeriesRequest) (*workflowv1.Series, error) {
	ids, err := resource.Parse("parent", req.GetParent(), firmPattern)
	if err != nil {
		return nil, err
	}
	firmID, in := ids[0], req.GetSeries()
	series := domain.Series{DisplayName: in.GetDisplayName(), BudgetMinutes: int(in.GetBudgetMinutes()), Paused: in.GetPaused()}
	r := &series.Recurrence
	r.Frequency, r.Interval, r.CreateAheadDays = fromProto(frequencyToProto, in.GetFrequency()), max(int(in.GetInterval()), 1), int(in.GetCreateAheadDays())
	r.Due = dueRuleFromProto(in.GetDueRule())
	r.Due.Shift = fromProto(shiftToProto, in.GetWeekendShift())
	if series.ClientID, err = referenceID("series.client", in.GetClient(), firmID, "clients"); err != nil {
		return nil, err
	}
	if series.TemplateID, err = referenceID("series.template", in.GetTemplate(), firmID, "templates"); err != nil {
		return nil, err
	}
	if series.AssigneeID, err = referenceID("series.assignee", in.GetAssignee(), firmID, "members"); err != nil {
		return nil, err
	}
	if r.Start, err = workDate("series.start_date", in.GetStartDate()); err != nil {
		return nil, err
	}
	if r.End, err = workDate("series.end_date", in.GetEndDate()); err != nil {
		return nil, err
	}
	series, err = s.app.CreateSeries(ctx, caller(ctx), firmID, series, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return toSeries(series), nil
}

func (s *seriesServer) GetSeries(ctx context.Context, req *workflowv1.GetSeriesRequest) (*workflowv1.Series, error) {
	ids, err := resource.Parse("name", req.GetName(), seriesPattern)
	if err != nil {
		return nil, err
	}
	series, err := s.app.Series(ctx, caller(ctx), ids[0], ids[1])
	if err != nil {
		return nil, err
	}
	return toSeries(series), nil
}

func (s *seriesServer) ListSeries(ctx context.Context, req *workflowv1.ListSeriesRequest) (*workflowv1.ListSeriesResponse, error) {
	ids, err := resource.Parse("parent", req.GetParent(), firmPattern)
	if err != nil {
		return nil, err
	}
	cf, lf, err := changeFilter(req.GetFilter(), req.GetShowDeleted(), req.GetOrderBy(), seriesListFields)
	if err != nil {
		return nil, err
	}
	client, err := lf.Merge("client", req.GetClient())
	if err != nil {
		return nil, err
	}
	f := domain.SeriesFilter{ChangeFilter: cf}
	if f.ClientID, err = referenceID("client", client, ids[0], "clients"); err != nil {
		return nil, err
	}
	filter := listFilter("series", req.GetParent(), client, f.Order, lf, f.Changes.ShowDeleted)
	page, err := paging.Request(req.GetPageSize(), req.GetPageToken(), filter)
	if err != nil {
		return nil, err
	}
	list, next, err := s.app.SeriesList(ctx, caller(ctx), ids[0], f, page)
	if err != nil {
		return nil, err
	}
	out := &workflowv1.ListSeriesResponse{}
	for _, series := range list {
		out.Series = append(out.Series, toSeries(series))
	}
	out.NextPageToken = nextPageToken(next, filter)
	return out, nil
}

func (s *seriesServer) UpdateSeries(ctx context.Context, req *workflowv1.UpdateSeriesRequest) (*workflowv1.Series, error) {
	in := req.GetSeries()
	ids, err := resource.Parse("series.name", in.GetName(), seriesPattern)
	if err != nil {
		return nil, err
	}
	firmID := ids[0]
	patch := app.SeriesPatch{Etag: in.GetEtag()}
	for _, path := range req.GetUpdateMask().GetPaths() {
		switch path {
		case "display_name":
			patch.DisplayName = &in.DisplayName
		case "template":
			id, err := referenceID("series.template", in.GetTemplate(), firmID, "templates")
			if err != nil {
				return nil, err
			}
			patch.TemplateID = &id
		case "assignee":
			id, err := referenceID("series.assignee", in.GetAssignee(), firmID, "members")
			if err != nil {
				return nil, err
			}
			patch.AssigneeID = &id
		case "budget_minutes":
			minutes := int(in.GetBudgetMinutes())
			patch.BudgetMinutes = &minutes
		case "frequency":
			f := fromProto(frequencyToProto, in.GetFrequency())
			patch.Frequency = &f
		case "interval":
			n := max(int(in.GetInterval()), 1)
			patch.Interval = &n
		case "start_date":
			if patch.StartDate, err = datePatch("series.start_date", in.GetStartDate()); err != nil {
				return nil, err
			}
		case "end_date":
			if patch.EndDate, err = datePatch("series.end_date", in.GetEndDate()); err != nil {
				return nil, err
			}
		case "due_rule":
			rule := dueRuleFromProto(in.GetDueRule())
			patch.DueRule = &rule
		case "weekend_shift":
			shift := fromProto(shiftToProto, in.GetWeekendShift())
			patch.WeekendShift = &shift
		case "create_ahead_days":
			days := int(in.GetCreateAheadDays())
			patch.CreateAheadDays = &days
		case "paused":
			patch.Paused = &in.Paused
		default:
			return nil, unknownPath(path, "display_name, template, assignee, budget_minutes, frequency, interval, start_date, "+
				"end_date, due_rule, weekend_shift, create_ahead_days and paused")
		}
	}
	series, err := s.app.UpdateSeries(ctx, caller(ctx), firmID, ids[1], patch)
	if err != nil {
		return nil, err
	}
	return toSeries(series), nil
}

func (s *seriesServer) DeleteSeries(ctx context.Context, req *workflowv1.DeleteSeriesRequest) (*emptypb.Empty, error) {
	ids, err := resource.Parse("name", req.GetName(), seriesPattern)
	if err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, s.app.DeleteSeries(ctx, caller(ctx), ids[0], ids[1], req.GetEtag())
}

func (s *seriesServer) RunSeries(ctx context.Context, req *workflowv1.RunSeriesRequest) (*workflowv1.RunSeriesResponse, error) {
	ids, err := resource.Parse("name", req.GetName(), seriesPattern)
	if err != nil {
		return nil, err
	}
	created, next, err := s.app.RunSeries(ctx, caller(ctx), ids[0], ids[1])
	if err != nil {
		return nil, err
	}
	out := &workflowv1.RunSeriesResponse{NextRunDate: next.String()}
	for _, p := range created {
		out.CreatedProjects = append(out.CreatedProjects, resource.Name("firms", p.FirmID, "projects", p.ID))
	}
	return out, nil
}

// weekdays maps the API's Monday-first days to time.Weekday.
var weekdays = map[workflowv1.DayOfWeek]time.Weekday{
	workflowv1.DayOfWeek_DAY_OF_WEEK_MONDAY: time.Monday, workflowv1.DayOfWeek_DAY_OF_WEEK_TUESDAY: time.Tuesday,
	workflowv1.DayOfWeek_DAY_OF_WEEK_WEDNESDAY: time.Wednesday, workflowv1.DayOfWeek_DAY_OF_WEEK_THURSDAY: time.Thursday,
	workflowv1.DayOfWeek_DAY_OF_WEEK_FRIDAY: time.Friday, workflowv1.DayOfWeek_DAY_OF_WEEK_SATURDAY: time.Saturday,
	workflowv1.DayOfWeek_DAY_OF_WEEK_SUNDAY: time.Sunday,
}

func dueRuleFromProto(in *workflowv1.DueRule) domain.DueRule {
	rule := domain.DueRule{
		Kind: fromProto(dueKindToProto, in.GetKind()), Day: int(in.GetDay()), Nth: int(in.GetNth()), LagDays: int(in.GetLagDays()),
	}
	rule.Weekday = -1 // unset: refused by validation for nth_weekday rules
	if wd, ok := weekdays[in.GetWeekday()]; ok {
		rule.Weekday = wd
	}
	if rule.Kind != domain.DueNthWeekday {
		rule.Weekday = 0
	}
	return rule
}

func toSeries(s domain.Series) *workflowv1.Series {
	r := s.Recurrence
	rule := &workflowv1.DueRule{Kind: dueKindToProto[r.Due.Kind], Day: int32(r.Due.Day), Nth: int32(r.Due.Nth), LagDays: int32(r.Due.LagDays)}
	if r.Due.Kind == domain.DueNthWeekday {
		rule.Weekday = fromProto(weekdays, r.Due.Weekday)
	}
	shift := r.Due.Shift
	if shift == "" {
		shift = domain.ShiftNone
	}
	if !s.DeleteTime.IsZero() {
		// A tombstone: what identifies it, and its times.
		return &workflowv1.Series{
			Name: resource.Name("firms", s.FirmID, "series", s.ID), DisplayName: s.DisplayName,
			Client: refName(s.FirmID, "clients", s.ClientID), Template: refName(s.FirmID, "templates", s.TemplateID),
			CreateTime: ts(s.CreateTime), UpdateTime: ts(s.UpdateTime), Etag: app.Etag(s.Version),
			DeleteTime: ts(s.DeleteTime), ExpireTime: ts(domain.ExpireTime(s.DeleteTime)),
		}
	}
	return &workflowv1.Series{
		Name: resource.Name("firms", s.FirmID, "series", s.ID), DisplayName: s.DisplayName,
		Client: refName(s.FirmID, "clients", s.ClientID), Template: refName(s.FirmID, "templates", s.TemplateID),
		Assignee: refName(s.FirmID, "members", s.AssigneeID), BudgetMinutes: int32(s.BudgetMinutes),
		Frequency: frequencyToProto[r.Frequency], Interval: int32(r.Interval), StartDate: r.Start.String(), EndDate: r.End.String(),
		DueRule: rule, WeekendShift: shiftToProto[shift], CreateAheadDays: int32(r.CreateAheadDays), Paused: s.Paused,
		NextRunDate: s.NextRunDate.String(), CreateTime: ts(s.CreateTime), UpdateTime: ts(s.UpdateTime), Etag: app.Etag(s.Version),
	}
}
