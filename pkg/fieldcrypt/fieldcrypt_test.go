package fieldcrypt

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func newKEK(t testing.TB) *KEK {
	t.Helper()
	kek, err := ParseKEK(GenerateKEK())
	if err != nil {
		t.Fatalf("ParseKEK(GenerateKEK()): %v", err)
	}
	return kek
}

func newFirmKey(t testing.TB, w KeyWrapper, firmID string) (*DataKey, []byte) {
	t.Helper()
	k, wrapped, err := NewDataKey(w, firmID)
	if err != nil {
		t.Fatalf("NewDataKey(%q): %v", firmID, err)
	}
	return k, wrapped
}

var taxIDCell = Binding{FirmID: "firm-a", Table: "clients", Column: "tax_id", RowID: "client-1"}

func TestSealedValueOpensAtItsBinding(t *testing.T) {
	k, _ := newFirmKey(t, newKEK(t), "firm-a")
	tests := []struct {
		name      string
		plaintext []byte
	}{
		{"empty", []byte{}},
		{"tax id", []byte("DE 123 456 789")},
		{"utf-8 note", []byte("Mandant zahlt spät — bitte erinnern ✓")},
		{"binary", []byte{0, 1, 2, 0xff, 0xfe, 0}},
		{"large note", bytes.Repeat([]byte("n"), 1<<20)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct, err := k.Seal(tt.plaintext, taxIDCell)
			if err != nil {
				t.Fatalf("Seal: %v", err)
			}
			if len(tt.plaintext) >= 4 && bytes.Contains(ct, tt.plaintext) {
				t.Fatal("ciphertext contains the plaintext")
			}
			got, err := k.Open(ct, taxIDCell)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !bytes.Equal(got, tt.plaintext) {
				t.Fatalf("Open = %q, want %q", got, tt.plaintext)
			}
		})
	}
}

func TestSealedValueMovedElsewhereDoesNotOpen(t *testing.T) {
	k, _ := newFirmKey(t, newKEK(t), "firm-a")
	sealedAt := Binding{FirmID: "firm-a", Table: "ab", Column: "c", RowID: "row-1"}
	ct, err := k.Seal([]byte("IBAN DE89 3704 0044 0532 0130 00"), sealedAt)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	tests := []struct {
		name   string
		openAt Binding
	}{
		{"another firm", Binding{FirmID: "firm-b", Table: "ab", Column: "c", RowID: "row-1"}},
		{"another table", Binding{FirmID: "firm-a", Table: "xy", Column: "c", RowID: "row-1"}},
		{"another column", Binding{FirmID: "firm-a", Table: "ab", Column: "d", RowID: "row-1"}},
		{"another row", Binding{FirmID: "firm-a", Table: "ab", Column: "c", RowID: "row-2"}},
		{"same bytes split differently", Binding{FirmID: "firm-a", Table: "a", Column: "bc", RowID: "row-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := k.Open(ct, tt.openAt); !errors.Is(err, ErrDecrypt) {
				t.Fatalf("Open at %+v: err = %v, want ErrDecrypt", tt.openAt, err)
			}
		})
	}
}

func TestValueSealedByAnotherFirmsKeyDoesNotOpen(t *testing.T) {
	kek := newKEK(t)
	keyA, _ := newFirmKey(t, kek, "firm-a")
	keyB, _ := newFirmKey(t, kek, "firm-b")
	ct, err := keyA.Seal([]byte("secret"), taxIDCell)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	// Even claiming firm B's binding, firm A's value does not open under B's key.
	atB := taxIDCell
	atB.FirmID = "firm-b"
	if _, err := keyB.Open(ct, atB); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("Open under another firm's key: err = %v, want ErrDecrypt", err)
	}
}

func TestTamperedCiphertextDoesNotOpen(t *testing.T) {
	k, _ := newFirmKey(t, newKEK(t), "firm-a")
	ct, err := k.Seal([]byte("0123456789012345"), taxIDCell)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	tampered := map[string][]byte{
		"empty":             {},
		"version only":      ct[:1],
		"truncated tag":     ct[:len(ct)-1],
		"appended byte":     append(bytes.Clone(ct), 0),
		"unknown version":   append([]byte{2}, ct[1:]...),
		"missing version":   ct[1:],
		"nonce and tag cut": ct[:1+12+16-1],
	}
	for i := range ct {
		flipped := bytes.Clone(ct)
		flipped[i] ^= 0x01
		tampered[fmt.Sprintf("bit flipped in byte %d", i)] = flipped
	}
	for name, bad := range tampered {
		t.Run(name, func(t *testing.T) {
			if _, err := k.Open(bad, taxIDCell); !errors.Is(err, ErrDecrypt) {
				t.Fatalf("Open: err = %v, want ErrDecrypt", err)
			}
		})
	}
}

func TestSameValueSealsDifferentlyEachTime(t *testing.T) {
	k, _ := newFirmKey(t, newKEK(t), "firm-a")
	plaintext := []byte("DE123456789")
	seen := map[string]bool{}
	for range 100 {
		ct, err := k.Seal(plaintext, taxIDCell)
		if err != nil {
			t.Fatalf("Seal: %v", err)
		}
		nonce := string(ct[1:13])
		if seen[nonce] || seen[string(ct)] {
			t.Fatal("nonce or ciphertext repeated")
		}
		seen[nonce], seen[string(ct)] = true, true
		if got, err := k.Open(ct, taxIDCell); err != nil || !bytes.Equal(got, plaintext) {
			t.Fatalf("Open = %q, %v", got, err)
		}
	}
}

func TestSealRefusesIncompleteOrForeignBinding(t *testing.T) {
	k, _ := newFirmKey(t, newKEK(t), "firm-a")
	tests := []struct {
		name string
		b    Binding
	}{
		{"no firm", Binding{Table: "clients", Column: "tax_id", RowID: "client-1"}},
		{"no table", Binding{FirmID: "firm-a", Column: "tax_id", RowID: "client-1"}},
		{"no column", Binding{FirmID: "firm-a", Table: "clients", RowID: "client-1"}},
		{"no row", Binding{FirmID: "firm-a", Table: "clients", Column: "tax_id"}},
		{"another firm than the key's", Binding{FirmID: "firm-b", Table: "clients", Column: "tax_id", RowID: "client-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if ct, err := k.Seal([]byte("x"), tt.b); err == nil {
				t.Fatalf("Seal at %+v = %x, want an error", tt.b, ct)
			}
		})
	}
}

func TestReopenedDataKeyReadsWhatTheNewKeySealed(t *testing.T) {
	kek := newKEK(t)
	k, wrapped := newFirmKey(t, kek, "firm-a")
	ct, err := k.Seal([]byte("totp secret"), taxIDCell)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	reopened, err := OpenDataKey(kek, "firm-a", wrapped)
	if err != nil {
		t.Fatalf("OpenDataKey: %v", err)
	}
	got, err := reopened.Open(ct, taxIDCell)
	if err != nil || string(got) != "totp secret" {
		t.Fatalf("Open with reopened key = %q, %v", got, err)
	}
	if a, b := k.BlindIndex("p", []byte("v")), reopened.BlindIndex("p", []byte("v")); !bytes.Equal(a, b) {
		t.Fatal("reopened key gives another blind index")
	}
}

func TestWrappedDataKeyOpensOnlyForItsFirmAndKEK(t *testing.T) {
	kek := newKEK(t)
	_, wrapped := newFirmKey(t, kek, "firm-a")
	tests := []struct {
		name    string
		kek     *KEK
		firmID  string
		wrapped []byte
	}{
		{"moved to another firm", kek, "firm-b", wrapped},
		{"firm id extended", kek, "firm-a ", wrapped},
		{"another KEK", newKEK(t), "firm-a", wrapped},
		{"bit flipped", kek, "firm-a", flipLastBit(wrapped)},
		{"truncated", kek, "firm-a", wrapped[:len(wrapped)-1]},
		{"empty", kek, "firm-a", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := OpenDataKey(tt.kek, tt.firmID, tt.wrapped); !errors.Is(err, ErrDecrypt) {
				t.Fatalf("OpenDataKey: err = %v, want ErrDecrypt", err)
			}
		})
	}
}

func flipLastBit(b []byte) []byte {
	out := bytes.Clone(b)
	out[len(out)-1] ^= 0x01
	return out
}

func TestDataKeysRefuseEmptyFirmID(t *testing.T) {
	kek := newKEK(t)
	if _, _, err := NewDataKey(kek, ""); err == nil {
		t.Error("NewDataKey with empty firm id succeeded")
	}
	_, wrapped := newFirmKey(t, kek, "firm-a")
	if _, err := OpenDataKey(kek, "", wrapped); err == nil {
		t.Error("OpenDataKey with empty firm id succeeded")
	}
}

func TestBlindIndexMatchesOnlyEqualValuesOfTheSameFirmAndPurpose(t *testing.T) {
	kek := newKEK(t)
	firmA, _ := newFirmKey(t, kek, "firm-a")
	firmB, _ := newFirmKey(t, kek, "firm-b")
	firmANewKey, _ := newFirmKey(t, kek, "firm-a")
	ref := firmA.BlindIndex("client tax id", []byte("DE123456789"))
	if len(ref) != sha256.Size {
		t.Fatalf("blind index is %d bytes, want %d", len(ref), sha256.Size)
	}
	tests := []struct {
		name  string
		index []byte
		same  bool
	}{
		{"same key, purpose and value", firmA.BlindIndex("client tax id", []byte("DE123456789")), true},
		{"another value", firmA.BlindIndex("client tax id", []byte("DE123456780")), false},
		{"another purpose", firmA.BlindIndex("contact email", []byte("DE123456789")), false},
		{"another firm", firmB.BlindIndex("client tax id", []byte("DE123456789")), false},
		{"another data key of the same firm", firmANewKey.BlindIndex("client tax id", []byte("DE123456789")), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := bytes.Equal(tt.index, ref); got != tt.same {
				t.Fatalf("index equal to reference = %v, want %v", got, tt.same)
			}
		})
	}
}

func TestNoBlindIndexPurposeCanReuseTheFieldKey(t *testing.T) {
	// A blind-index key is derived with info blindIndexInfo+purpose; it could
	// equal the field-encryption key only if some purpose made the two info
	// strings equal, which needs one to be a prefix of the other.
	if strings.HasPrefix(fieldEncryptionInfo, blindIndexInfo) {
		t.Fatalf("purpose %q would derive the field-encryption key", strings.TrimPrefix(fieldEncryptionInfo, blindIndexInfo))
	}
}

func TestParseKEKRejectsMalformedValuesWithoutEchoingThem(t *testing.T) {
	std := base64.StdEncoding.EncodeToString
	tests := []struct {
		name  string
		input string
		rule  string
	}{
		{"empty", "", "32 bytes"},
		{"16 bytes", std(bytes.Repeat([]byte("k"), 16)), "32 bytes"},
		{"31 bytes", std(bytes.Repeat([]byte("k"), 31)), "32 bytes"},
		{"33 bytes", std(bytes.Repeat([]byte("k"), 33)), "32 bytes"},
		{"64 bytes", std(bytes.Repeat([]byte("k"), 64)), "32 bytes"},
		{"not base64", "this-is-not-base64!!secretsecretsecretsecret", "base64"},
		{"url-safe alphabet", base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb, 0xff}, 16)), "base64"},
		{"missing padding", base64.RawStdEncoding.EncodeToString(bytes.Repeat([]byte("s"), 32)), "base64"},
		{"hex instead of base64", hex.EncodeToString(bytes.Repeat([]byte("s"), 32)), "32 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kek, err := ParseKEK(tt.input)
			if err == nil {
				t.Fatalf("ParseKEK accepted %s as %v", tt.name, kek)
			}
			if !errors.Is(err, ErrInvalidKEK) {
				t.Errorf("err = %v, want ErrInvalidKEK", err)
			}
			if !strings.Contains(err.Error(), tt.rule) {
				t.Errorf("err = %q, want it to name the rule %q", err, tt.rule)
			}
			if tt.input != "" && strings.Contains(err.Error(), tt.input[:min(8, len(tt.input))]) {
				t.Errorf("err = %q echoes the input", err)
			}
		})
	}
}

func TestParseKEKAcceptsGeneratedKeysWithSurroundingWhitespace(t *testing.T) {
	generated := GenerateKEK()
	if generated == GenerateKEK() {
		t.Fatal("GenerateKEK returned the same key twice")
	}
	a, err := ParseKEK(generated)
	if err != nil {
		t.Fatalf("ParseKEK: %v", err)
	}
	b, err := ParseKEK("  " + generated + "\n")
	if err != nil {
		t.Fatalf("ParseKEK with whitespace: %v", err)
	}
	_, wrapped := newFirmKey(t, a, "firm-a")
	if _, err := OpenDataKey(b, "firm-a", wrapped); err != nil {
		t.Fatalf("same KEK parsed twice does not open its own wrapped key: %v", err)
	}
}

func TestKEKIDIsShortHashOfTheKey(t *testing.T) {
	raw := bytes.Repeat([]byte{0x42}, KeySize)
	kek, err := ParseKEK(base64.StdEncoding.EncodeToString(raw))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	if want := hex.EncodeToString(sum[:])[:8]; kek.KEKID() != want {
		t.Fatalf("KEKID = %q, want %q", kek.KEKID(), want)
	}
	if newKEK(t).KEKID() == kek.KEKID() {
		t.Fatal("two KEKs share an id")
	}
}

func TestKeysStayOutOfFormattedAndLoggedOutput(t *testing.T) {
	raw := bytes.Repeat([]byte{0xab}, KeySize)
	b64 := base64.StdEncoding.EncodeToString(raw)
	kek, err := ParseKEK(b64)
	if err != nil {
		t.Fatal(err)
	}
	dk, _ := newFirmKey(t, kek, "firm-a")
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("keys", "kek", kek, "data_key", dk)
	out := fmt.Sprintf("%v %+v %#v %s %q %x", kek, kek, kek, kek, kek, kek) +
		fmt.Sprintf("%v %+v %#v %s", dk, dk, dk, dk) + logged.String()
	for _, leak := range []string{b64, hex.EncodeToString(raw), hex.EncodeToString(dk.prk), string(raw[:8])} {
		if strings.Contains(out, leak) {
			t.Fatalf("formatted output contains key material: %s", out)
		}
	}
	if !strings.Contains(out, kek.KEKID()) || !strings.Contains(out, "firm-a") {
		t.Fatalf("formatted output lost the KEK id or firm: %s", out)
	}
}

func TestDestroyedDataKeyRefusesUse(t *testing.T) {
	k, _ := newFirmKey(t, newKEK(t), "firm-a")
	ct, err := k.Seal([]byte("x"), taxIDCell)
	if err != nil {
		t.Fatal(err)
	}
	prk := k.prk
	k.Destroy()
	if !bytes.Equal(prk, make([]byte, len(prk))) {
		t.Error("Destroy left key material in memory")
	}
	if _, err := k.Seal([]byte("x"), taxIDCell); !errors.Is(err, ErrKeyDestroyed) {
		t.Errorf("Seal after Destroy: err = %v, want ErrKeyDestroyed", err)
	}
	if _, err := k.Open(ct, taxIDCell); !errors.Is(err, ErrKeyDestroyed) {
		t.Errorf("Open after Destroy: err = %v, want ErrKeyDestroyed", err)
	}
	defer func() {
		if recover() == nil {
			t.Error("BlindIndex after Destroy did not panic")
		}
	}()
	k.BlindIndex("p", []byte("v"))
}

// The golden values were produced once and cross-checked against an
// independent implementation (Python's cryptography package) of the formats
// documented here. They pin the stored formats: a change that breaks this test
// would make every stored value, wrapped key and blind index unreadable.
func TestStoredFormatsStayReadable(t *testing.T) {
	kek, err := ParseKEK(base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef")))
	if err != nil {
		t.Fatal(err)
	}
	if kek.KEKID() != "3eb1bd43" {
		t.Errorf("KEKID = %q, want 3eb1bd43", kek.KEKID())
	}
	wrapped := mustHex(t, "01ccbdda4427541388779a0ed57b58482ad118e1888dd8132b321d585b00f3b782db7d7c29b9db60252469b95614defaf4308fb8f0f51e806f30e98d4b")
	k, err := OpenDataKey(kek, "firm-golden", wrapped)
	if err != nil {
		t.Fatalf("OpenDataKey(golden): %v", err)
	}
	b := Binding{FirmID: "firm-golden", Table: "clients", Column: "tax_id", RowID: "client-1"}
	got, err := k.Open(mustHex(t, "016b9612bd2ec4fc403a382cdf81ae7f1cd23e5fcfaf8497f16e0d65f681009d766da3bdb39b8ca3"), b)
	if err != nil || string(got) != "DE123456789" {
		t.Fatalf("Open(golden) = %q, %v; want DE123456789", got, err)
	}
	index := hex.EncodeToString(k.BlindIndex("client tax id", []byte("DE123456789")))
	if want := "41c668ae729b3485a522397523b85a2ef2aab1233f434fdce325cac36dec957f"; index != want {
		t.Fatalf("BlindIndex(golden) = %s, want %s", index, want)
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func FuzzOpenNeverPanicsOnHostileInput(f *testing.F) {
	k, _ := newFirmKey(f, newKEK(f), "firm-a")
	ct, err := k.Seal([]byte("seed"), taxIDCell)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ct)
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, data []byte) {
		plaintext, err := k.Open(data, taxIDCell)
		if err == nil && !bytes.Equal(data, ct) {
			t.Fatalf("forged ciphertext opened to %q", plaintext)
		}
		if err != nil && !errors.Is(err, ErrDecrypt) {
			t.Fatalf("err = %v, want ErrDecrypt", err)
		}
	})
}

func BenchmarkSeal(b *testing.B) {
	k, _ := newFirmKey(b, newKEK(b), "firm-a")
	value := bytes.Repeat([]byte("v"), 64)
	b.SetBytes(int64(len(value)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Seal(value, taxIDCell); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	k, _ := newFirmKey(b, newKEK(b), "firm-a")
	value := bytes.Repeat([]byte("v"), 64)
	ct, err := k.Seal(value, taxIDCell)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(value)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Open(ct, taxIDCell); err != nil {
			b.Fatal(err)
		}
	}
}
