package lb_test

// Benchmarks of the memory backend. They measure and report; they
// never assert timings. bench/run.sh runs them and puts them in the report.
//
//	go test -run '^$' -bench 'Memory' -benchmem ./lb

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ringlb/ringlb/lb"
)

// benchDestCounts are the group sizes every per-destination benchmark runs.
var benchDestCounts = []int{3, 10, 100, 1000}

// benchDests returns n destinations shaped like FreeSWITCH dial targets.
func benchDests(n int) []string {
	d := make([]string, n)
	for i := range d {
		d[i] = fmt.Sprintf("user/%d@pbx.example.com", 1000+i)
	}
	return d
}

// benchCallIDs returns n call ids shaped like FreeSWITCH uuids, made before
// the timer starts so that formatting them is not measured.
func benchCallIDs(prefix string, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s%08x-1c2d-4e5f-8a9b-%012x", prefix, i, i*7919)
	}
	return ids
}

func newBenchMemory(b *testing.B) *lb.Memory {
	b.Helper()
	m, err := lb.NewMemory("bench", lb.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	return m
}

// preload gives every destination a little load so that ranking has work to
// do (and ties are not all at zero): dest i holds i%3 calls.
func preload(b *testing.B, m *lb.Memory, dests []string) {
	b.Helper()
	ctx := context.Background()
	for i, d := range dests {
		for k := 0; k < i%3; k++ {
			if _, err := m.Acquire(ctx, d, fmt.Sprintf("pre-%d-%d", i, k)); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkMemoryOrder ranks n destinations, from one goroutine and from
// GOMAXPROCS goroutines at once.
func BenchmarkMemoryOrder(b *testing.B) {
	ctx := context.Background()
	for _, n := range benchDestCounts {
		dests := benchDests(n)
		b.Run(fmt.Sprintf("dests=%d", n), func(b *testing.B) {
			m := newBenchMemory(b)
			preload(b, m, dests)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.Order(ctx, dests); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("dests=%d/parallel", n), func(b *testing.B) {
			m := newBenchMemory(b)
			preload(b, m, dests)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := m.Order(ctx, dests); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkMemoryNextRelease is one call's whole life in the balancer:
// choose-and-hold, then release, for n destinations.
func BenchmarkMemoryNextRelease(b *testing.B) {
	ctx := context.Background()
	for _, n := range benchDestCounts {
		dests := benchDests(n)
		b.Run(fmt.Sprintf("dests=%d", n), func(b *testing.B) {
			m := newBenchMemory(b)
			preload(b, m, dests)
			ids := benchCallIDs("s", 1024)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				id := ids[i&1023]
				i++
				d, err := m.Next(ctx, dests, id)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := m.Release(ctx, d, id); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("dests=%d/parallel", n), func(b *testing.B) {
			m := newBenchMemory(b)
			preload(b, m, dests)
			var g atomic.Int64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				ids := benchCallIDs(fmt.Sprintf("p%d-", g.Add(1)), 1024)
				i := 0
				for pb.Next() {
					id := ids[i&1023]
					i++
					d, err := m.Next(ctx, dests, id)
					if err != nil {
						b.Error(err)
						return
					}
					if _, err := m.Release(ctx, d, id); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// heapInUse returns the live heap after a full collection.
func heapInUse() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// benchHolds is how many concurrent holds BenchmarkMemoryHoldBytes takes.
const benchHolds = 100_000

// BenchmarkMemoryHoldBytes reports the live heap per active hold: 100,000
// calls each holding one of 10 destinations (through Next), measured as the
// heap after GC with the holds taken minus the heap before, over 100,000.
// The call id strings the caller passes in are made before the first
// measurement, so only the balancer's own copies count. The ns/op figure is
// the time to take 100,000 holds and means little.
func BenchmarkMemoryHoldBytes(b *testing.B) {
	ctx := context.Background()
	dests := benchDests(10)
	ids := benchCallIDs("h", benchHolds)
	var total float64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		m, err := lb.NewMemory("bench-holds", lb.Options{})
		if err != nil {
			b.Fatal(err)
		}
		for _, d := range dests { // the destinations' own state is not per hold
			if _, err := m.Acquire(ctx, d, "warm"); err != nil {
				b.Fatal(err)
			}
			if _, err := m.Release(ctx, d, "warm"); err != nil {
				b.Fatal(err)
			}
		}
		before := heapInUse()
		b.StartTimer()
		for _, id := range ids {
			if _, err := m.Next(ctx, dests, id); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		after := heapInUse()
		runtime.KeepAlive(m)
		total += (float64(after) - float64(before)) / benchHolds
		m.Close()
		b.StartTimer()
	}
	b.ReportMetric(total/float64(b.N), "B/hold")
}

// benchCycles is how many next+release cycles BenchmarkMemoryHeapGrowth runs
// between its heap measurements.
const benchCycles = 1_000_000

// BenchmarkMemoryHeapGrowth runs 1,000,000 next+release cycles with 10
// destinations and a distinct call id each time, then 1,000,000 more, and
// reports the live heap growth (after GC) over each million (100,000 with
// -short). A leak of anything per call would show as its size times the
// cycles; a small constant is map buckets and scratch space. ns/op is the
// time of all the cycles.
func BenchmarkMemoryHeapGrowth(b *testing.B) {
	ctx := context.Background()
	dests := benchDests(10)
	cycles := benchCycles
	if testing.Short() {
		cycles = benchCycles / 10
	}
	var first, second float64
	buf := make([]byte, 0, 64)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		m, err := lb.NewMemory("bench-growth", lb.Options{})
		if err != nil {
			b.Fatal(err)
		}
		cycle := func(k int) {
			buf = fmt.Appendf(buf[:0], "call-%d-%d", i, k)
			id := string(buf)
			d, err := m.Next(ctx, dests, id)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := m.Release(ctx, d, id); err != nil {
				b.Fatal(err)
			}
		}
		for k := 0; k < 1000; k++ { // warm up: maps and scratch at size
			cycle(-k - 1)
		}
		h0 := heapInUse()
		b.StartTimer()
		for k := 0; k < cycles; k++ {
			cycle(k)
		}
		b.StopTimer()
		h1 := heapInUse()
		b.StartTimer()
		for k := cycles; k < 2*cycles; k++ {
			cycle(k)
		}
		b.StopTimer()
		h2 := heapInUse()
		runtime.KeepAlive(m)
		first += float64(h1) - float64(h0)
		second += float64(h2) - float64(h1)
		m.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(cycles), "cycles")
	b.ReportMetric(first/float64(b.N), "heap-B-1st")
	b.ReportMetric(second/float64(b.N), "heap-B-2nd")
}

// rssBytes returns this process's resident set size.
func rssBytes(b *testing.B) float64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		b.Skip("no /proc/self/statm:", err)
	}
	var size, resident uint64
	if _, err := fmt.Sscan(string(data), &size, &resident); err != nil {
		b.Fatal(err)
	}
	return float64(resident * uint64(os.Getpagesize()))
}

// BenchmarkMemoryDistinctDests holds and releases 1,000,000 distinct
// destinations (100,000 with -short), one call each, as a gateway ringing
// dynamic numbers would, with default options; it reports the growth of
// the live heap and of the process's RSS over them. Bounded memory keeps
// both flat however many destinations pass. ns/op is the whole run.
func BenchmarkMemoryDistinctDests(b *testing.B) {
	ctx := context.Background()
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	var heap, rss float64
	buf := make([]byte, 0, 64)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		m, err := lb.NewMemory("bench-distinct", lb.Options{})
		if err != nil {
			b.Fatal(err)
		}
		h0, r0 := heapInUse(), rssBytes(b)
		b.StartTimer()
		for k := 0; k < n; k++ {
			buf = fmt.Appendf(buf[:0], "sofia/gateway/gw/+1555%07d", k)
			d := string(buf)
			if _, err := m.Acquire(ctx, d, "c"); err != nil {
				b.Fatal(err)
			}
			if _, err := m.Release(ctx, d, "c"); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		heap += float64(heapInUse()) - float64(h0)
		rss += rssBytes(b) - r0
		runtime.KeepAlive(m)
		m.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(n), "dests")
	b.ReportMetric(heap/float64(b.N)/(1<<20), "heap-MiB")
	b.ReportMetric(rss/float64(b.N)/(1<<20), "rss-MiB")
}

// BenchmarkMemorySnapshotStall takes a snapshot of 500,000 destinations,
// each with a call up (50,000 with -short), while another goroutine keeps
// choosing and releasing among ten others, and reports how long the
// snapshot took, the slowest next+release meanwhile, and how long both
// waited on locks in all (the runtime's mutex wait total): how long a
// snapshot (ringlbctl status, the fs_cli admin script) can hold calls up,
// told apart from waiting for a CPU on a busy machine.
func BenchmarkMemorySnapshotStall(b *testing.B) {
	ctx := context.Background()
	n := 500_000
	if testing.Short() {
		n = 50_000
	}
	opts := lb.Options{}
	m, err := lb.NewMemory("bench-snapshot", opts)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	for k := 0; k < n; k++ {
		if _, err := m.Acquire(ctx, fmt.Sprintf("user/%d", k), "up"); err != nil {
			b.Fatal(err)
		}
	}
	group := benchDests(10)
	var snap, worst time.Duration
	waited := mutexWait()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		stop := make(chan struct{})
		done := make(chan time.Duration)
		given := make(map[string]bool) // the destinations the caller got; read once done
		go func() {
			var w time.Duration
			for k := 0; ; k++ {
				select {
				case <-stop:
					done <- w
					return
				default:
				}
				id := "c" + strconv.Itoa(k)
				t0 := time.Now()
				d, err := m.Next(ctx, group, id)
				if err == nil {
					given[opts.UserDomains.MemberKey(d)] = true // as a snapshot names it
					_, err = m.Release(ctx, d, id)
				}
				if err != nil {
					b.Error(err)
				}
				w = max(w, time.Since(t0))
			}
		}()
		time.Sleep(time.Millisecond) // the caller is running
		t0 := time.Now()
		s, err := m.Snapshot(ctx)
		snap += time.Since(t0)
		close(stop)
		worst = max(worst, <-done)
		if err != nil {
			b.Fatal(err)
		}
		checkStallSnapshot(b, s, n, given)
	}
	b.ReportMetric(float64(n), "dests")
	b.ReportMetric(float64(snap.Milliseconds())/float64(b.N), "snapshot-ms")
	b.ReportMetric(float64(worst.Microseconds())/1000, "worst-call-ms")
	b.ReportMetric((mutexWait()-waited)*1000/float64(b.N), "lock-wait-ms")
}

// checkStallSnapshot fails b unless snapshot s shows each of the n calls
// that stay up exactly once, and otherwise only calls of the caller, each
// once and on a destination it was given (given holds their member keys,
// as the snapshot names them). The snapshot lets its lock go
// between slices, so the caller may release one destination and take
// another meanwhile: more than one of its calls can show.
func checkStallSnapshot(b *testing.B, s lb.Snapshot, n int, given map[string]bool) {
	b.Helper()
	up := 0
	seen := make(map[string]bool)
	for _, h := range s.Holds {
		switch {
		case h.CallID == "up":
			up++
		case strings.HasPrefix(h.CallID, "c") && given[h.Dest] && !seen[h.CallID]:
			seen[h.CallID] = true
		default:
			b.Fatalf("snapshot: unexpected hold %+v", h)
		}
	}
	if up != n {
		b.Fatalf("snapshot: %d calls up, want %d", up, n)
	}
}

// mutexWait returns the seconds goroutines of this process have spent
// blocked on a sync.Mutex so far.
func mutexWait() float64 {
	s := []metrics.Sample{{Name: "/sync/mutex/wait/total:seconds"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64 {
		return 0
	}
	return s[0].Value.Float64()
}
