package app

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/firmflow/firmflow/pkg/apierr"
	eventsv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/events/v1"
	"github.com/firmflow/firmflow/services/audit/internal/store"
)

// Evidence is one access event an incident's scope matched.
type Evidence struct {
	FirmID    string
	Sequence  int64
	Time      time.Time
	Actor     string
	ClientIP  string
	Resources []string
}

// IncidentEvidence streams to emit every access event across firms in [start, end)
// made by one of actors, from one of networks (CIDR), or in one of firms (firms/{id}).
// Only lifecycle calls it (its policy names lifecycle's certificate).
func (a *App) IncidentEvidence(ctx context.Context, start, end time.Time, actors, networks, firms []string, emit func(Evidence) error) error {
	if !end.After(start) {
		return apierr.InvalidArgument("end_time", "after_start", "the window must end after it starts")
	}
	prefixes := make([]netip.Prefix, 0, len(networks))
	for _, n := range networks {
		p, err := netip.ParsePrefix(n)
		if err != nil {
			return apierr.InvalidArgument("networks", "cidr", fmt.Sprintf("%q is not a CIDR range", n))
		}
		prefixes = append(prefixes, p.Masked())
	}
	firmIDs := make([]uuid.UUID, 0, len(firms))
	for _, f := range firms {
		id, err := uuid.Parse(strings.TrimPrefix(f, "firms/"))
		if err != nil || !strings.HasPrefix(f, "firms/") {
			return apierr.InvalidArgument("firms", "firm", fmt.Sprintf("%q is not firms/{id}", f))
		}
		firmIDs = append(firmIDs, id)
	}
	return a.store.IncidentAccessEvents(ctx, start, end, actors, firmIDs, len(prefixes) > 0, func(r store.EvidenceRow) error {
		var access eventsv1.AccessEvent
		_ = proto.Unmarshal(r.Payload, &access) // an undecodable payload has no address; actor and firm still match
		if !slices.Contains(actors, r.Actor) && !slices.Contains(firmIDs, r.FirmID) && !inAny(prefixes, access.GetClientIp()) {
			return nil
		}
		return emit(Evidence{FirmID: r.FirmID.String(), Sequence: r.Sequence, Time: r.Time, Actor: r.Actor,
			ClientIP: access.GetClientIp(), Resources: r.Resources})
	})
}

func inAny(prefixes []netip.Prefix, ip string) bool {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	addr = addr.Unmap()
	for _, p := range prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// UnknownActors answers those of actors the log holds no event of.
func (a *App) UnknownActors(ctx context.Context, actors []string) ([]string, error) {
	return a.store.UnknownActors(ctx, actors)
}
