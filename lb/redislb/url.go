package redislb

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ringlb/ringlb/lb"
)

// A Redis URL is read in two layers. ringlb's own (parseRedisURL) reads
// what go-redis's parsers lack: the length limit, the comma-separated host
// lists of redis+sentinel:// and redis+cluster://, port ranges, and errors
// that never show the URL. go-redis's own parsers (redis.ParseURL,
// ParseClusterURL, ParseFailoverURL) then read the rest: userinfo, TLS,
// host defaults and the standalone form's many query parameters.
//
// Errors are built from ringlb's own words only, whatever the URL's shape,
// so that no piece of its userinfo or of any parameter's value can reach a
// log. Of the URL's own text they show at most the scheme and the name of
// its first parameter, and those only when no reading of the URL can make
// them part of a password or a value (lb.PlainWord, unknownParam); any other
// parameter is named from knownParams or by its place in the query.
// RedactURL (redact.go) is the one place that shows a URL, for status
// output.

// urlErr is an ErrInvalidArgument about the url option. detail must be
// ringlb's own text, never a part of the URL.
func urlErr(detail string) error { return fmt.Errorf("%w: url: %s", lb.ErrInvalidArgument, detail) }

// passwordHint ends errors that a password holding URL delimiters causes.
const passwordHint = " (a password must percent-encode each of : / ? # @ & it holds)"

// urlScheme is what a scheme selects.
type urlScheme struct {
	name     string // as written, for messages
	sentinel bool   // redis+sentinel://: a master found through sentinels
	cluster  bool   // redis+cluster://, rediss+cluster://
	tls      bool   // rediss+cluster://; go-redis reads rediss:// itself
	unix     bool   // unix://: no host, the path is the socket
	defPort  string // port of a host written without one
	params   map[string]bool
}

// Schemes. The standalone ones pass their query to redis.ParseURL, which
// decides which parameters it takes; the others take only theirs.
var urlSchemes = map[string]*urlScheme{
	"redis":          {name: "redis", defPort: "6379"},
	"rediss":         {name: "rediss", defPort: "6379"},
	"unix":           {name: "unix", unix: true},
	"redis+sentinel": {name: "redis+sentinel", sentinel: true, defPort: "26379", params: sentinelParams},
	"redis+cluster":  {name: "redis+cluster", cluster: true, defPort: "6379", params: map[string]bool{}},
	"rediss+cluster": {name: "rediss+cluster", cluster: true, tls: true, defPort: "6379", params: map[string]bool{}},
}

var sentinelParams = map[string]bool{"master_name": true, "sentinel_username": true, "sentinel_password": true}

// ringlbSets are go-redis's parameters that ringlb sets itself, whatever a
// URL says: a URL that gives one is refused, with the reason, rather than
// have it ignored.
var ringlbSets = map[string]string{
	"dial_timeout":      "ringlb bounds every Redis operation by its timeout option: use timeout",
	"read_timeout":      "ringlb bounds every Redis operation by its timeout option: use timeout",
	"write_timeout":     "ringlb bounds every Redis operation by its timeout option: use timeout",
	"pool_timeout":      "ringlb bounds every Redis operation by its timeout option: use timeout",
	"max_retries":       "ringlb never retries a command (a retried acquire whose reply was lost would find its own hold)",
	"min_retry_backoff": "ringlb never retries a command (a retried acquire whose reply was lost would find its own hold)",
	"max_retry_backoff": "ringlb never retries a command (a retried acquire whose reply was lost would find its own hold)",
	"protocol":          "ringlb speaks RESP2 (no HELLO round trip, no push notifications)",
}

// knownParams are the query parameter names that errors and RedactURL may
// show; true marks those whose values are credentials. A parameter not
// listed is told by its place in the query (but see unknownParam): an "&"
// in a password makes its tail look like a parameter name.
var knownParams = map[string]bool{
	"password": true, "username": true, "sentinel_password": true, "sentinel_username": true,
	"master_name": false, "addr": false, "db": false, "client_name": false, "protocol": false,
	"max_retries": false, "min_retry_backoff": false, "max_retry_backoff": false, "dial_timeout": false,
	"read_timeout": false, "write_timeout": false, "pool_fifo": false, "pool_size": false,
	"pool_timeout": false, "min_idle_conns": false, "max_idle_conns": false, "max_active_conns": false,
	"max_concurrent_dials": false, "pipeline_pool_size": false, "pipeline_read_buffer_size": false,
	"pipeline_write_buffer_size": false, "conn_max_idle_time": false, "idle_timeout": false,
	"conn_max_lifetime": false, "max_conn_age": false, "conn_max_lifetime_jitter": false, "skip_verify": false,
}

// param is one query parameter, decoded.
type param struct{ name, value string }

// redisURL is a ringlb Redis URL taken apart and checked.
type redisURL struct {
	raw    string
	scheme *urlScheme
	user   *url.Userinfo // nil without userinfo
	addrs  []string      // host:port each, in order; none for unix://
	db     int
	params []param
	// atInTail is an '@' past the authority: the userinfo of a password
	// holding '/' or '?' may then run into the path and query.
	atInTail bool
}

// parseRedisURL checks raw, in one pass over each of its parts; its length
// is the caller's to check.
func parseRedisURL(raw string) (*redisURL, error) {
	if f := lb.TextFault(raw); f != "" {
		return nil, urlErr(f)
	}
	name, rest, ok := strings.Cut(raw, "://")
	sch := urlSchemes[name]
	if !ok || sch == nil {
		return nil, urlErr(lb.UnknownScheme(name, ok, schemes))
	}
	if strings.IndexByte(rest, '#') >= 0 {
		return nil, urlErr("has a '#' (a fragment, or a '#' in a password)" + passwordHint)
	}
	u := &redisURL{raw: raw, scheme: sch}
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	hostlist := authority
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		user, err := parseUserinfo(authority[:at])
		if err != nil {
			return nil, err
		}
		u.user, hostlist = user, authority[at+1:]
	}
	path, rawQuery, _ := strings.Cut(tail, "?")
	u.atInTail = strings.IndexByte(tail, '@') >= 0
	if err := u.parseHosts(hostlist); err != nil {
		return nil, err
	}
	if err := u.parsePath(path); err != nil {
		return nil, err
	}
	if err := u.parseQuery(rawQuery); err != nil {
		return nil, err
	}
	return u, nil
}

// parseUserinfo reads "user[:password]" as net/url does, refusing what it
// would refuse.
func parseUserinfo(s string) (*url.Userinfo, error) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("-._:~!$&'()*+,;=%@", c) >= 0) {
			return nil, urlErr("the userinfo has a character that must be percent-encoded" + passwordHint)
		}
	}
	name, pass, hasPass := strings.Cut(s, ":")
	name, err1 := url.PathUnescape(name)
	pass, err2 := url.PathUnescape(pass)
	if err1 != nil || err2 != nil {
		return nil, urlErr("the userinfo has a malformed percent-escape" + passwordHint)
	}
	if hasPass {
		return url.UserPassword(name, pass), nil
	}
	return url.User(name), nil
}

// parseHosts reads the comma-separated host list.
func (u *redisURL) parseHosts(list string) error {
	sch := u.scheme
	switch {
	case sch.unix:
		if list != "" {
			return urlErr("a unix url takes no host: the socket's absolute path follows the scheme" + passwordHint)
		}
		return nil
	case !sch.sentinel && !sch.cluster && list == "":
		return nil // go-redis connects to localhost
	case !sch.sentinel && !sch.cluster && strings.IndexByte(list, ',') >= 0:
		return urlErr("several hosts need the redis+sentinel or redis+cluster scheme" + passwordHint)
	}
	for h := range strings.SplitSeq(list, ",") {
		addr, err := hostPort(h, sch.defPort)
		if err != nil {
			return err
		}
		u.addrs = append(u.addrs, addr)
	}
	return nil
}

// hostPort checks one host, "name", "name:port", "[v6]" or "[v6]:port",
// and returns it as host:port.
func hostPort(h, defPort string) (string, error) {
	host, port, hasPort := h, "", false
	if v6, ok := strings.CutPrefix(h, "["); ok {
		var after string
		if host, after, ok = strings.Cut(v6, "]"); !ok {
			return "", urlErr("a host has a '[' without its ']'" + passwordHint)
		}
		if ip := net.ParseIP(host); ip == nil || strings.IndexByte(host, ':') < 0 {
			return "", urlErr("a host in brackets is not an IPv6 address" + passwordHint)
		}
		if after != "" {
			if port, hasPort = strings.CutPrefix(after, ":"); !hasPort {
				return "", urlErr("a host has text after its ']'" + passwordHint)
			}
		}
	} else {
		host, port, hasPort = strings.Cut(h, ":")
		if host == "" {
			return "", urlErr("a host is empty" + passwordHint)
		}
		for i := 0; i < len(host); i++ {
			c := host[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
				return "", urlErr("a host name holds other than letters, digits, dots, hyphens and underscores" + passwordHint)
			}
		}
	}
	if !hasPort {
		port = defPort
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strings.TrimLeft(port, "0123456789") != "" {
		return "", urlErr("a host's port is not a port number" + passwordHint)
	}
	return net.JoinHostPort(host, port), nil
}

// parsePath reads the db number, or for unix:// the socket path.
func (u *redisURL) parsePath(path string) error {
	if u.scheme.unix {
		if path == "" {
			return urlErr("a unix url needs the socket's absolute path after the scheme")
		}
		if _, err := url.PathUnescape(path); err != nil {
			return urlErr("the socket path has a malformed percent-escape")
		}
		return nil
	}
	db := strings.Trim(path, "/")
	if db == "" {
		return nil
	}
	if strings.TrimLeft(db, "0123456789") != "" || len(db) > 9 {
		return urlErr("the path is not a db number such as /0" + passwordHint)
	}
	if u.scheme.cluster && strings.Trim(db, "0") != "" {
		return urlErr("a cluster has only db 0")
	}
	u.db, _ = strconv.Atoi(db) // nine digits at most: it fits
	return nil
}

// parseQuery reads the query's parameters in order: each at most once,
// each name one the scheme takes (the standalone schemes leave that to
// go-redis), each percent-escape well formed.
func (u *redisURL) parseQuery(rawQuery string) error {
	if rawQuery == "" {
		return nil
	}
	seen := map[string]bool{}
	for kv := range strings.SplitSeq(rawQuery, "&") {
		if kv == "" {
			continue
		}
		n := len(u.params) // its place, should it need telling
		k, v, _ := strings.Cut(kv, "=")
		name, err1 := url.QueryUnescape(k)
		value, err2 := url.QueryUnescape(v)
		u.params = append(u.params, param{name, value})
		switch {
		case strings.IndexByte(kv, ';') >= 0:
			return urlErr(paramRef(u.params, n) + " has a ';', which must be percent-encoded")
		case err1 != nil || err2 != nil:
			return urlErr(paramRef(u.params, n) + " has a malformed percent-escape")
		case u.scheme.params != nil && !u.scheme.params[name]:
			return u.unknownParam(n)
		case seen[name]:
			return urlErr(paramRef(u.params, n) + " is given twice")
		case ringlbSets[name] != "":
			return urlErr(paramRef(u.params, n) + ": " + ringlbSets[name])
		}
		seen[name] = true
	}
	return nil
}

// paramRef names parameter n of ps for an error: by name when the name is
// one ringlb knows, else by its place.
func paramRef(ps []param, n int) string {
	if _, ok := knownParams[ps[n].name]; ok {
		return "parameter " + ps[n].name
	}
	if n < 99 {
		return "parameter " + strconv.Itoa(n+1) + " of the query"
	}
	return "a parameter past the 99th of the query"
}

// unknownParam is the error for parameter n, which u's scheme does not
// take. An unknown name is shown only for the first parameter, when it is
// a lb.PlainWord and no '@' follows the authority: no earlier value can then
// run into it through an unescaped '&', nor the userinfo through a '?'.
func (u *redisURL) unknownParam(n int) error {
	ps := u.params
	ref := paramRef(ps, n)
	_, known := knownParams[ps[n].name]
	if !known && n == 0 && !u.atInTail && lb.PlainWord(ps[n].name) {
		ref = "parameter " + strconv.Quote(ps[n].name)
	}
	msg := ref + " is not one that a " + u.scheme.name + " url takes"
	if !known {
		msg += passwordHint
	}
	return urlErr(msg)
}

// get returns the value of parameter name, "" when not given.
func (u *redisURL) get(name string) string {
	for _, p := range u.params {
		if p.name == name {
			return p.value
		}
	}
	return ""
}

// goRedisURL is u in the form go-redis's cluster and failover parsers read:
// the first host in the authority, the others as addr parameters.
func (u *redisURL) goRedisURL(scheme string, user *url.Userinfo, query url.Values) string {
	for _, a := range u.addrs[1:] {
		query.Add("addr", a)
	}
	g := url.URL{Scheme: scheme, User: user, Host: u.addrs[0], Path: "/" + strconv.Itoa(u.db), RawQuery: query.Encode()}
	return g.String()
}

// universal turns u into go-redis options through go-redis's parsers.
func (u *redisURL) universal() (*redis.UniversalOptions, error) {
	switch sch := u.scheme; {
	case sch.sentinel:
		q := url.Values{}
		q.Set("master_name", u.get("master_name"))
		if q.Get("master_name") == "" {
			return nil, urlErr("parameter master_name is required")
		}
		var sentinelUser *url.Userinfo
		if su, sp := u.get("sentinel_username"), u.get("sentinel_password"); sp != "" {
			sentinelUser = url.UserPassword(su, sp)
		} else if su != "" {
			sentinelUser = url.User(su)
		}
		if u.user != nil {
			q.Set("username", u.user.Username())
			if p, ok := u.user.Password(); ok {
				q.Set("password", p)
			}
		}
		o, err := redis.ParseFailoverURL(u.goRedisURL("redis", sentinelUser, q))
		if err != nil {
			return nil, u.goRedisError(err)
		}
		return &redis.UniversalOptions{Addrs: o.SentinelAddrs, MasterName: o.MasterName, DB: o.DB,
			SentinelUsername: o.SentinelUsername, SentinelPassword: o.SentinelPassword,
			Username: o.Username, Password: o.Password}, nil
	case sch.cluster:
		scheme := "redis"
		if sch.tls {
			scheme = "rediss"
		}
		o, err := redis.ParseClusterURL(u.goRedisURL(scheme, u.user, url.Values{}))
		if err != nil {
			return nil, u.goRedisError(err)
		}
		if o.TLSConfig != nil {
			o.TLSConfig.MinVersion = tls.VersionTLS12
		}
		return &redis.UniversalOptions{Addrs: o.Addrs, IsClusterMode: true, Username: o.Username,
			Password: o.Password, TLSConfig: o.TLSConfig}, nil
	}
	// The standalone form is go-redis's own, read from the URL as written.
	o, err := redis.ParseURL(u.raw)
	if err != nil {
		return nil, u.goRedisError(err)
	}
	// Every parameter it reads is kept, but those ringlb sets (ringlbSets),
	// which parseQuery refused.
	return &redis.UniversalOptions{
		Addrs:                   []string{o.Addr},
		ClientName:              o.ClientName,
		DB:                      o.DB,
		Username:                o.Username,
		Password:                o.Password,
		TLSConfig:               o.TLSConfig,
		PoolFIFO:                o.PoolFIFO,
		PoolSize:                o.PoolSize,
		MaxConcurrentDials:      o.MaxConcurrentDials,
		MinIdleConns:            o.MinIdleConns,
		MaxIdleConns:            o.MaxIdleConns,
		MaxActiveConns:          o.MaxActiveConns,
		ConnMaxIdleTime:         o.ConnMaxIdleTime,
		ConnMaxLifetime:         o.ConnMaxLifetime,
		ConnMaxLifetimeJitter:   o.ConnMaxLifetimeJitter,
		PipelinePoolSize:        o.PipelinePoolSize,
		PipelineReadBufferSize:  o.PipelineReadBufferSize,
		PipelineWriteBufferSize: o.PipelineWriteBufferSize,
	}, nil
}

// goRedisError turns an error of go-redis's URL parsers, whose text may
// quote any part of the URL, into one in ringlb's words: the parameter it
// is about, when that can be told, and nothing of the URL.
func (u *redisURL) goRedisError(err error) error {
	msg, ps := err.Error(), u.params
	if list, ok := strings.CutPrefix(msg, "redis: unexpected option: "); ok {
		unknown := map[string]bool{}
		for n := range strings.SplitSeq(list, ", ") {
			unknown[n] = true
		}
		for i, p := range ps {
			if unknown[p.name] {
				return u.unknownParam(i)
			}
		}
	}
	if strings.HasPrefix(msg, "redis: invalid database number") {
		return urlErr("parameter db is not a db number")
	}
	for i, p := range ps {
		if _, ok := knownParams[p.name]; ok && strings.HasPrefix(msg, "redis: invalid "+p.name+" ") {
			return urlErr(paramRef(ps, i) + " has an invalid value")
		}
	}
	return urlErr("refused by the Redis client (its detail is withheld: it may quote the url)")
}

// parseURL turns a ringlb Redis URL into go-redis options, but for those
// that ringlb sets itself (clientOptions).
func parseURL(raw string) (*redis.UniversalOptions, error) {
	if len(raw) > lb.MaxURLLen {
		return nil, urlErr("longer than " + strconv.Itoa(lb.MaxURLLen) + " bytes")
	}
	return readRedisURL(raw)
}

// readRedisURL is parseURL without the length limit: its cost grows in
// step with the URL's length.
func readRedisURL(raw string) (*redis.UniversalOptions, error) {
	u, err := parseRedisURL(raw)
	if err != nil {
		return nil, err
	}
	return u.universal()
}

// clientOptions returns a copy of uo, a URL's options, with those that
// ringlb sets itself: every timeout set to timeout, retries off (see New),
// RESP2.
func clientOptions(uo *redis.UniversalOptions, timeout time.Duration) *redis.UniversalOptions {
	o := *uo
	o.DialTimeout = timeout
	o.ReadTimeout = timeout
	o.WriteTimeout = timeout
	o.PoolTimeout = timeout
	o.ContextTimeoutEnabled = true
	o.MaxRetries = -1
	o.DialerRetries = 1
	o.Protocol = 2 // no HELLO round trip, no push notifications
	o.DisableIdentity = true
	return &o
}

// redisUniversalOptions is the client's options for a URL: parseURL, then
// clientOptions.
func redisUniversalOptions(raw string, timeout time.Duration) (*redis.UniversalOptions, error) {
	uo, err := parseURL(raw)
	if err != nil {
		return nil, err
	}
	return clientOptions(uo, timeout), nil
}
