package inbox_test

import (
	"testing"

	"github.com/google/uuid"

	eventsv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/events/v1"
	"github.com/firmflow/firmflow/pkg/inbox"
)

func TestMemberOfTakesOnlyMembersOfTheEventsFirm(t *testing.T) {
	t.Parallel()
	firm, other, member := uuid.NewString(), uuid.NewString(), uuid.NewString()
	m := inbox.Message{FirmID: firm, Subject: "firmflow.identity.member_joined"}
	if id, err := inbox.MemberOf(m, "firms/"+firm+"/members/"+member); err != nil || id != member {
		t.Errorf("MemberOf = %q, %v; want %s", id, err, member)
	}
	for _, name := range []string{"firms/" + other + "/members/" + member, "firms/" + firm + "/members/x", "", "members/" + member} {
		if _, err := inbox.MemberOf(m, name); !inbox.IsPermanent(err) {
			t.Errorf("MemberOf(%q) = %v, want a permanent error", name, err)
		}
	}
	if err := inbox.Unmarshal(inbox.Message{Data: []byte{0xff}}, &eventsv1.MemberJoined{}); !inbox.IsPermanent(err) {
		t.Errorf("undecodable payload: %v, want a permanent error", err)
	}
}
