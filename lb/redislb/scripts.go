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

// The keys every script takes as KEYS, in order (see scripts/prelude.lua):
// a balancer's own, "<base><name>:<part>" for each of redisKeyParts, then
// its deployment's, "<base><part>" for each of sharedKeyParts, where base
// is "<KeyPrefix>{ringlb}:4:". One hash tag for the deployment keeps every
// key in one Cluster slot, so that one script may count a call in every
// balancer's load. The "4:" marks the fourth key layout: keys of earlier
// layouts are left alone and unused, so balancers must be drained before
// an upgrade (see README). A balancer's parts end its keys, and the
// deployment's keys end in a part of their own, so no name makes two keys
// one.
var (
	redisKeyParts  = [...]string{"exp", "mem", "idle", "gone"}
	sharedKeyParts = [...]string{"load", "lease", "cool"}
)

// keyBase is the start of every key of the deployment with key prefix
// prefix.
func keyBase(prefix string) string { return prefix + "{ringlb}:4:" }

// balancerKeys returns the KEYS of the scripts of balancer name with key
// prefix prefix.
func balancerKeys(prefix, name string) []string {
	base := keyBase(prefix)
	keys := make([]string, 0, len(redisKeyParts)+len(sharedKeyParts))
	for _, p := range redisKeyParts {
		keys = append(keys, base+name+":"+p)
	}
	for _, p := range sharedKeyParts {
		keys = append(keys, base+p)
	}
	return keys
}

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
