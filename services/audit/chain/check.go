package chain

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/note"
)

// ProblemKind names one way a chain differs from what was appended and signed.
type ProblemKind string

const (
	// EventAltered: an event's content no longer gives its stored hash.
	EventAltered ProblemKind = "EVENT_ALTERED"
	// ChainBroken: an event's previous hash is not the hash of the event before it.
	ChainBroken ProblemKind = "CHAIN_BROKEN"
	// EventsMissing: sequence numbers are skipped (events deleted).
	EventsMissing ProblemKind = "EVENTS_MISSING"
	// OutOfOrder: an event repeats or goes back in sequence (inserted or moved).
	OutOfOrder ProblemKind = "OUT_OF_ORDER"
	// CheckpointInvalid: a checkpoint's signature does not verify or it is not one of
	// this firm's.
	CheckpointInvalid ProblemKind = "CHECKPOINT_INVALID"
	// CheckpointMismatch: the chain's hash at a signed sequence differs from the
	// signed one (the chain was rewritten up to there).
	CheckpointMismatch ProblemKind = "CHECKPOINT_MISMATCH"
	// ChainTruncated: a checkpoint was signed for a sequence the chain no longer
	// reaches.
	ChainTruncated ProblemKind = "CHAIN_TRUNCATED"
	// HeadMismatch: the stored chain head is not the last event.
	HeadMismatch ProblemKind = "HEAD_MISMATCH"
)

// maxProblems bounds a report; a chain rewritten from its start would otherwise
// list every event.
const maxProblems = 100

// Problem is one difference, at the sequence where it shows.
type Problem struct {
	Kind        ProblemKind
	Sequence    int64
	Description string
}

// Report is the outcome of checking a chain.
type Report struct {
	FirmID        uuid.UUID
	Events        int64
	FirstSequence int64
	LastSequence  int64
	// Checkpoints counts the validly signed checkpoints compared with the chain.
	Checkpoints int64
	// Latest is the newest validly signed checkpoint, with its signed text.
	Latest       *Checkpoint
	LatestSigned string
	Problems     []Problem
	MoreProblems int64
}

// Valid reports whether the chain showed no problem.
func (r Report) Valid() bool { return len(r.Problems) == 0 && r.MoreProblems == 0 }

// signedCheckpoint is a checkpoint whose signature verified.
type signedCheckpoint struct {
	Checkpoint
	signed string
}

// Checker checks one firm's chain, fed event by event in sequence order, against the
// chain's start and its signed checkpoints. It keeps only the checkpoints in memory.
type Checker struct {
	report      Report
	next        int64 // sequence expected next
	prev        Hash  // hash the next event must link to
	checkpoints []signedCheckpoint
	pos         int   // first checkpoint not yet reached
	head        *Head // the stored head, when checking a stored chain
}

// NewChecker starts checking the chain of firm that begins at start. Each signed
// checkpoint is verified with verifier now; those that fail are reported.
func NewChecker(firm uuid.UUID, start Start, signedCheckpoints []string, verifier note.Verifier) *Checker {
	c := &Checker{report: Report{FirmID: firm}, next: start.Sequence, prev: start.PrevHash}
	for _, signed := range signedCheckpoints {
		cp, err := Open(signed, verifier)
		switch {
		case err != nil:
			c.problem(CheckpointInvalid, sequenceOf(signed), fmt.Sprintf("a checkpoint does not verify with the audit key: %v", err))
			continue
		case cp.FirmID != firm:
			c.problem(CheckpointInvalid, cp.Sequence, fmt.Sprintf("a checkpoint of firm %s is among this firm's", cp.FirmID))
			continue
		}
		c.checkpoints = append(c.checkpoints, signedCheckpoint{Checkpoint: cp, signed: signed})
	}
	slices.SortStableFunc(c.checkpoints, func(a, b signedCheckpoint) int {
		return cmp.Or(cmp.Compare(a.Sequence, b.Sequence), a.Time.Compare(b.Time))
	})
	for _, cp := range c.checkpoints {
		if c.report.Latest == nil || cp.Sequence > c.report.Latest.Sequence ||
			(cp.Sequence == c.report.Latest.Sequence && cp.Time.After(c.report.Latest.Time)) {
			c.report.Latest, c.report.LatestSigned = &cp.Checkpoint, cp.signed
		}
	}
	// Checkpoints before the retained start refer to dropped events; one exactly at
	// the last dropped event still vouches for the start's previous hash.
	for c.pos < len(c.checkpoints) && c.checkpoints[c.pos].Sequence < start.Sequence {
		cp := c.checkpoints[c.pos]
		if cp.Sequence == start.Sequence-1 {
			c.compare(cp, start.PrevHash)
		}
		c.pos++
	}
	return c
}

// Add checks the next event of the chain.
func (c *Checker) Add(e *Event) {
	if e.FirmID != c.report.FirmID {
		c.problem(EventAltered, e.Sequence, fmt.Sprintf("event %d names firm %s", e.Sequence, e.FirmID))
	}
	switch {
	case e.Sequence < c.next:
		c.problem(OutOfOrder, e.Sequence, fmt.Sprintf("event %d comes after event %d", e.Sequence, c.next-1))
		return
	case e.Sequence > c.next:
		c.problem(EventsMissing, c.next, fmt.Sprintf("events %d to %d are missing", c.next, e.Sequence-1))
	case e.PrevHash != c.prev:
		c.problem(ChainBroken, e.Sequence, fmt.Sprintf("event %d does not link to event %d", e.Sequence, e.Sequence-1))
	}
	if !e.Sealed() {
		c.problem(EventAltered, e.Sequence, fmt.Sprintf("event %d was changed after it was appended", e.Sequence))
	}
	// Checkpoints on sequences reported missing have nothing to compare with.
	for c.pos < len(c.checkpoints) && c.checkpoints[c.pos].Sequence < e.Sequence {
		c.pos++
	}
	for c.pos < len(c.checkpoints) && c.checkpoints[c.pos].Sequence == e.Sequence {
		c.compare(c.checkpoints[c.pos], e.Hash)
		c.pos++
	}
	if c.report.Events == 0 {
		c.report.FirstSequence = e.Sequence
	}
	c.report.Events++
	c.report.LastSequence = e.Sequence
	c.next, c.prev = e.Sequence+1, e.Hash
}

// ExpectHead has the checker compare the stored chain head with the last event; the
// caller reads both in one snapshot.
func (c *Checker) ExpectHead(h Head) { c.head = &h }

// Finish reports what was found; checkpoints beyond the last event mean the chain
// lost its tail, and a stored head that is not the last event means events were cut
// or added behind the log's back.
func (c *Checker) Finish() Report {
	if c.head != nil && (c.head.Sequence != c.next-1 || (c.head.Sequence > 0 && c.head.Hash != c.prev)) {
		c.problem(HeadMismatch, c.head.Sequence, fmt.Sprintf("the chain head is event %d but the chain ends at event %d", c.head.Sequence, c.next-1))
	}
	if c.pos < len(c.checkpoints) {
		last := c.checkpoints[len(c.checkpoints)-1]
		c.problem(ChainTruncated, last.Sequence, fmt.Sprintf("a checkpoint was signed at event %d but the chain ends at event %d", last.Sequence, c.report.LastSequence))
		c.pos = len(c.checkpoints)
	}
	return c.report
}

func (c *Checker) compare(cp signedCheckpoint, h Hash) {
	c.report.Checkpoints++
	if cp.Hash != h {
		c.problem(CheckpointMismatch, cp.Sequence, fmt.Sprintf("event %d differs from the checkpoint signed at %s", cp.Sequence, cp.Time.UTC().Format("2006-01-02T15:04:05Z")))
	}
}

func (c *Checker) problem(kind ProblemKind, seq int64, description string) {
	if len(c.report.Problems) >= maxProblems {
		c.report.MoreProblems++
		return
	}
	c.report.Problems = append(c.report.Problems, Problem{Kind: kind, Sequence: seq, Description: description})
}

// sequenceOf reads the sequence an unverifiable checkpoint claims, for the report.
func sequenceOf(signed string) int64 {
	body, _, _ := cutSignatures(signed)
	cp, err := ParseCheckpoint(body)
	if err != nil {
		return 0
	}
	return cp.Sequence
}

// cutSignatures splits a signed note at the blank line before its signatures.
func cutSignatures(signed string) (body, signatures string, ok bool) {
	i := len(signed)
	for j := 0; j+1 < len(signed); j++ {
		if signed[j] == '\n' && signed[j+1] == '\n' {
			i = j + 1
		}
	}
	if i == len(signed) {
		return signed, "", false
	}
	return signed[:i], signed[i+1:], true
}
