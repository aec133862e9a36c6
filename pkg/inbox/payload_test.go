package inbox_test

import (
	"testing"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/events/v1"
	"github.com/firmflow/firmflow/pkg/inbox"
)

func TestMemberTakesOnlyMembersOfTheEventsFirm(t *testing.T) {
	t.Parallel()
	firm, other, member := uuid.NewString(), uuid.NewString(), uuid.NewString()
	event := func(name string) inbox.Message {
		data, err := proto.Marshal(&eventsv1.MemberJoined{Member: name, Role: "member", ActiveMembers: 2})
		if err != nil {
			t.Fatal(err)
		}
		return inbox.Message{FirmID: firm, Subject: "firmflow.identity.member_joined", Data: data}
	}
	var e eventsv1.MemberJoined
	if id, err := inbox.Member(event("firms/"+firm+"/members/"+member), &e); err != nil || id != member || e.GetActiveMembers() != 2 {
		t.Errorf("Member = %q, %v (payload %v); want %s", id, err, &e, member)
	}
	for _, name := range []string{"firms/" + other + "/members/" + member, "firms/" + firm + "/members/x", "", "members/" + member} {
		if _, err := inbox.Member(event(name), &eventsv1.MemberJoined{}); !inbox.IsPermanent(err) {
			t.Errorf("Member(%q) = %v, want a permanent error", name, err)
		}
	}
	undecodable := inbox.Message{FirmID: firm, Data: []byte{0xff}}
	if _, err := inbox.Member(undecodable, &eventsv1.MemberJoined{}); !inbox.IsPermanent(err) {
		t.Errorf("undecodable payload: %v, want a permanent error", err)
	}
}
