// Package metrics serves ringlb's state and counters in the Prometheus text
// format, from inside the switch: one process-wide HTTP endpoint whose
// goroutines run on the Go runtime's own threads, never on a switch thread.
//
// Every scrape reads each open balancer's snapshot (its destinations'
// active calls, capacity, drained flag and calls started, so destinations
// a balancer forgot are gone from the metrics too) and its counters (lb.Stats),
// plus what Pool reports of the worker threads.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/ringlb/ringlb/lb"
)

// DefaultAddr is where Serve listens when given no address: loopback only.
const DefaultAddr = "127.0.0.1:9361"

// ErrServing is returned by Serve when the endpoint already listens on
// another address.
var ErrServing = errors.New("metrics already served on another address")

// PoolStats are the worker threads' figures (cgo/dispatch.c).
type PoolStats struct {
	Workers        int     // worker threads started
	HandOffs       uint64  // requests handed to them
	HandOffSeconds float64 // total time realtime callers waited for them
	// UnsafeSignalHandlers counts the host's handlers that may run on a
	// goroutine stack (installed without SA_ONSTACK for a signal the Go
	// runtime's threads do not block).
	UnsafeSignalHandlers int
}

// Pool, when set, reports the worker pool at each scrape.
var Pool func() PoolStats

var (
	serveMu sync.Mutex
	serving string // the address asked for; "" when not serving
	bound   string // the address listened on
)

// Serve starts the endpoint on addr ("" for DefaultAddr), serving /metrics,
// and returns the address it listens on. Called again with the same
// address it does nothing; with another, it returns ErrServing. A port in
// use is an error too; nothing is started then.
func Serve(addr string) (string, error) {
	if addr == "" {
		addr = DefaultAddr
	}
	serveMu.Lock()
	defer serveMu.Unlock()
	if serving != "" {
		if addr == serving || addr == bound {
			return bound, nil
		}
		return "", fmt.Errorf("ringlb: metrics: %w (%s)", ErrServing, bound)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("ringlb: metrics: %w: %v", lb.ErrInvalidArgument, err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(&lb.Default), collectors.NewGoCollector())
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		// Inside the switch nothing may write to its stderr.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	serving, bound = addr, ln.Addr().String()
	go func() {
		defer func() { _ = recover() }()
		_ = srv.Serve(ln)
		// It stopped (the listener failed): a later Serve starts anew.
		serveMu.Lock()
		serving, bound = "", ""
		serveMu.Unlock()
	}()
	return bound, nil
}

// scrapeTimeout bounds the snapshots of one scrape.
const scrapeTimeout = 2 * time.Second

// Collector turns the balancers of a registry into metrics.
type Collector struct {
	reg *lb.Registry

	active, capacity, drained, started *prometheus.Desc
	talking, answered, wrapup          *prometheus.Desc
	takenBack, overCapacity            *prometheus.Desc
	batches, batchedOps, evicting      *prometheus.Desc
	next, backendErrors, opSeconds     *prometheus.Desc
	pending, snapshotErrors, fallbacks *prometheus.Desc
	workers, handOffs, handOffSeconds  *prometheus.Desc
	unsafeSignalHandlers               *prometheus.Desc
}

// NewCollector returns a Collector of the balancers open in reg.
func NewCollector(reg *lb.Registry) *Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("ringlb_"+name, help, labels, nil)
	}
	return &Collector{
		reg:            reg,
		active:         d("active_calls", "Calls up (ringing or answered) on a destination.", "balancer", "dest"),
		capacity:       d("capacity", "Most calls a destination takes; 0 is unlimited.", "balancer", "dest"),
		drained:        d("drained", "1 if the destination is drained.", "balancer", "dest"),
		started:        d("calls_started_total", "Calls started on a destination since its state was created.", "balancer", "dest"),
		talking:        d("talking_calls", "Answered calls up on a destination (the rest of active_calls ring).", "balancer", "dest"),
		answered:       d("calls_answered_total", "Calls answered on a destination since its state was created.", "balancer", "dest"),
		wrapup:         d("wrapup_seconds", "Wrap-up time left before a destination is offered calls again.", "balancer", "dest"),
		takenBack:      d("holds_taken_back_total", "Holds of calls still up that Redis lost (lease lapsed in an outage, failover) and this switch took back.", "balancer"),
		overCapacity:   d("holds_over_capacity_total", "Holds taken back after their member filled up meanwhile: more calls up than its capacity.", "balancer"),
		batches:        d("redis_batches_total", "Script calls that carried operations of calls (next, acquire, count, release, answered); simultaneous ones share a call.", "balancer"),
		batchedOps:     d("redis_batched_operations_total", "Operations carried by those script calls: divided by redis_batches_total, how many shared one under load.", "balancer"),
		evicting:       d("redis_evicting", "1 while the balancer's Redis has a maxmemory-policy that evicts keys (its state is lost when memory fills).", "balancer"),
		next:           d("next_total", "Outcomes of next (choose and hold).", "balancer", "outcome"),
		backendErrors:  d("backend_errors_total", "Operations that failed because the shared store did.", "balancer", "op"),
		opSeconds:      d("operation_seconds", "Time of balancer operations.", "balancer", "op"),
		pending:        d("release_retries_queued", "Failed releases waiting for a retry (Redis).", "balancer"),
		snapshotErrors: d("snapshot_error", "1 if the balancer's state could not be read at this scrape.", "balancer"),
		fallbacks:      d("fallbacks_total", "Rings that went on in list order because the backend failed.", "balancer"),
		workers:        d("workers", "Worker threads that serve realtime callers."),
		handOffs:       d("handoffs_total", "Requests handed from realtime callers to workers."),
		handOffSeconds: d("handoff_seconds_total", "Time realtime callers waited for workers, in all."),
		unsafeSignalHandlers: d("unsafe_signal_handlers", "The host's signal handlers that may run on a goroutine stack and crash "+
			"the process: handlers of SIGPROF, SIGCHLD, SIGSTKFLT or SIGRTMIN (which Go's threads never block) without SA_ONSTACK."),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.active, c.capacity, c.drained, c.started, c.talking, c.answered, c.wrapup,
		c.takenBack, c.overCapacity, c.batches, c.batchedOps, c.evicting, c.next, c.backendErrors,
		c.opSeconds, c.pending, c.snapshotErrors, c.fallbacks, c.workers, c.handOffs, c.handOffSeconds, c.unsafeSignalHandlers} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	for _, name := range c.reg.Names() {
		n := c.reg.Lookup(name)
		if n == nil {
			continue
		}
		c.collectBalancer(ctx, ch, n)
	}
	if Pool != nil {
		p := Pool()
		ch <- prometheus.MustNewConstMetric(c.workers, prometheus.GaugeValue, float64(p.Workers))
		ch <- prometheus.MustNewConstMetric(c.handOffs, prometheus.CounterValue, float64(p.HandOffs))
		ch <- prometheus.MustNewConstMetric(c.handOffSeconds, prometheus.CounterValue, p.HandOffSeconds)
		ch <- prometheus.MustNewConstMetric(c.unsafeSignalHandlers, prometheus.GaugeValue, float64(p.UnsafeSignalHandlers))
	}
}

func (c *Collector) collectBalancer(ctx context.Context, ch chan<- prometheus.Metric, n *lb.Named) {
	snapErr := 0.0
	if s, err := n.Balancer.Snapshot(ctx); err != nil {
		snapErr = 1
	} else {
		for _, d := range s.Destinations {
			ch <- prometheus.MustNewConstMetric(c.active, prometheus.GaugeValue, float64(d.Active), n.Name, d.Dest)
			ch <- prometheus.MustNewConstMetric(c.capacity, prometheus.GaugeValue, float64(d.Capacity), n.Name, d.Dest)
			ch <- prometheus.MustNewConstMetric(c.drained, prometheus.GaugeValue, boolFloat(d.Drained), n.Name, d.Dest)
			ch <- prometheus.MustNewConstMetric(c.started, prometheus.CounterValue, float64(d.Started), n.Name, d.Dest)
			ch <- prometheus.MustNewConstMetric(c.talking, prometheus.GaugeValue, float64(d.Talking), n.Name, d.Dest)
			ch <- prometheus.MustNewConstMetric(c.answered, prometheus.CounterValue, float64(d.Answered), n.Name, d.Dest)
			wrap := 0.0
			if left := time.Until(d.WrapupUntil); left > 0 {
				wrap = left.Seconds()
			}
			ch <- prometheus.MustNewConstMetric(c.wrapup, prometheus.GaugeValue, wrap, n.Name, d.Dest)
		}
	}
	ch <- prometheus.MustNewConstMetric(c.snapshotErrors, prometheus.GaugeValue, snapErr, n.Name)
	st := n.Stats()
	for i, v := range st.Next {
		ch <- prometheus.MustNewConstMetric(c.next, prometheus.CounterValue, float64(v), n.Name, lb.NextOutcomeNames[i])
	}
	for i, o := range st.Ops {
		op := lb.OpNames[i]
		ch <- prometheus.MustNewConstMetric(c.backendErrors, prometheus.CounterValue, float64(o.BackendErrors), n.Name, op)
		buckets := make(map[float64]uint64, len(lb.LatencyBuckets))
		for b, le := range lb.LatencyBuckets {
			buckets[le] = o.Buckets[b]
		}
		ch <- prometheus.MustNewConstHistogram(c.opSeconds, o.Count, o.Seconds, buckets, n.Name, op)
	}
	ch <- prometheus.MustNewConstMetric(c.fallbacks, prometheus.CounterValue, float64(st.Fallbacks), n.Name)
	if n.Options.URL != "" {
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(st.PendingReleases), n.Name)
		ch <- prometheus.MustNewConstMetric(c.takenBack, prometheus.CounterValue, float64(st.TakenBack), n.Name)
		ch <- prometheus.MustNewConstMetric(c.overCapacity, prometheus.CounterValue, float64(st.OverCapacity), n.Name)
		ch <- prometheus.MustNewConstMetric(c.batches, prometheus.CounterValue, float64(st.Batches), n.Name)
		ch <- prometheus.MustNewConstMetric(c.batchedOps, prometheus.CounterValue, float64(st.BatchedOps), n.Name)
		ch <- prometheus.MustNewConstMetric(c.evicting, prometheus.GaugeValue, boolFloat(st.Evicting), n.Name)
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
