package domain_test

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/services/audit/chain"
	"github.com/firmflow/firmflow/services/audit/internal/domain"
)

func TestRetentionOnlyLengthens(t *testing.T) {
	cases := []struct {
		name string
		days int
		want codes.Code
	}{
		{"lengthen", 800, codes.OK},
		{"keep", 500, codes.OK},
		{"shorten", 450, codes.FailedPrecondition},
		{"below the floor", 399, codes.InvalidArgument},
		{"beyond ten years", 3651, codes.InvalidArgument},
	}
	for _, tc := range cases {
		s := domain.DefaultSettings(uuid.NewString())
		s.RetentionDays = 500
		err := s.Lengthen(tc.days)
		if tc.want == codes.OK && (err != nil || s.RetentionDays != tc.days) {
			t.Errorf("%s: %v, %d days", tc.name, err, s.RetentionDays)
		}
		if tc.want != codes.OK && (!apierr.HasCode(err, tc.want) || s.RetentionDays != 500) {
			t.Errorf("%s: %v, %d days", tc.name, err, s.RetentionDays)
		}
	}
}

func TestEventsStoreWhatPostgreSQLAccepts(t *testing.T) {
	e := domain.Access{
		EventID: "not-a-uuid", Firm: "firms/" + uuid.NewString(), Actor: "users/\x00bad\xff" + strings.Repeat("é", 400),
		Resources: []string{"", "firms/a\x1f/b", "firms/c"}, Time: time.Now(),
	}.Event()
	if strings.ContainsRune(e.Actor, 0) || !utf8.ValidString(e.Actor) || len(e.Actor) > 512 {
		t.Errorf("actor kept bytes PostgreSQL refuses: %q", e.Actor[:20])
	}
	if len(e.Resources) != 2 || e.Resources[0] != "firms/a/b" {
		t.Errorf("resources: %q", e.Resources)
	}
	if e.ID != domain.EventID("not-a-uuid") || e.ID == (uuid.UUID{}) {
		t.Error("an id that is no UUID does not map to one stable UUID")
	}
	if e.Code != "UNKNOWN" || e.Category != domain.CategoryGeneral {
		t.Errorf("defaults: code %q category %q", e.Code, e.Category)
	}
}

func TestChangesOfBillingAreBillingEvents(t *testing.T) {
	for subject, want := range map[string]string{
		"firmflow.billing.seats_changed":  domain.CategoryBilling,
		"firmflow.identity.member_joined": domain.CategoryChange,
	} {
		e := domain.Change{EventID: uuid.NewString(), FirmID: "garbage", Subject: subject}.Event()
		if e.Category != want || e.Kind != domain.KindChange || e.FirmID != chain.SystemFirm {
			t.Errorf("%s: %+v", subject, e)
		}
	}
}

func TestFilterRefusesAnEmptyTimeRange(t *testing.T) {
	now := time.Now()
	if err := (domain.Filter{Start: now, End: now}).Validate(); !apierr.HasCode(err, codes.InvalidArgument) {
		t.Errorf("empty range: %v", err)
	}
	a, b := domain.Filter{Actor: "users/a"}, domain.Filter{Action: "users/a"}
	if a.Key() == b.Key() {
		t.Error("different filters share a page-token key")
	}
}
