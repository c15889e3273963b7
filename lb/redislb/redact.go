package redislb

import "strings"

// RedactURL returns raw fit to show in a log line or status output: the
// userinfo becomes "xxxxx", and so does the query from the first parameter
// that is a credential, not one ringlb knows, or whose value is not plain
// (plainValue) to the end (an unescaped "&" in a password would otherwise
// show its tail), and any fragment.
// When an "@" follows a "?" or "#", it cannot be told whether it ends a
// userinfo or lies in a value, and all but the scheme is hidden. It works
// on malformed text too, without parsing it, in one pass.
func RedactURL(raw string) string {
	scheme, rest := splitScheme(raw)
	var b strings.Builder
	if scheme != "" {
		b.WriteString(scheme)
		b.WriteString("://")
	}
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		if strings.ContainsAny(rest[:at], "?#") {
			b.WriteString("xxxxx")
			return b.String()
		}
		b.WriteString("xxxxx@")
		rest = rest[at+1:]
	}
	rest, _, hasFragment := strings.Cut(rest, "#")
	host, query, hasQuery := strings.Cut(rest, "?")
	b.WriteString(host)
	if hasQuery {
		b.WriteByte('?')
		first := true
		for kv := range strings.SplitSeq(query, "&") {
			if !first {
				b.WriteByte('&')
			}
			first = false
			k, v, _ := strings.Cut(kv, "=")
			credential, known := knownParams[k]
			if !known {
				b.WriteString("xxxxx")
				break
			}
			if credential || !plainValue(v) {
				b.WriteString(k + "=xxxxx")
				break
			}
			b.WriteString(kv)
		}
	}
	if hasFragment {
		b.WriteString("#xxxxx")
	}
	return b.String()
}

// plainValue reports whether v is made of letters, digits, '.', '-' and
// '_' only: what the values RedactURL shows are made of. Anything else may
// be the tail of a secret that a delimiter cut.
func plainValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
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
