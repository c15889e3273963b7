package metrics

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/ringlb/ringlb/lb"
)

// DefaultAddr is where Serve listens when given no address: loopback only.
const DefaultAddr = "127.0.0.1:9361"

// AllInterfaces is the host that asks Serve to listen on every interface,
// as in "*:9361". Serve refuses the usual spellings of every interface
// (":9361", "0.0.0.0:9361", "[::]:9361"), so that the metrics, which name
// the extensions, are never exposed by a typo or a copied example.
const AllInterfaces = "*"

// ErrServing is returned by Serve when the endpoint already listens on
// another address.
var ErrServing = errors.New("metrics already served on another address")

// limits bound what the endpoint lets its clients cost the process. Serve
// uses defaultLimits; tests use shorter ones.
type limits struct {
	// readHeader, read, write and idle are the http.Server timeouts: a
	// request's header, a whole request, a response (from the end of the
	// request's header), and a keep-alive connection between requests.
	readHeader, read, write, idle time.Duration
	// maxConns is the most connections open at once (connLimiter).
	maxConns int
	// fresh is how long a rendering is served again to later scrapes;
	// wait how long a scrape waits for one before it is answered 503.
	fresh, wait time.Duration
	// maxBytes is the largest rendering; metric families that would
	// make it larger are left out (and counted).
	maxBytes int
}

var defaultLimits = limits{
	readHeader: 5 * time.Second,
	read:       10 * time.Second,
	write:      15 * time.Second,
	idle:       90 * time.Second,
	maxConns:   32,
	fresh:      time.Second,
	wait:       5 * time.Second,
	maxBytes:   32 << 20,
}

// Pool, when set, reports the worker pool at each scrape.
var Pool func() PoolStats

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

var (
	serveMu sync.Mutex
	serving string // the address asked for; "" when not serving
	bound   string // the address listened on
)

// Serve starts the endpoint on addr ("" for DefaultAddr), serving /metrics,
// and returns the address it listens on. addr is host:port; a host that
// means every interface is refused unless it is AllInterfaces ("*:9361").
// Called again with the same address it does nothing; with another, it
// returns ErrServing. A port in use is an error too; nothing is started
// then. Every error wraps lb.ErrInvalidArgument or ErrServing.
func Serve(addr string) (string, error) {
	if addr == "" {
		addr = DefaultAddr
	}
	if _, _, err := listenAddr(addr); err != nil {
		return "", err
	}
	serveMu.Lock()
	defer serveMu.Unlock()
	if serving != "" {
		if addr == serving || addr == bound {
			return bound, nil
		}
		return "", fmt.Errorf("ringlb: metrics: %w (%s)", ErrServing, bound)
	}
	ln, err := listen(addr)
	if err != nil {
		return "", err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(&lb.Default), collectors.NewGoCollector())
	e := start(ln, reg, defaultLimits)
	serving, bound = addr, ln.Addr().String()
	go func() {
		defer func() { _ = recover() }()
		_ = e.srv.Serve(e.conns)
		// It stopped (the listener failed): a later Serve starts anew.
		serveMu.Lock()
		serving, bound = "", ""
		serveMu.Unlock()
	}()
	return bound, nil
}

// listen listens on addr, refusing every interface unless asked for with
// AllInterfaces.
func listen(addr string) (net.Listener, error) {
	where, all, err := listenAddr(addr)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", where)
	if err != nil {
		return nil, fmt.Errorf("ringlb: metrics: %w: %v", lb.ErrInvalidArgument, err)
	}
	// A name may resolve to the unspecified address too.
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && tcp.IP.IsUnspecified() && !all {
		_ = ln.Close()
		return nil, errEveryInterface(addr)
	}
	return ln, nil
}

// listenAddr returns what to listen on for addr, and whether that is
// every interface as asked for; it refuses every interface written
// otherwise.
func listenAddr(addr string) (string, bool, error) {
	if !utf8.ValidString(addr) {
		return "", false, fmt.Errorf("ringlb: metrics: %w: address %q is not valid UTF-8", lb.ErrInvalidArgument, addr)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", false, fmt.Errorf("ringlb: metrics: %w: address %q: %v", lb.ErrInvalidArgument, addr, err)
	}
	if host == AllInterfaces {
		return net.JoinHostPort("", port), true, nil
	}
	if everyInterface(host) {
		return "", false, errEveryInterface(addr)
	}
	return addr, false, nil
}

// everyInterface reports whether host, of host:port, means every interface.
func everyInterface(host string) bool {
	if host == "" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsUnspecified()
}

func errEveryInterface(addr string) error {
	_, port, _ := net.SplitHostPort(addr)
	return fmt.Errorf("ringlb: metrics: %w: %q listens on every interface; write %q to ask for that, or name one address",
		lb.ErrInvalidArgument, addr, AllInterfaces+":"+port)
}

// endpoint is one metrics server: its connections, its shared rendering.
type endpoint struct {
	srv   *http.Server
	conns *connLimiter
	expo  *exposition
}

// start makes the endpoint that serves g's metrics on ln within lim; the
// caller runs e.srv.Serve(e.conns).
func start(ln net.Listener, g prometheus.Gatherer, lim limits) *endpoint {
	var ct counters
	e := &endpoint{
		conns: newConnLimiter(ln, lim.maxConns, &ct),
		expo:  newExposition(g, lim, &ct),
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", e.expo)
	e.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: lim.readHeader,
		ReadTimeout:       lim.read,
		WriteTimeout:      lim.write,
		IdleTimeout:       lim.idle,
		MaxHeaderBytes:    8 << 10,
		ConnState:         e.conns.track,
		// Inside the switch nothing may write to its stderr.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	return e
}

// connLimiter is a listener that keeps at most max connections open: a
// connection accepted when max are open closes the one idle (between
// keep-alive requests) the longest to make room, or is closed at once when
// none is idle. http.Server reports the states through track.
type connLimiter struct {
	net.Listener
	max int
	ct  *counters

	mu    sync.Mutex
	conns map[net.Conn]connInfo // open connections
}

type connInfo struct {
	state     http.ConnState
	idleSince time.Time
}

func newConnLimiter(ln net.Listener, max int, ct *counters) *connLimiter {
	return &connLimiter{Listener: ln, max: max, ct: ct, conns: make(map[net.Conn]connInfo)}
}

// Accept implements net.Listener.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.admit(c) {
			return c, nil
		}
		l.ct.connsRefused.Add(1)
		_ = c.Close()
	}
}

// admit makes room for c, reporting false when there is none.
func (l *connLimiter) admit(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.conns) >= l.max {
		var oldest net.Conn
		var since time.Time
		for oc, in := range l.conns {
			if in.state == http.StateIdle && (oldest == nil || in.idleSince.Before(since)) {
				oldest, since = oc, in.idleSince
			}
		}
		if oldest == nil {
			return false
		}
		// Its server goroutine sees it closed and ends.
		_ = oldest.Close()
		delete(l.conns, oldest)
	}
	l.conns[c] = connInfo{state: http.StateNew}
	return true
}

// track is the http.Server's ConnState hook.
func (l *connLimiter) track(c net.Conn, s http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s == http.StateClosed || s == http.StateHijacked {
		delete(l.conns, c)
		return
	}
	if _, ok := l.conns[c]; ok {
		in := connInfo{state: s}
		if s == http.StateIdle {
			in.idleSince = time.Now()
		}
		l.conns[c] = in
	}
}

// open returns how many connections are open.
func (l *connLimiter) open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}
