// Package export is the audit log's export file and its offline check. The file is
// JSON Lines: a "chain" line saying where the firm's retained chain starts, its
// events oldest first ("event" lines carrying every hashed field, the previous hash
// and the hash), the signed checkpoints ("checkpoint" lines), and, between pages of
// a long export, "next_page" lines. Pages appended in order form one file. Verify
// checks such a file with nothing but the audit public key.
package export

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/note"

	"github.com/firmflow/firmflow/services/audit/chain"
)

// Line types.
const (
	TypeChain      = "chain"
	TypeEvent      = "event"
	TypeCheckpoint = "checkpoint"
	TypeNextPage   = "next_page"
)

// ChainLine opens an export: the firm and where its retained chain starts.
type ChainLine struct {
	Type          string `json:"type"`
	Firm          string `json:"firm"` // firms/{id}
	FirstSequence int64  `json:"first_sequence"`
	FirstPrevHash []byte `json:"first_prev_hash"`
}

// EventLine is one event with every field its hash covers.
type EventLine struct {
	Type       string    `json:"type"`
	Sequence   int64     `json:"sequence"`
	EventID    string    `json:"event_id"`
	Time       time.Time `json:"time"`
	RecordTime time.Time `json:"record_time"`
	Kind       string    `json:"kind"`
	Category   string    `json:"category"`
	Actor      string    `json:"actor"`
	Action     string    `json:"action"`
	Resources  []string  `json:"resources"`
	Code       string    `json:"code"`
	Subject    string    `json:"subject"`
	Payload    []byte    `json:"payload"` // the published protobuf message
	PrevHash   []byte    `json:"prev_hash"`
	Hash       []byte    `json:"hash"`
}

// CheckpointLine carries one signed checkpoint as a signed note.
type CheckpointLine struct {
	Type       string `json:"type"`
	SignedNote string `json:"signed_note"`
}

// NextPageLine ends a page that more pages follow.
type NextPageLine struct {
	Type      string `json:"type"`
	PageToken string `json:"page_token"`
}

// Writer writes an export.
type Writer struct {
	enc *json.Encoder
}

// NewWriter writes lines to w.
func NewWriter(w io.Writer) *Writer { return &Writer{enc: json.NewEncoder(w)} }

// Chain writes the opening line.
func (w *Writer) Chain(firm uuid.UUID, start chain.Start) error {
	return w.enc.Encode(ChainLine{Type: TypeChain, Firm: "firms/" + firm.String(), FirstSequence: start.Sequence, FirstPrevHash: start.PrevHash[:]})
}

// Event writes one event.
func (w *Writer) Event(e *chain.Event) error {
	resources := e.Resources
	if resources == nil {
		resources = []string{}
	}
	return w.enc.Encode(EventLine{
		Type: TypeEvent, Sequence: e.Sequence, EventID: e.ID.String(), Time: e.Time.UTC(), RecordTime: e.RecordTime.UTC(),
		Kind: e.Kind, Category: e.Category, Actor: e.Actor, Action: e.Action, Resources: resources, Code: e.Code,
		Subject: e.Subject, Payload: e.Payload, PrevHash: e.PrevHash[:], Hash: e.Hash[:],
	})
}

// Checkpoint writes one signed checkpoint.
func (w *Writer) Checkpoint(signed string) error {
	return w.enc.Encode(CheckpointLine{Type: TypeCheckpoint, SignedNote: signed})
}

// NextPage writes the line that ends a page more pages follow.
func (w *Writer) NextPage(token string) error {
	return w.enc.Encode(NextPageLine{Type: TypeNextPage, PageToken: token})
}

// Verify checks an export with the audit public key: every event's hash, that events
// run in sequence without gaps or repeats from the chain's start, and the chain
// against every signed checkpoint, including checkpoints the chain no longer
// reaches. A file it cannot read is an error; a chain that does not verify is a
// Report listing the problems. It reads the file twice (checkpoints first), so it
// holds only the checkpoints in memory however long the chain.
func Verify(file io.ReadSeeker, verifier note.Verifier) (chain.Report, error) {
	var opening *ChainLine
	var checkpoints []string
	err := eachLine(file, func(n int, typ string, raw []byte) error {
		switch typ {
		case TypeChain:
			if opening != nil {
				return fmt.Errorf("line %d: a second chain line", n)
			}
			opening = &ChainLine{}
			return json.Unmarshal(raw, opening)
		case TypeCheckpoint:
			var cp CheckpointLine
			if err := json.Unmarshal(raw, &cp); err != nil {
				return err
			}
			checkpoints = append(checkpoints, cp.SignedNote)
		}
		return nil
	})
	if err != nil {
		return chain.Report{}, err
	}
	if opening == nil {
		return chain.Report{}, errors.New("no chain line: not a firmflow audit export")
	}
	firm, start, err := opening.parse()
	if err != nil {
		return chain.Report{}, err
	}
	if _, err := file.Seek(0, io.SeekStart); err != nil {
		return chain.Report{}, fmt.Errorf("rewind export: %w", err)
	}
	checker := chain.NewChecker(firm, start, checkpoints, verifier)
	err = eachLine(file, func(n int, typ string, raw []byte) error {
		if typ != TypeEvent {
			return nil
		}
		var line EventLine
		if err := json.Unmarshal(raw, &line); err != nil {
			return err
		}
		e, err := line.event(firm)
		if err != nil {
			return err
		}
		checker.Add(&e)
		return nil
	})
	if err != nil {
		return chain.Report{}, err
	}
	return checker.Finish(), nil
}

// eachLine calls fn with each non-empty line and its type.
func eachLine(r io.Reader, fn func(n int, typ string, raw []byte) error) error {
	scanner := bufio.NewScanner(r)
	scanner.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for n := 1; scanner.Scan(); n++ {
		raw := scanner.Bytes()
		if len(raw) == 0 {
			continue
		}
		var head struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(raw, &head); err != nil {
			return fmt.Errorf("line %d: not JSON: %w", n, err)
		}
		switch head.Type {
		case TypeChain, TypeEvent, TypeCheckpoint, TypeNextPage:
		default:
			return fmt.Errorf("line %d: unknown line type %q", n, head.Type)
		}
		if err := fn(n, head.Type, raw); err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
	}
	if err := scanner.Err(); err != nil {
		return fmt.Errorf("read export: %w", err)
	}
	return nil
}

func (l ChainLine) parse() (uuid.UUID, chain.Start, error) {
	if len(l.Firm) < len("firms/") || l.Firm[:len("firms/")] != "firms/" {
		return uuid.UUID{}, chain.Start{}, fmt.Errorf("chain line: firm %q is not firms/{id}", l.Firm)
	}
	firm, err := uuid.Parse(l.Firm[len("firms/"):])
	if err != nil {
		return uuid.UUID{}, chain.Start{}, fmt.Errorf("chain line: firm: %w", err)
	}
	start := chain.Start{Sequence: l.FirstSequence}
	if len(l.FirstPrevHash) != len(start.PrevHash) || start.Sequence < 1 {
		return uuid.UUID{}, chain.Start{}, errors.New("chain line: first_sequence or first_prev_hash is malformed")
	}
	copy(start.PrevHash[:], l.FirstPrevHash)
	return firm, start, nil
}

// event is the line as a chain event of firm. A malformed hash is kept as zero
// bytes, which the checker then reports as an altered event.
func (l EventLine) event(firm uuid.UUID) (chain.Event, error) {
	id, err := uuid.Parse(l.EventID)
	if err != nil {
		return chain.Event{}, fmt.Errorf("event %d: event_id: %w", l.Sequence, err)
	}
	e := chain.Event{
		FirmID: firm, Sequence: l.Sequence, ID: id, Time: l.Time, RecordTime: l.RecordTime,
		Kind: l.Kind, Category: l.Category, Actor: l.Actor, Action: l.Action, Resources: l.Resources,
		Code: l.Code, Subject: l.Subject, Payload: l.Payload,
	}
	copy(e.PrevHash[:], l.PrevHash)
	copy(e.Hash[:], l.Hash)
	return e, nil
}
