package lb

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// Backend is a kind of balancer that Options.URL selects by its scheme:
// a store shared by several processes. The memory backend is the core's
// own and needs none. Register one with RegisterBackend.
type Backend struct {
	// Schemes are the URL schemes that select it, such as "redis".
	Schemes []string
	// ParseURL reads a URL of one of its schemes, at most MaxURLLen bytes
	// of text without a TextFault, and returns what Open needs of it.
	// Its errors wrap ErrInvalidArgument and show nothing of the URL
	// (userinfo and parameter values may be secrets) beyond the names of
	// its parts and PlainWords.
	ParseURL func(url string) (any, error)
	// Open returns a new balancer named name (checked) with c's options;
	// url is what ParseURL returned for c's URL.
	Open func(name string, c *Config, url any) (Balancer, error)
}

var backends struct {
	mu       sync.RWMutex
	byScheme map[string]*Backend
	schemes  []string // in the order registered, for messages
}

// RegisterBackend makes b the backend of its schemes. A backend package
// calls it from its init; a program selects the backends it links in by
// importing their packages (for their registration alone: import _). It
// returns an error, and changes nothing, when b lacks a scheme, ParseURL
// or Open, or a scheme is registered already.
func RegisterBackend(b Backend) error {
	if len(b.Schemes) == 0 || b.ParseURL == nil || b.Open == nil {
		return fmt.Errorf("ringlb: register backend %v: a scheme, ParseURL and Open are needed", b.Schemes)
	}
	backends.mu.Lock()
	defer backends.mu.Unlock()
	for _, s := range b.Schemes {
		if backends.byScheme[s] != nil {
			return fmt.Errorf("ringlb: register backend: scheme %q is registered already", s)
		}
	}
	if backends.byScheme == nil {
		backends.byScheme = make(map[string]*Backend)
	}
	for _, s := range b.Schemes {
		backends.byScheme[s] = &b
		backends.schemes = append(backends.schemes, s)
	}
	return nil
}

// backendFor returns the backend that url's scheme selects, after the
// checks every URL passes: its length and TextFault.
func backendFor(url string) (*Backend, error) {
	if len(url) > MaxURLLen {
		return nil, invalidf("url: longer than %d bytes", MaxURLLen)
	}
	if f := TextFault(url); f != "" {
		return nil, invalidf("url: %s", f)
	}
	scheme, _, ok := strings.Cut(url, "://")
	backends.mu.RLock()
	defer backends.mu.RUnlock()
	if b := backends.byScheme[scheme]; ok && b != nil {
		return b, nil
	}
	return nil, invalidf("url: %s", UnknownScheme(scheme, ok, backends.schemes))
}

// UnknownScheme says that a URL's scheme is not one of known, for an
// error. scheme is the text before the URL's first "://", and found says
// whether it has one. Text before the first "://" is the scheme by any
// reading of the URL, never userinfo or a value: it is shown when it is
// a PlainWord.
func UnknownScheme(scheme string, found bool, known []string) string {
	what := "the scheme"
	if found && PlainWord(scheme) {
		what = "scheme " + strconv.Quote(scheme)
	}
	switch len(known) {
	case 0:
		return what + " selects no backend: none is linked in"
	case 1:
		return what + " is not " + known[0]
	}
	return what + " is not one of " + strings.Join(known[:len(known)-1], ", ") + " or " + known[len(known)-1]
}

// PlainWord reports whether s is a plain word, as schemes and parameter
// names mostly are: one to 32 lower-case letters and '_'. Errors about
// text that may hold secrets (a URL) show only such words of it, and only
// where no reading of the text can make them part of a secret.
func PlainWord(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || c == '_') {
			return false
		}
	}
	return true
}
