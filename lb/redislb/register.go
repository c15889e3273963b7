package redislb

import (
	"fmt"

	"github.com/redis/go-redis/v9"
	"github.com/ringlb/ringlb/lb"
)

// schemes are the URL schemes that select this backend, in the order
// messages list them.
var schemes = []string{"redis", "rediss", "unix", "redis+sentinel", "redis+cluster", "rediss+cluster"}

// registerErr is what registering with lb returned: nil, as only this
// package registers these schemes (TestRegistered checks).
var registerErr = lb.RegisterBackend(lb.Backend{
	Schemes: schemes,
	ParseURL: func(url string) (any, error) {
		uo, err := parseURL(url)
		if err != nil {
			return nil, err
		}
		return uo, nil // not a typed nil inside the interface
	},
	Open: func(name string, c *lb.Config, url any) (lb.Balancer, error) {
		uo, ok := url.(*redis.UniversalOptions)
		if !ok {
			return nil, fmt.Errorf("ringlb: open %q: internal error: the url was read as %T", name, url)
		}
		r, err := open(name, c, uo)
		if err != nil {
			return nil, err // not a typed nil inside the interface
		}
		return r, nil
	},
})
