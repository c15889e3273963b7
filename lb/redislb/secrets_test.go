package redislb

import (
	"errors"
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"

	"github.com/ringlb/ringlb/lb"
)

// secretBytes are what planted secrets are made of: upper-case letters,
// digits, URL delimiters and bytes no URL should hold. ringlb's URL
// messages are lower-case prose that never runs three of these together,
// except in ownWords, so three bytes of a secret found in one came from
// the URL.
const (
	secretBytes = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:/?#@&=;,%[]+!$*~\x00\t\x7f\xff\xc3\xa9"
	ownWords    = "UTF-8"
)

// secretURLs are malformed and odd URLs, each carrying the secret
// "hunter2pw" somewhere a person would put a password.
var secretURLs = []string{
	"redis://user:hunter2pw@host:badport/0",
	"redis://:hunter2pw@host:6379/0?bogus=1",
	"redis:/:hunter2pw@127.0.0.1:6379/0",
	"redis::hunter2pw@127.0.0.1",
	"redis://:hunter2pw/x@127.0.0.1:6379/0?bogus=1",
	"redis://:hunter2pw?x@127.0.0.1:6379/0?bogus=1",
	"redis://:hunter2pw#x@127.0.0.1:6379/0?bogus=1",
	"redis://:hunter2pw%zz@127.0.0.1:6379/0",
	"redis://:hunter2pw@@127.0.0.1:6379/0?bogus=1",
	"redis+cluster://:hunter2pw/x@h1,h2",
	"redis+cluster://:hunter2pw@n1:70000",
	"redis+cluster://:hunter2pw@[::1:7000",
	"redis+sentinel://:hunter2pw@s1:26379/0?master_name=m&sentinel_password=hunter2pw&bogus=1",
	"redis+sentinel://s1:26379/0?master_name=m&sentinel_password=hunter2pw&x=%zz",
	"redis+sentinel://s1:26379/x?master_name=m&sentinel_password=hunter2pw",
	"redis+sentinel://s1:26379/0?sentinel_password=hunter2pw",
	"redis+sentinel://s1:26379/0?master_name=m&sentinel_password=hunter2pw&sentinel_password=other",
	"redis+sentinel://s1:26379/0?master_name=m&sentinel_password=hunter2&pw&x=1",
	"redis://h:6379/0?password=hunter2pw&bogus=1",
	"redis://h:6379/0?password=hunter2pw%zz",
	"redis://h:6379/0?Password=hunter2pw;bogus",
	"redis://h:6379/x?password=hunter2pw",
	"http://:hunter2pw@host/",
	"hunter2pw@host",
	"redis://:hunter2pw@%zz",
	"redis://:hunter2pw@/tmp/x",
	"unix://:hunter2pw@relative/path",
	"redis://:hunter2pw@h:1/0#frag",
	"redis://:hunter2pw\x01@h:1/0",
	"redis://:hunter2\"pw\"@h:1/0?bogus",
	"redis://:" + url.PathEscape("hunter2pw/?#") + "@h:1/0?bogus=1",
}

// A secret in a URL never reaches an error message (and so the switch's
// log), whatever is wrong with the URL.
func TestRedisURLErrorsHidePasswords(t *testing.T) {
	for _, raw := range secretURLs {
		_, err := lb.ParseOptions([][2]string{{"url", raw}})
		if err == nil {
			r, err2 := New("x", lb.Options{URL: raw})
			if err2 == nil {
				r.Close()
				continue // odd but valid: nothing to report
			}
			err = err2
		}
		if !errors.Is(err, lb.ErrInvalidArgument) {
			t.Errorf("%q: %v does not wrap ErrInvalidArgument", raw, err)
		}
		for _, leak := range []string{"hunter2", "unter2p"} {
			if strings.Contains(err.Error(), leak) {
				t.Errorf("%q: error shows the password: %v", raw, err)
			}
		}
		if shown := RedactURL(raw); strings.Contains(shown, "hunter2") {
			t.Errorf("RedactURL(%q) = %q", raw, shown)
		}
	}
}

func TestRedactURL(t *testing.T) {
	for _, tc := range []struct{ raw, want string }{
		{"redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"},
		{"redis://u:pw@127.0.0.1:6379/0", "redis://xxxxx@127.0.0.1:6379/0"},
		{"redis:/:pw@127.0.0.1:6379/0", "redis://xxxxx@127.0.0.1:6379/0"},
		{"redis+sentinel://h:1,h:2/0?master_name=m&sentinel_password=pw&sentinel_username=u",
			"redis+sentinel://h:1,h:2/0?master_name=m&sentinel_password=xxxxx"},
		{"redis://h/0?password=a&b", "redis://h/0?password=xxxxx"},
		{"redis://:a@b@h/0", "redis://xxxxx@h/0"},
		{"redis://h/0#secret", "redis://h/0#xxxxx"},
	} {
		if got := RedactURL(tc.raw); got != tc.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tc.raw, got, tc.want)
		}
	}
}

// FuzzRedisURLSecret puts an arbitrary password into the places URLs carry
// one, with arbitrary text around it: no error and no redacted form may
// show it.
func FuzzRedisURLSecret(f *testing.F) {
	f.Add("hunter2pw", uint8(0), "")
	f.Add("p/w?x#y", uint8(1), "?bogus=1")
	f.Add("a&b=c", uint8(5), "&x=%zz")
	f.Add("pa%41ss", uint8(2), ":badport")
	f.Add("x@y:z", uint8(6), "")
	forms := []func(p, tail string) string{
		func(p, tail string) string { return "redis://:" + p + "@127.0.0.1:6379/0" + tail },
		func(p, tail string) string { return "redis:/:" + p + "@127.0.0.1:6379/0" + tail },
		func(p, tail string) string { return "redis::" + p + "@host" + tail },
		func(p, tail string) string { return "redis://user:" + p + "@h:1/0" + tail },
		func(p, tail string) string { return "redis+cluster://:" + p + "@h1:1,h2:2" + tail },
		func(p, tail string) string {
			return "redis+sentinel://h:1/0?master_name=m&sentinel_password=" + p + tail
		},
		func(p, tail string) string { return "redis://h:1/0?password=" + p + tail },
		func(p, tail string) string { return "rediss+cluster://u:" + p + "@[::1]:7000,[::1]:7001" + tail },
		func(p, tail string) string { return "unix://:" + p + "@/tmp/redis.sock" + tail },
	}
	f.Fuzz(func(t *testing.T, pass string, form uint8, tail string) {
		build := forms[int(form)%len(forms)]
		raw := build(pass, tail)
		without := build("", tail)
		secrets := []string{pass}
		if d, err := url.PathUnescape(pass); err == nil {
			secrets = append(secrets, d)
		}
		var texts []string
		if _, err := lb.ParseOptions([][2]string{{"url", raw}}); err != nil {
			texts = append(texts, err.Error())
		}
		if _, err := redisUniversalOptions(raw, lb.DefaultTimeout); err != nil {
			texts = append(texts, err.Error())
		}
		texts = append(texts, RedactURL(raw))
		for _, s := range secrets {
			// A secret that the URL holds anyway, or that any text would
			// hold (a short or common one), proves nothing.
			if len(s) < 4 || strings.Contains(without, s) || strings.Contains("url xxxxx: ", s) ||
				strings.Contains(s, "xxxxx") {
				continue
			}
			for _, text := range texts {
				if strings.Contains(text, s) {
					t.Fatalf("%q: shows the secret %q: %s", raw, s, text)
				}
			}
		}
	})
}

// leakIn returns a piece of three bytes or more of secret that text shows,
// or "".
func leakIn(text, secret string) string {
	for i := 0; i+3 <= len(secret); i++ {
		g := secret[i : i+3]
		if strings.Contains(text, g) && !strings.Contains(ownWords, g) {
			return g
		}
	}
	return ""
}

// urlErrors returns the error texts every way of reading raw gives.
func urlErrors(raw string) []string {
	var out []string
	if _, err := lb.ParseOptions([][2]string{{"url", raw}}); err != nil {
		out = append(out, err.Error())
	}
	if _, err := redisUniversalOptions(raw, lb.DefaultTimeout); err != nil {
		out = append(out, err.Error())
	}
	return out
}

// checkNoLeak fails t when an error about raw shows three bytes of secret.
func checkNoLeak(t *testing.T, raw, secret string) {
	t.Helper()
	for _, text := range urlErrors(raw) {
		if g := leakIn(text, secret); g != "" {
			t.Fatalf("%q: error shows %q of the secret %q: %s", raw, g, secret, text)
		}
	}
}

// The cases the review found: a password's tail read as a parameter name,
// a NUL byte, parameters whose names do not say "password".
func TestRedisURLErrorsNameNoValue(t *testing.T) {
	for _, tc := range []struct{ raw, secret, want string }{
		{"redis://h:6379/0?client_name=x&password=Zq7&Sec9Pw", "Zq7&Sec9Pw", "parameter password is not one that a redis url takes"},
		{"redis+sentinel://h/0?master_name=m&sentinel_password=Zq7&Sec9Pw", "Zq7&Sec9Pw", "parameter 3 of the query"},
		{"redis://:Zq7\x00Sec9Pw@h/0", "Zq7\x00Sec9Pw", "control character"},
		{"redis://:Zq7", "Zq7", "host"},
		{"redis://h/0?pw=Sec9Pw", "Sec9Pw", `parameter "pw" is not one`},
		{"redis://h/0?api_key=Sec9Pw", "Sec9Pw", `parameter "api_key" is not one`},
		{"redis://h/0?credential=Sec9Pw", "Sec9Pw", `parameter "credential" is not one`},
		{"redis://h/0?pool_size=Sec9Pw", "Sec9Pw", "parameter pool_size has an invalid value"},
		{"redis://h/0?db=Sec9Pw", "Sec9Pw", "parameter db"},
		{"rediss://h/0?skip_verify=Sec9Pw", "Sec9Pw", "parameter skip_verify"},
		{"redis://h/0?Sec9Pw=1", "Sec9Pw", "parameter 1 of the query"},
		{"redis://h/0?a=%zzSec9Pw", "Sec9Pw", "percent-escape"},
		{"redis://h:Sec9Pw/0", "Sec9Pw", "port"},
		{"redis://:Zq7/Sec9Pw@h/0", "Zq7/Sec9Pw", "(a password must percent-encode"},
		{"redis+cluster://:Zq7/Sec9@h1,h2", "Zq7/Sec9", "host"},
		{"Sec9Pw://h", "Sec9Pw", "the scheme is not one of"},
		{"http://:Sec9Pw@h", "Sec9Pw", `scheme "http" is not one of`},
		{"redis://h/0?client_name=x&bogus&Sec9Pw", "Sec9Pw", "parameter 2 of the query"},
		{"redis://h/0?zq&client_name=Sec9Pw", "Sec9Pw", `parameter "zq"`},
		{"redis://u?zq=Sec9Pw@h/0", "?zq=Sec9Pw", "parameter 1 of the query"}, // "zq" may be userinfo
		{"unix:///tmp/s@ck?zq=1", "", "parameter 1 of the query"},
		{"redis://h/0?a=1;Sec9Pw", "Sec9Pw", "';'"},
		{"redis://:Sec9\xffPw@h/0", "Sec9\xffPw", "UTF-8"},
		{"redis://h/0?pool_size=1&pool_size=Sec9Pw", "Sec9Pw", "parameter pool_size is given twice"},
		{"redis://h/0?x=1&x=Sec9Pw", "Sec9Pw", "parameter 2 of the query is given twice"},
	} {
		texts := urlErrors(tc.raw)
		if len(texts) != 2 {
			t.Errorf("%q accepted", tc.raw)
			continue
		}
		for _, text := range texts {
			if g := leakIn(text, tc.secret); g != "" {
				t.Errorf("%q: error shows %q: %s", tc.raw, g, text)
			}
			if !strings.Contains(text, tc.want) {
				t.Errorf("%q: error %q does not say %q", tc.raw, text, tc.want)
			}
		}
		if _, err := lb.ParseOptions([][2]string{{"url", tc.raw}}); !errors.Is(err, lb.ErrInvalidArgument) {
			t.Errorf("%q: %v does not wrap ErrInvalidArgument", tc.raw, err)
		}
	}
}

// randomShape builds a URL of a random shape out of the parts ringlb's
// URLs have, well formed or not.
func randomShape(r *rand.Rand) string {
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	var b strings.Builder
	b.WriteString(pick("redis://", "rediss://", "unix://", "redis+sentinel://", "redis+cluster://",
		"rediss+cluster://", "redis:/", "redis:", "http://", ""))
	b.WriteString(pick("", "", "user@", ":pw@", "user:pw@", "@", ":@"))
	for i := range r.IntN(4) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(pick("h", "h:6379", "[::1]:7000", "[::1]", "127.0.0.1", "h:99999", "", "h:"))
	}
	b.WriteString(pick("", "", "/", "/0", "/3", "/x", "//", "/run/redis.sock"))
	if n := r.IntN(5); n > 0 {
		b.WriteByte('?')
		for i := range n {
			if i > 0 {
				b.WriteString(pick("&", "&", "&&", ";"))
			}
			b.WriteString(pick("master_name", "sentinel_password", "sentinel_username", "password", "client_name",
				"pool_size", "db", "x", "pw", "api_key", "credential", "dial_timeout", "skip_verify"))
			b.WriteString(pick("=m", "=1", "=v", "=", "", "=%zz", "=a=b"))
		}
	}
	b.WriteString(pick("", "", "", "#f"))
	return b.String()
}

func randomSecret(r *rand.Rand) string {
	b := make([]byte, 3+r.IntN(22))
	for i := range b {
		b[i] = secretBytes[r.IntN(len(secretBytes))]
	}
	return string(b)
}

// A secret planted at every position of random URL shapes: no error shows
// three bytes of it, wherever it lands (userinfo, host, port, path,
// parameter name or value, scheme) and whatever it breaks.
func TestRedisURLSecretEveryPosition(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		shape, secret := randomShape(r), randomSecret(r)
		for pos := 0; pos <= len(shape); pos++ {
			checkNoLeak(t, shape[:pos]+secret+shape[pos:], secret)
		}
	}
}

// FuzzRedisURLSecretAnywhere plants a secret made of secretBytes at any
// position of any text: no error shows three bytes of it.
func FuzzRedisURLSecretAnywhere(f *testing.F) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 20 {
		f.Add(randomShape(r), []byte(randomSecret(r)), uint(r.IntN(64)))
	}
	f.Add("redis://h:6379/0?client_name=x&password=", []byte("Zq7&Sec9Pw"), uint(40))
	f.Add("redis+sentinel://h/0?master_name=m&sentinel_password=", []byte("Zq7&Sec9Pw"), uint(60))
	f.Add("redis://:@h/0", []byte("Zq7\x00Sec9Pw"), uint(9))
	f.Fuzz(func(t *testing.T, shape string, raw []byte, pos uint) {
		secret := make([]byte, len(raw))
		for i, c := range raw {
			secret[i] = secretBytes[int(c)%len(secretBytes)]
		}
		p := int(pos % uint(len(shape)+1))
		url := shape[:p] + string(secret) + shape[p:]
		if len(url) > lb.MaxURLLen {
			return // refused before it is read; TestRedisURLLength
		}
		checkNoLeak(t, url, string(secret))
	})
}

// RedactURL hides a secret in any place a URL carries one: the userinfo's
// password, and the values of password and sentinel_password.
func TestRedactURLHidesSecretsAnyShape(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	forms := []func(shape, secret string) string{
		func(shape, secret string) string {
			s, rest := splitScheme(shape)
			if at := strings.LastIndexByte(rest, '@'); at >= 0 {
				rest = rest[at+1:]
			}
			return s + "://u:" + secret + "@" + rest
		},
		func(shape, secret string) string { return shape + "&password=" + secret },
		func(shape, secret string) string { return shape + "&sentinel_password=" + secret + "&db=1" },
	}
	for range 2000 {
		shape, secret := randomShape(r), randomSecret(r)
		shape, _, _ = strings.Cut(shape, "#")
		if !strings.Contains(shape, "?") {
			shape += "?db=0"
		}
		for _, form := range forms {
			raw := form(shape, secret)
			// What the URL shows without the secret is no leak.
			shown := strings.ReplaceAll(RedactURL(raw), RedactURL(form(shape, "")), "")
			if g := leakIn(shown, secret); g != "" {
				t.Fatalf("RedactURL(%q) = %q shows %q", raw, RedactURL(raw), g)
			}
		}
	}
}
