package lb

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisUniversalOptions turns a ringlb Redis URL into go-redis options,
// with every timeout set to timeout and retries off.
func redisUniversalOptions(raw string, timeout time.Duration) (*redis.UniversalOptions, error) {
	scheme, _, ok := strings.Cut(raw, "://")
	if !ok {
		return nil, invalidf("url %q: no scheme", raw)
	}
	var uo *redis.UniversalOptions
	switch scheme {
	case "redis", "rediss", "unix":
		o, err := redis.ParseURL(raw)
		if err != nil {
			return nil, invalidf("url %q: %s", redactURL(raw), redactSecrets(err.Error(), raw))
		}
		uo = &redis.UniversalOptions{
			Addrs:           []string{o.Addr},
			ClientName:      o.ClientName,
			DB:              o.DB,
			Username:        o.Username,
			Password:        o.Password,
			TLSConfig:       o.TLSConfig,
			PoolSize:        o.PoolSize,
			MinIdleConns:    o.MinIdleConns,
			MaxIdleConns:    o.MaxIdleConns,
			MaxActiveConns:  o.MaxActiveConns,
			ConnMaxIdleTime: o.ConnMaxIdleTime,
			ConnMaxLifetime: o.ConnMaxLifetime,
		}
		if scheme == "unix" && !strings.HasPrefix(o.Addr, "/") {
			return nil, invalidf("url %q: unix socket path must be absolute", redactURL(raw))
		}
	case "redis+sentinel", "redis+cluster", "rediss+cluster":
		mu, err := parseMultiHostURL(raw, scheme)
		if err != nil {
			return nil, err
		}
		uo = &redis.UniversalOptions{Addrs: mu.addrs, Username: mu.user, Password: mu.pass}
		if scheme == "redis+sentinel" {
			uo.MasterName = mu.query.Get("master_name")
			uo.SentinelUsername = mu.query.Get("sentinel_username")
			uo.SentinelPassword = mu.query.Get("sentinel_password")
			uo.DB = mu.db
			if uo.MasterName == "" {
				return nil, invalidf("url %q: master_name is required", redactURL(raw))
			}
		} else {
			uo.IsClusterMode = true
			if scheme == "rediss+cluster" {
				host, _, _ := net.SplitHostPort(mu.addrs[0]) // checked by parseMultiHostURL
				uo.TLSConfig = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
			}
		}
	default:
		return nil, invalidf("url %q: scheme %q (want redis, rediss, unix, redis+sentinel or redis+cluster)", redactURL(raw), scheme)
	}
	uo.DialTimeout = timeout
	uo.ReadTimeout = timeout
	uo.WriteTimeout = timeout
	uo.PoolTimeout = timeout
	uo.ContextTimeoutEnabled = true
	uo.MaxRetries = -1 // never: see NewRedis
	uo.DialerRetries = 1
	uo.Protocol = 2 // no HELLO round trip, no push notifications
	uo.DisableIdentity = true
	return uo, nil
}

type multiHostURL struct {
	addrs      []string
	user, pass string
	db         int
	query      url.Values
}

// parseMultiHostURL parses scheme://[user:pass@]host:port[,host:port...][/db][?k=v],
// which net/url cannot: it rejects a comma-separated host list.
func parseMultiHostURL(raw, scheme string) (*multiHostURL, error) {
	bad := func(format string, args ...any) error {
		return invalidf("url %q: %s", redactURL(raw), fmt.Sprintf(format, args...))
	}
	rest := raw[len(scheme)+3:]
	if strings.Contains(rest, "#") {
		return nil, bad("fragment not allowed")
	}
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	userinfo, hostlist := "", authority
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		userinfo, hostlist = authority[:i+1], authority[i+1:]
	}
	hosts := strings.Split(hostlist, ",")
	defPort := "6379"
	if scheme == "redis+sentinel" {
		defPort = "26379"
	}
	out := &multiHostURL{}
	for _, h := range hosts {
		if h == "" {
			return nil, bad("empty host")
		}
		if !strings.Contains(h, ":") || strings.HasSuffix(h, "]") {
			h += ":" + defPort
		}
		host, port, err := net.SplitHostPort(h)
		if err != nil || host == "" {
			return nil, bad("host %q", h)
		}
		if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
			return nil, bad("port in %q", h)
		}
		out.addrs = append(out.addrs, h)
	}
	// The single-host form parses userinfo, path and query the standard way.
	u, err := url.Parse("redis://" + userinfo + out.addrs[0] + tail)
	if err != nil {
		return nil, bad("%s", redactSecrets(err.Error(), raw))
	}
	if u.User != nil {
		out.user = u.User.Username()
		out.pass, _ = u.User.Password()
	}
	switch p := strings.Trim(u.Path, "/"); {
	case p == "":
	case scheme == "redis+sentinel":
		db, err := strconv.Atoi(p)
		if err != nil || db < 0 {
			return nil, bad("db %q", p)
		}
		out.db = db
	case p == "0":
	default:
		return nil, bad("a cluster has only db 0")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, bad("query: %s", redactSecrets(err.Error(), raw))
	}
	allowed := map[string]bool{}
	if scheme == "redis+sentinel" {
		allowed = map[string]bool{"master_name": true, "sentinel_username": true, "sentinel_password": true}
	}
	for k, v := range q {
		if !allowed[k] {
			return nil, bad("unknown parameter %q", k)
		}
		if len(v) != 1 {
			return nil, bad("parameter %q given %d times", k, len(v))
		}
	}
	out.query = q
	return out, nil
}

// redactURL hides the passwords of a URL quoted in an error: the one in
// its userinfo and any query parameter whose name mentions "password".
func redactURL(raw string) string {
	return redactSecrets(raw, raw)
}

// redactSecrets replaces every password that raw carries wherever it
// appears in text, such as a parser's error that quotes the whole URL.
func redactSecrets(text, raw string) string {
	for _, secret := range urlSecrets(raw) {
		if secret != "" {
			text = strings.ReplaceAll(text, secret, "xxxxx")
		}
	}
	return text
}

// urlSecrets returns the passwords written in raw, found without a full
// parse so that even a malformed URL does not leak them.
func urlSecrets(raw string) []string {
	var out []string
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil
	}
	end := strings.IndexAny(rest, "/?")
	if end < 0 {
		end = len(rest)
	}
	if at := strings.LastIndex(rest[:end], "@"); at >= 0 {
		if _, pass, hasPass := strings.Cut(rest[:at], ":"); hasPass {
			out = append(out, pass)
		}
	}
	if _, query, ok := strings.Cut(rest, "?"); ok {
		for _, kv := range strings.Split(query, "&") {
			k, v, _ := strings.Cut(kv, "=")
			if strings.Contains(strings.ToLower(k), "password") {
				out = append(out, v)
			}
		}
	}
	return out
}
