package backup_test

import (
	"strings"
	"testing"
	"time"

	"github.com/firmflow/firmflow/cmd/firmflow/internal/backup"
)

func ledgerOf(t *testing.T, base time.Time, windows ...[2]int) *backup.Ledger {
	t.Helper()
	l, _ := backup.NewLedger("")
	for i, w := range windows {
		ms := func(n int) time.Time { return base.Add(time.Duration(n) * time.Millisecond) }
		if err := l.Record(backup.Write{N: int64(i + 1), Firm: []string{"a", "b"}[i%2], Sent: ms(w[0]), Acked: ms(w[1])}); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

func TestSettleMovesATargetOutOfWritesInFlight(t *testing.T) {
	base := time.Date(2026, 12, 3, 6, 0, 0, 0, time.UTC)
	ms := func(n int) time.Time { return base.Add(time.Duration(n) * time.Millisecond) }
	// Writes in flight over [10,20], [30,40], [50,60] ms.
	l := ledgerOf(t, base, [2]int{10, 20}, [2]int{30, 40}, [2]int{50, 60})
	for _, tc := range []struct {
		name            string
		t, notBefore    time.Time
		want            time.Time
		present, absent int
	}{
		{"in a gap: unchanged", ms(25), base, ms(25), 1, 2},
		{"inside a write: back to the middle of the gap before it", ms(35), base, ms(25), 1, 2},
		{"inside the first write: back before it", ms(15), base, ms(10).Add(-time.Microsecond), 0, 3},
		{"moving back would cross notBefore: forward instead", ms(35), ms(28), ms(45), 2, 1},
		{"inside the last write, forward", ms(55), ms(48), ms(61), 3, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := l.Settle(tc.t, tc.notBefore)
			if !got.Equal(tc.want) {
				t.Fatalf("Settle(%s) = %s, want %s", tc.t.Format(time.StampMicro), got.Format(time.StampMicro), tc.want.Format(time.StampMicro))
			}
			e := l.At(got)
			if e.Unsure != 0 || len(e.Present) != tc.present || len(e.Absent) != tc.absent {
				t.Errorf("At(%s): %d present, %d absent, %d unsure; want %d, %d, 0", got.Format(time.StampMicro), len(e.Present), len(e.Absent), e.Unsure, tc.present, tc.absent)
			}
		})
	}
}

func TestCompareNamesWhatTheRestoreGotWrong(t *testing.T) {
	base := time.Date(2026, 12, 3, 6, 0, 0, 0, time.UTC)
	l := ledgerOf(t, base, [2]int{10, 20}, [2]int{30, 40}, [2]int{50, 60}, [2]int{70, 80})
	e := l.At(base.Add(45 * time.Millisecond)) // 1 (a) and 2 (b) present; 3 and 4 absent
	for _, tc := range []struct {
		name  string
		found map[int64]string
		want  []string
	}{
		{"exact", map[int64]string{1: "a", 2: "b"}, nil},
		{"an acknowledged write lost", map[int64]string{1: "a"}, []string{"1 writes acknowledged before the target are missing: [2]", "firm b: 0 rows, 1 recorded"}},
		{"a later write present", map[int64]string{1: "a", 2: "b", 4: "b"}, []string{"1 writes sent after the target are present: [4]"}},
		{"a write under another firm", map[int64]string{1: "b", 2: "b"}, []string{"under another firm: [1]", "firm a: 0 rows, 1 recorded"}},
		{"an unknown extra row counts for its firm", map[int64]string{1: "a", 2: "b", 99: "a"}, []string{"firm a: 2 rows, 1 recorded"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := e.Compare(tc.found)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Compare = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Compare = nil, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Compare = %q, want it to say %q", err, w)
				}
			}
		})
	}
}
