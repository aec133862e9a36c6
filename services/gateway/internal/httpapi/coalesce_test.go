package httpapi

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	identityv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/identity/v1"
)

// gatedIdentity answers each call with its number once the test lets it go, and
// refuses every call that starts after revoke.
type gatedIdentity struct {
	started chan int      // each call's number, as it starts
	release chan struct{} // one receive lets one call end
	revoked atomic.Bool
	calls   atomic.Int32
}

func newGatedIdentity() *gatedIdentity {
	return &gatedIdentity{started: make(chan int, 16), release: make(chan struct{})}
}

func (g *gatedIdentity) Authenticate(ctx context.Context, _ *identityv1.AuthenticateRequest, _ ...grpc.CallOption) (*identityv1.AuthenticateResponse, error) {
	n := int(g.calls.Add(1))
	revoked := g.revoked.Load() // what the database says when the call starts
	g.started <- n
	select {
	case <-g.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if revoked {
		return nil, status.Error(codes.Unauthenticated, "revoked")
	}
	return &identityv1.AuthenticateResponse{PrincipalToken: strconv.Itoa(n)}, nil
}

type answer struct {
	resp *identityv1.AuthenticateResponse
	err  error
}

func authenticateAsync(ctx context.Context, a Authenticator, key string) <-chan answer {
	out := make(chan answer, 1)
	go func() {
		resp, err := a.Authenticate(ctx, &identityv1.AuthenticateRequest{Credential: &identityv1.AuthenticateRequest_ApiKey{ApiKey: key}})
		out <- answer{resp, err}
	}()
	return out
}

// waitForWaiters waits until n requests for key wait for the next call.
func waitForWaiters(t *testing.T, a Authenticator, key string, n int) {
	t.Helper()
	c := a.(*coalescing)
	content := requestContent(t, key)
	waitFor(t, fmt.Sprintf("%d requests to wait for the next call", n), func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		calls := c.credentials[content]
		return calls != nil && calls.next != nil && calls.next.waiting == n
	})
}

func requestContent(t *testing.T, key string) string {
	t.Helper()
	c := &coalescing{}
	content, err := c.content(&identityv1.AuthenticateRequest{Credential: &identityv1.AuthenticateRequest_ApiKey{ApiKey: key}})
	if err != nil {
		t.Fatal(err)
	}
	return content
}

func nextStart(t *testing.T, g *gatedIdentity) int {
	t.Helper()
	select {
	case n := <-g.started:
		return n
	case <-time.After(10 * time.Second):
		t.Fatal("no call to identity started")
		return 0
	}
}

func TestARequestIsNeverAnsweredByACallThatBeganBeforeIt(t *testing.T) {
	identity := newGatedIdentity()
	a := CoalesceAuthentications(identity)

	first := authenticateAsync(context.Background(), a, "ffk_key")
	if n := nextStart(t, identity); n != 1 {
		t.Fatalf("first call is number %d", n)
	}
	// The key is revoked while the first call is in flight; requests that come
	// after that must not get the first call's answer.
	identity.revoked.Store(true)
	later := []<-chan answer{authenticateAsync(context.Background(), a, "ffk_key"), authenticateAsync(context.Background(), a, "ffk_key")}
	waitForWaiters(t, a, "ffk_key", 2)

	identity.release <- struct{}{}
	if got := <-first; got.err != nil || got.resp.GetPrincipalToken() != "1" {
		t.Fatalf("first request got %v, %v; want call 1's answer", got.resp, got.err)
	}
	if n := nextStart(t, identity); n != 2 {
		t.Fatalf("the waiting requests' call is number %d", n)
	}
	identity.release <- struct{}{}
	for i, ch := range later {
		if got := <-ch; status.Code(got.err) != codes.Unauthenticated {
			t.Errorf("request %d after the revocation got %v, %v; want Unauthenticated", i, got.resp, got.err)
		}
	}
	if n := identity.calls.Load(); n != 2 {
		t.Errorf("identity was called %d times for three requests, want 2", n)
	}
	c := a.(*coalescing)
	waitFor(t, "the credential to be forgotten once its calls ended", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.credentials) == 0
	})
}

func TestRequestsWithOtherContentDoNotWaitForEachOther(t *testing.T) {
	identity := newGatedIdentity()
	a := CoalesceAuthentications(identity)
	one := authenticateAsync(context.Background(), a, "ffk_one")
	nextStart(t, identity)
	two := authenticateAsync(context.Background(), a, "ffk_two")
	nextStart(t, identity) // started while the first is still in flight
	identity.release <- struct{}{}
	identity.release <- struct{}{}
	for _, ch := range []<-chan answer{one, two} {
		if got := <-ch; got.err != nil {
			t.Errorf("got %v", got.err)
		}
	}
}

func TestAWaitingRequestThatGivesUpLeavesTheCallToTheOthers(t *testing.T) {
	identity := newGatedIdentity()
	a := CoalesceAuthentications(identity)
	first := authenticateAsync(context.Background(), a, "ffk_key")
	nextStart(t, identity)
	impatient, giveUp := context.WithCancel(context.Background())
	gone := authenticateAsync(impatient, a, "ffk_key")
	patient := authenticateAsync(context.Background(), a, "ffk_key")
	waitForWaiters(t, a, "ffk_key", 2)

	giveUp()
	if got := <-gone; status.Code(got.err) != codes.Canceled {
		t.Errorf("the request that gave up got %v, want Canceled", got.err)
	}
	identity.release <- struct{}{}
	<-first
	nextStart(t, identity)
	identity.release <- struct{}{}
	if got := <-patient; got.err != nil || got.resp.GetPrincipalToken() != "2" {
		t.Errorf("the patient request got %v, %v; want call 2's answer", got.resp, got.err)
	}
}

// stampedIdentity answers at once with the call's number and remembers when each
// call began.
type stampedIdentity struct {
	mu     sync.Mutex
	starts []time.Time
}

func (s *stampedIdentity) Authenticate(context.Context, *identityv1.AuthenticateRequest, ...grpc.CallOption) (*identityv1.AuthenticateResponse, error) {
	s.mu.Lock()
	s.starts = append(s.starts, time.Now())
	n := len(s.starts)
	s.mu.Unlock()
	time.Sleep(200 * time.Microsecond) // a round trip to identity
	return &identityv1.AuthenticateResponse{PrincipalToken: strconv.Itoa(n)}, nil
}

func TestUnderLoadEveryAnswerComesFromACallThatBeganAfterItsRequest(t *testing.T) {
	identity := &stampedIdentity{}
	a := CoalesceAuthentications(identity)
	const workers, perWorker = 16, 200
	type served struct {
		arrived time.Time
		call    int
	}
	results := make([][]served, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range perWorker {
				arrived := time.Now()
				resp, err := a.Authenticate(context.Background(), &identityv1.AuthenticateRequest{
					Credential: &identityv1.AuthenticateRequest_ApiKey{ApiKey: "ffk_busy"},
				})
				if err != nil {
					t.Error(err)
					return
				}
				n, _ := strconv.Atoi(resp.GetPrincipalToken())
				results[w] = append(results[w], served{arrived, n})
			}
		})
	}
	wg.Wait()

	identity.mu.Lock()
	defer identity.mu.Unlock()
	for _, rs := range results {
		for _, r := range rs {
			if began := identity.starts[r.call-1]; began.Before(r.arrived) {
				t.Fatalf("a request that arrived at %v was answered by call %d, which began %v before it",
					r.arrived.Format(time.StampMicro), r.call, r.arrived.Sub(began))
			}
		}
	}
	if calls := len(identity.starts); calls >= workers*perWorker {
		t.Errorf("%d calls for %d requests: none were shared", calls, workers*perWorker)
	} else {
		t.Logf("%d calls answered %d requests", calls, workers*perWorker)
	}
}
