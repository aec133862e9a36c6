package e2e

import (
	"context"
	"crypto/tls"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/pquerna/otp/totp"

	"github.com/firmflow/firmflow/cmd/firmflow/internal/e2e/harness"
	identityv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/identity/v1"
	"github.com/firmflow/firmflow/pkg/natsx"
)

// TestFirmLifecycleAsBrowserAndIntegration walks the identity API the way a firm
// uses it: sign-up, login with and without TOTP, inviting a member, API keys for a
// CRM through creation, use, rotation and revocation, and logout.
func TestFirmLifecycleAsBrowserAndIntegration(t *testing.T) {
	t.Parallel()
	sys := start(t, nil)
	alpha := sys.signUp(t, "alpha")
	owner := alpha.client
	var secrets []string // every credential handed out, to look for in the logs

	caller := message[*identityv1.Caller](t, want(t, owner.do("GET", "/v1/caller", nil), http.StatusOK, "caller"))
	if caller.GetMember().GetRole() != identityv1.Role_ROLE_OWNER || caller.GetFirm().GetName() != alpha.name {
		t.Fatalf("caller = %v", caller)
	}

	t.Run("cookie writes need the CSRF header", func(t *testing.T) {
		csrf := owner.csrf
		owner.csrf = ""
		r := want(t, owner.do("PATCH", "/v1/"+alpha.name+"?update_mask=display_name", map[string]any{"display_name": "Hijacked"}),
			http.StatusForbidden, "write without CSRF token")
		if r.reason() != "CSRF_TOKEN_INVALID" {
			t.Errorf("reason %q", r.reason())
		}
		owner.csrf = "forged-" + csrf
		want(t, owner.do("PATCH", "/v1/"+alpha.name+"?update_mask=display_name", map[string]any{"display_name": "Hijacked"}),
			http.StatusForbidden, "write with a forged CSRF token")
		owner.csrf = csrf
		firm := message[*identityv1.Firm](t, want(t, owner.do("GET", "/v1/"+alpha.name, nil), http.StatusOK, "get firm"))
		if firm.GetDisplayName() != "alpha Bookkeeping" {
			t.Errorf("refused writes changed the firm: %v", firm)
		}
	})

	t.Run("TOTP enrollment makes login ask for a code", func(t *testing.T) {
		begin := message[*identityv1.BeginTotpEnrollmentResponse](t, want(t, owner.do("POST", "/v1/caller/totp:begin", map[string]any{}), http.StatusOK, "begin TOTP"))
		secret := begin.GetSecret()
		if !strings.HasPrefix(begin.GetOtpauthUri(), "otpauth://totp/") || secret == "" {
			t.Fatalf("begin = %v", begin)
		}
		secrets = append(secrets, secret)
		code, _ := totp.GenerateCode(secret, time.Now())
		confirmed := message[*identityv1.Member](t, want(t, owner.do("POST", "/v1/caller/totp:confirm", map[string]any{"code": code}), http.StatusOK, "confirm TOTP"))
		if !confirmed.GetTotpEnabled() {
			t.Fatalf("confirm = %v", confirmed)
		}
		other := sys.browser()
		r := want(t, other.do("POST", "/v1/login", map[string]any{"email": alpha.email, "password": password}),
			http.StatusBadRequest, "login without code")
		if r.reason() != "TOTP_REQUIRED" {
			t.Errorf("reason %q", r.reason())
		}
		want(t, other.do("POST", "/v1/login", map[string]any{"email": alpha.email, "password": password, "totp_code": code}),
			http.StatusUnauthorized, "login replaying the enrollment code")
		next, _ := totp.GenerateCode(secret, time.Now().Add(30*time.Second))
		other.login(t, alpha.email, next)
		want(t, other.do("GET", "/v1/caller", nil), http.StatusOK, "caller after TOTP login")
	})

	var memberClient *client
	var memberName string
	t.Run("an invited member joins and cannot do an admin's work", func(t *testing.T) {
		inv := message[*identityv1.Invitation](t, want(t, owner.do("POST", "/v1/"+alpha.name+"/invitations", map[string]any{
			"email": "staff@alpha.example", "role": "ROLE_MEMBER",
		}), http.StatusCreated, "invite"))
		if inv.GetToken() != "" {
			t.Errorf("the invitation token went back to the inviter although mail is on: %v", inv)
		}
		token := sys.mailToken(t, "staff@alpha.example", "invited you", invitationTokenPattern)
		secrets = append(secrets, token)
		list := message[*identityv1.ListInvitationsResponse](t, want(t, owner.do("GET", "/v1/"+alpha.name+"/invitations", nil), http.StatusOK, "list invitations"))
		if n := len(list.GetInvitations()); n != 1 || list.GetInvitations()[0].GetToken() != "" {
			t.Errorf("invitations listed: %v", list)
		}
		anon := sys.browser()
		m := want(t, anon.do("POST", "/v1/invitations:accept", map[string]any{
			"token": token, "display_name": "Sam Staff", "password": password,
		}), http.StatusCreated, "accept invitation")
		memberName = message[*identityv1.Member](t, m).GetName()
		want(t, anon.do("POST", "/v1/invitations:accept", map[string]any{
			"token": token, "display_name": "Sam Again", "password": password,
		}), http.StatusBadRequest, "accept twice")

		memberClient = sys.browser()
		memberClient.login(t, "staff@alpha.example", "")
		want(t, memberClient.do("GET", "/v1/"+alpha.name+"/members", nil), http.StatusOK, "member lists members")
		for _, c := range []struct {
			method, path string
			body         any
		}{
			{"POST", "/v1/" + alpha.name + "/apiKeys", map[string]any{"display_name": "x", "scopes": []string{"clients:read"}}},
			{"POST", "/v1/" + alpha.name + "/invitations", map[string]any{"email": "x@alpha.example", "role": "ROLE_ADMIN"}},
			{"PATCH", "/v1/" + alpha.name + "?update_mask=require_totp", map[string]any{"require_totp": true}},
			{"PATCH", "/v1/" + memberName + "?update_mask=role", map[string]any{"role": "ROLE_OWNER"}},
			{"DELETE", "/v1/" + alpha.owner, nil},
			{"GET", "/v1/" + alpha.name + "/apiKeys", nil},
		} {
			r := want(t, memberClient.do(c.method, c.path, c.body), http.StatusForbidden, "member "+c.method+" "+c.path)
			if r.reason() != "ROLE_NOT_ALLOWED" {
				t.Errorf("member %s %s: reason %q", c.method, c.path, r.reason())
			}
		}
		self := message[*identityv1.Caller](t, want(t, memberClient.do("GET", "/v1/caller", nil), http.StatusOK, "member caller"))
		if self.GetMember().GetRole() != identityv1.Role_ROLE_MEMBER {
			t.Errorf("member escalated: %v", self)
		}
	})

	t.Run("API keys are created, used, rotated and revoked", func(t *testing.T) {
		created := message[*identityv1.ApiKey](t, want(t, owner.do("POST", "/v1/"+alpha.name+"/apiKeys", map[string]any{
			"display_name": "HubSpot sync", "scopes": []string{"identity:read"},
		}), http.StatusCreated, "create API key"))
		key, keyName := created.GetSecret(), created.GetName()
		if !strings.HasPrefix(key, "ffk_") || created.GetPrefix() == "" || !strings.HasPrefix(key, created.GetPrefix()) {
			t.Fatalf("created = %s", created.GetName())
		}
		secrets = append(secrets, key)
		crm := sys.integration(key)
		want(t, crm.do("GET", "/v1/"+alpha.name, nil), http.StatusOK, "integration reads the firm")
		want(t, crm.do("GET", "/v1/"+alpha.name+"/members", nil), http.StatusOK, "integration lists members")
		r := want(t, crm.do("POST", "/v1/"+alpha.name+"/invitations", map[string]any{"email": "y@alpha.example", "role": "ROLE_MEMBER"}),
			http.StatusForbidden, "read-only key writes")
		if r.reason() != "SCOPE_MISSING" {
			t.Errorf("reason %q", r.reason())
		}
		want(t, crm.do("POST", "/v1/"+alpha.name+"/apiKeys", map[string]any{"display_name": "mint", "scopes": []string{"identity:write"}}),
			http.StatusForbidden, "a key minting keys")

		got := message[*identityv1.ApiKey](t, want(t, owner.do("GET", "/v1/"+keyName, nil), http.StatusOK, "get key"))
		if got.GetSecret() != "" || got.GetState() != identityv1.ApiKeyState_API_KEY_STATE_ACTIVE || got.GetLastUsedTime() == nil {
			t.Errorf("get key = %v", got)
		}

		rotated := message[*identityv1.ApiKey](t, want(t, owner.do("POST", "/v1/"+keyName+":rotate", map[string]any{"overlap": "3600s"}), http.StatusCreated, "rotate"))
		next := rotated.GetSecret()
		secrets = append(secrets, next)
		if next == "" || next == key || rotated.GetRotatedFrom() != keyName {
			t.Fatalf("rotated = %s from %s", rotated.GetName(), rotated.GetRotatedFrom())
		}
		want(t, crm.do("GET", "/v1/"+alpha.name, nil), http.StatusOK, "old key during the overlap")
		nextCRM := sys.integration(next)
		want(t, nextCRM.do("GET", "/v1/"+alpha.name, nil), http.StatusOK, "new key")
		keys := want(t, owner.do("GET", "/v1/"+alpha.name+"/apiKeys", nil), http.StatusOK, "list keys")
		if n := len(message[*identityv1.ListApiKeysResponse](t, keys).GetApiKeys()); n != 2 {
			t.Errorf("%d keys listed, want 2", n)
		}
		if strings.Contains(string(keys.raw), key) || strings.Contains(string(keys.raw), next) {
			t.Error("key list shows secrets")
		}

		want(t, owner.do("POST", "/v1/"+keyName+":revoke", map[string]any{}), http.StatusOK, "revoke")
		r = want(t, crm.do("GET", "/v1/"+alpha.name, nil), http.StatusUnauthorized, "revoked key")
		if r.reason() != "API_KEY_INACTIVE" {
			t.Errorf("revoked key reason %q", r.reason())
		}
		want(t, nextCRM.do("GET", "/v1/"+alpha.name, nil), http.StatusOK, "successor after the old key's revocation")
		want(t, sys.integration("ffk_made-up").do("GET", "/v1/"+alpha.name, nil), http.StatusUnauthorized, "unknown key")
	})

	t.Run("a firm requiring TOTP lets unenrolled members only enroll", func(t *testing.T) {
		etag := message[*identityv1.Firm](t, want(t, owner.do("GET", "/v1/"+alpha.name, nil), http.StatusOK, "firm")).GetEtag()
		want(t, owner.do("PATCH", "/v1/"+alpha.name+"?update_mask=require_totp", map[string]any{"require_totp": true, "etag": etag}),
			http.StatusOK, "require TOTP")
		strict := sys.browser()
		strict.login(t, "staff@alpha.example", "")
		r := want(t, strict.do("GET", "/v1/"+alpha.name+"/members", nil), http.StatusForbidden, "unenrolled member reads members")
		if r.reason() != "TOTP_ENROLLMENT_REQUIRED" {
			t.Errorf("reason %q", r.reason())
		}
		want(t, strict.do("GET", "/v1/caller", nil), http.StatusOK, "unenrolled member sees who they are")
		begin := message[*identityv1.BeginTotpEnrollmentResponse](t, want(t, strict.do("POST", "/v1/caller/totp:begin", map[string]any{}), http.StatusOK, "member begins TOTP"))
		secrets = append(secrets, begin.GetSecret())
		code, _ := totp.GenerateCode(begin.GetSecret(), time.Now())
		want(t, strict.do("POST", "/v1/caller/totp:confirm", map[string]any{"code": code}), http.StatusOK, "member confirms TOTP")
		want(t, strict.do("GET", "/v1/"+alpha.name+"/members", nil), http.StatusOK, "enrolled member reads members")
	})

	t.Run("removing a member ends their sessions at once", func(t *testing.T) {
		want(t, owner.do("DELETE", "/v1/"+memberName, nil), http.StatusOK, "remove member")
		want(t, memberClient.do("GET", "/v1/caller", nil), http.StatusUnauthorized, "removed member's session")
	})

	t.Run("sessions are listed and logout ends the current one", func(t *testing.T) {
		sessions := message[*identityv1.ListSessionsResponse](t, want(t, owner.do("GET", "/v1/sessions", nil), http.StatusOK, "list sessions"))
		if len(sessions.GetSessions()) < 2 {
			t.Errorf("sessions = %v", sessions)
		}
		r := want(t, owner.do("POST", "/v1/logout", map[string]any{}), http.StatusOK, "logout")
		if !strings.Contains(r.header.Get("Set-Cookie"), "Max-Age=0") {
			t.Errorf("logout did not clear the cookie: %q", r.header.Get("Set-Cookie"))
		}
		want(t, owner.do("GET", "/v1/caller", nil), http.StatusUnauthorized, "after logout")
	})

	logs := sys.logs.String()
	for _, s := range append(secrets, password) {
		if strings.Contains(logs, s) {
			t.Errorf("a credential (%.6s...) appears in the logs", s)
		}
	}
	if strings.Contains(logs, "ffs_") {
		t.Error("a session token appears in the logs")
	}
}

// TestIdentityEventsReachJetStream checks that sign-up leaves through the outbox
// to NATS with the event id as the message id.
func TestIdentityEventsReachJetStream(t *testing.T) {
	t.Parallel()
	sys := start(t, nil)
	f := sys.signUp(t, "events")
	firmID := strings.TrimPrefix(f.name, "firms/")
	nc, js, err := natsx.Connect(sys.nats, "e2e")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	stream, err := js.Stream(ctx, "FIRMFLOW_IDENTITY")
	if err != nil {
		t.Fatal(err)
	}
	consumer, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for len(seen) < 2 {
		msg, err := consumer.Next(jetstream.FetchMaxWait(10 * time.Second))
		if err != nil {
			t.Fatalf("waiting for events (seen %v): %v", seen, err)
		}
		if msg.Headers().Get("Nats-Msg-Id") == "" || msg.Headers().Get("Firmflow-Firm-Id") == "" {
			t.Errorf("event %s without ids: %v", msg.Subject(), msg.Headers())
		}
		// The stack is shared: other tests' firms have events in the stream too.
		if msg.Headers().Get("Firmflow-Firm-Id") == firmID {
			seen[msg.Subject()] = true
		}
	}
	for _, subject := range []string{"firmflow.identity.firm_created", "firmflow.identity.member_joined"} {
		if !seen[subject] {
			t.Errorf("no %s event; saw %v", subject, seen)
		}
	}
}

// TestOldTLSVersionsAreRefused tries TLS 1.0 and 1.1 handshakes against the gateway.
func TestOldTLSVersionsAreRefused(t *testing.T) {
	t.Parallel()
	sys := start(t, nil)
	host := strings.TrimPrefix(sys.url, "https://")
	for _, v := range []struct {
		name    string
		version uint16
		ok      bool
	}{
		{"TLS 1.0", tls.VersionTLS10, false},
		{"TLS 1.1", tls.VersionTLS11, false},
		{"TLS 1.2", tls.VersionTLS12, true},
		{"TLS 1.3", tls.VersionTLS13, true},
	} {
		conn, err := tls.Dial("tcp", host, &tls.Config{RootCAs: sys.ca, MinVersion: v.version, MaxVersion: v.version})
		if err == nil {
			conn.Close()
		}
		if (err == nil) != v.ok {
			t.Errorf("%s handshake: err = %v, want success %v", v.name, err, v.ok)
		}
	}
}

// TestRevocationBitesOnTheNextRequestUnderLoad revokes an API key while eight
// clients read with it as fast as they can, so that the gateway is sharing its calls
// to identity among them: every request sent after the revocation was answered must
// be refused, however many requests were waiting for identity at that moment.
func TestRevocationBitesOnTheNextRequestUnderLoad(t *testing.T) {
	t.Parallel()
	sys := start(t, nil) // unthrottled: the credential limit would answer 429 first
	alpha := sys.signUp(t, "revoke-under-load")
	created := message[*identityv1.ApiKey](t, want(t, alpha.client.do("POST", "/v1/"+alpha.name+"/apiKeys", map[string]any{
		"display_name": "busy CRM", "scopes": []string{"identity:read"},
	}), http.StatusCreated, "create API key"))
	crm := sys.integration(created.GetSecret())

	type sent struct {
		at     time.Time
		status int
		reason string
	}
	const clients = 8 // enough to share calls, few enough to leave the shared stack to the other tests
	var stop atomic.Bool
	var revokedAt atomic.Pointer[time.Time]
	// Reads served before the revocation; refusals and reads served, sent after it.
	var answered, refused, servedAfter atomic.Int64
	results := make([][]sent, clients)
	errs := make(chan error, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			hc := harness.Client{HTTP: crm.http, URL: sys.url, Bearer: crm.bearer}
			for !stop.Load() {
				at := time.Now()
				r, err := hc.Do("GET", "/v1/"+alpha.name, nil)
				if err != nil {
					errs <- err
					return
				}
				results[i] = append(results[i], sent{at, r.Status, response{status: r.Status, raw: r.Raw}.reason()})
				if revoked := revokedAt.Load(); revoked == nil || at.Before(*revoked) {
					if r.Status == http.StatusOK {
						answered.Add(1)
					}
				} else if r.Status == http.StatusUnauthorized {
					refused.Add(1)
				} else if r.Status < 300 {
					servedAfter.Add(1)
				}
			}
		})
	}
	stopLoad := sync.OnceFunc(func() { stop.Store(true); wg.Wait() })
	t.Cleanup(stopLoad)
	// Counts rather than durations, so that a slow machine still gets the load it
	// needs on both sides of the revocation; a read served after it ends the wait.
	eventually(t, "reads with the key", func() bool { return answered.Load() >= 4*clients })
	want(t, alpha.client.do("POST", "/v1/"+created.GetName()+":revoke", map[string]any{}), http.StatusOK, "revoke")
	revoked := time.Now()
	revokedAt.Store(&revoked)
	eventually(t, "requests sent after the revocation", func() bool {
		return refused.Load() >= 4*clients || servedAfter.Load() > 0
	})
	stopLoad()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	var before, after int
	for _, rs := range results {
		for _, r := range rs {
			switch {
			case r.at.Before(revoked):
				if r.status == http.StatusOK {
					before++
				}
			case r.status == http.StatusUnauthorized && r.reason == "API_KEY_INACTIVE":
				after++
			case r.status < 300 || r.status == http.StatusUnauthorized:
				t.Fatalf("a request sent %v after the revocation was answered %d %s", r.at.Sub(revoked), r.status, r.reason)
			}
			// Anything else (503 from admission control on a busy machine) served nothing.
		}
	}
	t.Logf("%d reads answered before the revocation, %d refused after it", before, after)
}
