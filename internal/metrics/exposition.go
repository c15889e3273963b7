package metrics

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/ringlb/ringlb/internal/hostlog"
)

// counters are the endpoint's own figures, served with the metrics.
type counters struct {
	gathers      atomic.Uint64 // gathers made
	dropped      atomic.Uint64 // series left out of renderings
	busy         atomic.Uint64 // scrapes answered 503: no rendering in time
	connsRefused atomic.Uint64 // connections closed at once: too many open
}

// textFormat is the one format served: Prometheus text, version 0.0.4.
var textFormat = expfmt.NewFormat(expfmt.TypeTextPlain)

// exposition serves the rendered metrics of a Gatherer. It gathers one
// scrape at a time, and the scrapes that arrive meanwhile wait for that
// rendering and share it; it serves a rendering again to the scrapes of the
// next lim.fresh. Scrapes write the shared bytes, so slow readers hold no
// copy of their own. A rendering still being written by a slow reader when
// a newer one replaced it keeps the newer one current until it is done, so
// at most two renderings are alive whatever the readers do (the current one
// then goes stale by at most the write timeout).
//
// A metric that cannot be rendered is left out alone, counted in
// ringlb_metrics_dropped_total and logged once (a Condition) while it lasts.
type exposition struct {
	g   prometheus.Gatherer
	lim limits
	ct  *counters
	bad hostlog.Condition // metrics left out

	mu       sync.Mutex
	cur      *rendering    // newest; nil before the first gather
	gathered chan struct{} // closed when the gather under way ends; nil when none
	replaced int           // replaced renderings still being written
}

// rendering is one gather's text, shared by the scrapes that serve it.
type rendering struct {
	body []byte
	at   time.Time
	// writers and replaced are guarded by exposition.mu.
	writers  int
	replaced bool
}

func newExposition(g prometheus.Gatherer, lim limits, ct *counters) *exposition {
	return &exposition{g: g, lim: lim, ct: ct}
}

// errBusy is a scrape that got no rendering within its wait.
var errBusy = errors.New("ringlb: metrics: no rendering ready in time, try again")

// ServeHTTP implements http.Handler.
func (e *exposition) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), e.lim.wait)
	defer cancel()
	rd, err := e.take(ctx)
	if err != nil {
		if r.Context().Err() != nil {
			return // the client went away
		}
		e.ct.busy.Add(1)
		w.Header().Set("Retry-After", "1")
		http.Error(w, errBusy.Error(), http.StatusServiceUnavailable)
		return
	}
	defer e.release(rd)
	w.Header().Set("Content-Type", string(textFormat))
	w.Header().Set("Content-Length", strconv.Itoa(len(rd.body)))
	_, _ = w.Write(rd.body)
}

// take returns a rendering to serve, counted as written until release:
// the current one while it is fresh (or while a replaced one is still
// being written), else the one of the gather under way, started if none
// is. It waits at most until ctx is done.
func (e *exposition) take(ctx context.Context) (*rendering, error) {
	e.mu.Lock()
	cur := e.cur
	if cur == nil || (time.Since(cur.at) >= e.lim.fresh && e.replaced == 0) {
		if e.gathered == nil {
			e.gathered = make(chan struct{})
			go e.gather(e.gathered)
		}
		gathered := e.gathered
		e.mu.Unlock()
		select {
		case <-gathered:
		case <-ctx.Done():
			return nil, errBusy
		}
		// That gather's rendering, or a newer one: never another wait.
		e.mu.Lock()
		cur = e.cur
	}
	cur.writers++
	e.mu.Unlock()
	return cur, nil
}

// release ends a scrape's write of rd.
func (e *exposition) release(rd *rendering) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if rd.writers--; rd.writers == 0 && rd.replaced {
		e.replaced--
	}
}

// gather makes the rendering that replaces the current one, and closes
// done. It is the only gather under way.
func (e *exposition) gather(done chan struct{}) {
	var prev []byte
	e.mu.Lock()
	if e.cur != nil {
		prev = e.cur.body
	}
	e.mu.Unlock()
	body := prev
	defer func() {
		if p := recover(); p != nil {
			// The last rendering is served again, for lim.fresh as if
			// new, so that scrapes do not retry a failing gather back to
			// back.
			e.bad.Set(hostlog.Error, fmt.Sprintf("ringlb: metrics: rendering failed: %v", p))
		}
		e.mu.Lock()
		if old := e.cur; old != nil && old.writers > 0 {
			old.replaced = true
			e.replaced++
		}
		e.cur = &rendering{body: body, at: time.Now()}
		e.gathered = nil
		e.mu.Unlock()
		close(done)
	}()
	body = e.render(len(prev) + len(prev)/8)
}

// ownFiguresRoom is the part of lim.maxBytes kept for the endpoint's own
// figures (ownFamilies), about twice what they take.
const ownFiguresRoom = 1 << 10

// render gathers and renders every metric family that can be, within
// lim.maxBytes, and reports the rest.
func (e *exposition) render(sizeHint int) []byte {
	e.ct.gathers.Add(1)
	mfs, gerr := e.g.Gather()
	var problems []dropped
	for _, err := range flatten(gerr) {
		problems = append(problems, droppedBy(err))
	}
	buf := bytes.NewBuffer(make([]byte, 0, min(sizeHint, e.lim.maxBytes)))
	// The endpoint's own figures are rendered last, into room kept for them.
	w := &cappedWriter{buf: buf, max: max(e.lim.maxBytes-ownFiguresRoom, 0)}
	enc := expfmt.NewEncoder(w, textFormat)
	encode := func(mf *dto.MetricFamily) {
		mark := buf.Len()
		if err := enc.Encode(mf); err != nil {
			buf.Truncate(mark)
			problems = append(problems, dropped{len(mf.Metric), fmt.Sprintf("%s: %v", mf.GetName(), err)})
		}
	}
	for _, mf := range mfs {
		encode(mf)
	}
	n := 0
	for _, p := range problems {
		n += p.series
	}
	e.ct.dropped.Add(uint64(n))
	// The endpoint's own figures come last, in the room kept for them, so
	// that they fit whatever came before and count this rendering's drops.
	w.max = e.lim.maxBytes
	for _, mf := range e.ownFamilies() {
		encode(mf)
	}
	e.report(problems)
	return buf.Bytes()
}

// report logs the metrics left out, once while the same ones are.
func (e *exposition) report(problems []dropped) {
	if len(problems) == 0 {
		e.bad.Clear("ringlb: metrics: every metric is served again")
		return
	}
	// The same problems give the same line whatever order they came in.
	first := slices.MinFunc(problems, func(a, b dropped) int { return cmp.Compare(a.what, b.what) }).what
	more := ""
	if len(problems) > 1 {
		more = " (and others)"
	}
	e.bad.Set(hostlog.Warning, fmt.Sprintf("ringlb: metrics: series left out of the scrapes (the rest is served; ringlb_metrics_dropped_total counts them): %s%s", first, more))
}

// ownFamilies are the endpoint's figures.
func (e *exposition) ownFamilies() []*dto.MetricFamily {
	// Their rendering must fit in ownFiguresRoom (TestOwnFiguresFitTheirRoom).
	counter := func(name, help string, values ...*dto.Metric) *dto.MetricFamily {
		return &dto.MetricFamily{Name: &name, Help: &help, Type: dto.MetricType_COUNTER.Enum(), Metric: values}
	}
	value := func(v uint64, labels ...string) *dto.Metric {
		m := &dto.Metric{Counter: &dto.Counter{Value: proto(float64(v))}}
		for i := 0; i+1 < len(labels); i += 2 {
			m.Label = append(m.Label, &dto.LabelPair{Name: proto(labels[i]), Value: proto(labels[i+1])})
		}
		return m
	}
	return []*dto.MetricFamily{
		counter("ringlb_metrics_gathers_total", "Gathers of the metrics; scrapes that come together share one.",
			value(e.ct.gathers.Load())),
		counter("ringlb_metrics_dropped_total", "Series left out of scrapes because they could not be rendered (a name that is not valid UTF-8, a collector's error, the size limit); the rest is served.",
			value(e.ct.dropped.Load())),
		counter("ringlb_metrics_refused_total", "Scrapes refused: busy (503, no rendering within the wait), connections (closed at once, too many open).",
			value(e.ct.busy.Load(), "reason", "busy"), value(e.ct.connsRefused.Load(), "reason", "connections")),
	}
}

func proto[T any](v T) *T { return &v }

// dropped is a problem that left series out of a rendering.
type dropped struct {
	series int
	what   string
}

// droppedError is a metric the Collector could not make: it stands for
// series series left out, and says which.
type droppedError struct {
	series int
	err    error
}

func (e *droppedError) Error() string { return e.err.Error() }
func (e *droppedError) Unwrap() error { return e.err }

// droppedBy turns one error of Gather into what it left out.
func droppedBy(err error) dropped {
	var de *droppedError
	if errors.As(err, &de) {
		return dropped{de.series, de.Error()}
	}
	return dropped{1, err.Error()}
}

// flatten returns the errors of a Gather, one per metric or collector.
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	var multi prometheus.MultiError
	if errors.As(err, &multi) {
		return multi
	}
	return []error{err}
}

// errTooLarge is a metric family that would make the rendering larger than
// its limit.
var errTooLarge = errors.New("rendering over its size limit")

// cappedWriter appends to buf until it would hold more than max bytes.
type cappedWriter struct {
	buf *bytes.Buffer
	max int
}

func (w *cappedWriter) Write(p []byte) (int, error) {
	if w.buf.Len()+len(p) > w.max {
		return 0, fmt.Errorf("%w (%d bytes)", errTooLarge, w.max)
	}
	return w.buf.Write(p)
}
