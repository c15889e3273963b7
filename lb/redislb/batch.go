package redislb

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// A call's path (Next, Acquire, Count, Release, Answered) runs through
// scripts/ops.lua, which takes any number of operations (Order and Load
// run through it too, each alone). Operations that
// callers of one process start while earlier ones are in flight are sent
// together, in one script call (group commit): at one caller nothing
// waits, and under load Redis pays its cost per request, the clock read
// and the reaping once per batch instead of once per operation. Each
// operation is still atomic and gets its own reply; a caller waits for its
// own result only until its own deadline.

const (
	// maxBatchOps is the most operations in one script call, so that one
	// batch holds Redis, shared by every switch, for well under a
	// millisecond.
	maxBatchOps = 32
	// maxBatchesInFlight is how many batches of one balancer may be in
	// flight at once: a batch is gathered while the one before it runs.
	maxBatchesInFlight = 4
)

// opKind names an operation of ops.lua, as its table of operations does.
type opKind string

// The operations of ops.lua.
const (
	opNext    opKind = "next"
	opOrder   opKind = "order"
	opLoad    opKind = "load"
	opAcquire opKind = "acquire"
	opRelease opKind = "release"
	// opUnanswered is a release of a hold whose offer rang out.
	opUnanswered opKind = "unanswered"
	opAnswered   opKind = "answered"
	opDrop       opKind = "drop"
)

// redisOp is one operation of ops.lua: its kind and arguments.
type redisOp struct {
	kind opKind
	args []any
}

// opsArgs is ops.lua's ARGV for ops: the balancer's fixed arguments, then
// each operation's kind, argument count and arguments.
func (r *Redis) opsArgs(ops []redisOp) []any {
	n := 9
	for _, op := range ops {
		n += 2 + len(op.args)
	}
	args := make([]any, 0, n)
	args = append(args, reapLimit, r.node, r.lease, r.maxAge, r.opts.Tie.String(), r.half, r.window, r.backoff, r.maxMiss)
	for _, op := range ops {
		args = append(args, string(op.kind), len(op.args))
		args = append(args, op.args...)
	}
	return args
}

// runOps sends ops in one script call, outside the batcher, bounded by
// ctx and Timeout, and returns one reply each. Errors wrap ErrBackend and
// carry the name op.
func (r *Redis) runOps(ctx context.Context, op string, ops ...redisOp) ([]any, error) {
	vals, err := r.exchangeOps(ctx, ops)
	if err != nil {
		return nil, &backendError{op: op, err: err}
	}
	if len(vals) != len(ops) {
		return nil, replyErr(op, "%d replies for %d operations", len(vals), len(ops))
	}
	return vals, nil
}

// pendingOp is an operation waiting in a batcher.
type pendingOp struct {
	ctx   context.Context // its caller's: once done, the operation is never sent
	op    redisOp
	state atomic.Int32  // opQueued, then opSent or opAbandoned, never back
	done  chan struct{} // closed once reply and err are set, or by a sender that left it out
	reply any
	err   error
}

// States of a pendingOp. The sender moves an operation from opQueued to
// opSent before it writes it, and its caller, once its context is done,
// from opQueued to opAbandoned: whichever comes first decides, so an
// operation whose caller has given up is never sent, and one that was sent
// is known to be.
const (
	opQueued int32 = iota
	opSent
	opAbandoned
)

// batcher gathers the operations of one balancer into batches (see the
// top of this file). The first caller to find fewer than
// maxBatchesInFlight batches in flight sends the queue, its own operation
// included, and delivers every reply; what queued meanwhile is sent by a
// goroutine that goes on while the queue is not empty.
type batcher struct {
	// exchange runs operations as one script call, bounded by ctx and by
	// Timeout from now, and returns one reply each.
	exchange func(ctx context.Context, ops []redisOp) ([]any, error)
	mu       sync.Mutex
	queue    []*pendingOp // requires mu
	inFlight int          // batches being sent; requires mu

	// batches and batchedOps count script calls and the operations in
	// them, for metrics.
	batches, batchedOps atomic.Uint64
}

// do runs op, alone or with others, and returns its reply. Errors wrap
// ErrBackend and carry the name name.
func (b *batcher) do(ctx context.Context, name string, op redisOp) (any, error) {
	v, _, err := b.run(ctx, name, op)
	return v, err
}

// run is do that also reports whether op was sent: an operation that
// failed after it was sent may still have taken effect in Redis (a reply
// lost, or a script still queued in a stalled server when its caller's
// deadline passed), one that was not sent never will. op must not refer to
// memory its caller may reuse once run returns: an operation is written
// out after its caller may have gone (see opSent).
func (b *batcher) run(ctx context.Context, name string, op redisOp) (any, bool, error) {
	p := &pendingOp{ctx: ctx, op: op, done: make(chan struct{})}
	b.mu.Lock()
	b.queue = append(b.queue, p)
	var batch []*pendingOp
	if b.inFlight < maxBatchesInFlight {
		b.inFlight++
		batch = b.take()
	}
	b.mu.Unlock()
	if batch != nil {
		if more := b.send(batch); more != nil {
			go b.drain(more)
		}
	}
	select {
	case <-p.done:
		return p.result(ctx, name)
	case <-ctx.Done():
	}
	if p.state.CompareAndSwap(opQueued, opAbandoned) || p.state.Load() == opAbandoned {
		b.mu.Lock()
		for i, q := range b.queue {
			if q == p {
				b.queue = append(b.queue[:i], b.queue[i+1:]...)
				break
			}
		}
		b.mu.Unlock()
		return nil, false, &backendError{op: name, err: ctx.Err()}
	}
	select {
	case <-p.done: // answered just as the deadline passed
		return p.result(ctx, name)
	default:
	}
	// Sent, it may still take effect: see run.
	return nil, true, &backendError{op: name, err: ctx.Err()}
}

// result is the outcome of an operation whose done is closed: sent and
// answered, or left out by a sender because its caller's context had
// ended.
func (p *pendingOp) result(ctx context.Context, name string) (any, bool, error) {
	if p.state.Load() == opAbandoned {
		return nil, false, &backendError{op: name, err: ctx.Err()}
	}
	if p.err != nil {
		return nil, true, &backendError{op: name, err: p.err}
	}
	return p.reply, true, nil
}

// take removes up to maxBatchOps operations from the queue. Requires mu.
func (b *batcher) take() []*pendingOp {
	n := min(len(b.queue), maxBatchOps)
	batch := make([]*pendingOp, n)
	copy(batch, b.queue)
	b.queue = append(b.queue[:0], b.queue[n:]...)
	return batch
}

// send runs batch as one script call and delivers each reply. It returns
// the next batch when operations queued meanwhile (this sender stays in
// flight for it), else nil. Operations whose callers have given up are
// left out, never written. The call is bounded by Timeout from now, and
// by the context of the caller whose operation is the batch's only one:
// a batch of several is not bounded by any one caller's context, so that
// no caller's cancellation fails the others (each still waits only until
// its own deadline).
func (b *batcher) send(batch []*pendingOp) []*pendingOp {
	live := batch[:0]
	for _, p := range batch {
		if p.ctx.Err() == nil && p.state.CompareAndSwap(opQueued, opSent) {
			live = append(live, p)
		} else if p.state.CompareAndSwap(opQueued, opAbandoned) {
			close(p.done) // its caller may not have noticed yet
		}
	}
	if len(live) > 0 {
		own := context.Background()
		if len(live) == 1 {
			own = live[0].ctx
		}
		ops := make([]redisOp, len(live))
		for i, p := range live {
			ops[i] = p.op
		}
		b.batches.Add(1)
		b.batchedOps.Add(uint64(len(ops)))
		vals, err := b.safeExchange(own, ops)
		for i, p := range live {
			if err != nil {
				p.err = err
			} else {
				p.reply = vals[i]
			}
			close(p.done)
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.queue) == 0 {
		b.inFlight--
		return nil
	}
	return b.take()
}

// safeExchange is exchange with a panic turned into an error, so that
// every waiter gets an answer.
func (b *batcher) safeExchange(ctx context.Context, ops []redisOp) (vals []any, err error) {
	defer func() {
		if p := recover(); p != nil {
			vals, err = nil, fmt.Errorf("internal error: %v", p)
		}
	}()
	vals, err = b.exchange(ctx, ops)
	if err == nil && len(vals) != len(ops) {
		return nil, fmt.Errorf("unexpected script reply: %d replies for %d operations", len(vals), len(ops))
	}
	return vals, err
}

// exchangeOps runs ops in one call of ops.lua (the batcher's exchange) and
// returns its replies, bounded by ctx and Timeout; its callers check there
// is one per operation.
func (r *Redis) exchangeOps(ctx context.Context, ops []redisOp) ([]any, error) {
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	v, err := r.exec(ctx, scriptOps, r.opsArgs(ops))
	if err != nil {
		return nil, err
	}
	vals, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("unexpected script reply: %T", v)
	}
	return vals, nil
}

// drain sends batches until the queue is empty.
func (b *batcher) drain(batch []*pendingOp) {
	for batch != nil {
		batch = b.send(batch)
	}
}
