package redislb

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ringlb/ringlb/lb"
)

// scriptedExchange stands in for Redis behind a batcher: each call records
// its operations and waits until the test lets it answer; the reply to an
// operation is its first argument.
type scriptedExchange struct {
	mu      sync.Mutex
	batches [][]redisOp
	calls   chan []redisOp // each call, when it starts
	answer  chan error     // what each call returns (nil: the replies)
}

func newScriptedExchange() *scriptedExchange {
	return &scriptedExchange{calls: make(chan []redisOp, 100), answer: make(chan error, 100)}
}

func (s *scriptedExchange) exchange(_ context.Context, ops []redisOp) ([]any, error) {
	s.mu.Lock()
	s.batches = append(s.batches, ops)
	s.mu.Unlock()
	s.calls <- ops
	if err := <-s.answer; err != nil {
		return nil, err
	}
	out := make([]any, len(ops))
	for i, op := range ops {
		out[i] = op.args[0]
	}
	return out, nil
}

func (s *scriptedExchange) sizes() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n []int
	for _, b := range s.batches {
		n = append(n, len(b))
	}
	return n
}

// queued waits until b has n operations queued.
func queued(t *testing.T, b *batcher, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b.mu.Lock()
		q := len(b.queue)
		b.mu.Unlock()
		if q == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d operations queued, want %d", q, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestBatcherGathersWhileInFlight: with maxBatchesInFlight batches in
// flight, later operations wait and go together in one script call, each
// with its own reply.
func TestBatcherGathersWhileInFlight(t *testing.T) {
	s := newScriptedExchange()
	b := &batcher{exchange: s.exchange}
	ctx := context.Background()
	type result struct {
		id    string
		reply any
		err   error
	}
	results := make(chan result, 100)
	start := func(id string) {
		go func() {
			v, err := b.do(ctx, "next", redisOp{kind: opNext, args: []any{id}})
			results <- result{id, v, err}
		}()
	}
	for i := range maxBatchesInFlight {
		start(fmt.Sprintf("lead%d", i))
		<-s.calls // in flight, alone
	}
	const waiting = 10
	for i := range waiting {
		start(fmt.Sprintf("w%d", i))
	}
	queued(t, b, waiting)
	s.answer <- nil // the first batch answers; the queue goes next
	next := <-s.calls
	if len(next) != waiting {
		t.Fatalf("queued operations went in a batch of %d, want %d", len(next), waiting)
	}
	for range maxBatchesInFlight {
		s.answer <- nil
	}
	for range maxBatchesInFlight + waiting {
		r := <-results
		if r.err != nil || r.reply != r.id {
			t.Fatalf("%s got %v, %v; want its own reply", r.id, r.reply, r.err)
		}
	}
	if got := s.sizes(); len(got) != maxBatchesInFlight+1 {
		t.Fatalf("script calls of %v operations, want %d calls", got, maxBatchesInFlight+1)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.inFlight != 0 || len(b.queue) != 0 {
		t.Fatalf("after: %d in flight, %d queued", b.inFlight, len(b.queue))
	}
}

// TestBatcherCapsBatches: no script call carries more than maxBatchOps
// operations.
func TestBatcherCapsBatches(t *testing.T) {
	s := newScriptedExchange()
	b := &batcher{exchange: s.exchange}
	var wg sync.WaitGroup
	op := func(id string) {
		defer wg.Done()
		if _, err := b.do(context.Background(), "release", redisOp{kind: opRelease, args: []any{id}}); err != nil {
			t.Error(err)
		}
	}
	wg.Add(maxBatchesInFlight)
	for i := range maxBatchesInFlight {
		go op(fmt.Sprint("lead", i))
		<-s.calls
	}
	total := 2*maxBatchOps + 5
	wg.Add(total)
	for i := range total {
		go op(fmt.Sprint(i))
	}
	queued(t, b, total)
	go func() {
		for range s.calls {
			s.answer <- nil
		}
	}()
	for range maxBatchesInFlight {
		s.answer <- nil
	}
	wg.Wait()
	close(s.calls)
	sum := 0
	for _, n := range s.sizes() {
		if n > maxBatchOps {
			t.Fatalf("a script call of %d operations (cap %d)", n, maxBatchOps)
		}
		sum += n
	}
	if sum != total+maxBatchesInFlight {
		t.Fatalf("%d operations sent, want %d", sum, total+maxBatchesInFlight)
	}
}

// TestBatcherErrorsAndDeadlines: a failed script call fails each of its
// operations under its own name; a caller whose deadline passes while
// queued gets its error at once and its operation is never sent.
func TestBatcherErrorsAndDeadlines(t *testing.T) {
	s := newScriptedExchange()
	b := &batcher{exchange: s.exchange}
	errs := make(chan error, 10)
	for i := range maxBatchesInFlight {
		go func() {
			_, err := b.do(context.Background(), "answered", redisOp{kind: opAnswered, args: []any{i}})
			errs <- err
		}()
		<-s.calls
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := b.do(ctx, "next", redisOp{kind: opNext, args: []any{"late"}})
	if !errors.Is(err, lb.ErrBackend) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("queued past its deadline: err = %v; want ErrBackend and DeadlineExceeded", err)
	}
	queued(t, b, 0)
	down := errors.New("connection refused")
	for range maxBatchesInFlight {
		s.answer <- down
	}
	for range maxBatchesInFlight {
		err := <-errs
		if !errors.Is(err, lb.ErrBackend) || !errors.Is(err, down) || err.Error() != "ringlb: redis: answered: connection refused" {
			t.Fatalf("failed batch: err = %v", err)
		}
	}
	if got := s.sizes(); len(got) != maxBatchesInFlight {
		t.Fatalf("script calls %v: the expired operation was sent", got)
	}
}

// TestBatcherPanicIsAnError: a panic while sending fails the batch's
// operations and leaves the batcher working.
func TestBatcherPanicIsAnError(t *testing.T) {
	calls := 0
	b := &batcher{exchange: func(_ context.Context, ops []redisOp) ([]any, error) {
		calls++
		if calls == 1 {
			panic("boom")
		}
		return []any{int64(1)}, nil
	}}
	if _, err := b.do(context.Background(), "next", redisOp{kind: opNext}); !errors.Is(err, lb.ErrBackend) {
		t.Fatalf("after a panic: err = %v; want ErrBackend", err)
	}
	if v, err := b.do(context.Background(), "next", redisOp{kind: opNext}); err != nil || v != int64(1) {
		t.Fatalf("next operation = %v, %v", v, err)
	}
}

// TestBatcherLoneCallerContext: an operation sent alone is bounded by its
// caller's context; a batch of several by no single caller's.
func TestBatcherLoneCallerContext(t *testing.T) {
	var gotCtx []context.Context
	var mu sync.Mutex
	b := &batcher{exchange: func(ctx context.Context, ops []redisOp) ([]any, error) {
		mu.Lock()
		gotCtx = append(gotCtx, ctx)
		mu.Unlock()
		if ctx.Done() != nil {
			<-ctx.Done() // a hung server
			return nil, ctx.Err()
		}
		return make([]any, len(ops)), nil
	}}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		time.Sleep(20 * time.Millisecond)
		cancel()
	}()
	if _, err := b.do(ctx, "next", redisOp{kind: opNext}); !errors.Is(err, context.Canceled) || !errors.Is(err, lb.ErrBackend) {
		t.Fatalf("lone operation, caller cancelled: err = %v", err)
	}
	if len(gotCtx) != 1 || gotCtx[0] != ctx {
		t.Fatalf("lone operation sent with %v, want its caller's context", gotCtx)
	}
	// Operations queued behind full flight go together, sent by no
	// caller's context (one that no caller can cancel): the leaders'
	// contexts bound only their own calls.
	type callerKey struct{}
	caller := func(i int) context.Context { return context.WithValue(context.Background(), callerKey{}, i) }
	type call struct {
		ctx context.Context
		n   int
	}
	calls := make(chan call, 16)
	gate := make(chan struct{})
	b2 := &batcher{exchange: func(ctx context.Context, ops []redisOp) ([]any, error) {
		calls <- call{ctx, len(ops)}
		<-gate
		return make([]any, len(ops)), nil
	}}
	errs := make(chan error, maxBatchesInFlight+3)
	for i := range maxBatchesInFlight {
		go func() { _, err := b2.do(caller(i), "next", redisOp{kind: opNext}); errs <- err }()
		if c := <-calls; c.ctx.Value(callerKey{}) != i || c.n != 1 {
			t.Fatalf("a lone operation was sent with context %v in a batch of %d", c.ctx, c.n)
		}
	}
	for i := range 3 {
		go func() { _, err := b2.do(caller(100+i), "release", redisOp{kind: opRelease}); errs <- err }()
	}
	queued(t, b2, 3)
	close(gate)
	if c := <-calls; c.ctx.Value(callerKey{}) != nil || c.ctx.Done() != nil || c.n != 3 {
		t.Fatalf("queued operations sent with context %v in a batch of %d; want no caller's, 3", c.ctx, c.n)
	}
	for range maxBatchesInFlight + 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// unnoticedCtx is a context whose deadline has passed although its caller
// has not woken to notice yet: Err is set, Done has not fired.
type unnoticedCtx struct{ context.Context }

func (unnoticedCtx) Err() error { return context.DeadlineExceeded }

// Regression: an operation that timed out while queued could still be
// written out later by the goroutine sending the queue, after its caller had
// returned and reused the memory it pointed to. An operation whose caller's
// deadline has passed is never sent, even when the caller has not yet woken
// to take it out of the queue, and its caller is told so.
func TestBatcherNeverSendsAnOperationWhoseCallerGaveUp(t *testing.T) {
	s := newScriptedExchange()
	b := &batcher{exchange: s.exchange}
	errs := make(chan error, maxBatchesInFlight+1)
	for i := range maxBatchesInFlight {
		go func() {
			_, err := b.do(context.Background(), "release", redisOp{kind: opRelease, args: []any{i}})
			errs <- err
		}()
		<-s.calls
	}
	gone := make(chan error, 1)
	go func() {
		_, sent, err := b.run(unnoticedCtx{context.Background()}, "next", redisOp{kind: opNext, args: []any{"gone"}})
		if sent {
			err = fmt.Errorf("reported sent: %v", err)
		}
		gone <- err
	}()
	queued(t, b, 1)
	for range maxBatchesInFlight {
		s.answer <- nil
	}
	for range maxBatchesInFlight {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-gone:
		if !errors.Is(err, lb.ErrBackend) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("the caller who gave up got %v; want ErrBackend and DeadlineExceeded, not sent", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the caller who gave up was never answered")
	}
	for _, batch := range s.batches {
		for _, op := range batch {
			if op.args[0] == "gone" {
				t.Fatal("an operation whose caller had given up was sent")
			}
		}
	}
}
