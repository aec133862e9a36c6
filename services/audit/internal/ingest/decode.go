package ingest

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/events/v1"
	"github.com/firmflow/firmflow/pkg/outbox"
	"github.com/firmflow/firmflow/services/audit/chain"
	"github.com/firmflow/firmflow/services/audit/internal/domain"
)

// AccessSubject carries a lone access event of the gateway (a follow-up that names
// the event whose response it replaced); AccessBatchSubject carries the batches of
// access events the gateway group-commits (eventsv1.AccessEventBatch).
const (
	AccessSubject      = "firmflow.gateway.access"
	AccessBatchSubject = "firmflow.gateway.access_batch"
)

// Message is what the log reads from a JetStream message.
type Message struct {
	Subject   string
	Header    nats.Header
	Data      []byte
	Stream    string
	Sequence  uint64    // stream sequence
	Published time.Time // when JetStream stored it
}

// Events turns a delivered message into its chain events: one, or a batch's. Every
// message yields at least one: a payload that does not decode is still recorded,
// described by its headers.
func Events(msg jetstream.Msg) []chain.Event {
	m := Message{Subject: msg.Subject(), Header: msg.Headers(), Data: msg.Data()}
	if meta, err := msg.Metadata(); err == nil {
		m.Stream, m.Sequence, m.Published = meta.Stream, meta.Sequence.Stream, meta.Timestamp
	}
	return m.Events()
}

// Events turns the message into its chain events: a batch into one event per access
// event it holds, in its order, each as if it had come alone on AccessSubject.
func (m Message) Events() []chain.Event {
	if m.Subject != AccessBatchSubject {
		return []chain.Event{m.Event()}
	}
	payloads, ok := batchPayloads(m.Data)
	if !ok {
		// Recorded all the same, as one event described by the batch's headers.
		return []chain.Event{m.undecodable().Event()}
	}
	events := make([]chain.Event, len(payloads))
	for i, p := range payloads {
		one := Message{Subject: AccessSubject, Header: nats.Header{}, Data: p, Stream: m.Stream, Sequence: m.Sequence, Published: m.Published}
		// A batch member without an id of its own gets one fixed by its place.
		one.Header.Set(outbox.HeaderEventID, fmt.Sprintf("%s:%d:%d", m.Stream, m.Sequence, i))
		one.Header.Set(outbox.HeaderOccurredAt, m.Header.Get(outbox.HeaderOccurredAt))
		events[i] = one.Event()
	}
	return events
}

// batchPayloads splits an AccessEventBatch into the encoded AccessEvents it holds,
// read from the wire so each event's payload is the bytes the gateway wrote.
func batchPayloads(data []byte) ([][]byte, bool) {
	var out [][]byte
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return nil, false
		}
		data = data[n:]
		if num == 1 && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(data)
			if n < 0 {
				return nil, false
			}
			out = append(out, v)
			data = data[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, data)
		if n < 0 {
			return nil, false
		}
		data = data[n:]
	}
	return out, len(out) > 0
}

// Event turns a message that carries one event into its chain event.
func (m Message) Event() chain.Event {
	if m.Subject == AccessSubject {
		return m.access().Event()
	}
	return domain.Change{
		EventID: m.eventID(), FirmID: m.Header.Get(outbox.HeaderFirmID), Actor: m.Header.Get(outbox.HeaderActor),
		Subject: m.Subject, Resource: firstResource(m.Data), Time: m.occurred(), Payload: m.Data,
	}.Event()
}

func (m Message) access() domain.Access {
	var e eventsv1.AccessEvent
	if err := proto.Unmarshal(m.Data, &e); err != nil {
		return m.undecodable()
	}
	id := e.GetEventId()
	if id == "" {
		id = m.eventID()
	}
	t := m.occurred()
	if e.GetTime().IsValid() {
		t = e.GetTime().AsTime()
	}
	resources := e.GetResources()
	if replaced := m.Header.Get(outbox.HeaderReplaces); replaced != "" {
		// The gateway answered 503 instead of the outcome an earlier event of the same
		// request states (it may have been stored late, or not at all). This event is
		// recorded as its own, naming the other, so the log says what the client got.
		resources = append(slices.Clip(resources), ReplacedResource(replaced))
	}
	return domain.Access{
		EventID: id, Firm: e.GetFirm(), Actor: e.GetActor(), Category: e.GetCategory(), RPCMethod: e.GetRpcMethod(),
		HTTPMethod: e.GetHttpMethod(), Route: e.GetRoute(), Resources: resources, Code: e.GetGrpcCode(),
		Time: t, Subject: m.Subject, Payload: m.Data,
	}
}

// undecodable records an access message whose payload does not decode all the same,
// in the firm its headers name.
func (m Message) undecodable() domain.Access {
	return domain.Access{
		EventID: m.eventID(), Firm: m.Header.Get(outbox.HeaderFirmID), Actor: m.Header.Get(outbox.HeaderActor),
		Category: domain.CategoryGeneral, HTTPMethod: "UNDECODABLE", Route: "access event", Time: m.occurred(),
		Subject: m.Subject, Payload: m.Data,
	}
}

// ReplacedResource is the resource by which a follow-up access event names the event
// whose response it replaced: accessEvents/{event_id}, the event_id the log shows.
func ReplacedResource(eventID string) string {
	return "accessEvents/" + domain.EventID(eventID).String()
}

// eventID is the event's own id, or failing that one fixed by its place in the
// stream, so that a redelivery maps to the same id.
func (m Message) eventID() string {
	if id := m.Header.Get(outbox.HeaderEventID); id != "" {
		return id
	}
	if id := m.Header.Get(jetstream.MsgIDHeader); id != "" {
		return id
	}
	return fmt.Sprintf("%s:%d", m.Stream, m.Sequence)
}

// occurred is when the event happened, as its producer said, else when JetStream
// stored it.
func (m Message) occurred() time.Time {
	if t, err := time.Parse(time.RFC3339Nano, m.Header.Get(outbox.HeaderOccurredAt)); err == nil {
		return t
	}
	return m.Published
}

// firstResource reads the resource a change event is about: by convention the first
// field of every firmflow event payload is the resource's name. Read from the wire
// format, so events of a service this build does not know are covered too.
func firstResource(payload []byte) string {
	for len(payload) > 0 {
		num, typ, n := protowire.ConsumeTag(payload)
		if n < 0 {
			return ""
		}
		payload = payload[n:]
		if num == 1 && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(payload)
			if n < 0 || !utf8.Valid(v) || !strings.Contains(string(v), "/") {
				return ""
			}
			return string(v)
		}
		n = protowire.ConsumeFieldValue(num, typ, payload)
		if n < 0 {
			return ""
		}
		payload = payload[n:]
	}
	return ""
}
