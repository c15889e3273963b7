package lb

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"slices"
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
		return nil, urlError(raw, "want scheme://host...")
	}
	var uo *redis.UniversalOptions
	switch scheme {
	case "redis", "rediss", "unix":
		o, err := redis.ParseURL(raw)
		if err != nil {
			return nil, urlError(raw, "%s", err)
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
			return nil, urlError(raw, "unix socket path must be absolute")
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
				return nil, urlError(raw, "master_name is required")
			}
		} else {
			uo.IsClusterMode = true
			if scheme == "rediss+cluster" {
				host, _, _ := net.SplitHostPort(mu.addrs[0]) // checked by parseMultiHostURL
				uo.TLSConfig = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
			}
		}
	default:
		return nil, urlError(raw, "scheme %q (want redis, rediss, unix, redis+sentinel or redis+cluster)", scheme)
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
	bad := func(format string, args ...any) error { return urlError(raw, format, args...) }
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
		return nil, bad("%s", err)
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
		return nil, bad("query: %s", err)
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

// RedactURL returns raw fit to show in an error, a log line or status
// output: its userinfo becomes "xxxxx", and so does the query from the first
// parameter whose name says it holds a secret (password, sentinel_password,
// ...) to the end, since an unescaped "&" in a password would otherwise show
// its tail. It works on malformed text too, without parsing it, so no input
// can lead it to show a secret.
func RedactURL(raw string) string {
	scheme, rest := splitScheme(raw)
	var b strings.Builder
	if scheme != "" {
		b.WriteString(scheme)
		b.WriteString("://")
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		b.WriteString("xxxxx@")
		rest = rest[at+1:]
	}
	if i := strings.IndexByte(rest, '#'); i >= 0 {
		rest = rest[:i] + "#xxxxx"
	}
	host, query, hasQuery := strings.Cut(rest, "?")
	b.WriteString(host)
	if hasQuery {
		b.WriteByte('?')
		for i, kv := range strings.Split(query, "&") {
			if i > 0 {
				b.WriteByte('&')
			}
			k, _, _ := strings.Cut(kv, "=")
			if secretParam(k) {
				b.WriteString(k)
				b.WriteString("=xxxxx")
				break
			}
			b.WriteString(kv)
		}
	}
	return scrub(b.String(), urlSecrets(raw))
}

// splitScheme splits "scheme://rest", and the malformed "scheme:/rest" and
// "scheme:rest", into scheme and rest. Text with no scheme is all rest.
func splitScheme(raw string) (scheme, rest string) {
	if s, r, ok := strings.Cut(raw, "://"); ok && validScheme(s) {
		return s, r
	}
	if s, r, ok := strings.Cut(raw, ":"); ok && validScheme(s) {
		return s, strings.TrimLeft(r, "/")
	}
	return "", raw
}

func validScheme(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// secretParam reports whether a query parameter's name says that its value
// is a secret.
func secretParam(name string) bool {
	n := strings.ToLower(name)
	for _, w := range []string{"pass", "pwd", "secret", "token", "auth"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// findSecrets reads the secrets of raw leniently (see urlSecrets). Of
// them, splittable are those a parser may cut where a delimiter stands
// inside: the password, and each secret parameter's value up to the next
// "&"; its value up to the end runs into the parameters that follow, which
// are no secret.
func findSecrets(raw string) (found, splittable []string) {
	_, rest := splitScheme(raw)
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		userinfo := rest[:at]
		found = append(found, userinfo)
		if _, pass, ok := strings.Cut(userinfo, ":"); ok {
			found = append(found, pass)
			splittable = append(splittable, pass)
		}
	}
	lower := strings.ToLower(raw)
	for i := 0; i < len(raw); i++ {
		if raw[i] != '=' {
			continue
		}
		start := strings.LastIndexAny(lower[:i], "?&;") + 1
		if !secretParam(lower[start:i]) {
			continue
		}
		value := raw[i+1:]
		found = append(found, value)
		if j := strings.IndexByte(value, '&'); j >= 0 {
			value = value[:j]
			found = append(found, value)
		}
		splittable = append(splittable, value)
	}
	return found, splittable
}

// urlSecrets returns every text of raw that may be a secret, read leniently
// so that even a malformed URL gives its secrets up: the userinfo (up to the
// last "@") and the password within it, and each secret parameter's value
// both up to the next "&" and up to the end; each also percent-decoded and
// as Go would quote it, the forms in which a parser's error may repeat it.
func urlSecrets(raw string) []string {
	found, _ := findSecrets(raw)
	out := make([]string, 0, 3*len(found))
	for _, f := range found {
		if f == "" {
			continue
		}
		out = append(out, f)
		if d, err := url.PathUnescape(f); err == nil && d != f && d != "" {
			out = append(out, d)
		}
		if d, err := url.QueryUnescape(f); err == nil && d != f && d != "" {
			out = append(out, d)
		}
		if q := strconv.Quote(f); q[1:len(q)-1] != f {
			out = append(out, q[1:len(q)-1])
		}
	}
	// Longest first, so a secret is replaced whole before any part of it.
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out
}

// scrub replaces each secret of three bytes or more in text by "xxxxx".
// Shorter ones would mangle the text; urlError withholds a detail that
// still holds one.
func scrub(text string, secrets []string) string {
	for _, s := range secrets {
		if len(s) >= 3 {
			text = strings.ReplaceAll(text, s, "xxxxx")
		}
	}
	return text
}

// secretPieces splits each secret of raw where a parser may cut it (a
// password holding "/", "?", "#", "@" or "&" is read as part host, part
// path or query), so that no fragment of a secret slips through either.
func secretPieces(raw string) []string {
	_, splittable := findSecrets(raw)
	var out []string
	for _, s := range splittable {
		out = append(out, strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune("/?#@&:;,=", r) })...)
	}
	return out
}

// urlError is an ErrInvalidArgument about raw, with raw redacted and the
// detail (often a parser's error, which may quote raw or parts of it)
// scrubbed of every secret raw holds. A detail that would still show any
// part of a secret is withheld.
func urlError(raw, format string, args ...any) error {
	secrets := urlSecrets(raw)
	shown := RedactURL(raw)
	detail := fmt.Sprintf(format, args...)
	detail = strings.ReplaceAll(detail, raw, shown)
	if q := strconv.Quote(raw); len(q) > 2 {
		detail = strings.ReplaceAll(detail, q[1:len(q)-1], shown)
	}
	detail = scrub(detail, secrets)
	check := strings.ReplaceAll(detail, "xxxxx", "")
	for _, p := range append(secrets, secretPieces(raw)...) {
		if p != "" && strings.Contains(check, p) {
			detail = "malformed (details withheld: they would show part of a password; percent-encode " +
				"any of : / ? # @ & in a password)"
			break
		}
	}
	return invalidf("url %q: %s", shown, detail)
}
