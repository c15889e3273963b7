package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/ringlb/ringlb/internal/redistest"
	"github.com/ringlb/ringlb/lb"
	_ "github.com/ringlb/ringlb/lb/redislb" // the Redis backend, which a url selects
)

// TestCollectorRedisEvicting: ringlb_redis_evicting is 1 while the
// balancer's Redis has a policy that evicts keys, 0 otherwise.
func TestCollectorRedisEvicting(t *testing.T) {
	srv := redistest.Start(t)
	var reg lb.Registry
	defer reg.Close("sales")
	// A 3 s lease renews every second, and the policy is read as often.
	if _, err := reg.Open("sales", lb.Options{URL: srv.URL(), Lease: 3 * time.Second}); err != nil {
		t.Fatal(err)
	}
	has(t, scrape(t, &reg), `ringlb_redis_evicting{balancer="sales"} 0`)
	if _, err := redistest.Do(srv.Addr, "CONFIG", "SET", "maxmemory-policy", "allkeys-lru"); err != nil {
		t.Fatal(err)
	}
	want := `ringlb_redis_evicting{balancer="sales"} 1`
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(scrape(t, &reg), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after the policy changed to allkeys-lru", want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
