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

// MemberOf returns the member id in a member event's name, firms/{firm}/members/{member},
// after checking that the member belongs to the firm in the event's headers; an event
// that breaks that is Permanent.
func MemberOf(m Message, member string) (string, error) {
	ids, err := resource.Parse("member", member, "firms/{firm}/members/{member}")
	if err != nil || ids[0] != m.FirmID {
		return "", Permanent(fmt.Errorf("%s names member %q under firm header %s", m.Subject, member, m.FirmID))
	}
	return ids[1], nil
}
