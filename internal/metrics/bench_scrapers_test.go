package metrics

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ringlb/ringlb/lb"
)

// Environment of the scraper process that BenchmarkNextReleaseScrapers
// starts: the URL to scrape, and how many scrapers.
const (
	scrapeURLEnv = "RINGLB_BENCH_SCRAPE_URL"
	scrapersEnv  = "RINGLB_BENCH_SCRAPERS"
)

// benchScrapers is the number of concurrent scrapers of the benchmark.
const benchScrapers = 16

// TestScraperProcess is the scraper process of BenchmarkNextReleaseScrapers
// (this test binary run again): its scrapers scrape the URL back to back,
// each reading the whole body, until standard input closes; it prints
// "ready" after the first scrape, and then "scrapes N failures M".
func TestScraperProcess(t *testing.T) {
	url := os.Getenv(scrapeURLEnv)
	if url == "" {
		t.Skip("the scraper process of BenchmarkNextReleaseScrapers")
	}
	n, err := strconv.Atoi(os.Getenv(scrapersEnv))
	if err != nil || n < 1 {
		t.Fatalf("%s=%q", scrapersEnv, os.Getenv(scrapersEnv))
	}
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	var scrapes, failures atomic.Int64
	var ready sync.Once
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				res, err := client.Do(req)
				ok := err == nil && res.StatusCode == http.StatusOK
				if err == nil {
					_, err = io.Copy(io.Discard, res.Body)
					res.Body.Close()
					ok = ok && err == nil
				}
				if !ok {
					if ctx.Err() != nil {
						return // stopped mid-scrape
					}
					failures.Add(1)
					time.Sleep(10 * time.Millisecond)
					continue
				}
				scrapes.Add(1)
				ready.Do(func() { fmt.Println("ready") })
			}
		})
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	stop()
	wg.Wait()
	fmt.Printf("scrapes %d failures %d\n", scrapes.Load(), failures.Load())
}

// startScrapers starts the scraper process on url and waits for its first
// scrape; stop ends it and returns its scrapes and failures.
func startScrapers(b *testing.B, url string, n int) (stop func() (scrapes, failures int)) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestScraperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), scrapeURLEnv+"="+url, scrapersEnv+"="+strconv.Itoa(n))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	for lines.Scan() && lines.Text() != "ready" {
	}
	return func() (int, int) {
		stdin.Close()
		var s, f int
		for lines.Scan() {
			if _, err := fmt.Sscanf(lines.Text(), "scrapes %d failures %d", &s, &f); err == nil {
				break
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		if err := cmd.Wait(); err != nil {
			b.Errorf("scraper process: %v", err)
		}
		return s, f
	}
}

// BenchmarkNextReleaseScrapers measures next+release (p50, p99, p99.9 and
// the slowest of each pair's own time) on a balancer of 1,000 members, each with a call up,
// alone and while 16 scrapers in another process scrape the process's
// endpoint (Serve) back to back: what concurrent scrapes cost the calls.
func BenchmarkNextReleaseScrapers(b *testing.B) {
	addr, err := Serve("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	n, dests := withMembers(b, &lb.Default, "bench-scrapers", 1000)
	defer lb.Default.Close("bench-scrapers")
	group := dests[:10]
	loop := func(b *testing.B) {
		lat := make([]time.Duration, b.N)
		b.ResetTimer()
		for i := range b.N {
			id := "c" + strconv.Itoa(i)
			t0 := time.Now()
			d, err := n.Next(ctx, group, id)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := n.Release(ctx, d, id); err != nil {
				b.Fatal(err)
			}
			lat[i] = time.Since(t0)
		}
		b.StopTimer()
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2]), "p50-ns")
		b.ReportMetric(float64(lat[len(lat)*99/100]), "p99-ns")
		b.ReportMetric(float64(lat[len(lat)*999/1000]), "p999-ns")
		b.ReportMetric(float64(lat[len(lat)-1]), "max-ns")
	}
	b.Run("alone", loop)
	b.Run("scrapers="+strconv.Itoa(benchScrapers), func(b *testing.B) {
		stop := startScrapers(b, "http://"+addr+"/metrics", benchScrapers)
		t0 := time.Now()
		loop(b)
		secs := time.Since(t0).Seconds()
		scrapes, failures := stop()
		b.ReportMetric(float64(scrapes)/secs, "scrapes/s")
		b.ReportMetric(float64(failures)/secs, "failures/s")
	})
}
