package redislb

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ringlb/ringlb/internal/hostlog"
	"github.com/ringlb/ringlb/lb"
)

// Balancers on one Redis share one go-redis client (one connection pool)
// and one goroutine that renews their leases, retries their releases and
// watches the server's eviction policy. However many balancer names the
// dialplans use, sockets and goroutines grow with the number of distinct
// Redis settings (URL and timeout), not with the names.

const (
	// renewWorkers is how many balancers of one client renew at once, so
	// that one slow balancer (a Cluster master that died) does not hold
	// up the others' leases.
	renewWorkers = 8
	// evictionCheckEvery is how often the eviction policy is read again,
	// at most (a balancer whose renewal tick is shorter sets a shorter
	// period).
	evictionCheckEvery = 10 * time.Second
	// evictionRetry is how soon a check that got no answer is tried again.
	evictionRetry = time.Second
)

// redisShared is one client and the background work of every balancer on
// it. It is safe for simultaneous use by multiple goroutines.
type redisShared struct {
	key     string // its entry in sharedClients; "" for a client of its own
	client  redisClient
	shown   string // the URL as log lines show it: no secret
	timeout time.Duration
	cluster bool

	refs int // balancers attached; requires sharedMu

	mu      sync.Mutex
	members map[*Redis]struct{} // requires mu

	evictMu  sync.Mutex // one eviction check at a time
	answered time.Time  // when a check last got an answer; requires evictMu
	tried    time.Time  // when a check was last tried; requires evictMu
	policy   string     // the policy that answer named; requires evictMu
	// evicting is set while the server's policy evicts keys.
	evicting atomic.Bool
	evictLog hostlog.Condition

	stop chan struct{}
	done chan struct{}
}

var (
	sharedMu      sync.Mutex
	sharedClients map[string]*redisShared // by URL and timeout; requires sharedMu
)

// attachRedis returns the client for url and timeout, shared with every
// balancer already on the same settings, or a new one made from uo, the
// URL's client options. The caller detaches it when done.
func attachRedis(url string, timeout time.Duration, uo *redis.UniversalOptions) *redisShared {
	key := fmt.Sprintf("%d %s", timeout, url)
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if s := sharedClients[key]; s != nil {
		s.refs++
		return s
	}
	s := newRedisShared(redis.NewUniversalClient(clientOptions(uo, timeout)), url, timeout)
	s.key = key
	if sharedClients == nil {
		sharedClients = make(map[string]*redisShared)
	}
	sharedClients[s.key] = s
	return s
}

// newRedisShared wraps client, attached once, and starts its background
// goroutine.
func newRedisShared(client redisClient, url string, timeout time.Duration) *redisShared {
	_, cluster := client.(*redis.ClusterClient)
	s := &redisShared{
		client:  client,
		shown:   RedactURL(url),
		timeout: timeout,
		cluster: cluster,
		refs:    1,
		members: make(map[*Redis]struct{}),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	go s.loop()
	return s
}

// detach undoes attachRedis (or newRedisShared). The last balancer to let
// go stops the background goroutine and closes the client.
func (s *redisShared) detach() error {
	sharedMu.Lock()
	s.refs--
	last := s.refs == 0
	if last && s.key != "" && sharedClients[s.key] == s {
		delete(sharedClients, s.key)
	}
	sharedMu.Unlock()
	if !last {
		return nil
	}
	close(s.stop)
	<-s.done
	s.evictLog.Clear("")
	return s.client.Close()
}

// add makes the background goroutine serve r.
func (s *redisShared) add(r *Redis) {
	s.mu.Lock()
	s.members[r] = struct{}{}
	s.mu.Unlock()
}

// remove stops serving r; work on r already under way goes on (see
// Redis.Close).
func (s *redisShared) remove(r *Redis) {
	s.mu.Lock()
	delete(s.members, r)
	s.mu.Unlock()
}

// loop wakes every retryEvery: it renews the leases of the balancers whose
// renewal tick has come, retries their failed releases, and reads the
// eviction policy from time to time. A panic here would take the host
// process down, so each round recovers.
func (s *redisShared) loop() {
	defer close(s.done)
	t := time.NewTicker(retryEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			func() {
				defer func() { _ = recover() }()
				s.round(now)
			}()
		}
	}
}

// round does the background work that is due at now.
func (s *redisShared) round(now time.Time) {
	s.mu.Lock()
	due := make([]*Redis, 0, len(s.members))
	tick := evictionCheckEvery
	for r := range s.members {
		tick = min(tick, r.tick)
		if r.due(now) {
			due = append(due, r)
		}
	}
	s.mu.Unlock()
	// When Redis does not answer one balancer, it answers none of the
	// others on a plain or Sentinel client: the round stops there instead
	// of spending a timeout on each (a Cluster's balancers live on several
	// masters, so each is tried).
	var down atomic.Bool
	work := func(r *Redis) {
		if down.Load() {
			return
		}
		if err := r.background(now); err != nil && !s.cluster {
			down.Store(true)
		}
	}
	if len(due) == 1 {
		work(due[0])
	} else if len(due) > 1 {
		next := make(chan *Redis)
		var wg sync.WaitGroup
		for range min(renewWorkers, len(due)) {
			wg.Go(func() {
				for r := range next {
					func() {
						defer func() { _ = recover() }()
						work(r)
					}()
				}
			})
		}
		for _, r := range due {
			next <- r
		}
		close(next)
		wg.Wait()
	}
	if !down.Load() {
		s.checkEvictionIfDue(now, tick)
	}
}

// checkEvictionIfDue reads the eviction policy again if period has passed
// since the last answer (evictionRetry since a try that got none).
func (s *redisShared) checkEvictionIfDue(now time.Time, period time.Duration) {
	s.evictMu.Lock()
	defer s.evictMu.Unlock()
	if now.Sub(s.answered) < period || now.Sub(s.tried) < evictionRetry {
		return
	}
	s.checkEviction(now, true)
}

// checkAtOpen is the eviction check of a balancer being opened: an error
// when Redis answers and its policy evicts keys. When Redis does not
// answer (a switch starting while Redis is down), the balancer opens and
// the background goroutine checks once Redis is back. The error is the
// caller's: nothing is logged here, so a dialplan that keeps opening a
// balancer on an evicting Redis never logs per call.
func (s *redisShared) checkAtOpen() error {
	s.evictMu.Lock()
	defer s.evictMu.Unlock()
	now := time.Now()
	if s.answered.IsZero() && now.Sub(s.tried) >= evictionRetry {
		s.checkEviction(now, false)
	}
	if s.evicting.Load() {
		return s.evictionError()
	}
	return nil
}

// evictionError says what is wrong with an evicting server. Requires
// evictMu.
func (s *redisShared) evictionError() error {
	return fmt.Errorf("%w: %s", lb.ErrBackend, s.evictionText())
}

// evictionText is the error and log line of an evicting server. Requires
// evictMu.
func (s *redisShared) evictionText() string {
	return "redis " + s.shown + " has maxmemory-policy " + s.policy +
		", which evicts keys: balancers lose holds, drains and counts when memory fills; set maxmemory-policy noeviction"
}

// checkEviction reads the server's maxmemory-policy and records whether it
// evicts ringlb's keys; with log, the change is logged once when it starts
// and once when it ends. Requires evictMu.
func (s *redisShared) checkEviction(now time.Time, log bool) {
	s.tried = now
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	policy, answered := s.readPolicy(ctx)
	if !answered {
		return
	}
	s.answered = now
	s.policy = policy
	s.evicting.Store(evictsKeys(policy))
	switch {
	case !log:
	case evictsKeys(policy):
		s.evictLog.Set(hostlog.Error, s.evictionText())
	default:
		s.evictLog.Clear("redis " + s.shown + ": maxmemory-policy is " + policy + " now: keys are no longer evicted")
	}
}

// evictsKeys reports whether maxmemory-policy policy may evict ringlb's
// keys. The volatile-* policies evict only keys with an expiry, and
// ringlb's keys have none.
func evictsKeys(policy string) bool { return strings.HasPrefix(policy, "allkeys-") }

// readPolicy reads maxmemory_policy from INFO memory (which an ACL user
// without CONFIG may run), on every master of a Cluster; the first that
// evicts wins. answered is false when Redis did not answer. A server that
// answers without the field (an INFO that ACLs deny, a stand-in server)
// reads as "" and is taken as not evicting.
func (s *redisShared) readPolicy(ctx context.Context) (policy string, answered bool) {
	parse := func(info string) string {
		for _, line := range strings.Split(info, "\n") {
			if v, ok := strings.CutPrefix(line, "maxmemory_policy:"); ok {
				return strings.TrimSpace(v)
			}
		}
		return ""
	}
	if c, ok := s.client.(*redis.ClusterClient); ok {
		var mu sync.Mutex
		err := c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
			info, err := m.Info(ctx, "memory").Result()
			if err != nil && !isScriptError(err) {
				return err
			}
			mu.Lock()
			if p := parse(info); policy == "" || evictsKeys(p) {
				policy = p
			}
			mu.Unlock()
			return nil
		})
		return policy, err == nil
	}
	info, err := s.client.Info(ctx, "memory").Result()
	if err != nil {
		return "", isScriptError(err)
	}
	return parse(info), true
}
