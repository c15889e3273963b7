package redislb

import (
	"errors"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

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

func TestRedisURLLength(t *testing.T) {
	ok := "redis://h:6379/0?client_name=" + strings.Repeat("x", lb.MaxURLLen-len("redis://h:6379/0?client_name="))
	if _, err := redisUniversalOptions(ok, lb.DefaultTimeout); err != nil {
		t.Fatalf("a URL of %d bytes: %v", len(ok), err)
	}
	_, err := redisUniversalOptions(ok+"x", lb.DefaultTimeout)
	if !errors.Is(err, lb.ErrInvalidArgument) || !strings.Contains(err.Error(), "longer than 4096 bytes") {
		t.Fatalf("a URL of %d bytes: %v, want longer than 4096 bytes", len(ok)+1, err)
	}
}

// costPerByte returns the time and bytes allocated per byte of input that
// f takes on s, over reps runs.
func costPerByte(s string, reps int, f func(string)) (ns, alloc float64) {
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	start := time.Now()
	for range reps {
		f(s)
	}
	el := time.Since(start)
	runtime.ReadMemStats(&m1)
	n := float64(reps * len(s))
	return float64(el.Nanoseconds()) / n, float64(m1.TotalAlloc-m0.TotalAlloc) / n
}

// Regression: reading and redacting a long malformed URL took time and
// memory growing with its length squared (32 KiB of "pass=" cost 13 s and
// 1.68 GB). Read without the length limit, 128 KiB shapes must cost about
// as much per byte as 4 KiB ones (quadratic would be 32 times as much); with
// it, they are refused at once. Trials alternate between the sizes, each
// over the same total input, and the least of each counts, so that a busy
// machine slows both alike.
func TestRedisURLCostIsLinear(t *testing.T) {
	rep := func(prefix, unit, suffix string) func(int) string {
		return func(n int) string {
			return prefix + strings.Repeat(unit, max(1, (n-len(prefix)-len(suffix))/len(unit))) + suffix
		}
	}
	shapes := map[string]func(int) string{
		"pass=pass=":             rep("redis://h/0?", "pass=", ""),
		"x=x=":                   rep("redis://h/0?", "x=", ""),
		"password=a&a":           rep("redis://h/0?password=", "a&", "a"),
		"sentinel_password=a&a":  rep("redis+sentinel://h/0?master_name=m&sentinel_password=", "a&", "a"),
		"userinfo pass=":         rep("redis://:", "pass=", "@h/0"),
		"userinfo @":             rep("redis://:", "@", "h/0"),
		"cluster hosts":          rep("redis+cluster://", "h:1,", "h:1"),
		"unknown names":          uniqueParams,
		"bad escapes":            rep("redis://h/0?x=1&", "%z", ""),
		"long value":             rep("redis://h/0?client_name=", "x", ""),
		"semicolons password=;;": rep("redis://h/0?password=", ";", ""),
	}
	const small, big, total = 4 << 10, 128 << 10, 512 << 10
	read := func(s string) { _, _ = readRedisURL(s) }
	redact := func(s string) { _ = RedactURL(s) }
	for name, shape := range shapes {
		sm, bg := shape(small), shape(big)
		for _, fn := range []struct {
			what string
			f    func(string)
		}{{"read", read}, {"redact", redact}} {
			nsS, aS, nsB, aB := -1.0, -1.0, -1.0, -1.0
			for range 7 {
				ns, a := costPerByte(sm, total/len(sm), fn.f)
				if nsS < 0 || ns < nsS {
					nsS, aS = ns, a
				}
				ns, a = costPerByte(bg, max(1, total/len(bg)), fn.f)
				if nsB < 0 || ns < nsB {
					nsB, aB = ns, a
				}
			}
			if nsB > 8*nsS+0.5 || aB > 4*aS+1 {
				t.Errorf("%s, %s: per byte %.2f ns and %.1f B allocated at 128 KiB, %.2f ns and %.1f B at 4 KiB",
					name, fn.what, nsB, aB, nsS, aS)
			}
		}
		// The public path refuses the long one before reading it.
		start := time.Now()
		_, err := redisUniversalOptions(bg, lb.DefaultTimeout)
		if !errors.Is(err, lb.ErrInvalidArgument) || !strings.Contains(err.Error(), "longer than") {
			t.Errorf("%s at 128 KiB: %v", name, err)
		}
		if el := time.Since(start); el > time.Second {
			t.Errorf("%s at 128 KiB: refused after %v", name, el)
		}
	}
}

// uniqueParams is a standalone URL of about n bytes whose parameters all
// have different unknown names.
func uniqueParams(n int) string {
	var b strings.Builder
	b.WriteString("redis://h/0?")
	for i := 0; b.Len() < n; i++ {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString("k")
		b.WriteString(strings.Repeat("x", i%7))
		b.WriteString(string(rune('a' + i%26)))
		b.WriteString(string(rune('a' + i/26%26)))
		b.WriteString(string(rune('a' + i/676%26)))
		b.WriteString("=1")
	}
	return b.String()
}
