package app_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/events/v1"
	"github.com/firmflow/firmflow/services/audit/chain"
	"github.com/firmflow/firmflow/services/audit/internal/app"
	"github.com/firmflow/firmflow/services/audit/internal/audittest"
	"github.com/firmflow/firmflow/services/audit/internal/domain"
)

// A seeded log with a known answer: the attacker's requests (a leaked API key, and
// anything from the attacker's network) among decoys: the same key and the same
// addresses just outside the window, and other principals from other addresses in it.
func TestIncidentEvidencePrecisionAndRecallOnSeededLog(t *testing.T) {
	t.Parallel()
	f := audittest.New(t)
	ctx := context.Background()
	start := time.Now().UTC().Truncate(time.Hour).Add(-6 * time.Hour)
	end := start.Add(2 * time.Hour)
	firms := []string{uuid.NewString(), uuid.NewString(), uuid.NewString()}
	leaked, other := "apiKeys/"+uuid.NewString(), "users/"+uuid.NewString()

	type seed struct {
		firm     int
		actor    string
		ip       string
		at       time.Time
		attacker bool
	}
	seeds := []seed{
		{0, leaked, "198.51.100.7", start, true},
		{0, leaked, "198.51.100.7", end.Add(-time.Millisecond), true},
		{1, other, "203.0.113.40", start.Add(time.Hour), true},
		{2, other, "::ffff:203.0.113.41", start.Add(30 * time.Minute), true},
		{0, leaked, "198.51.100.7", start.Add(-time.Millisecond), false},
		{1, leaked, "203.0.113.40", end, false},
		{1, other, "203.0.114.40", start.Add(time.Hour), false},
		{2, "users/" + uuid.NewString(), "192.0.2.9", start.Add(time.Hour), false},
	}
	var batch []chain.Event
	want := map[string]bool{}
	for i, s := range seeds {
		resource := fmt.Sprintf("firms/%s/clients/%s", firms[s.firm], uuid.NewString())
		payload, err := proto.Marshal(&eventsv1.AccessEvent{ClientIp: s.ip, Actor: s.actor, Firm: "firms/" + firms[s.firm]})
		if err != nil {
			t.Fatal(err)
		}
		batch = append(batch, domain.Access{
			EventID: uuid.NewString(), Firm: "firms/" + firms[s.firm], Actor: s.actor, Category: "general",
			RPCMethod: fmt.Sprintf("/firmflow.workflow.v1.ClientService/GetClient%d", i), Resources: []string{resource},
			Code: "OK", Time: s.at, Payload: payload,
		}.Event())
		if s.attacker {
			want[resource] = true
		}
	}
	if _, err := f.App.Append(ctx, batch); err != nil {
		t.Fatal(err)
	}

	got := map[string]bool{}
	err := f.App.IncidentEvidence(ctx, start, end, []string{leaked}, []string{"203.0.113.0/24"}, nil, func(e app.Evidence) error {
		for _, r := range e.Resources {
			got[r] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	hits := 0
	for r := range got {
		if want[r] {
			hits++
		}
	}
	precision, recall := float64(hits)/float64(max(len(got), 1)), float64(hits)/float64(len(want))
	t.Logf("precision %.2f recall %.2f (%d found, %d expected, %d seeded)", precision, recall, len(got), len(want), len(seeds))
	if precision != 1 || recall != 1 {
		t.Fatalf("precision %.2f recall %.2f", precision, recall)
	}

	// A firm compromised whole: every event of it in the window, none outside.
	n := 0
	if err := f.App.IncidentEvidence(ctx, start, end, nil, nil, []string{"firms/" + firms[1]}, func(e app.Evidence) error {
		n++
		if e.FirmID != firms[1] {
			t.Errorf("event of another firm: %+v", e)
		}
		return nil
	}); err != nil || n != 2 {
		t.Fatalf("whole firm: %d events, %v; want the 2 in the window", n, err)
	}

	unknown, err := f.App.UnknownActors(ctx, []string{leaked, "staff/" + uuid.NewString()})
	if err != nil || len(unknown) != 1 || unknown[0] == leaked {
		t.Fatalf("unknown actors %v, %v", unknown, err)
	}
}
