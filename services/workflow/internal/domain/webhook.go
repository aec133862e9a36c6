package domain

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/firmflow/firmflow/pkg/apierr"
)

// WebhookSubscription is a firm's endpoint for its workflow changes.
type WebhookSubscription struct {
	ID         string
	FirmID     string
	URL        string
	EventTypes []string
	State      WebhookState
	// Secret is the signing secret ("whsec_..."), in clear only inside a use case.
	Secret string
	// PreviousSecret signs alongside Secret until PreviousSecretExpireTime.
	PreviousSecret           string
	PreviousSecretExpireTime time.Time
	DisableReason            string
	DisableTime              time.Time
	FailingSince             time.Time
	Version                  int64
	CreateTime               time.Time
	UpdateTime               time.Time
}

// WebhookState is whether a subscription is sent to.
type WebhookState string

const (
	WebhookActive   WebhookState = "active"
	WebhookDisabled WebhookState = "disabled"
)

// Webhook delivery timing: attempts back off from WebhookRetryMin, doubling up to
// WebhookRetryMax, and stop WebhookRetryHorizon after the change; a subscription
// that has failed every attempt for WebhookDisableAfter is disabled.
const (
	WebhookRetryMin     = 5 * time.Second
	WebhookRetryMax     = time.Hour
	WebhookRetryHorizon = 24 * time.Hour
	WebhookDisableAfter = 24 * time.Hour
	// DefaultSecretOverlap is how long a rotated secret keeps signing by default.
	DefaultSecretOverlap = 24 * time.Hour
)

// WebhookEventTypes are the kinds of change a subscription may ask for; "*" asks for
// all of them.
var WebhookEventTypes = []string{
	"client.created", "client.updated", "client.deleted",
	"contact.created", "contact.updated", "contact.deleted",
	"client_contact.created", "client_contact.updated", "client_contact.deleted",
	"custom_field.created", "custom_field.updated", "custom_field.deleted",
	"template.created", "template.updated", "template.deleted",
	"project.created", "project.updated", "project.deleted",
	"task.created", "task.updated", "task.deleted",
	"series.created", "series.updated", "series.deleted",
	"member_capacity.updated",
}

// AllWebhookEvents is the event type that subscribes to every kind.
const AllWebhookEvents = "*"

// WebhookURLRules say which endpoints a subscription may name. AllowLoopback is for
// tests and a developer's machine only.
type WebhookURLRules struct {
	AllowLoopback bool
}

// Problems lists what is wrong with the subscription's url and event types.
func (s WebhookSubscription) Problems(rules WebhookURLRules) []apierr.FieldViolation {
	var out []apierr.FieldViolation
	add := func(field, rule, desc string) {
		out = append(out, apierr.FieldViolation{Field: field, Rule: rule, Description: desc})
	}
	if rule, desc := checkWebhookURL(s.URL, rules); rule != "" {
		add("url", rule, desc)
	}
	if len(s.EventTypes) == 0 {
		add("event_types", "required", "name at least one event type, e.g. client.updated, or \"*\" for all")
	}
	for _, t := range s.EventTypes {
		if t != AllWebhookEvents && !slices.Contains(WebhookEventTypes, t) {
			add("event_types", "event_type.known", fmt.Sprintf("%q is not an event type; known: %s", t, strings.Join(WebhookEventTypes, ", ")))
			break
		}
	}
	return out
}

// checkWebhookURL answers the rule a url breaks and why, or "" when it is allowed.
// Host names are checked again where it matters, at dial time (AddressAllowed),
// since DNS can answer anything.
func checkWebhookURL(raw string, rules WebhookURLRules) (rule, desc string) {
	if raw == "" {
		return "required", "the https:// URL deliveries are sent to"
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return "url.absolute", "an absolute https:// URL"
	}
	host := u.Hostname()
	loopback := isLoopbackHost(host)
	switch {
	case u.Scheme != "https" && !(u.Scheme == "http" && loopback && rules.AllowLoopback):
		return "url.https", "deliveries go over https:// only"
	case u.User != nil:
		return "url.no_credentials", "no user name or password in the URL; deliveries are authenticated by their signature"
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return "url.no_fragment", "no #fragment"
	case host == "":
		return "url.absolute", "an absolute https:// URL"
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if !AddressAllowed(ip, rules) {
			return "url.public_address", "the host must be a public internet address, not a private, loopback, link-local or shared one"
		}
	} else if loopback && !rules.AllowLoopback || !strings.Contains(host, ".") && !loopback {
		return "url.public_address", "the host must be a public internet name"
	} else if strings.HasSuffix(strings.ToLower(host), ".local") || strings.HasSuffix(strings.ToLower(host), ".internal") {
		return "url.public_address", "the host must be a public internet name"
	}
	return "", ""
}

func isLoopbackHost(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.Unmap().IsLoopback()
}

// Address ranges a delivery never goes to (besides loopback, link-local, private,
// multicast and unspecified, which netip knows): shared address space (CGNAT,
// RFC 6598), benchmarking, documentation, IPv4 "this network", reserved, NAT64 and
// discard prefixes.
var blockedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("100::/64"),
	netip.MustParsePrefix("2001:db8::/32"),
}

// AddressAllowed reports whether a delivery may connect to ip: a public unicast
// address, or loopback when the rules allow it.
func AddressAllowed(ip netip.Addr, rules WebhookURLRules) bool {
	ip = ip.Unmap()
	if ip.IsLoopback() {
		return rules.AllowLoopback
	}
	if !ip.IsValid() || ip.IsUnspecified() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() {
		return false
	}
	for _, p := range blockedPrefixes {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// WebhookSecretPrefix starts every signing secret, as Standard Webhooks suggests.
const WebhookSecretPrefix = "whsec_"

// NewWebhookSecret returns a new signing secret: "whsec_" and 32 random bytes in
// base64.
func NewWebhookSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return WebhookSecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// WebhookSignature is the Standard Webhooks signature of one message with one
// secret: "v1," and the base64 HMAC-SHA256 of "<id>.<unix seconds>.<body>" keyed
// with the secret's bytes.
func WebhookSignature(secret, msgID string, at time.Time, body []byte) (string, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, WebhookSecretPrefix))
	if err != nil {
		return "", fmt.Errorf("webhook secret is not base64: %w", err)
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%d.", msgID, at.Unix())
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)), nil
}

// Signatures is the webhook-signature header of a message sent at: one signature per
// secret that signs at that time, space-separated.
func (s WebhookSubscription) Signatures(msgID string, at time.Time, body []byte) (string, error) {
	secrets := []string{s.Secret}
	if s.PreviousSecret != "" && at.Before(s.PreviousSecretExpireTime) {
		secrets = append(secrets, s.PreviousSecret)
	}
	var sigs []string
	for _, secret := range secrets {
		sig, err := WebhookSignature(secret, msgID, at, body)
		if err != nil {
			return "", err
		}
		sigs = append(sigs, sig)
	}
	return strings.Join(sigs, " "), nil
}

// RotateSecret makes secret the signing secret; the one it replaces signs too until
// now+overlap (not at all with a zero overlap).
func (s *WebhookSubscription) RotateSecret(secret string, now time.Time, overlap time.Duration) {
	s.PreviousSecret, s.PreviousSecretExpireTime = "", time.Time{}
	if overlap > 0 {
		s.PreviousSecret, s.PreviousSecretExpireTime = s.Secret, now.Add(overlap)
	}
	s.Secret = secret
}

// Enable sends to the subscription again after it was disabled.
func (s *WebhookSubscription) Enable() {
	s.State, s.DisableReason, s.DisableTime, s.FailingSince = WebhookActive, "", time.Time{}, time.Time{}
}

// Wants reports whether the subscription asked for the event type.
func (s WebhookSubscription) Wants(eventType string) bool {
	return slices.Contains(s.EventTypes, AllWebhookEvents) || slices.Contains(s.EventTypes, eventType)
}

// WebhookChange is one workflow change as webhooks send it: names only.
type WebhookChange struct {
	// Type is one of WebhookEventTypes.
	Type string
	// Object is the resource name of what changed.
	Object        string
	ChangedFields []string
	OccurredAt    time.Time
}

// WebhookDelivery is one message to a subscription's endpoint.
type WebhookDelivery struct {
	ID             string
	FirmID         string
	SubscriptionID string
	Change         WebhookChange
	Sequence       int64
	ChangeCount    int
	Revision       int
	State          DeliveryState
	Attempts       int
	LastStatusCode int
	LastError      string
	CreateTime     time.Time
	ExpireTime     time.Time
	NextAttempt    time.Time
	LastAttempt    time.Time
	DeliverTime    time.Time
	RedeliveryOf   string
}

// DeliveryState is where a delivery is in its life.
type DeliveryState string

const (
	DeliveryPending   DeliveryState = "pending"
	DeliverySucceeded DeliveryState = "succeeded"
	DeliveryFailed    DeliveryState = "failed"
)

// MessageID is the webhook-id header: the delivery and the revision of its payload,
// so a payload a newer change replaced is never mistaken by the receiver for a copy
// of the one before.
func (d WebhookDelivery) MessageID() string { return fmt.Sprintf("%s_%d", d.ID, d.Revision) }

// RetryDelay is the wait after the given number of failed attempts: WebhookRetryMin
// doubling to WebhookRetryMax.
func RetryDelay(failedAttempts int) time.Duration {
	d := WebhookRetryMin
	for i := 1; i < failedAttempts && d < WebhookRetryMax; i++ {
		d *= 2
	}
	return min(d, WebhookRetryMax)
}

// AttemptOutcome is what one attempt to deliver came to.
type AttemptOutcome struct {
	StatusCode int
	// Err is a short reason for people ("timeout", "http 500"), "" on success.
	Err string
}

// Succeeded reports whether the receiver took the delivery.
func (o AttemptOutcome) Succeeded() bool {
	return o.Err == "" && o.StatusCode >= 200 && o.StatusCode < 300
}

// Failed records a failed attempt at now: the delivery waits for its next attempt,
// or fails for good past its horizon. It reports whether the subscription has now
// failed long enough to be disabled.
func (d *WebhookDelivery) Failed(s *WebhookSubscription, o AttemptOutcome, now time.Time) (disable bool) {
	d.LastStatusCode, d.LastError = o.StatusCode, o.Err
	next := now.Add(RetryDelay(d.Attempts))
	if next.After(d.ExpireTime) {
		d.State, d.NextAttempt = DeliveryFailed, time.Time{}
	} else {
		d.NextAttempt = next
	}
	if s.FailingSince.IsZero() {
		s.FailingSince = now
	}
	// Sustained failure: a day of nothing but failures, or a delivery given up after
	// its day of attempts (all failed, or FailingSince would have been reset).
	if s.State == WebhookActive && (now.Sub(s.FailingSince) >= WebhookDisableAfter || d.State == DeliveryFailed) {
		s.State, s.DisableTime = WebhookDisabled, now
		s.DisableReason = fmt.Sprintf("every delivery failed from %s to %s; the last: %s",
			s.FailingSince.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), o.Err)
		return true
	}
	return false
}

// Succeeded records that the receiver took the delivery at now.
func (d *WebhookDelivery) Succeeded(s *WebhookSubscription, o AttemptOutcome, now time.Time) {
	d.State, d.LastStatusCode, d.LastError, d.DeliverTime, d.NextAttempt = DeliverySucceeded, o.StatusCode, "", now, time.Time{}
	s.FailingSince = time.Time{}
}
