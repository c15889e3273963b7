package redislb

import (
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ringlb/ringlb/lb"
)

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

func TestRedisURLs(t *testing.T) {
	for _, tc := range []struct {
		url   string
		check func(*redis.UniversalOptions) bool
	}{
		{"redis://127.0.0.1:6379/2", func(o *redis.UniversalOptions) bool {
			return o.Addrs[0] == "127.0.0.1:6379" && o.DB == 2 && o.MasterName == "" && !o.IsClusterMode
		}},
		{"redis://u:p%40ss@h", func(o *redis.UniversalOptions) bool {
			return o.Addrs[0] == "h:6379" && o.Username == "u" && o.Password == "p@ss"
		}},
		{"rediss://h:6380/0", func(o *redis.UniversalOptions) bool { return o.TLSConfig != nil && o.TLSConfig.ServerName == "h" }},
		{"redis://h/0?pool_size=7", func(o *redis.UniversalOptions) bool { return o.PoolSize == 7 }},
		{"unix:///run/redis.sock?db=3", func(o *redis.UniversalOptions) bool { return o.Addrs[0] == "/run/redis.sock" && o.DB == 3 }},
		{"redis+sentinel://:secret@s1:26379,s2:26380,s3/1?master_name=mymaster&sentinel_password=sp", func(o *redis.UniversalOptions) bool {
			return len(o.Addrs) == 3 && o.Addrs[2] == "s3:26379" && o.MasterName == "mymaster" && o.Password == "secret" &&
				o.SentinelPassword == "sp" && o.DB == 1
		}},
		{"redis+cluster://n1:7000,n2:7001", func(o *redis.UniversalOptions) bool {
			return len(o.Addrs) == 2 && o.IsClusterMode && o.MasterName == ""
		}},
		{"redis+cluster://n1:7000", func(o *redis.UniversalOptions) bool { return len(o.Addrs) == 1 && o.IsClusterMode }},
		{"rediss+cluster://u:p@n1:7000,n2:7000/", func(o *redis.UniversalOptions) bool {
			return o.IsClusterMode && o.TLSConfig != nil && o.Username == "u" && o.Password == "p"
		}},
	} {
		o, err := redisUniversalOptions(tc.url, 123*time.Millisecond)
		if err != nil {
			t.Errorf("%s: %v", tc.url, err)
			continue
		}
		if !tc.check(o) {
			t.Errorf("%s: options %+v", tc.url, o)
		}
		// Every operation is bounded and never retried.
		if o.DialTimeout != 123*time.Millisecond || o.ReadTimeout != o.DialTimeout || o.WriteTimeout != o.DialTimeout ||
			o.PoolTimeout != o.DialTimeout || o.MaxRetries != -1 || !o.ContextTimeoutEnabled {
			t.Errorf("%s: timeouts/retries %+v", tc.url, o)
		}
	}
	for _, bad := range []string{
		"redis://h/0?foo=1",
		"redis://h:notaport/0",
		"redis://h/abc",
		"unix://relative.sock",
		"redis+sentinel://s1:26379/0",
		"redis+sentinel://s1:26379/0?master_name=m&bogus=1",
		"redis+sentinel://s1:26379,,s2/0?master_name=m",
		"redis+sentinel://s1:99999/0?master_name=m",
		"redis+sentinel://s1/x?master_name=m",
		"redis+cluster://n1:7000/3",
		"redis+cluster://n1:7000?master_name=m",
		"redis+cluster://",
		"redis+cluster://n1:7000#frag",
		"memcached://h",
		"no-scheme",
	} {
		_, err := New("x", lb.Options{URL: bad})
		if !errors.Is(err, lb.ErrInvalidArgument) {
			t.Errorf("New(%q) err = %v, want ErrInvalidArgument", bad, err)
		}
	}
	// A password never shows in an error.
	_, err := New("x", lb.Options{URL: "redis+sentinel://u:hunter2@s1/0"})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %v: want one without the password", err)
	}
}

// FuzzRedisURL feeds arbitrary text to the URL parser: it must never panic,
// and what it accepts must name at least one address.
func FuzzRedisURL(f *testing.F) {
	for _, s := range []string{
		"redis://127.0.0.1:6379/0",
		"rediss://:pw@host:6380/2?dial_timeout=1s",
		"unix:///run/redis.sock?db=1",
		"redis+sentinel://:pw@s1:26379,s2:26379/0?master_name=mymaster",
		"redis+cluster://n1:7000,n2:7001",
		"redis+cluster://n1:7000,,",
		"redis://%zz",
		"http://x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		uo, err := redisUniversalOptions(raw, lb.DefaultTimeout)
		if err != nil {
			if !errors.Is(err, lb.ErrInvalidArgument) {
				t.Fatalf("%q: error %v does not wrap ErrInvalidArgument", raw, err)
			}
			return
		}
		if uo == nil || len(uo.Addrs) == 0 {
			t.Fatalf("%q accepted without an address", raw)
		}
	})
}

func TestRedisClusterTLSServerNameIPv6(t *testing.T) {
	uo, err := redisUniversalOptions("rediss+cluster://[::1]:7000,[::1]:7001", lb.DefaultTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if uo.TLSConfig == nil || uo.TLSConfig.ServerName != "::1" {
		t.Fatalf("ServerName = %+v", uo.TLSConfig)
	}
}
