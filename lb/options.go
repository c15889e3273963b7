package lb

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// TiePolicy says which of several equally loaded destinations goes first.
type TiePolicy int

const (
	// TieFewest puts first the destination with the fewest answered calls,
	// counted with a decay (Options.HalfLife) so that the count describes
	// the recent shift, then lru: calls handled are spread evenly, as
	// mod_callcenter's fewest-calls and Genesys's "fewest calls" routing.
	// A member's score starts when it is first ranked: at zero in the
	// balancer's first Options.StartWindow (nobody has answered anything
	// yet), later at the lowest score among those it is ranked with, so a
	// late joiner takes its share of ties, not all of them. A member back
	// from an absence (Undrain, Rejoin, the end of Away) is lifted to the
	// mean score of the members it is next ranked with. It is the default.
	TieFewest TiePolicy = iota
	// TieLRU puts first the destination whose last hold started longest
	// ago; never-used destinations come first, in list order. Idle agents
	// that take short calls take turns.
	TieLRU
	// TieList keeps list order among equals (what genesis does).
	TieList
	// TieRandom shuffles equals.
	TieRandom
	// TieTalk puts first the destination with the least talk time
	// (answered calls from their hold's start to their release, seconds,
	// faded as TieFewest's counts), then lru: occupancy is spread evenly
	// rather than calls, as mod_callcenter's least-talk-time and Genesys's
	// "least occupied" routing. Use it when calls differ in length by
	// agent and the time on calls is what should be fair; use fewest when
	// the number of calls handled is. Scores start and are lifted as for
	// TieFewest.
	TieTalk
)

// tieNames name the policies in options, by value.
var tieNames = [...]string{TieFewest: "fewest", TieLRU: "lru", TieList: "list", TieRandom: "random", TieTalk: "talk"}

// String returns the policy's name as used in options: fewest, lru, list,
// random, talk.
func (t TiePolicy) String() string { return enumName(tieNames[:], t, "TiePolicy") }

// ParseTiePolicy parses fewest, lru, list, random or talk; empty is the
// default.
func ParseTiePolicy(s string) (TiePolicy, error) {
	if s == "" {
		return TieFewest, nil
	}
	if i := slices.Index(tieNames[:], s); i >= 0 {
		return TiePolicy(i), nil
	}
	return 0, invalidf("tie policy %q (want fewest, lru, list, random or talk)", s)
}

// enumName returns the name of v in names, by value, or type(v) when names
// has none.
func enumName[T ~int](names []string, v T, typ string) string {
	if v >= 0 && int(v) < len(names) {
		return names[v]
	}
	return fmt.Sprintf("%s(%d)", typ, int(v))
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
	// DefaultKeyPrefix starts every key a store backend (Redis) writes
	// for a balancer.
	DefaultKeyPrefix = "ringlb:"
	// DefaultLease is a store backend's lease period.
	DefaultLease = 30 * time.Second
	// DefaultTimeout bounds each operation of a store backend.
	DefaultTimeout = 250 * time.Millisecond
	// DefaultMaxIdle is how many idle destinations a balancer remembers:
	// the memory backend's default, and the fixed bound of a store's.
	DefaultMaxIdle = 10000
	// DefaultHalfLife is how fast tie scores fade (answered calls for
	// fewest ties, talk time for talk ties): a call answered this long ago
	// weighs half a call. Twelve hours keeps a whole shift in the score,
	// so a shift ends as even as it can, while yesterday's counts weigh
	// little by the next morning (docs/balance.md has the figures).
	DefaultHalfLife = 12 * time.Hour
	// DefaultStartWindow is how long after a balancer starts the members
	// it first ranks start at a score of zero.
	DefaultStartWindow = time.Hour
	// DefaultNoAnswerBackoff is how long a member whose offer rang out
	// unanswered ranks after its equally loaded peers; it doubles with
	// every unanswered offer in a row, up to MaxNoAnswerBackoffDoublings
	// times.
	DefaultNoAnswerBackoff = 30 * time.Second
	// MaxNoAnswerBackoffDoublings caps the doublings of the no-answer
	// back-off: 30 s doubled 6 times is 32 minutes.
	MaxNoAnswerBackoffDoublings = 6
	// MaxNoAnswerBackoff is the longest Options.NoAnswerBackoff: doubled
	// MaxNoAnswerBackoffDoublings times it is 64 hours, a back-off that
	// every backend can reckon alike.
	MaxNoAnswerBackoff = time.Hour
	// DefaultMaxNoAnswer is how many offers in a row a member may leave
	// unanswered before it is left out while its back-off runs: three, as
	// mod_callcenter's example agents have it.
	DefaultMaxNoAnswer = 3
	// MaxMaxNoAnswer is the largest Options.MaxNoAnswer.
	MaxMaxNoAnswer = 1000
)

// Bounds of the options of a store backend.
const (
	// MinLease and MaxLease bound Options.Lease. A store keeps what it
	// must remember of ended holds for MaxLease, longer than any renewal
	// period.
	MinLease, MaxLease = time.Second, time.Hour
	// MinTimeout is the shortest Options.Timeout.
	MinTimeout = time.Millisecond
)

// Options configure a balancer. The zero value is a memory balancer with
// fewest ties, no capacity limits, no wrap-up and 4-hour hold expiry. In
// every field zero means the default; where "never" is a choice, it is
// a negative value.
type Options struct {
	// Tie picks the order among equally loaded destinations. Default
	// fewest.
	Tie TiePolicy
	// HalfLife is how fast tie scores fade (TieFewest's answered calls,
	// TieTalk's talk time): a score this old weighs half. 0 means
	// DefaultHalfLife (12 h); negative means they never fade.
	HalfLife time.Duration
	// StartWindow is how long after the balancer starts (its first
	// ranking; for a store, since its keys were made) the members it
	// first ranks start at zero; after it they start at the lowest score
	// of the members they are ranked with. 0 means DefaultStartWindow (1
	// h); negative means never: every member starts at the lowest.
	StartWindow time.Duration
	// NoAnswerBackoff is how long a member whose offer rang out unanswered
	// (Unanswered) ranks after its equally loaded peers, doubling with
	// each unanswered offer in a row (at most MaxNoAnswerBackoffDoublings
	// times) until it answers one: a member who misses one call loses
	// little, one who never answers stops being tried first. It orders
	// only within equal loads, with every tie policy. 0 means
	// DefaultNoAnswerBackoff (30 s); negative means none; at most
	// MaxNoAnswerBackoff (1 h).
	NoAnswerBackoff time.Duration
	// MaxNoAnswer is how many offers in a row a member may leave
	// unanswered before it is not offered at all while its no-answer
	// back-off runs (mod_callcenter's max-no-answer): a member who keeps
	// missing is tried again when the back-off ends, once, and answering
	// that call (or Rejoin) makes it a member like the others. Until then
	// a call that only it could take goes to a busy member, or, where
	// capacities leave none with room, finds every member busy at once,
	// instead of ringing it. A call that already holds the member keeps
	// it. 0 means DefaultMaxNoAnswer (3); negative means never: a member
	// in its back-off is still offered, after its equally loaded peers.
	// At most MaxMaxNoAnswer. It needs a back-off: with NoAnswerBackoff
	// negative it does nothing.
	MaxNoAnswer int
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
	// destinations are always kept. 0 means DefaultMaxIdle (10,000). A
	// store backend keeps DefaultMaxIdle, shared by every node: MaxIdle
	// with a URL is an error.
	MaxIdle int

	// The fields below are a store backend's, selected by URL; without a
	// URL they are errors.

	// URL selects the backend registered for its scheme (RegisterBackend)
	// when not empty. Package lb/redislb registers redis://, rediss://,
	// unix://, redis+sentinel://, redis+cluster:// and rediss+cluster://.
	URL string
	// KeyPrefix starts every key of the store. Default "ringlb:".
	KeyPrefix string
	// Lease is the store's lease period: a hold whose node stops renewing
	// it lapses this long after the last renewal. Default 30 s, from
	// MinLease to MaxLease.
	Lease time.Duration
	// Timeout bounds each operation on the store. Default 250 ms, at
	// least MinTimeout.
	Timeout time.Duration
	// Node names this process in the store's holds. Default
	// host:pid:random.
	Node string
}

// CapacityOf returns the capacity of member key dest; 0 is unlimited.
func (o *Options) CapacityOf(dest string) int {
	if c, ok := o.Capacity[dest]; ok {
		return c
	}
	return o.DefaultCapacity
}

// WrapupOf returns the wrap-up time of member key dest; 0 is none.
func (o *Options) WrapupOf(dest string) time.Duration {
	if w, ok := o.Wrapup[dest]; ok {
		return w
	}
	return o.DefaultWrapup
}

// LeftOut reports whether a member that left missed offers in a row
// unanswered is left out of rankings, backing telling whether its no-answer
// back-off still runs (MaxNoAnswer). o is after defaults.
func (o *Options) LeftOut(missed int, backing bool) bool {
	return backing && o.MaxNoAnswer > 0 && missed >= o.MaxNoAnswer
}
