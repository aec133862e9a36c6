// Package peers adapts the other services' gRPC clients and JetStream to the small
// interfaces lifecycle's use cases declare: FirmDataService on every service that
// holds firm data, identity's ClosureService, audit's IncidentEvidenceService, and the
// streams' retention.
package peers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/audit/v1"
	identityv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/identity/v1"
	lifecyclev1 "github.com/firmflow/firmflow/pkg/gen/firmflow/lifecycle/v1"
	"github.com/firmflow/firmflow/pkg/outbox"
	"github.com/firmflow/firmflow/services/lifecycle/internal/app"
	"github.com/firmflow/firmflow/services/lifecycle/internal/domain"
)

// FirmData calls one service's FirmDataService.
type FirmData struct {
	client lifecyclev1.FirmDataServiceClient
}

// NewFirmData wraps a connection to a service that implements FirmDataService.
func NewFirmData(conn grpc.ClientConnInterface) *FirmData {
	return &FirmData{client: lifecyclev1.NewFirmDataServiceClient(conn)}
}

// Export streams the firm's batches to emit.
func (f *FirmData) Export(ctx context.Context, firmID string, emit func(app.Batch) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := f.client.ExportFirmData(ctx, &lifecyclev1.ExportFirmDataRequest{Firm: "firms/" + firmID})
	if err != nil {
		return err
	}
	for {
		b, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := emit(app.Batch{Entity: b.GetEntity(), SchemaVersion: b.GetSchemaVersion(), Rows: b.GetRows()}); err != nil {
			return err
		}
	}
}

// Delete deletes the firm's rows in the service.
func (f *FirmData) Delete(ctx context.Context, firmID, deletion string) (app.Deleted, error) {
	res, err := f.client.DeleteFirmData(ctx, &lifecyclev1.DeleteFirmDataRequest{Firm: "firms/" + firmID, Deletion: deletion})
	if err != nil {
		return app.Deleted{}, err
	}
	return app.Deleted{Tables: counts(res.GetDeleted()), Facts: res.GetFacts()}, nil
}

// Count counts the firm's rows in every table of the service.
func (f *FirmData) Count(ctx context.Context, firmID string) ([]domain.TableCount, error) {
	res, err := f.client.CountFirmRows(ctx, &lifecyclev1.CountFirmRowsRequest{Firm: "firms/" + firmID})
	if err != nil {
		return nil, err
	}
	return counts(res.GetTables()), nil
}

// Prune asks the service to remove what has served its purpose as of now.
func (f *FirmData) Prune(ctx context.Context, now time.Time, run string) ([]domain.TableCount, error) {
	res, err := f.client.Prune(ctx, &lifecyclev1.PruneRequest{Now: timestamppb.New(now), Run: run})
	if err != nil {
		return nil, err
	}
	return counts(res.GetPruned()), nil
}

func counts(in []*lifecyclev1.TableCount) []domain.TableCount {
	out := make([]domain.TableCount, 0, len(in))
	for _, t := range in {
		out = append(out, domain.TableCount{Table: t.GetTable(), Rows: t.GetRows()})
	}
	return out
}

// Identity calls identity's ClosureService.
type Identity struct {
	client identityv1.ClosureServiceClient
}

// NewIdentity wraps a connection to identity.
func NewIdentity(conn grpc.ClientConnInterface) *Identity {
	return &Identity{client: identityv1.NewClosureServiceClient(conn)}
}

// VerifyOwnerCredentials asks identity to check the owner's password and TOTP code.
func (i *Identity) VerifyOwnerCredentials(ctx context.Context, firmID, userID, password, totpCode string) error {
	_, err := i.client.VerifyOwnerCredentials(ctx, &identityv1.VerifyOwnerCredentialsRequest{
		Firm: "firms/" + firmID, User: "users/" + userID, Password: password, TotpCode: totpCode,
	})
	return err
}

// SetDeletionScheduled sets or clears the firm's read-only mark.
func (i *Identity) SetDeletionScheduled(ctx context.Context, firmID string, scheduled bool) error {
	_, err := i.client.SetFirmDeletionScheduled(ctx, &identityv1.SetFirmDeletionScheduledRequest{Firm: "firms/" + firmID, Scheduled: scheduled})
	return err
}

// PostIncidentNotification adds an incident's notice to the firm's notifications and
// queues its emails; it reports whether emails are queued.
func (i *Identity) PostIncidentNotification(ctx context.Context, firmID, incidentID, text string) (bool, error) {
	res, err := i.client.PostIncidentNotification(ctx, &identityv1.PostIncidentNotificationRequest{
		Firm: "firms/" + firmID, Incident: "incidents/" + incidentID, Text: text,
	})
	return res.GetEmailQueued(), err
}

// ContainIncident revokes the API keys and ends the members' sessions.
func (i *Identity) ContainIncident(ctx context.Context, incidentID string, apiKeys, members []string) (int, int, error) {
	res, err := i.client.ContainIncident(ctx, &identityv1.ContainIncidentRequest{
		Incident: "incidents/" + incidentID, ApiKeys: apiKeys, Members: members,
	})
	if err != nil {
		return 0, 0, err
	}
	return int(res.GetRevokedApiKeys()), int(res.GetEndedSessions()), nil
}

// Streams purges a firm's messages from every JetStream stream and reads the
// streams' retention.
type Streams struct {
	js jetstream.JetStream
}

// NewStreams covers every stream of the JetStream account.
func NewStreams(js jetstream.JetStream) *Streams {
	return &Streams{js: js}
}

// scanBatch is how many messages' headers the scan asks for at a time; scanWait
// bounds the wait for the next one.
const (
	scanBatch = 1000
	scanWait  = 10 * time.Second
)

// Purge removes, from every stream of the account, each message that names the firm
// and no other (outbox.HeaderFirmID: every service's events and the gateway's lone
// access events name one firm, an access batch names each firm it holds), then
// scans again and fails if any such message is left. A deleted message is gone from
// the stream at once (no consumer or read gets it); its bytes stay in the server's
// block file until the block ages out, within the maximum age: JetStream's secure
// delete, which overwrites them, rewrites the block and costs some 16 ms a message
// against 0.05 ms (BenchmarkPurge), minutes for a busy firm. Subjects name the service and event, never the firm, so the
// scan reads every message's headers (never the payloads). Messages that also name
// other firms (access batches shared by concurrent requests) cannot be removed
// without losing the others' records: they are counted and left to the stream's
// maximum age, which gives each stream's date. A stream without a maximum age is
// reported unbounded.
func (s *Streams) Purge(ctx context.Context, firmID string, now time.Time) ([]domain.StreamHorizon, error) {
	var out []domain.StreamHorizon
	names := s.js.StreamNames(ctx)
	for name := range names.Name() {
		stream, err := s.js.Stream(ctx, name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			continue // deleted since it was listed: it holds nothing
		}
		if err != nil {
			return nil, err
		}
		alone, _, err := scanStream(ctx, stream, firmID)
		if err != nil {
			return nil, fmt.Errorf("scan stream %s: %w", name, err)
		}
		for _, seq := range alone {
			if err := stream.DeleteMsg(ctx, seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
				return nil, fmt.Errorf("purge message %d of stream %s: %w", seq, name, err)
			}
		}
		left, shared, err := scanStream(ctx, stream, firmID)
		if err != nil {
			return nil, fmt.Errorf("scan stream %s: %w", name, err)
		}
		if len(left) > 0 {
			return nil, fmt.Errorf("stream %s still holds %d messages of the firm after the purge", name, len(left))
		}
		h := domain.StreamHorizon{Stream: name, Purged: true, PurgedMessages: int64(len(alone)), SharedMessages: shared}
		if maxAge := stream.CachedInfo().Config.MaxAge; maxAge > 0 {
			h.MaxAge, h.ClearAfter = maxAge.String(), now.Add(maxAge)
		} else {
			h.Unbounded = true
		}
		out = append(out, h)
	}
	if err := names.Err(); err != nil {
		return nil, fmt.Errorf("list streams: %w", err)
	}
	return out, nil
}

// scanStream reads the headers of every message of the stream, from the first to the
// last at the time of the scan, and returns the sequences of those naming only the
// firm and the number naming it beside other firms.
func scanStream(ctx context.Context, stream jetstream.Stream, firmID string) (alone []uint64, shared int64, err error) {
	info, err := stream.Info(ctx)
	if err != nil {
		return nil, 0, err
	}
	if info.State.Msgs == 0 {
		return nil, 0, nil
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{HeadersOnly: true, DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return nil, 0, err
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(scanBatch))
	if err != nil {
		return nil, 0, err
	}
	defer it.Stop()
	for {
		// A stream emptied since its Info delivers nothing: the wait ends the scan
		// with an error, and the step is tried again.
		msg, err := it.Next(jetstream.NextMaxWait(scanWait))
		if err != nil {
			return nil, 0, err
		}
		md, err := msg.Metadata()
		if err != nil {
			return nil, 0, err
		}
		if firms := msg.Headers().Values(outbox.HeaderFirmID); slices.Contains(firms, firmID) {
			if allEqual(firms, firmID) {
				alone = append(alone, md.Sequence.Stream)
			} else {
				shared++
			}
		}
		if md.NumPending == 0 {
			return alone, shared, nil
		}
	}
}

func allEqual(values []string, v string) bool {
	for _, x := range values {
		if x != v {
			return false
		}
	}
	return true
}

// AccessLog calls audit's IncidentEvidenceService for the impact analysis.
type AccessLog struct {
	client auditv1.IncidentEvidenceServiceClient
}

// NewAccessLog wraps a connection to audit.
func NewAccessLog(conn grpc.ClientConnInterface) *AccessLog {
	return &AccessLog{client: auditv1.NewIncidentEvidenceServiceClient(conn)}
}

// AccessEvents reads the access events of the window that the scope may have made.
func (l *AccessLog) AccessEvents(ctx context.Context, window domain.Window, scope domain.Scope) ([]domain.AccessEvent, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req := &auditv1.ListAccessEventsAcrossFirmsRequest{
		StartTime: timestamppb.New(window.Start), EndTime: timestamppb.New(window.End), Actors: scope.Principals,
	}
	for _, n := range scope.Networks {
		req.Networks = append(req.Networks, n.String())
	}
	for _, f := range scope.Firms {
		req.Firms = append(req.Firms, "firms/"+f)
	}
	stream, err := l.client.ListAccessEventsAcrossFirms(ctx, req)
	if err != nil {
		return nil, err
	}
	var out []domain.AccessEvent
	for {
		e, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, domain.AccessEvent{
			FirmID: strings.TrimPrefix(e.GetFirm(), "firms/"), Sequence: e.GetSequence(), Time: e.GetTime().AsTime(),
			Actor: e.GetActor(), ClientIP: e.GetClientIp(), Resources: e.GetResources(),
		})
	}
}

// UnknownActors answers those of actors the audit log never saw.
func (l *AccessLog) UnknownActors(ctx context.Context, actors []string) ([]string, error) {
	res, err := l.client.FindUnknownActors(ctx, &auditv1.FindUnknownActorsRequest{Actors: actors})
	if err != nil {
		return nil, err
	}
	return res.GetActors(), nil
}
