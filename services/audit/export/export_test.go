package export_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/note"

	"github.com/firmflow/firmflow/services/audit/chain"
	"github.com/firmflow/firmflow/services/audit/export"
)

var firm = uuid.MustParse("0192e1a4-7c11-7b3e-9a0d-5f6e7d8c9b0a")

// exportOf writes a chain of n events with checkpoints after events 4 and n as
// export lines.
func exportOf(t *testing.T, n int, signer note.Signer) []string {
	t.Helper()
	var buf bytes.Buffer
	w := export.NewWriter(&buf)
	if err := w.Chain(firm, chain.Genesis()); err != nil {
		t.Fatal(err)
	}
	head := chain.Head{FirmID: firm}
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	var signed []string
	for i := range n {
		e := chain.Event{
			ID: uuid.New(), Time: now, Kind: "change", Category: "change", Actor: "users/u<1>&",
			Action: "firmflow.identity.member_joined", Resources: []string{fmt.Sprintf("firms/%s/members/%d", firm, i)},
			Code: "OK", Subject: "firmflow.identity.member_joined", Payload: []byte("\x0a\x03abc"),
		}
		head.Append(&e, now.Add(time.Duration(i)*time.Second))
		if err := w.Event(&e); err != nil {
			t.Fatal(err)
		}
		if e.Sequence == 4 || int(e.Sequence) == n {
			cp, err := chain.Sign(chain.Checkpoint{FirmID: firm, Sequence: e.Sequence, Hash: e.Hash, Time: e.RecordTime}, signer)
			if err != nil {
				t.Fatal(err)
			}
			signed = append(signed, cp)
		}
	}
	for _, cp := range signed {
		if err := w.Checkpoint(cp); err != nil {
			t.Fatal(err)
		}
	}
	return strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
}

func verify(t *testing.T, lines []string, v note.Verifier) chain.Report {
	t.Helper()
	report, err := export.Verify(strings.NewReader(strings.Join(lines, "\n")+"\n"), v)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return report
}

func keys(t *testing.T) (note.Signer, note.Verifier) {
	t.Helper()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
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

// editEvent rewrites one field of line i.
func editEvent(t *testing.T, line, field string, value any) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		t.Fatal(err)
	}
	m[field] = value
	out, _ := json.Marshal(m)
	return string(out)
}

func TestVerifyFindsEveryTamperingOfAnExport(t *testing.T) {
	signer, verifier := keys(t)
	lines := exportOf(t, 8, signer) // line 0 chain, 1..8 events, 9..10 checkpoints
	if report := verify(t, lines, verifier); !report.Valid() || report.Events != 8 || report.Checkpoints != 2 {
		t.Fatalf("untouched export: %+v", report)
	}
	cases := []struct {
		name string
		edit func([]string) []string
		want chain.ProblemKind
	}{
		{"change an actor", func(l []string) []string {
			l[3] = editEvent(t, l[3], "actor", "users/someone-else")
			return l
		}, chain.EventAltered},
		{"change a time", func(l []string) []string {
			l[3] = editEvent(t, l[3], "time", "2020-01-01T00:00:00Z")
			return l
		}, chain.EventAltered},
		{"delete an event", func(l []string) []string { return slices.Delete(l, 5, 6) }, chain.EventsMissing},
		{"reorder events", func(l []string) []string {
			l[2], l[3] = l[3], l[2]
			return l
		}, chain.OutOfOrder},
		{"insert a copy of an event", func(l []string) []string { return slices.Insert(l, 6, l[5]) }, chain.OutOfOrder},
		{"truncate the tail", func(l []string) []string { return append(l[:6:6], l[9:]...) }, chain.ChainTruncated},
		{"alter a checkpoint", func(l []string) []string {
			var cp export.CheckpointLine
			_ = json.Unmarshal([]byte(l[9]), &cp)
			cp.SignedNote = strings.Replace(cp.SignedNote, "\n4\n", "\n3\n", 1)
			out, _ := json.Marshal(cp)
			l[9] = string(out)
			return l
		}, chain.CheckpointInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			report := verify(t, tc.edit(slices.Clone(lines)), verifier)
			if report.Valid() || !slices.ContainsFunc(report.Problems, func(p chain.Problem) bool { return p.Kind == tc.want }) {
				t.Errorf("problems %v, want %s", report.Problems, tc.want)
			}
		})
	}
}

func TestVerifyRefusesWhatIsNoExport(t *testing.T) {
	_, verifier := keys(t)
	for name, file := range map[string]string{
		"not JSON":        "hello\n",
		"no chain line":   `{"type":"checkpoint","signed_note":""}` + "\n",
		"unknown line":    `{"type":"chain","firm":"firms/` + firm.String() + `","first_sequence":1,"first_prev_hash":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}` + "\n" + `{"type":"gossip"}` + "\n",
		"bad firm":        `{"type":"chain","firm":"clients/1","first_sequence":1,"first_prev_hash":""}` + "\n",
		"bad event id":    `{"type":"chain","firm":"firms/` + firm.String() + `","first_sequence":1,"first_prev_hash":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}` + "\n" + `{"type":"event","sequence":1,"event_id":"x"}` + "\n",
		"two chain lines": strings.Repeat(`{"type":"chain","firm":"firms/`+firm.String()+`","first_sequence":1,"first_prev_hash":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}`+"\n", 2),
	} {
		if _, err := export.Verify(strings.NewReader(file), verifier); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
