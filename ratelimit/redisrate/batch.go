package redisrate

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// batcher sends concurrent decisions in pipelines (Config.Pipeline)
// without a goroutine of its own. The first decision to arrive while no
// pipeline is in flight sends itself at once. Decisions arriving while a
// pipeline is in flight queue; when it returns, its sender hands the
// whole queue to the first of them, whose goroutine sends it as the next
// pipeline and hands on in turn. Each goroutine thus sends at most one
// pipeline, and a decision waits at most for the pipeline ahead of it and
// its own.
//
// Every decision has a deadline (its Redis call's). One still queued at
// its deadline leaves the queue and fails; one already handed to a
// pipeline waits for it, and a pipeline's deadline is the earliest of its
// decisions', so no decision waits past its own.
type batcher struct {
	mu    sync.Mutex // protects queue and busy
	queue []*call
	busy  bool          // a pipeline is in flight or handed on
	sent  atomic.Uint64 // pipelines sent, for Stats
}

// call is one decision in a batcher.
type call struct {
	// deadline is when the decision's Redis call must have ended: its
	// arrival + Config.Timeout.
	deadline time.Time
	ks       [2]string
	args     []any
	out      outcome
	err      error
	// lead receives the batch this call's goroutine must send.
	lead chan []*call
	// done is closed when out and err are set.
	done chan struct{}
}

// submit runs one decision through the batcher. It gives up when ctx ends
// while the decision is still queued.
func (b *batcher) submit(ctx context.Context, l *Limiter, ks [2]string, args []any) (outcome, error) {
	c := &call{deadline: time.Now().Add(l.cfg.Timeout), ks: ks, args: args, lead: make(chan []*call, 1), done: make(chan struct{})}
	b.mu.Lock()
	if !b.busy {
		b.busy = true
		b.mu.Unlock()
		b.send(l, []*call{c})
		return c.out, c.err
	}
	b.queue = append(b.queue, c)
	b.mu.Unlock()
	select {
	case batch := <-c.lead:
		b.send(l, batch)
		return c.out, c.err
	case <-c.done:
		return c.out, c.err
	case <-ctx.Done():
	}
	b.mu.Lock()
	if i := slices.Index(b.queue, c); i >= 0 { // not handed to a pipeline yet
		b.queue = slices.Delete(b.queue, i, i+1)
		b.mu.Unlock()
		return outcome{}, ctx.Err()
	}
	b.mu.Unlock()
	select { // in a pipeline already, whose deadline is at most ours
	case batch := <-c.lead:
		b.send(l, batch)
	case <-c.done:
	}
	return c.out, c.err
}

// send sends batch as one pipeline, completes its calls and hands the
// queue on.
func (b *batcher) send(l *Limiter, batch []*call) {
	// The pipeline is not cancelled with any one request: a client going
	// away must not fail the decisions of the others.
	deadline := batch[0].deadline
	for _, c := range batch[1:] {
		if c.deadline.Before(deadline) {
			deadline = c.deadline
		}
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	b.sent.Add(1)
	cmds := make([]*redis.Cmd, len(batch))
	hash := l.scripts.decide.Hash()
	l.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, c := range batch {
			cmds[i] = p.EvalSha(ctx, hash, c.ks[:], c.args...)
		}
		return nil
	})
	for i, c := range batch {
		if redis.HasErrorPrefix(cmds[i].Err(), "NOSCRIPT") {
			// The server lost the script (restart, flush, failover): this
			// sends the source once, and loads it for the next pipeline.
			c.out, c.err = l.run(ctx, c.ks, c.args)
		} else {
			c.out, c.err = parseOutcome(cmds[i].Int64Slice())
		}
		close(c.done)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.queue) == 0 {
		b.busy = false
		return
	}
	next := b.queue
	b.queue = nil
	next[0].lead <- next
}
