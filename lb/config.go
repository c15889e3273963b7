package lb

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config is a balancer's Options once checked: defaults applied, every
// value and combination valid, the destinations named in Capacity and
// Wrapup under their member keys, every string its own copy, and a URL
// read by the backend it selects. Only Options.Check and ParseOptions
// make one, so a backend given a Config checks nothing again. A Config is
// never changed once made: it is safe for simultaneous use.
type Config struct {
	opts    Options
	backend *Backend // nil: the memory backend
	url     any      // what backend.ParseURL made of opts.URL
	canon   string
}

// Options returns c's options, defaults applied. Their maps are c's own:
// read them, never write them.
func (c *Config) Options() Options { return c.opts }

// Settings are options as Open and Registry.Open take them: Options,
// which they check, or a *Config, checked when it was made. No other type
// is one.
type Settings interface {
	config() (*Config, error)
}

func (o Options) config() (*Config, error) { return o.Check() }
func (c *Config) config() (*Config, error) { return c, nil }

// Check checks o and returns it as a Config. Errors wrap
// ErrInvalidArgument; an error about the URL shows no part of it but a
// scheme that is a PlainWord (the backend's ParseURL promises the same).
func (o Options) Check() (*Config, error) {
	if err := o.checkBackendFields(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	var b *Backend
	if o.URL != "" { // its length and text are checked before it is copied
		var err error
		if b, err = backendFor(o.URL); err != nil {
			return nil, err
		}
	}
	c := &Config{opts: o.owned(), backend: b}
	if b != nil {
		var err error
		if c.url, err = b.ParseURL(c.opts.URL); err != nil {
			return nil, err
		}
	}
	c.canon = c.opts.canonical()
	return c, nil
}

// checkBackendFields refuses fields that the backend o selects would
// ignore: a store's without a URL, the memory backend's with one.
func (o *Options) checkBackendFields() error {
	if o.URL == "" {
		if o.KeyPrefix != "" || o.Lease != 0 || o.Timeout != 0 || o.Node != "" {
			return invalidf("key_prefix, lease, timeout and node need a url")
		}
		return nil
	}
	if o.MaxIdle != 0 {
		return invalidf("max_idle is the memory backend's: with a url the store keeps %d idle destinations", DefaultMaxIdle)
	}
	return nil
}

// withDefaults returns o with zero fields set to their defaults, and every
// "never" as -1.
func (o Options) withDefaults() Options {
	neverOr := func(d, def time.Duration) time.Duration {
		switch {
		case d == 0:
			return def
		case d < 0:
			return -1
		}
		return d
	}
	o.HalfLife = neverOr(o.HalfLife, DefaultHalfLife)
	o.StartWindow = neverOr(o.StartWindow, DefaultStartWindow)
	o.NoAnswerBackoff = neverOr(o.NoAnswerBackoff, DefaultNoAnswerBackoff)
	o.MaxHoldAge = neverOr(o.MaxHoldAge, DefaultMaxHoldAge)
	switch {
	case o.MaxNoAnswer == 0:
		o.MaxNoAnswer = DefaultMaxNoAnswer
	case o.MaxNoAnswer < 0:
		o.MaxNoAnswer = -1
	}
	if o.URL == "" {
		if o.MaxIdle == 0 {
			o.MaxIdle = DefaultMaxIdle
		}
		return o
	}
	if o.KeyPrefix == "" {
		o.KeyPrefix = DefaultKeyPrefix
	}
	if o.Lease == 0 {
		o.Lease = DefaultLease
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	return o
}

// validate checks o after defaults.
func (o *Options) validate() error {
	if o.Tie < TieFewest || o.Tie > TieTalk {
		return invalidf("tie policy %d", int(o.Tie))
	}
	if o.UserDomains != DomainsIgnore && o.UserDomains != DomainsKeep {
		return invalidf("user_domains %d", int(o.UserDomains))
	}
	if o.NoAnswerBackoff > MaxNoAnswerBackoff {
		return invalidf("no_answer_backoff %v (at most %v)", o.NoAnswerBackoff, MaxNoAnswerBackoff)
	}
	if o.MaxNoAnswer > MaxMaxNoAnswer {
		return invalidf("max_no_answer %d (at most %d)", o.MaxNoAnswer, MaxMaxNoAnswer)
	}
	if o.DefaultWrapup < 0 {
		return invalidf("negative wrapup %v", o.DefaultWrapup)
	}
	if err := checkPerDest("wrapup", o.Wrapup); err != nil {
		return err
	}
	if o.MaxIdle < 0 {
		return invalidf("negative max_idle %d", o.MaxIdle)
	}
	if o.DefaultCapacity < 0 {
		return invalidf("negative default capacity %d", o.DefaultCapacity)
	}
	if err := checkPerDest("capacity", o.Capacity); err != nil {
		return err
	}
	if o.URL == "" {
		return nil
	}
	if o.Node != "" { // empty: the backend names the node
		if err := checkText("node", o.Node, MaxNameLen); err != nil {
			return err
		}
	}
	if err := checkText("key_prefix", o.KeyPrefix, MaxNameLen); err != nil {
		return err
	}
	if strings.ContainsAny(o.KeyPrefix, "{}") {
		return invalidf("key_prefix %q has a brace", o.KeyPrefix)
	}
	if o.Lease < MinLease || o.Lease > MaxLease {
		return invalidf("lease %v (%v to %v)", o.Lease, MinLease, MaxLease)
	}
	if o.Timeout < MinTimeout {
		return invalidf("timeout %v (at least %v)", o.Timeout, MinTimeout)
	}
	if o.MaxHoldAge > 0 && o.MaxHoldAge < o.Lease {
		return invalidf("max_hold_age %v shorter than lease %v", o.MaxHoldAge, o.Lease)
	}
	return nil
}

// checkPerDest checks the destinations of a per-destination option and
// that no value is negative.
func checkPerDest[V int | time.Duration](what string, m map[string]V) error {
	for d, v := range m {
		if err := CheckDest(d); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if v < 0 {
			return invalidf("negative %s %v for %q", what, v, d)
		}
	}
	return nil
}

// owned returns o with its own copy of every string and map (o may hold
// views of C memory), the destinations of Capacity and Wrapup under their
// member keys, as the backends count them.
func (o Options) owned() Options {
	o.URL = strings.Clone(o.URL)
	o.KeyPrefix = strings.Clone(o.KeyPrefix)
	o.Node = strings.Clone(o.Node)
	key := func(d string) string { return strings.Clone(o.UserDomains.MemberKey(d)) }
	o.Capacity = rekeyed(o.Capacity, key)
	o.Wrapup = rekeyed(o.Wrapup, key)
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
// two opens of one name agree. Opening a name that is open computes it per
// call, so it is built with appends, not fmt.
func (o *Options) canonical() string {
	b := make([]byte, 0, 160+len(o.URL)+len(o.KeyPrefix)+len(o.Node)+40*(len(o.Capacity)+len(o.Wrapup)))
	str := func(name, v string) { b = append(append(b, name...), v...) }
	num := func(name string, v int64) { b = strconv.AppendInt(append(b, name...), v, 10) }
	str("tie=", o.Tie.String())
	num(";half=", int64(o.HalfLife))
	num(";start=", int64(o.StartWindow))
	num(";backoff=", int64(o.NoAnswerBackoff))
	num(";maxmiss=", int64(o.MaxNoAnswer))
	num(";wrap=", int64(o.DefaultWrapup))
	str(";domains=", o.UserDomains.String())
	num(";cap=", int64(o.DefaultCapacity))
	num(";age=", int64(o.MaxHoldAge))
	num(";idle=", int64(o.MaxIdle))
	str(";url=", o.URL)
	str(";prefix=", o.KeyPrefix)
	num(";lease=", int64(o.Lease))
	num(";timeout=", int64(o.Timeout))
	str(";node=", o.Node)
	perDest := func(what string, keys []string, value func(string) int64) {
		slices.Sort(keys)
		for _, k := range keys {
			b = strconv.AppendQuote(append(b, what...), k)
			num("]=", value(k))
		}
	}
	keys := make([]string, 0, max(len(o.Capacity), len(o.Wrapup)))
	for k := range o.Capacity {
		keys = append(keys, k)
	}
	perDest(";cap[", keys, func(k string) int64 { return int64(o.Capacity[k]) })
	keys = keys[:0]
	for k := range o.Wrapup {
		keys = append(keys, k)
	}
	perDest(";wrap[", keys, func(k string) int64 { return int64(o.Wrapup[k]) })
	return string(b)
}

// Open returns a new balancer named name, outside any registry, of the
// backend that s selects: memory without a URL, else the backend
// registered for the URL's scheme. The caller closes it.
func Open(name string, s Settings) (Balancer, error) {
	c, err := openConfig(name, s)
	if err != nil {
		return nil, err
	}
	return c.open(name)
}

// openConfig checks the name and settings of a balancer to open, with
// the errors every way of opening one returns.
func openConfig(name string, s Settings) (*Config, error) {
	if err := CheckName(name); err != nil {
		return nil, fmt.Errorf("ringlb: open: %w", err)
	}
	c, err := s.config()
	if err != nil {
		return nil, fmt.Errorf("ringlb: open %q: %w", name, err)
	}
	return c, nil
}

// open creates the balancer c selects; name is checked.
func (c *Config) open(name string) (Balancer, error) {
	if c.backend == nil {
		return newMemory(name, c), nil
	}
	return c.backend.Open(name, c, c.url)
}
