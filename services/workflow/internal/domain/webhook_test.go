package domain

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestWebhookAddressesAllowedArePublicUnicastOnly(t *testing.T) {
	for addr, want := range map[string]bool{
		"93.184.215.14": true, "2606:2800:21f:cb07:6820:80da:af6b:8b2c": true, "1.1.1.1": true,
		"10.1.2.3": false, "172.16.0.1": false, "192.168.1.1": false, // private
		"127.0.0.1": false, "::1": false, "::ffff:127.0.0.1": false, // loopback, also mapped
		"169.254.169.254": false, "fe80::1": false, // link-local (cloud metadata)
		"100.64.0.1": false, "100.127.255.254": false, // CGNAT
		"fd12:3456::1": false, "fc00::1": false, // ULA
		"0.0.0.0": false, "::": false, "224.0.0.1": false, "ff02::1": false, "255.255.255.255": false,
		"198.18.0.1": false, "192.0.2.1": false, "64:ff9b::a00:1": false,
	} {
		if got := AddressAllowed(netip.MustParseAddr(addr), WebhookURLRules{}); got != want {
			t.Errorf("%s allowed = %v, want %v", addr, got, want)
		}
	}
	if !AddressAllowed(netip.MustParseAddr("127.0.0.1"), WebhookURLRules{AllowLoopback: true}) {
		t.Error("loopback refused with the allow-list on")
	}
	if AddressAllowed(netip.MustParseAddr("10.0.0.1"), WebhookURLRules{AllowLoopback: true}) {
		t.Error("the loopback allow-list let a private address in")
	}
}

func TestWebhookRetriesBackOffToAnHour(t *testing.T) {
	want := []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second}
	for i, w := range want {
		if got := RetryDelay(i + 1); got != w {
			t.Errorf("after %d failures wait %v, want %v", i+1, got, w)
		}
	}
	if got := RetryDelay(40); got != time.Hour {
		t.Errorf("after 40 failures wait %v, want 1h", got)
	}
}

func TestWebhookRotatedSecretSignsUntilTheOverlapEnds(t *testing.T) {
	now := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
	s := WebhookSubscription{Secret: NewWebhookSecret()}
	old := s.Secret
	s.RotateSecret(NewWebhookSecret(), now, time.Hour)
	body := []byte(`{"type":"client.created"}`)
	during, _ := s.Signatures("msg_1", now.Add(time.Minute), body)
	after, _ := s.Signatures("msg_1", now.Add(2*time.Hour), body)
	oldSig, _ := WebhookSignature(old, "msg_1", now.Add(time.Minute), body)
	newSig, _ := WebhookSignature(s.Secret, "msg_1", now.Add(time.Minute), body)
	if during != newSig+" "+oldSig {
		t.Errorf("during the overlap: %q, want the new and the old signature", during)
	}
	if strings.Contains(after, " ") || !strings.HasPrefix(after, "v1,") {
		t.Errorf("after the overlap: %q, want one v1 signature", after)
	}
}

func TestWebhookDeliveryGivesUpAfterItsDayAndDisablesTheSubscription(t *testing.T) {
	start := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
	s := WebhookSubscription{State: WebhookActive}
	d := WebhookDelivery{State: DeliveryPending, ExpireTime: start.Add(WebhookRetryHorizon)}
	now := start
	for d.State == DeliveryPending {
		d.Attempts++
		if d.Failed(&s, AttemptOutcome{StatusCode: 503, Err: "http 503"}, now) {
			break
		}
		now = d.NextAttempt
	}
	if d.State != DeliveryFailed || s.State != WebhookDisabled || s.DisableReason == "" {
		t.Fatalf("after %d attempts over %v: delivery %s, subscription %s", d.Attempts, now.Sub(start), d.State, s.State)
	}
	if now.Sub(start) < 23*time.Hour {
		t.Errorf("gave up after %v, want about 24h", now.Sub(start))
	}
}
