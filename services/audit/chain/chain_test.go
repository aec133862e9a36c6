package chain_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/note"

	"github.com/firmflow/firmflow/services/audit/chain"
)

var (
	firm  = uuid.MustParse("0192e1a4-7c11-7b3e-9a0d-5f6e7d8c9b0a")
	epoch = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
)

func newKey(t *testing.T) (note.Signer, note.Verifier) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := chain.NewSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	v, err := chain.NewVerifier(pub)
	if err != nil {
		t.Fatal(err)
	}
	return s, v
}

// build appends n events to a fresh chain, a second apart.
func build(n int) []chain.Event {
	head := chain.Head{FirmID: firm}
	events := make([]chain.Event, n)
	for i := range events {
		e := chain.Event{
			ID: uuid.NewSHA1(firm, fmt.Appendf(nil, "%d", i)), Time: epoch.Add(time.Duration(i) * time.Second),
			Kind: "access", Category: "general", Actor: "users/u1", Action: "firmflow.identity.v1.IdentityService/GetFirm",
			Resources: []string{"firms/" + firm.String()}, Code: "OK", Subject: "firmflow.gateway.access",
			Payload: []byte{byte(i)},
		}
		head.Append(&e, epoch.Add(time.Duration(i)*time.Second+time.Millisecond))
		events[i] = e
	}
	return events
}

func checkpointAt(t *testing.T, s note.Signer, e chain.Event) string {
	t.Helper()
	signed, err := chain.Sign(chain.Checkpoint{FirmID: e.FirmID, Sequence: e.Sequence, Hash: e.Hash, Time: e.RecordTime}, s)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

func check(events []chain.Event, start chain.Start, checkpoints []string, v note.Verifier) chain.Report {
	c := chain.NewChecker(firm, start, checkpoints, v)
	for i := range events {
		c.Add(&events[i])
	}
	return c.Finish()
}

func TestAppendNumbersAndLinksEvents(t *testing.T) {
	events := build(3)
	var prev chain.Hash
	for i, e := range events {
		if e.Sequence != int64(i+1) || e.PrevHash != prev || !e.Sealed() || e.FirmID != firm {
			t.Fatalf("event %d: seq %d, linked %v, sealed %v", i, e.Sequence, e.PrevHash == prev, e.Sealed())
		}
		prev = e.Hash
	}
}

func TestRecordTimeNeverGoesBackAndKeepsMicroseconds(t *testing.T) {
	head := chain.Head{FirmID: firm}
	first := chain.Event{Time: epoch.Add(1500 * time.Nanosecond)}
	head.Append(&first, epoch.Add(time.Minute+700*time.Nanosecond))
	second := chain.Event{}
	head.Append(&second, epoch) // the clock stepped back
	if !second.RecordTime.Equal(first.RecordTime) {
		t.Errorf("record time went back: %v after %v", second.RecordTime, first.RecordTime)
	}
	if first.Time.Nanosecond()%1000 != 0 || first.RecordTime.Nanosecond()%1000 != 0 {
		t.Errorf("times keep nanoseconds PostgreSQL would drop: %v %v", first.Time, first.RecordTime)
	}
}

// The offline verifier of an export made today must still agree in years: this
// hash may only change together with the format's name (formatName).
func TestEncodingIsStable(t *testing.T) {
	e := build(1)[0]
	const want = "c4395b1453dbb216f55533ea3b3b245b17bf0cdaffc7ae6de945908680b1fd43"
	if got := hex.EncodeToString(e.Hash[:]); got != want {
		t.Errorf("hash of the reference event = %s, want %s", got, want)
	}
}

func TestEncodingSeparatesFields(t *testing.T) {
	a := chain.Event{Actor: "ab", Action: "c"}
	b := chain.Event{Actor: "a", Action: "bc"}
	c := chain.Event{Resources: []string{"x", "y"}}
	d := chain.Event{Resources: []string{"xy"}}
	if slices.Equal(a.Encode(), b.Encode()) || slices.Equal(c.Encode(), d.Encode()) {
		t.Error("different events encode the same")
	}
}

func TestCheckpointVerifiesOnlyWithItsKeyAndText(t *testing.T) {
	s, v := newKey(t)
	_, other := newKey(t)
	e := build(1)[0]
	signed := checkpointAt(t, s, e)
	cp, err := chain.Open(signed, v)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Sequence != 1 || cp.Hash != e.Hash || cp.FirmID != firm || !cp.Time.Equal(e.RecordTime.Truncate(time.Second)) {
		t.Errorf("opened %+v", cp)
	}
	if _, err := chain.Open(signed, other); err == nil {
		t.Error("a checkpoint verified with another key")
	}
	altered := []byte(signed)
	altered[len("firmflow audit\n")+len(firm.String())+1] = '9' // the sequence
	if _, err := chain.Open(string(altered), v); err == nil {
		t.Error("an altered checkpoint verified")
	}
}

// tamper returns a changed copy of a chain of 10 events whose checkpoints cover
// events 5 and 10.
type tamper func(events []chain.Event, checkpoints []string) ([]chain.Event, []string)

func TestCheckerReportsEveryTampering(t *testing.T) {
	s, v := newKey(t)
	_, otherKey := newKey(t)
	events := build(10)
	checkpoints := []string{checkpointAt(t, s, events[4]), checkpointAt(t, s, events[9])}

	cases := []struct {
		name   string
		tamper tamper
		want   chain.ProblemKind
	}{
		{"change an event", func(ev []chain.Event, cp []string) ([]chain.Event, []string) {
			ev[3].Actor = "users/someone-else"
			return ev, cp
		}, chain.EventAltered},
		{"change an event and rehash the rest", func(ev []chain.Event, cp []string) ([]chain.Event, []string) {
			ev[3].Actor = "users/someone-else"
			head := chain.Head{FirmID: firm, Sequence: 3, Hash: ev[2].Hash, RecordTime: ev[2].RecordTime}
			for i := 3; i < len(ev); i++ {
				head.Append(&ev[i], ev[i].RecordTime)
			}
			return ev, cp
		}, chain.CheckpointMismatch},
		{"delete an event", func(ev []chain.Event, cp []string) ([]chain.Event, []string) {
			return slices.Delete(ev, 6, 7), cp
		}, chain.EventsMissing},
		{"reorder events", func(ev []chain.Event, cp []string) ([]chain.Event, []string) {
			ev[2], ev[3] = ev[3], ev[2]
			return ev, cp
		}, chain.OutOfOrder},
		{"renumber swapped events", func(ev []chain.Event, cp []string) ([]chain.Event, []string) {
			ev[2].Sequence, ev[3].Sequence = ev[3].Sequence, ev[2].Sequence
			ev[2], ev[3] = ev[3], ev[2]
			return ev, cp
		}, chain.EventAltered},
		{"insert a forged event", func(ev []chain.Event, cp []string) ([]chain.Event, []string) {
			forged := ev[5]
			forged.Actor = "users/forger"
			forged.Hash = chain.Link(forged.PrevHash, &forged)
			return slices.Insert(ev, 6, forged), cp
		}, chain.OutOfOrder},
		{"truncate the tail", func(ev []chain.Event, cp []string) ([]chain.Event, []string) {
			return ev[:7], cp
		}, chain.ChainTruncated},
		{"alter a checkpoint", func(ev []chain.Event, cp []string) ([]chain.Event, []string) {
			cp[0] = cp[0][:len("firmflow audit\n")+len(firm.String())+1] + "6" + cp[0][len("firmflow audit\n")+len(firm.String())+2:]
			return ev, cp
		}, chain.CheckpointInvalid},
		{"sign a checkpoint with another key", func(ev []chain.Event, cp []string) ([]chain.Event, []string) {
			forger, _ := newKey(t)
			return ev, append(cp, checkpointAt(t, forger, ev[7]))
		}, chain.CheckpointInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ev, cp := tc.tamper(slices.Clone(events), slices.Clone(checkpoints))
			report := check(ev, chain.Genesis(), cp, v)
			if report.Valid() || !hasProblem(report, tc.want) {
				t.Errorf("problems %v, want %s", report.Problems, tc.want)
			}
		})
	}

	t.Run("untouched", func(t *testing.T) {
		report := check(events, chain.Genesis(), checkpoints, v)
		if !report.Valid() || report.Events != 10 || report.Checkpoints != 2 || report.Latest.Sequence != 10 {
			t.Errorf("untouched chain: %+v", report)
		}
	})
	t.Run("checked with another key", func(t *testing.T) {
		if report := check(events, chain.Genesis(), checkpoints, otherKey); !hasProblem(report, chain.CheckpointInvalid) {
			t.Errorf("problems %v", report.Problems)
		}
	})
}

func TestCheckerStartsAtTheFirstRetainedEvent(t *testing.T) {
	s, v := newKey(t)
	events := build(10)
	checkpoints := []string{checkpointAt(t, s, events[1]), checkpointAt(t, s, events[3]), checkpointAt(t, s, events[9])}
	retained := events[4:]
	start := chain.Start{Sequence: 5, PrevHash: events[3].Hash}

	report := check(retained, start, checkpoints, v)
	if !report.Valid() || report.FirstSequence != 5 || report.Checkpoints != 2 {
		t.Errorf("retained chain: %+v", report)
	}
	if report := check(retained, chain.Genesis(), checkpoints, v); !hasProblem(report, chain.EventsMissing) {
		t.Errorf("a chain cut without a recorded start: %v", report.Problems)
	}
	wrongStart := chain.Start{Sequence: 5, PrevHash: events[2].Hash}
	if report := check(retained, wrongStart, checkpoints, v); !hasProblem(report, chain.CheckpointMismatch) {
		t.Errorf("a start that the checkpoint at the last dropped event contradicts: %v", report.Problems)
	}
}

func TestCheckerComparesTheStoredHead(t *testing.T) {
	_, v := newKey(t)
	events := build(5)
	for _, tc := range []struct {
		name  string
		head  chain.Head
		valid bool
	}{
		{"head at the last event", chain.Head{FirmID: firm, Sequence: 5, Hash: events[4].Hash}, true},
		{"head behind the chain", chain.Head{FirmID: firm, Sequence: 3, Hash: events[2].Hash}, false},
		{"head beyond the chain", chain.Head{FirmID: firm, Sequence: 7, Hash: events[4].Hash}, false},
		{"head with another hash", chain.Head{FirmID: firm, Sequence: 5, Hash: events[3].Hash}, false},
	} {
		c := chain.NewChecker(firm, chain.Genesis(), nil, v)
		c.ExpectHead(tc.head)
		for i := range events {
			c.Add(&events[i])
		}
		if report := c.Finish(); report.Valid() != tc.valid {
			t.Errorf("%s: problems %v", tc.name, report.Problems)
		}
	}
}

func hasProblem(r chain.Report, kind chain.ProblemKind) bool {
	return slices.ContainsFunc(r.Problems, func(p chain.Problem) bool { return p.Kind == kind })
}

func TestEncodingFillsExactlyTheSizeItReserves(t *testing.T) {
	for _, e := range []chain.Event{{}, build(1)[0], {Resources: []string{"", "firms/f/clients/c"}, Payload: []byte{0}}} {
		if got := e.Encode(); len(got) != cap(got) {
			t.Errorf("encoding of %d bytes in %d reserved", len(got), cap(got))
		}
	}
}

// BenchmarkLink measures hashing an access event into its chain against SHA-256 of
// the same bytes already encoded, which the second run reports as link/sha256: what
// encoding the event adds.
func BenchmarkLink(b *testing.B) {
	e := build(1)[0]
	e.Resources = []string{"firms/" + firm.String() + "/projects/" + uuid.NewString()}
	e.Payload = make([]byte, 180) // an access event's protobuf
	var prev chain.Hash
	var link time.Duration
	b.Run("link", func(b *testing.B) {
		b.ReportAllocs()
		start := time.Now()
		for b.Loop() {
			prev = chain.Link(prev, &e)
		}
		link = time.Since(start) / time.Duration(b.N)
	})
	encoded := append(prev[:], e.Encode()...)
	b.Run("sha256_of_the_encoding", func(b *testing.B) {
		start := time.Now()
		for b.Loop() {
			prev = sha256.Sum256(encoded)
		}
		if sum := time.Since(start) / time.Duration(b.N); sum > 0 && link > 0 {
			b.ReportMetric(float64(link)/float64(sum), "link/sha256")
		}
	})
}
