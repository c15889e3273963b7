package lb

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// Never is how the text form spells "never" for fewest_half_life,
// start_window, no_answer_backoff, max_no_answer and max_hold_age, which Options spell as a negative value. 0 means the
// default there, as everywhere.
const Never = "never"

// ParseOptions reads key/value text pairs, the form in which the C ABI and
// the Lua module pass options, and checks them as Options.Check does: the
// Config it returns is what Registry.Open takes without checking again.
// Keys:
//
//	tie               fewest (default) | lru | list | random | talk
//	fewest_half_life  seconds (or a duration) for tie scores to halve; 0 = default (12 h); never
//	start_window      seconds after the balancer starts in which members start at zero; 0 = default (1 h); never
//	no_answer_backoff seconds a member ranks after its peers once an offer rang out, doubling per miss in a row (to 64 times); 0 = default (30 s); at most 3600; never
//	max_no_answer     offers in a row a member may leave unanswered before it is left out while its back-off runs; 0 = default (3); at most 1000; never
//	wrapup            seconds after an answered call before its member is offered again
//	wrapup:<dest>     the same for one destination
//	user_domains      ignore (default: user/N@D counts as user/N) | keep
//	capacity          default capacity for every destination (integer >= 0)
//	default_capacity  same as capacity
//	capacity:<dest>   capacity of one destination
//	max_hold_age      seconds (or a Go duration like "4h"); 0 = default (4 h); never
//	max_idle          idle destinations a memory balancer remembers; 0 = default (10000)
//	url               the store's URL; selects its backend (RegisterBackend)
//	key_prefix        the store's key prefix
//	lease             seconds (or a duration)
//	timeout           seconds (or a duration such as "250ms")
//	node              node name in the store's holds
//
// Unknown keys, keys given twice and malformed values are errors wrapping
// ErrInvalidArgument, as are options the backend selected would ignore.
func ParseOptions(pairs [][2]string) (*Config, error) {
	var o Options
	seen := make(map[string]bool, len(pairs))
	for _, kv := range pairs {
		k, v := kv[0], kv[1]
		if seen[k] {
			return nil, invalidf("option %q given twice", k)
		}
		seen[k] = true
		if err := o.set(k, v); err != nil {
			return nil, err
		}
		if seen["capacity"] && seen["default_capacity"] {
			return nil, invalidf("capacity and default_capacity both given")
		}
	}
	return o.Check()
}

// set reads the value v of option k into o.
func (o *Options) set(k, v string) error {
	var err error
	switch {
	case k == "tie":
		o.Tie, err = ParseTiePolicy(v)
	case k == "fewest_half_life":
		o.HalfLife, err = parseSecondsOrNever(k, v)
	case k == "start_window":
		o.StartWindow, err = parseSecondsOrNever(k, v)
	case k == "no_answer_backoff":
		o.NoAnswerBackoff, err = parseSecondsOrNever(k, v)
	case k == "max_no_answer":
		o.MaxNoAnswer, err = parseCountOrNever(k, v)
	case k == "wrapup":
		o.DefaultWrapup, err = parseSeconds(k, v)
	case strings.HasPrefix(k, "wrapup:"):
		err = setPerDest(&o.Wrapup, k, v, parseSeconds)
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
		o.DefaultCapacity, err = parseCount(k, v)
	case strings.HasPrefix(k, "capacity:"):
		err = setPerDest(&o.Capacity, k, v, parseCount)
	case k == "max_hold_age":
		o.MaxHoldAge, err = parseSecondsOrNever(k, v)
	case k == "max_idle":
		o.MaxIdle, err = parseCount(k, v)
	case k == "url":
		if v == "" {
			err = invalidf("empty url")
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
		err = checkText("node", v, MaxNameLen)
		o.Node = v
	default:
		err = invalidf("unknown option %q", k)
	}
	return err
}

// setPerDest reads option k, "<what>:<dest>", into the map *m.
func setPerDest[V any](m *map[string]V, k, v string, parse func(k, v string) (V, error)) error {
	_, dest, _ := strings.Cut(k, ":")
	if err := CheckDest(dest); err != nil {
		return err
	}
	x, err := parse(k, v)
	if err != nil {
		return err
	}
	if *m == nil {
		*m = make(map[string]V)
	}
	(*m)[dest] = x
	return nil
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

// parseCountOrNever is parseCount that also reads Never, as -1.
func parseCountOrNever(k, v string) (int, error) {
	if strings.TrimSpace(v) == Never {
		return -1, nil
	}
	return parseCount(k, v)
}

// parseSecondsOrNever is parseSeconds that also reads Never, as -1.
func parseSecondsOrNever(k, v string) (time.Duration, error) {
	if strings.TrimSpace(v) == Never {
		return -1, nil
	}
	return parseSeconds(k, v)
}

// parseSeconds reads a number of seconds ("30", "0.25") or a Go duration
// ("250ms", "4h"). A value above zero but under a millisecond is refused:
// it would round to 0, which means the default, not what was asked.
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
