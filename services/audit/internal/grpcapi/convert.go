package grpcapi

import (
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/audit/v1"
	eventsv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/events/v1"
	"github.com/firmflow/firmflow/pkg/resource"
	"github.com/firmflow/firmflow/services/audit/chain"
	"github.com/firmflow/firmflow/services/audit/internal/domain"
)

var kinds = map[string]auditv1.AuditEventKind{
	domain.KindAccess: auditv1.AuditEventKind_AUDIT_EVENT_KIND_ACCESS,
	domain.KindChange: auditv1.AuditEventKind_AUDIT_EVENT_KIND_CHANGE,
}

func toFilter(req *auditv1.ListAuditEventsRequest) domain.Filter {
	f := domain.Filter{
		Actor: req.GetActor(), Action: req.GetAction(), Resource: req.GetResource(), Category: req.GetCategory(),
	}
	for k, v := range kinds {
		if v == req.GetKind() {
			f.Kind = k
		}
	}
	switch req.GetOutcome() {
	case auditv1.AuditOutcome_AUDIT_OUTCOME_SUCCEEDED:
		f.Outcome = domain.Succeeded
	case auditv1.AuditOutcome_AUDIT_OUTCOME_FAILED:
		f.Outcome = domain.Failed
	}
	if req.GetStartTime() != nil {
		f.Start = req.GetStartTime().AsTime()
	}
	if req.GetEndTime() != nil {
		f.End = req.GetEndTime().AsTime()
	}
	return f
}

func toAuditEvent(e *chain.Event) *auditv1.AuditEvent {
	out := &auditv1.AuditEvent{
		Name:     resource.Name("firms", e.FirmID.String(), "auditEvents", strconv.FormatInt(e.Sequence, 10)),
		Sequence: e.Sequence, EventId: e.ID.String(), Time: ts(e.Time), RecordTime: ts(e.RecordTime),
		Kind: kinds[e.Kind], Category: e.Category, Actor: e.Actor, Action: e.Action, Resources: e.Resources,
		Code: e.Code, Hash: e.Hash[:],
	}
	switch e.Kind {
	case domain.KindAccess:
		var access eventsv1.AccessEvent
		if proto.Unmarshal(e.Payload, &access) == nil {
			out.Detail = &auditv1.AuditEvent_Access{Access: &access}
		}
	case domain.KindChange:
		out.Detail = &auditv1.AuditEvent_Change{Change: &auditv1.AuditChange{Subject: e.Subject, Fields: changeFields(e.Subject, e.Payload)}}
	}
	return out
}

// changeFields shows a change event's payload as JSON when its message type is
// known. Types are named after the event: firmflow.identity.member_joined carries
// MemberJoined; events sharing a type end in their verb (api_key_created,
// api_key_revoked) and carry <Resource>Changed (ApiKeyChanged).
func changeFields(subject string, payload []byte) *structpb.Struct {
	mt := changeType(subject)
	if mt == nil {
		return nil
	}
	msg := mt.New().Interface()
	if proto.Unmarshal(payload, msg) != nil {
		return nil
	}
	raw, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(msg)
	if err != nil {
		return nil
	}
	fields := &structpb.Struct{}
	if protojson.Unmarshal(raw, fields) != nil {
		return nil
	}
	return fields
}

func changeType(subject string) protoreflect.MessageType {
	parts := strings.Split(subject, ".")
	if len(parts) != 3 || parts[0] != "firmflow" {
		return nil
	}
	words := strings.Split(parts[2], "_")
	pkg := (&eventsv1.AccessEvent{}).ProtoReflect().Descriptor().ParentFile().Package()
	for _, name := range []string{camel(words), camel(append(words[:len(words)-1:len(words)-1], "changed"))} {
		if mt, err := protoregistry.GlobalTypes.FindMessageByName(pkg.Append(protoreflect.Name(name))); err == nil {
			return mt
		}
	}
	return nil
}

func camel(words []string) string {
	var b strings.Builder
	for _, w := range words {
		if w != "" {
			b.WriteString(strings.ToUpper(w[:1]) + w[1:])
		}
	}
	return b.String()
}

func toVerifyResponse(r chain.Report) *auditv1.VerifyAuditChainResponse {
	out := &auditv1.VerifyAuditChainResponse{
		Valid: r.Valid(), EventCount: r.Events, FirstSequence: r.FirstSequence, LastSequence: r.LastSequence,
		CheckpointCount: r.Checkpoints, MoreProblems: r.MoreProblems,
	}
	if r.Latest != nil {
		out.LatestCheckpoint = toCheckpoint(*r.Latest, r.LatestSigned)
	}
	for _, p := range r.Problems {
		out.Problems = append(out.Problems, &auditv1.AuditChainProblem{Kind: string(p.Kind), Sequence: p.Sequence, Description: p.Description})
	}
	return out
}

func toCheckpoint(c chain.Checkpoint, signed string) *auditv1.AuditCheckpoint {
	return &auditv1.AuditCheckpoint{
		Name:     resource.Name("firms", c.FirmID.String(), "auditCheckpoints", strconv.FormatInt(c.Sequence, 10)),
		Sequence: c.Sequence, Hash: c.Hash[:], Time: ts(c.Time), SignedNote: signed,
	}
}

func toSettings(s domain.Settings) *auditv1.AuditSettings {
	return &auditv1.AuditSettings{Name: "firms/" + s.FirmID + "/auditSettings", RetentionDays: int32(s.RetentionDays)}
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}
