package inbox

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/firmflow/firmflow/pkg/resource"
)

// Unmarshal decodes m's payload into into; a payload that does not decode can never
// be applied, so the error is Permanent.
func Unmarshal(m Message, into proto.Message) error {
	if err := proto.Unmarshal(m.Data, into); err != nil {
		return Permanent(fmt.Errorf("decode %s: %w", m.Subject, err))
	}
	return nil
}

// memberOf returns the member id in a member event's name, firms/{firm}/members/{member},
// after checking that the member belongs to the firm in the event's headers; an event
// that breaks that is Permanent.
func memberOf(m Message, member string) (string, error) {
	ids, err := resource.Parse("member", member, "firms/{firm}/members/{member}")
	if err != nil || ids[0] != m.FirmID {
		return "", Permanent(fmt.Errorf("%s names member %q under firm header %s", m.Subject, member, m.FirmID))
	}
	return ids[1], nil
}

// MemberEvent is the payload of an event about one member, such as identity's
// member_joined and member_removed.
type MemberEvent interface {
	proto.Message
	GetMember() string
}

// Member decodes m's payload into e and returns the id of the member it names,
// which must be a member of the event's firm; an event that breaks that, or does not
// decode, is Permanent.
func Member(m Message, e MemberEvent) (string, error) {
	if err := Unmarshal(m, e); err != nil {
		return "", err
	}
	return memberOf(m, e.GetMember())
}
