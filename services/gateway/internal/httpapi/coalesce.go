package httpapi

import (
	"context"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	identityv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/identity/v1"
)

// CoalesceAuthentications lets requests that present the same credential share
// calls to identity without ever sharing an answer older than themselves. A request
// whose credential has no call in flight calls at once. One that arrives while a
// call is in flight does not take that call's answer, which identity may have read
// before a revocation this request came after: it waits for the call to end and
// joins the next one, which starts then and answers every request that arrived in
// the meantime. So each request is answered by a credential check that began after
// it arrived, and a key revoked or a session ended before a request came is refused
// as it is without coalescing, while under load one call answers many requests: at
// most one call per credential is in flight, as the access log has one write in
// flight.
//
// Requests share a call only when everything they send identity is the same (the
// credential, the CSRF token, the support grant, the client's address and agent).
func CoalesceAuthentications(identity Authenticator) Authenticator {
	return &coalescing{identity: identity, credentials: map[string]*credentialCalls{}}
}

type coalescing struct {
	identity Authenticator

	mu sync.Mutex
	// credentials holds an entry for each request content with a call in flight;
	// it goes when the last call for it ends.
	credentials map[string]*credentialCalls
}

// credentialCalls is one request content's calls: one in flight, and the one the
// requests that arrived since are waiting for, if any.
type credentialCalls struct {
	next *sharedCall
}

// sharedCall is a call to identity answering several requests.
type sharedCall struct {
	in     *identityv1.AuthenticateRequest
	ctx    context.Context
	cancel context.CancelFunc
	opts   []grpc.CallOption

	waiting int           // requests answered by it
	done    chan struct{} // closed once resp and err are set
	resp    *identityv1.AuthenticateResponse
	err     error
}

func (c *coalescing) Authenticate(ctx context.Context, in *identityv1.AuthenticateRequest, opts ...grpc.CallOption) (*identityv1.AuthenticateResponse, error) {
	key, err := c.content(in)
	if err != nil {
		return c.identity.Authenticate(ctx, in, opts...)
	}

	c.mu.Lock()
	calls, inFlight := c.credentials[key]
	if !inFlight {
		c.credentials[key] = &credentialCalls{}
		c.mu.Unlock()
		defer c.ended(key)
		identityCalls.Add(context.WithoutCancel(ctx), 1)
		return c.identity.Authenticate(ctx, in, opts...)
	}
	call := calls.next
	if call == nil {
		// The call answers other requests too, so one request going away must not
		// cancel it; it keeps this request's values (request id, trace) and the
		// same time limit.
		call = &sharedCall{in: in, ctx: context.WithoutCancel(ctx), cancel: func() {}, opts: opts, done: make(chan struct{})}
		if deadline, ok := ctx.Deadline(); ok {
			call.ctx, call.cancel = context.WithDeadline(call.ctx, deadline)
		}
		calls.next = call
	}
	call.waiting++
	c.mu.Unlock()

	select {
	case <-call.done:
		return call.resp, call.err
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}

// content is what identity is sent, as a key: requests with the same content share
// calls.
func (c *coalescing) content(in *identityv1.AuthenticateRequest) (string, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(in)
	return string(b), err
}

// ended is called when the call in flight for key ends: it starts the call the
// requests that arrived during it wait for, or forgets key when none did.
func (c *coalescing) ended(key string) {
	c.mu.Lock()
	calls := c.credentials[key]
	call := calls.next
	calls.next = nil
	if call == nil {
		delete(c.credentials, key)
	}
	c.mu.Unlock()
	if call == nil {
		return
	}
	go func() {
		identityCalls.Add(call.ctx, 1)
		call.resp, call.err = c.identity.Authenticate(call.ctx, call.in, call.opts...)
		call.cancel()
		close(call.done)
		c.ended(key)
	}()
}
