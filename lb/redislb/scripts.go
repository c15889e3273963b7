package redislb

import (
	"context"
	_ "embed"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ringlb/ringlb/lb"
)

// Each operation is one server-side script: the algorithm runs inside
// Redis, atomically, on the server's clock; Go packs arguments and checks
// the reply. Every script is the limits below, then prelude.lua (what
// every script shares), then its own file.
var (
	//go:embed scripts/prelude.lua
	preludeLua string
	//go:embed scripts/ops.lua
	opsLua string
	//go:embed scripts/drain.lua
	drainLua string
	//go:embed scripts/reset.lua
	resetLua string
	//go:embed scripts/snapshot.lua
	snapshotLua string
	//go:embed scripts/renew.lua
	renewLua string

	scriptOps      = newScript(opsLua)
	scriptDrain    = newScript(drainLua)
	scriptReset    = newScript(resetLua)
	scriptSnapshot = newScript(snapshotLua)
	scriptRenew    = newScript(renewLua)
)

// Limits the scripts share with Go, set from Go's constants: their one
// home is here and in package lb.
const (
	// maxIdle is how many idle destinations a balancer's keys remember,
	// as a memory balancer does by default.
	maxIdle = lb.DefaultMaxIdle
	// goneKeep is how long the keys remember a hold that ended for good:
	// longer than any renewal period (Lease/3), so that no renewal takes
	// it back.
	goneKeep = lb.MaxLease
)

// limitsLua defines the limits for the scripts, as Lua locals.
var limitsLua = fmt.Sprintf("local MAX_IDLE, GONE_KEEP, MAX_DOUBLINGS = %d, %d, %d\n", maxIdle, goneKeep.Milliseconds(),
	lb.MaxNoAnswerBackoffDoublings)

// newScript wraps the script whose own text is body.
func newScript(body string) *redis.Script {
	return redis.NewScript(limitsLua + preludeLua + body)
}

// redisKeySuffixes are the keys of one balancer, in the order every script
// takes them as KEYS (see scripts/prelude.lua). The "3:" marks the third
// key layout: keys of earlier layouts are left alone and unused, so
// balancers must be drained before an upgrade (see README).
var redisKeySuffixes = [...]string{"3:exp", "3:mem", "3:idle", "3:gone"}

const (
	// reapLimit bounds how many lapsed holds one operation drops, so a
	// crashed node's backlog is cleared in slices, not in one long script.
	reapLimit = 100
	// renewReapLimit is the larger slice the renewal tick drops, so lapsed
	// holds go away even when no calls arrive.
	renewReapLimit = 1000
	// renewBatch is the most holds renewed or released by one script call.
	renewBatch = 1000
	// retryEvery is how often failed releases are retried (capped by the
	// renewal tick).
	retryEvery = 200 * time.Millisecond
)

// redisClient is what the Redis backend needs of a go-redis client: a
// plain, Sentinel or Cluster client all fit. Info reads the eviction
// policy (see shared.go).
type redisClient interface {
	redis.Scripter
	Info(ctx context.Context, section ...string) *redis.StringCmd
	Close() error
}

// scriptArgs builds a script's ARGV by the convention of prelude.lua: the
// reap limit first, then the script's fixed arguments, then a list.
func scriptArgs(reap int, fixed []any, list []string) []any {
	args := make([]any, 0, 1+len(fixed)+len(list))
	args = append(args, reap)
	args = append(args, fixed...)
	for _, x := range list {
		args = append(args, x)
	}
	return args
}
