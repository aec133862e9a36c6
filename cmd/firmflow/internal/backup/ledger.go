package backup

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"sync"
	"time"
)

// Write is one write of a numbered workload: sent at Sent, acknowledged (committed,
// as far as its client knows) at Acked. Its commit happened between the two.
type Write struct {
	N     int64     `json:"n"`
	Firm  string    `json:"firm"`
	Sent  time.Time `json:"sent"`
	Acked time.Time `json:"acked"`
}

// Ledger is what a workload recorded outside the database: the reference a restore
// is checked against. It is safe for concurrent use.
type Ledger struct {
	mu     sync.Mutex
	writes []Write
	file   *os.File
}

// NewLedger keeps writes in memory and, when path is not empty, appends each to the
// file as a JSON line, so another process (the drill) can read them.
func NewLedger(path string) (*Ledger, error) {
	l := &Ledger{}
	if path != "" {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return nil, err
		}
		l.file = f
	}
	return l, nil
}

// ReadLedger loads a ledger file written by NewLedger.
func ReadLedger(path string) (*Ledger, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	defer f.Close()
	l := &Ledger{}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		var w Write
		if err := json.Unmarshal(sc.Bytes(), &w); err != nil {
			return nil, fmt.Errorf("ledger %s line %d: %w", path, line, err)
		}
		l.writes = append(l.writes, w)
	}
	return l, sc.Err()
}

// Record notes an acknowledged write.
func (l *Ledger) Record(w Write) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes = append(l.writes, w)
	if l.file == nil {
		return nil
	}
	line, _ := json.Marshal(w)
	_, err := l.file.Write(append(line, '\n'))
	return err
}

// Close closes the ledger file.
func (l *Ledger) Close() error {
	if l.file == nil {
		return nil
	}
	return l.file.Close()
}

// Writes is every recorded write, by time sent.
func (l *Ledger) Writes() []Write {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := slices.Clone(l.writes)
	sort.Slice(out, func(i, j int) bool { return out[i].Sent.Before(out[j].Sent) })
	return out
}

// Settle moves t out of every write's [Sent, Acked] window, where its commit time is
// unknown, to halfway between the acknowledgement before and the send after: there,
// which writes a restore holds is exact. It prefers moving back (a later target may
// lie past the last archived commit) unless that goes before notBefore.
func (l *Ledger) Settle(t, notBefore time.Time) time.Time {
	writes := l.Writes()
	inside := func(t time.Time) int {
		for i, w := range writes {
			if !t.Before(w.Sent) && !t.After(w.Acked) {
				return i
			}
		}
		return -1
	}
	for range len(writes) + 1 {
		i := inside(t)
		if i < 0 {
			return t
		}
		// The gap before writes[i]: after the latest acknowledgement before it was sent.
		var prevAck time.Time
		for _, w := range writes[:i] {
			if w.Acked.After(prevAck) && w.Acked.Before(writes[i].Sent) {
				prevAck = w.Acked
			}
		}
		back := writes[i].Sent.Add(-time.Microsecond)
		if !prevAck.IsZero() {
			back = prevAck.Add(writes[i].Sent.Sub(prevAck) / 2)
		}
		if back.After(notBefore) {
			t = back
			continue
		}
		next := writes[i].Acked.Add(time.Millisecond)
		if i+1 < len(writes) && writes[i+1].Sent.After(writes[i].Acked) {
			next = writes[i].Acked.Add(writes[i+1].Sent.Sub(writes[i].Acked) / 2)
		}
		t = next
	}
	return t
}

// Expected is what a restore to a target must hold according to the ledger.
type Expected struct {
	// Present were acknowledged before the target; Absent were sent after it.
	Present, Absent map[int64]Write
	// PerFirm counts the present writes of each firm.
	PerFirm map[string]int
	// Unsure were in flight at the target (Settle avoids any).
	Unsure int
}

// At splits the ledger at target.
func (l *Ledger) At(target time.Time) Expected {
	e := Expected{Present: map[int64]Write{}, Absent: map[int64]Write{}, PerFirm: map[string]int{}}
	for _, w := range l.Writes() {
		switch {
		case w.Acked.Before(target):
			e.Present[w.N] = w
			e.PerFirm[w.Firm]++
		case w.Sent.After(target):
			e.Absent[w.N] = w
		default:
			e.Unsure++
		}
	}
	return e
}

// Compare checks the writes a restore holds (number -> firm) against the expectation:
// every acknowledged write present, in its firm, and none sent after the target.
func (e Expected) Compare(found map[int64]string) error {
	var errs []error
	var missing, extra, moved []int64
	for n, w := range e.Present {
		firm, ok := found[n]
		switch {
		case !ok:
			missing = append(missing, n)
		case firm != w.Firm:
			moved = append(moved, n)
		}
	}
	for n := range found {
		if _, ok := e.Absent[n]; ok {
			extra = append(extra, n)
		}
	}
	for _, l := range [][]int64{missing, extra, moved} {
		slices.Sort(l)
	}
	if len(missing) > 0 {
		errs = append(errs, fmt.Errorf("%d writes acknowledged before the target are missing: %v", len(missing), head(missing)))
	}
	if len(extra) > 0 {
		errs = append(errs, fmt.Errorf("%d writes sent after the target are present: %v", len(extra), head(extra)))
	}
	if len(moved) > 0 {
		errs = append(errs, fmt.Errorf("%d writes are under another firm: %v", len(moved), head(moved)))
	}
	perFirm := map[string]int{}
	for n, firm := range found {
		if _, after := e.Absent[n]; !after {
			perFirm[firm]++
		}
	}
	for firm, want := range e.PerFirm {
		if perFirm[firm] != want {
			errs = append(errs, fmt.Errorf("firm %s: %d rows, %d recorded at the target", firm, perFirm[firm], want))
		}
	}
	return errors.Join(errs...)
}

func head(l []int64) []int64 { return l[:min(len(l), 10)] }

// WriteJSON writes v indented, for drill records.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
