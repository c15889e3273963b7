package lb

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// TiePolicy says which of several equally loaded destinations goes first.
type TiePolicy int

const (
	// TieFewest puts first the destination with the fewest answered calls,
	// counted with a decay (Options.HalfLife) so that the count describes
	// the recent shift, then lru. A destination first seen mid-shift starts
	// at the lowest count among those it is ranked with, so a late joiner
	// takes its share of ties, not all of them. It is the default.
	TieFewest TiePolicy = iota
	// TieLRU puts first the destination whose last hold started longest
	// ago; never-used destinations come first, in list order. Idle agents
	// that take short calls take turns.
	TieLRU
	// TieList keeps list order among equals (what genesis does).
	TieList
	// TieRandom shuffles equals.
	TieRandom
)

// String returns the policy's name as used in options: lru, list, random.
func (t TiePolicy) String() string {
	switch t {
	case TieLRU:
		return "lru"
	case TieList:
		return "list"
	case TieRandom:
		return "random"
	case TieFewest:
		return "fewest"
	}
	return fmt.Sprintf("TiePolicy(%d)", int(t))
}

// ParseTiePolicy parses fewest, lru, list or random; empty is the default.
func ParseTiePolicy(s string) (TiePolicy, error) {
	switch s {
	case "", "fewest":
		return TieFewest, nil
	case "lru":
		return TieLRU, nil
	case "list":
		return TieList, nil
	case "random":
		return TieRandom, nil
	}
	return 0, invalidf("tie policy %q (want fewest, lru, list or random)", s)
}

// UserDomains says whether the domain part of a member named
// user/NAME@DOMAIN tells members apart.
type UserDomains int

const (
	// DomainsIgnore counts user/NAME@DOMAIN as the member user/NAME, so a
	// group that writes either form and a tracked call to the user all
	// count on one member. It is the default: one domain per switch.
	DomainsIgnore UserDomains = iota
	// DomainsKeep counts members as written, for switches serving several
	// domains: groups must then name users with their domain, which is
	// how tracked calls name them.
	DomainsKeep
)

// String returns the name used in options: ignore or keep.
func (u UserDomains) String() string {
	if u == DomainsKeep {
		return "keep"
	}
	return "ignore"
}

// MemberKey returns the name under which dest is counted: dest itself,
// except that with DomainsIgnore user/NAME@DOMAIN counts as user/NAME.
func (u UserDomains) MemberKey(dest string) string {
	if u == DomainsIgnore && strings.HasPrefix(dest, "user/") {
		if at := strings.IndexByte(dest, '@'); at > len("user/") {
			return dest[:at]
		}
	}
	return dest
}

// Defaults for Options fields left at zero.
const (
	// DefaultMaxHoldAge is how long a hold lives before it is taken as
	// leaked and expires.
	DefaultMaxHoldAge = 4 * time.Hour
	// DefaultKeyPrefix starts every Redis key of a balancer.
	DefaultKeyPrefix = "ringlb:"
	// DefaultLease is the Redis lease period.
	DefaultLease = 30 * time.Second
	// DefaultTimeout bounds each Redis operation.
	DefaultTimeout = 250 * time.Millisecond
	// DefaultMaxIdle is how many idle destinations a memory balancer
	// remembers.
	DefaultMaxIdle = 10000
	// DefaultHalfLife is how fast answered-call counts fade for fewest
	// ties: a call answered this long ago weighs half a call.
	DefaultHalfLife = 4 * time.Hour
)

// Options configure a balancer. The zero value is a memory balancer with
// fewest ties, no capacity limits, no wrap-up and 4-hour hold expiry.
type Options struct {
	// Tie picks the order among equally loaded destinations. Default
	// fewest.
	Tie TiePolicy
	// HalfLife is how fast answered-call counts fade for TieFewest. 0
	// means DefaultHalfLife; negative means they never fade.
	HalfLife time.Duration
	// DefaultWrapup is how long after an answered call ends its member is
	// not offered another, for members not listed in Wrapup. 0 is none.
	DefaultWrapup time.Duration
	// Wrapup sets the wrap-up time per destination, overriding
	// DefaultWrapup.
	Wrapup map[string]time.Duration
	// UserDomains says whether user/NAME@DOMAIN and user/NAME are one
	// member. Default DomainsIgnore: they are.
	UserDomains UserDomains
	// DefaultCapacity is the most concurrent holds on any destination not
	// listed in Capacity. 0 means unlimited.
	DefaultCapacity int
	// Capacity sets the most concurrent holds per destination, overriding
	// DefaultCapacity. 0 means unlimited.
	Capacity map[string]int
	// MaxHoldAge is how long a hold may live before it is taken as leaked
	// and expires. 0 means DefaultMaxHoldAge (4 h); negative means never.
	MaxHoldAge time.Duration

	// MaxIdle is the most destinations without a hold whose state (last
	// hold for lru ties, calls started) a memory balancer keeps; past it,
	// the one idle longest is forgotten and ranks as never used, which is
	// where lru puts it anyway. It bounds memory whatever destinations the
	// dialplan sends (dynamic numbers through a gateway, say). Drained
	// destinations are always kept. 0 means DefaultMaxIdle (10,000).
	MaxIdle int
	// URL selects the Redis backend when not empty: redis://, rediss://,
	// unix://, or redis+sentinel:// / redis+cluster:// (see README).
	URL string
	// KeyPrefix starts every Redis key. Default "ringlb:".
	KeyPrefix string
	// Lease is the Redis lease period: a hold whose node stops renewing it
	// lapses this long after the last renewal. Default 30 s.
	Lease time.Duration
	// Timeout bounds each Redis operation. Default 250 ms.
	Timeout time.Duration
	// Node names this process in Redis holds. Default host:pid:random.
	Node string
}

// withDefaults returns o with zero fields set to their defaults.
func (o Options) withDefaults() Options {
	if o.HalfLife == 0 {
		o.HalfLife = DefaultHalfLife
	}
	if o.HalfLife < 0 {
		o.HalfLife = -1
	}
	if o.MaxHoldAge == 0 {
		o.MaxHoldAge = DefaultMaxHoldAge
	}
	if o.MaxHoldAge < 0 {
		o.MaxHoldAge = -1
	}
	if o.MaxIdle == 0 {
		o.MaxIdle = DefaultMaxIdle
	}
	if o.URL != "" {
		if o.KeyPrefix == "" {
			o.KeyPrefix = DefaultKeyPrefix
		}
		if o.Lease == 0 {
			o.Lease = DefaultLease
		}
		if o.Timeout == 0 {
			o.Timeout = DefaultTimeout
		}
	}
	return o
}

// validate checks o after defaults.
func (o Options) validate() error {
	if o.Tie < TieFewest || o.Tie > TieRandom {
		return invalidf("tie policy %d", int(o.Tie))
	}
	if o.UserDomains != DomainsIgnore && o.UserDomains != DomainsKeep {
		return invalidf("user_domains %d", int(o.UserDomains))
	}
	if o.DefaultWrapup < 0 {
		return invalidf("negative wrapup %v", o.DefaultWrapup)
	}
	for d, w := range o.Wrapup {
		if err := checkDest(d); err != nil {
			return fmt.Errorf("wrapup: %w", err)
		}
		if w < 0 {
			return invalidf("negative wrapup %v for %q", w, d)
		}
	}
	if o.MaxIdle < 0 {
		return invalidf("negative max_idle %d", o.MaxIdle)
	}
	if o.DefaultCapacity < 0 {
		return invalidf("negative default capacity %d", o.DefaultCapacity)
	}
	for d, c := range o.Capacity {
		if err := checkDest(d); err != nil {
			return fmt.Errorf("capacity: %w", err)
		}
		if c < 0 {
			return invalidf("negative capacity %d for %q", c, d)
		}
	}
	if o.Node != "" {
		if err := checkText("node", o.Node, 128); err != nil {
			return err
		}
	}
	if o.KeyPrefix != "" {
		if err := checkText("key_prefix", o.KeyPrefix, 128); err != nil {
			return err
		}
		if strings.ContainsAny(o.KeyPrefix, "{}") {
			return invalidf("key_prefix %q has a brace", o.KeyPrefix)
		}
	}
	if o.URL == "" {
		if o.KeyPrefix != "" || o.Lease != 0 || o.Timeout != 0 || o.Node != "" {
			return invalidf("key_prefix, lease, timeout and node need a url")
		}
		return nil
	}
	if o.Lease < time.Second || o.Lease > time.Hour {
		return invalidf("lease %v (1s to 1h)", o.Lease)
	}
	if o.Timeout < time.Millisecond {
		return invalidf("timeout %v (at least 1ms)", o.Timeout)
	}
	if o.MaxHoldAge > 0 && o.MaxHoldAge < o.Lease {
		return invalidf("max_hold_age %v shorter than lease %v", o.MaxHoldAge, o.Lease)
	}
	return nil
}

// capacityOf returns the capacity of dest; 0 is unlimited.
func (o *Options) capacityOf(dest string) int {
	if c, ok := o.Capacity[dest]; ok {
		return c
	}
	return o.DefaultCapacity
}

// wrapupOf returns the wrap-up time of dest; 0 is none.
func (o *Options) wrapupOf(dest string) time.Duration {
	if w, ok := o.Wrapup[dest]; ok {
		return w
	}
	return o.DefaultWrapup
}

// keyed returns o with the destinations named in Capacity and Wrapup under
// their member keys, as the backends count them.
func (o Options) keyed() Options {
	if o.UserDomains == DomainsKeep {
		return o
	}
	o.Capacity = rekeyed(o.Capacity, o.UserDomains.MemberKey)
	o.Wrapup = rekeyed(o.Wrapup, o.UserDomains.MemberKey)
	return o
}

// rekeyed returns a copy of the per-destination map m with each key k
// stored as key(k); nil stays nil.
func rekeyed[V any](m map[string]V, key func(string) string) map[string]V {
	if m == nil {
		return nil
	}
	out := make(map[string]V, len(m))
	for k, v := range m {
		out[key(k)] = v
	}
	return out
}

// canonical is a stable text form of o after defaults, used to tell whether
// two opens of one name agree.
func (o Options) canonical() string {
	var b strings.Builder
	fmt.Fprintf(&b, "tie=%s;half=%d;wrap=%d;domains=%s;cap=%d;age=%d;idle=%d;url=%s;prefix=%s;lease=%d;timeout=%d;node=%s",
		o.Tie, o.HalfLife, o.DefaultWrapup, o.UserDomains, o.DefaultCapacity, o.MaxHoldAge, o.MaxIdle,
		o.URL, o.KeyPrefix, o.Lease, o.Timeout, o.Node)
	keys := make([]string, 0, len(o.Capacity))
	for k := range o.Capacity {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, ";cap[%q]=%d", k, o.Capacity[k])
	}
	keys = keys[:0]
	for k := range o.Wrapup {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, ";wrap[%q]=%d", k, o.Wrapup[k])
	}
	return b.String()
}

// ParseOptions builds Options from key/value text pairs, the form in which
// the C ABI and the Lua module pass them. Keys:
//
//	tie               fewest (default) | lru | list | random
//	fewest_half_life  seconds (or a duration) for answered counts to halve; 0 = never
//	wrapup            seconds after an answered call before its member is offered again
//	wrapup:<dest>     the same for one destination
//	user_domains      ignore (default: user/N@D counts as user/N) | keep
//	capacity          default capacity for every destination (integer >= 0)
//	default_capacity  same as capacity
//	capacity:<dest>   capacity of one destination
//	max_hold_age      seconds (or a Go duration like "4h"); 0 = never expire
//	max_idle          idle destinations a memory balancer remembers (integer >= 1)
//	url               Redis URL; selects the Redis backend
//	key_prefix        Redis key prefix
//	lease             seconds (or a duration)
//	timeout           seconds (or a duration such as "250ms")
//	node              node name in Redis holds
//
// Unknown keys and malformed values are errors wrapping ErrInvalidArgument.
func ParseOptions(pairs [][2]string) (Options, error) {
	var o Options
	seen := make(map[string]bool, len(pairs))
	for _, kv := range pairs {
		k, v := kv[0], kv[1]
		if seen[k] {
			return Options{}, invalidf("option %q given twice", k)
		}
		seen[k] = true
		var err error
		switch {
		case k == "tie":
			o.Tie, err = ParseTiePolicy(v)
		case k == "fewest_half_life":
			o.HalfLife, err = parseSeconds(k, v)
			if err == nil && o.HalfLife == 0 {
				o.HalfLife = -1 // 0 in text means counts never fade
			}
		case k == "wrapup":
			o.DefaultWrapup, err = parseSeconds(k, v)
		case strings.HasPrefix(k, "wrapup:"):
			dest := k[len("wrapup:"):]
			if err = checkDest(dest); err != nil {
				break
			}
			if o.Wrapup == nil {
				o.Wrapup = make(map[string]time.Duration)
			}
			o.Wrapup[dest], err = parseSeconds(k, v)
		case k == "user_domains":
			switch v {
			case "ignore":
				o.UserDomains = DomainsIgnore
			case "keep":
				o.UserDomains = DomainsKeep
			default:
				err = invalidf("user_domains = %q (want ignore or keep)", v)
			}
		case k == "capacity" || k == "default_capacity":
			if seen["capacity"] && seen["default_capacity"] {
				return Options{}, invalidf("capacity and default_capacity both given")
			}
			o.DefaultCapacity, err = parseCount(k, v)
		case strings.HasPrefix(k, "capacity:"):
			dest := k[len("capacity:"):]
			if err = checkDest(dest); err != nil {
				break
			}
			if o.Capacity == nil {
				o.Capacity = make(map[string]int)
			}
			o.Capacity[dest], err = parseCount(k, v)
		case k == "max_hold_age":
			var d time.Duration
			d, err = parseSeconds(k, v)
			if err == nil {
				if d == 0 {
					d = -1 // 0 in text means never expire
				}
				o.MaxHoldAge = d
			}
		case k == "max_idle":
			o.MaxIdle, err = parseCount(k, v)
			if err == nil && o.MaxIdle == 0 {
				err = invalidf("max_idle = %q (want at least 1)", v)
			}
		case k == "url":
			if v == "" {
				err = invalidf("empty url")
			} else {
				err = checkURL(v)
			}
			o.URL = v
		case k == "key_prefix":
			if v == "" {
				err = invalidf("empty key_prefix")
			}
			o.KeyPrefix = v
		case k == "lease":
			o.Lease, err = parseSeconds(k, v)
		case k == "timeout":
			o.Timeout, err = parseSeconds(k, v)
		case k == "node":
			err = checkText("node", v, 128)
			o.Node = v
		default:
			err = invalidf("unknown option %q", k)
		}
		if err != nil {
			return Options{}, err
		}
	}
	if err := o.withDefaults().validate(); err != nil {
		return Options{}, err
	}
	return o, nil
}

func parseCount(k, v string) (int, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
	if err != nil || n < 0 {
		// Lua numbers may arrive as "2.0".
		f, ferr := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if ferr != nil || f < 0 || f != math.Trunc(f) || f > math.MaxInt32 {
			return 0, invalidf("%s = %q (want a whole number >= 0)", k, v)
		}
		n = int64(f)
	}
	return int(n), nil
}

// parseSeconds reads a number of seconds ("30", "0.25") or a Go duration
// ("250ms", "4h"). A value above zero but under a millisecond is refused:
// it would round to 0, which means "default" or "never", the opposite of
// what was asked.
func parseSeconds(k, v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	var d time.Duration
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		if f < 0 || math.IsNaN(f) || f > 1e9 {
			return 0, invalidf("%s = %q (want seconds >= 0)", k, v)
		}
		d = time.Duration(f * float64(time.Second))
		if f > 0 && d < time.Millisecond {
			return 0, invalidf("%s = %q rounds to zero (want 0 or at least 0.001 seconds)", k, v)
		}
		return d, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, invalidf("%s = %q (want seconds or a duration like 250ms)", k, v)
	}
	if d > 0 && d < time.Millisecond {
		return 0, invalidf("%s = %q rounds to zero (want 0 or at least 1ms)", k, v)
	}
	return d, nil
}

// checkURL rejects URLs that no backend could use, before any connection is
// tried: the Redis backend's own parser reads them.
func checkURL(raw string) error {
	_, err := redisUniversalOptions(raw, DefaultTimeout)
	return err
}
