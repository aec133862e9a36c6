// Package chain is the audit log's tamper evidence: the canonical encoding of an
// event, the SHA-256 chain that links each firm's events, signed checkpoints of a
// chain head, and the check that finds where a chain differs from what was appended
// and signed. The audit service and the offline verifier (`firmflow audit verify`)
// share it, so both hash exactly the same bytes.
//
// # Canonical encoding (version 1)
//
// An event is encoded as a sequence of fields, each a 4-byte big-endian length
// followed by that many bytes, in this order:
//
//	"firmflow.audit.event.v1"          the format's name and version
//	firm id                            16 bytes (the UUID's bytes)
//	sequence                           8 bytes, big-endian
//	event id                           16 bytes
//	time                               8 bytes, big-endian Unix microseconds
//	record time                        8 bytes, big-endian Unix microseconds
//	kind, category, actor, action      UTF-8 bytes each
//	resources                          one field holding a 4-byte big-endian count
//	                                   followed by one field per resource name
//	code, subject                      UTF-8 bytes each
//	payload                            the protobuf bytes exactly as published
//
// An event's hash is SHA-256(previous event's hash || encoding); the first event of
// a chain has 32 zero bytes as its previous hash. Times carry microseconds, the
// precision PostgreSQL keeps, and Head.Append truncates them before hashing.
package chain

import (
	"crypto/sha256"
	"encoding/binary"
	"sync"
	"time"

	"github.com/google/uuid"
)

// formatName opens every encoding: a different layout gets a different name.
const formatName = "firmflow.audit.event.v1"

// Hash is a SHA-256 digest linking an event to everything before it.
type Hash [sha256.Size]byte

// Event is one entry of a firm's chain: exactly the fields its hash covers, plus the
// previous hash and its own.
type Event struct {
	FirmID     uuid.UUID
	Sequence   int64
	ID         uuid.UUID
	Time       time.Time // when it happened
	RecordTime time.Time // when the log appended it
	Kind       string    // access or change
	Category   string
	Actor      string
	Action     string
	Resources  []string
	Code       string // gRPC code name of the outcome
	Subject    string // NATS subject it arrived on
	Payload    []byte // the published protobuf message, byte for byte
	PrevHash   Hash
	Hash       Hash
}

// Encode returns the event's canonical encoding (see the package documentation).
func (e *Event) Encode() []byte {
	return e.appendEncoding(make([]byte, 0, e.encodedSize()))
}

// encodedSize is the length of the event's encoding.
func (e *Event) encodedSize() int {
	const fixed = 4 + len(formatName) + 4 + 16 + 4 + 8 + 4 + 16 + 4 + 8 + 4 + 8 + 4 + 4
	size := fixed + 4*4 + len(e.Kind) + len(e.Category) + len(e.Actor) + len(e.Action) +
		4 + len(e.Code) + 4 + len(e.Subject) + 4 + len(e.Payload)
	for _, r := range e.Resources {
		size += 4 + len(r)
	}
	return size
}

// appendEncoding appends the event's canonical encoding to b.
func (e *Event) appendEncoding(b []byte) []byte {
	b = appendField(b, formatName)
	b = appendField(b, e.FirmID[:])
	b = appendUint64Field(b, uint64(e.Sequence))
	b = appendField(b, e.ID[:])
	b = appendUint64Field(b, uint64(e.Time.UnixMicro()))
	b = appendUint64Field(b, uint64(e.RecordTime.UnixMicro()))
	for _, s := range [...]string{e.Kind, e.Category, e.Actor, e.Action} {
		b = appendField(b, s)
	}
	// The resources are one field holding a count and a field per name.
	listSize := 4
	for _, r := range e.Resources {
		listSize += 4 + len(r)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(listSize))
	b = binary.BigEndian.AppendUint32(b, uint32(len(e.Resources)))
	for _, r := range e.Resources {
		b = appendField(b, r)
	}
	b = appendField(b, e.Code)
	b = appendField(b, e.Subject)
	return appendField(b, e.Payload)
}

func appendField[T string | []byte](b []byte, field T) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(field)))
	return append(b, field...)
}

func appendUint64Field(b []byte, v uint64) []byte {
	b = binary.BigEndian.AppendUint32(b, 8)
	return binary.BigEndian.AppendUint64(b, v)
}

// linkBuffers hold a previous hash and an encoding while they are hashed, so that
// appending a batch does not allocate an encoding per event.
var linkBuffers = sync.Pool{New: func() any { return new([]byte) }}

// Link is the hash of e when it follows an event whose hash is prev.
func Link(prev Hash, e *Event) Hash {
	buf := linkBuffers.Get().(*[]byte)
	b := append((*buf)[:0], prev[:]...)
	b = e.appendEncoding(b)
	h := Hash(sha256.Sum256(b))
	*buf = b
	linkBuffers.Put(buf)
	return h
}

// Sealed reports whether e's stored hash matches its content and previous hash.
func (e *Event) Sealed() bool { return Link(e.PrevHash, e) == e.Hash }

// Head is the end of a firm's chain: the last event's sequence, hash and record time.
// A chain without events has sequence 0 and the zero hash.
type Head struct {
	FirmID     uuid.UUID
	Sequence   int64
	Hash       Hash
	RecordTime time.Time
}

// Append makes e the next event after h and moves h to it: e gets the next sequence
// number, its record time (now, but never earlier than the previous event's, so that
// record time grows with the sequence and retention, which drops whole months by
// record time, always removes a prefix of the chain), its previous hash and its
// hash. Times are cut to microseconds first, as PostgreSQL stores them.
func (h *Head) Append(e *Event, now time.Time) {
	e.FirmID = h.FirmID
	e.Sequence = h.Sequence + 1
	e.Time = e.Time.UTC().Truncate(time.Microsecond)
	e.RecordTime = now.UTC().Truncate(time.Microsecond)
	if e.RecordTime.Before(h.RecordTime) {
		e.RecordTime = h.RecordTime
	}
	e.PrevHash = h.Hash
	e.Hash = Link(e.PrevHash, e)
	h.Sequence, h.Hash, h.RecordTime = e.Sequence, e.Hash, e.RecordTime
}

// Start is where a firm's retained chain begins: sequence 1 after the zero hash, or,
// once retention dropped the oldest events, the first kept event and the hash of the
// last dropped one.
type Start struct {
	Sequence int64
	PrevHash Hash
}

// Genesis is the start of a chain nothing was dropped from.
func Genesis() Start { return Start{Sequence: 1} }

// SystemFirm holds the chain of events that belong to no firm: requests without a
// valid credential. No firm has this id, so no firm's API reaches it.
var SystemFirm = uuid.UUID{}
