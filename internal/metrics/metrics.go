// Package metrics serves ringlb's state and counters in the Prometheus text
// format, from inside the switch: one process-wide HTTP endpoint whose
// goroutines run on the Go runtime's own threads, never on a switch thread.
//
// Every gather reads each open balancer's snapshot (its destinations'
// active calls, capacity, drained flag and calls started, so destinations
// a balancer forgot are gone from the metrics too) and its counters (lb.Stats,
// and lb.StoreStats for a balancer whose state lives in a store), plus what
// Pool reports of the worker threads, and the lines ringlb wrote to the
// host's log (internal/hostlog), by level.
//
// What clients can make the endpoint cost the switch is bounded: read,
// write and idle timeouts, at most 32 connections open (the longest idle
// makes room for a new one), one gather at a time whose rendering the
// scrapes of the next second share, a bounded number of member series and
// rendered bytes, and a 503 for a scrape that gets no rendering in time. A
// metric that cannot be rendered is left out alone, counted and logged; the
// rest is served.
package metrics

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/ringlb/ringlb/internal/hostlog"
	"github.com/ringlb/ringlb/lb"
)

// scrapeTimeout bounds the snapshots of one scrape.
const scrapeTimeout = 2 * time.Second

// maxMemberSeries bounds the members' series of one scrape, whatever the
// number of balancers and members: members past it are left out (and
// counted), so that a gather's memory stays bounded: maxMemberSeries /
// memberSeries members.
const maxMemberSeries = 140_000

// memberSeries is the number of series of one member.
const memberSeries = 8

// Balancers are what a Collector reports: the balancers open in a
// registry. *lb.Registry is one.
type Balancers interface {
	Names() []string
	Lookup(name string) *lb.Named
}

// Collector turns the balancers of a registry into metrics. A balancer or
// member whose metrics cannot be made (a name that is not valid UTF-8) is
// reported to the registry as an invalid metric, and every other metric is
// collected as usual.
type Collector struct {
	bals       Balancers
	maxMembers int // members reported in one scrape, in all

	active, capacity, drained, started *prometheus.Desc
	talking, answered, wrapup, out     *prometheus.Desc
	takenBack, overCapacity            *prometheus.Desc
	batches, batchedOps, evicting      *prometheus.Desc
	next, backendErrors, opSeconds     *prometheus.Desc
	pending, snapshotErrors, fallbacks *prometheus.Desc
	workers, handOffs, handOffSeconds  *prometheus.Desc
	unsafeSignalHandlers, logLines     *prometheus.Desc
}

// NewCollector returns a Collector of the balancers open in bals.
func NewCollector(bals Balancers) *Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("ringlb_"+name, help, labels, nil)
	}
	return &Collector{
		bals:       bals,
		maxMembers: maxMemberSeries / memberSeries,
		active:     d("active_calls", "Calls up (ringing or answered) on a destination.", "balancer", "dest"),
		capacity:   d("capacity", "Most calls a destination takes; 0 is unlimited.", "balancer", "dest"),
		drained:    d("drained", "1 if the destination is drained.", "balancer", "dest"),
		started:    d("calls_started_total", "Calls started on a destination since its state was created.", "balancer", "dest"),
		talking:    d("talking_calls", "Answered calls up on a destination (the rest of active_calls ring).", "balancer", "dest"),
		answered:   d("calls_answered_total", "Calls answered on a destination since its state was created.", "balancer", "dest"),
		wrapup:     d("wrapup_seconds", "Wrap-up time left before a destination is offered calls again.", "balancer", "dest"),
		out: d("no_answer_out_seconds", "Time left before a destination that left max_no_answer offers in a row unanswered "+
			"is offered calls again; 0 when it is offered.", "balancer", "dest"),
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
		logLines: d("log_lines_total", "Lines ringlb wrote to the host's log (FreeSWITCH's), by level.", "level"),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.active, c.capacity, c.drained, c.started, c.talking, c.answered, c.wrapup, c.out,
		c.takenBack, c.overCapacity, c.batches, c.batchedOps, c.evicting, c.next, c.backendErrors,
		c.opSeconds, c.pending, c.snapshotErrors, c.fallbacks, c.workers, c.handOffs, c.handOffSeconds, c.unsafeSignalHandlers, c.logLines} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	members := c.maxMembers
	for _, name := range c.bals.Names() {
		n := c.bals.Lookup(name)
		if n == nil {
			continue
		}
		c.collectBalancer(ctx, ch, n, &members)
	}
	if Pool != nil {
		p := Pool()
		var g group
		g.gauge(c.workers, float64(p.Workers))
		g.counter(c.handOffs, float64(p.HandOffs))
		g.counter(c.handOffSeconds, p.HandOffSeconds)
		g.gauge(c.unsafeSignalHandlers, float64(p.UnsafeSignalHandlers))
		g.send(ch, c.workers, "worker pool")
	}
	var g group
	for _, l := range hostlog.Levels {
		g.counter(c.logLines, float64(hostlog.Lines(l)), l.String())
	}
	g.send(ch, c.logLines, "log lines")
}

// collectBalancer sends n's metrics; at most *members of its members, less
// those it sends.
func (c *Collector) collectBalancer(ctx context.Context, ch chan<- prometheus.Metric, n *lb.Named, members *int) {
	s, err := n.Balancer.Snapshot(ctx)
	snapErr := 0.0
	if err != nil {
		snapErr = 1
		s.Destinations = nil
	}
	var g group
	g.gauge(c.snapshotErrors, snapErr, n.Name)
	c.stats(&g, n)
	if g.err != nil {
		// Its name is at fault: no member of it can be sent either.
		g.n += memberSeries * len(s.Destinations)
		g.send(ch, c.snapshotErrors, "balancer %q", n.Name)
		return
	}
	g.send(ch, c.snapshotErrors, "balancer %q", n.Name)
	left := 0
	for _, d := range s.Destinations {
		if *members <= 0 {
			left++
			continue
		}
		*members--
		g.reset()
		g.gauge(c.active, float64(d.Active), n.Name, d.Dest)
		g.gauge(c.capacity, float64(d.Capacity), n.Name, d.Dest)
		g.gauge(c.drained, boolFloat(d.Drained), n.Name, d.Dest)
		g.counter(c.started, float64(d.Started), n.Name, d.Dest)
		g.gauge(c.talking, float64(d.Talking), n.Name, d.Dest)
		g.counter(c.answered, float64(d.Answered), n.Name, d.Dest)
		wrap := 0.0
		if rest := time.Until(d.WrapupUntil); rest > 0 {
			wrap = rest.Seconds()
		}
		g.gauge(c.wrapup, wrap, n.Name, d.Dest)
		out := 0.0
		if rest := time.Until(d.BackoffUntil); d.Out && rest > 0 {
			out = rest.Seconds()
		}
		g.gauge(c.out, out, n.Name, d.Dest)
		g.send(ch, c.active, "balancer %q member %q", n.Name, d.Dest)
	}
	if left > 0 {
		ch <- prometheus.NewInvalidMetric(c.active, &droppedError{
			series: memberSeries * left,
			err: fmt.Errorf("balancer %q: members left out: more than %d members in all (%d series)",
				n.Name, c.maxMembers, c.maxMembers*memberSeries),
		})
	}
}

// stats adds n's counters to g.
func (c *Collector) stats(g *group, n *lb.Named) {
	st := n.Stats()
	for i, v := range st.Next {
		g.counter(c.next, float64(v), n.Name, lb.NextOutcomeNames[i])
	}
	for i, o := range st.Ops {
		op := lb.OpNames[i]
		g.counter(c.backendErrors, float64(o.BackendErrors), n.Name, op)
		buckets := make(map[float64]uint64, len(lb.LatencyBuckets))
		for b, le := range lb.LatencyBuckets {
			buckets[le] = o.Buckets[b]
		}
		g.add(prometheus.NewConstHistogram(c.opSeconds, o.Count, o.Seconds, buckets, n.Name, op))
	}
	g.counter(c.fallbacks, float64(st.Fallbacks), n.Name)
	if ss, ok := n.StoreStats(); ok {
		g.gauge(c.pending, float64(ss.PendingReleases), n.Name)
		g.counter(c.takenBack, float64(ss.TakenBack), n.Name)
		g.counter(c.overCapacity, float64(ss.OverCapacity), n.Name)
		g.counter(c.batches, float64(ss.Batches), n.Name)
		g.counter(c.batchedOps, float64(ss.BatchedOps), n.Name)
		g.gauge(c.evicting, boolFloat(ss.Evicting), n.Name)
	}
}

// group is the metrics of one subject (a balancer, a member, the worker
// pool), sent all together or, when one cannot be made, left out all
// together as one invalid metric.
type group struct {
	ms  []prometheus.Metric
	n   int   // series in the group, made or not
	err error // the first that could not be made
}

func (g *group) reset() { g.ms, g.n, g.err = g.ms[:0], 0, nil }

func (g *group) add(m prometheus.Metric, err error) {
	g.n++
	if err != nil {
		if g.err == nil {
			g.err = err
		}
		return
	}
	if g.err == nil {
		g.ms = append(g.ms, m)
	}
}

func (g *group) gauge(d *prometheus.Desc, v float64, labels ...string) {
	g.add(prometheus.NewConstMetric(d, prometheus.GaugeValue, v, labels...))
}

func (g *group) counter(d *prometheus.Desc, v float64, labels ...string) {
	g.add(prometheus.NewConstMetric(d, prometheus.CounterValue, v, labels...))
}

// send sends the group's metrics, or one invalid metric of desc that says
// which subject (format and args) was left out and why.
func (g *group) send(ch chan<- prometheus.Metric, desc *prometheus.Desc, format string, args ...any) {
	if g.err != nil {
		subject := fmt.Sprintf(format, args...)
		ch <- prometheus.NewInvalidMetric(desc, &droppedError{series: g.n, err: fmt.Errorf("%s: %w", subject, g.err)})
		return
	}
	for _, m := range g.ms {
		ch <- m
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
