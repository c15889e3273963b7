// Package redistest starts a private redis-server for tests and benchmark
// tools: on a free loopback port, in its own temp dir, with persistence off,
// stopped when the test (or the tool) ends. Its users may flush it freely
// because nothing else uses it.
package redistest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Server is a redis-server started by a test.
type Server struct {
	// Addr is host:port, stable across Stop and Restart.
	Addr string
	Port int

	t       testing.TB // nil for a server from Launch
	bin     string
	dir     string
	ownsDir bool // Launch made dir; Stop removes it

	// args are extra redis-server arguments (a replica's --replicaof); a
	// sentinel has sentinelConf, the configuration it starts from; env is
	// added to the server's environment.
	args         []string
	env          []string
	sentinelConf string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// Binary returns the path of redis-server, or "" if it is not installed.
func Binary() string {
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/bin/redis-server"); err == nil {
		return "/usr/bin/redis-server"
	}
	return ""
}

// Start starts a redis-server and stops it in t.Cleanup. Without
// redis-server it skips the test, or fails it when the CI variable is set
// (CI must not silently skip the Redis tests).
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t, Config{})
}

// Config is what StartWith adds to a server's start.
type Config struct {
	// Args are extra redis-server arguments ("--maxmemory-policy",
	// "allkeys-lru").
	Args []string
	// Env is added to the server's environment ("LD_PRELOAD=...").
	Env []string
}

// StartWith is Start with extra arguments and environment, which Restart
// keeps.
func StartWith(t testing.TB, c Config) *Server {
	t.Helper()
	bin := Binary()
	if bin == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("redistest: redis-server not found in PATH (required when CI is set)")
		}
		t.Skip("redistest: redis-server not found in PATH; install redis-server to run the Redis tests")
	}
	s := &Server{t: t, bin: bin, dir: t.TempDir(), args: c.Args, env: c.Env}
	if err := s.startOnFreePort(); err != nil {
		t.Fatalf("redistest: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Launch starts a redis-server outside of a test, for tools such as the
// benchmarks. The caller stops it with Stop, which also removes its temp
// dir.
func Launch() (*Server, error) {
	bin := Binary()
	if bin == "" {
		return nil, fmt.Errorf("redistest: redis-server not found in PATH")
	}
	dir, err := os.MkdirTemp("", "redistest-")
	if err != nil {
		return nil, fmt.Errorf("redistest: %w", err)
	}
	s := &Server{bin: bin, dir: dir, ownsDir: true}
	if err := s.startOnFreePort(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("redistest: %w", err)
	}
	return s, nil
}

// StartReplica starts a redis-server replicating master, and waits until
// the replica has synced. It is stopped in t.Cleanup.
func StartReplica(t testing.TB, master *Server) *Server {
	t.Helper()
	s := &Server{t: t, bin: master.bin, dir: t.TempDir(), args: []string{"--replicaof", "127.0.0.1", strconv.Itoa(master.Port)}}
	if err := s.startOnFreePort(); err != nil {
		t.Fatalf("redistest: replica: %v", err)
	}
	t.Cleanup(s.Stop)
	s.waitFor("the replica to sync", 20*time.Second, func() bool {
		info, err := Do(s.Addr, "INFO", "replication")
		return err == nil && strings.Contains(info, "master_link_status:up")
	})
	return s
}

// StartSentinels starts n redis-server --sentinel processes monitoring
// master as masterName (quorum n/2+1, master down after 1 s, failover
// timeout 5 s), and waits until each knows the others and the replicas.
// They are stopped in t.Cleanup.
func StartSentinels(t testing.TB, master *Server, masterName string, n, replicas int) []*Server {
	t.Helper()
	conf := fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d %d\n"+
		"sentinel down-after-milliseconds %s 1000\n"+
		"sentinel failover-timeout %s 5000\n"+
		"sentinel parallel-syncs %s 1\n", masterName, master.Port, n/2+1, masterName, masterName, masterName)
	var out []*Server
	for i := 0; i < n; i++ {
		s := &Server{t: t, bin: master.bin, dir: t.TempDir(), sentinelConf: conf}
		if err := s.startOnFreePort(); err != nil {
			t.Fatalf("redistest: sentinel: %v", err)
		}
		t.Cleanup(s.Stop)
		out = append(out, s)
	}
	for _, s := range out {
		s.waitFor("the sentinels to find each other and the replicas", 30*time.Second, func() bool {
			info, err := Do(s.Addr, "INFO", "sentinel")
			return err == nil && strings.Contains(info, fmt.Sprintf("slaves=%d,sentinels=%d", replicas, n))
		})
	}
	return out
}

// StartCluster starts n redis-servers in cluster mode (no replicas) and
// joins them with redis-cli --cluster create, each master taking a third
// (for n = 3) of the slots; it waits until every node reports the cluster
// ok. They are stopped in t.Cleanup.
func StartCluster(t testing.TB, n int) []*Server {
	t.Helper()
	return StartClusterWithReplicas(t, n, 0)
}

// StartClusterWithReplicas starts a cluster of masters masters, each with
// replicas replicas (redis-cli puts the masters first in the returned
// list), and waits until the cluster is ok and every replica's link to its
// master is up. A master that dies is replaced by its replica after the
// node timeout (2 s).
func StartClusterWithReplicas(t testing.TB, masters, replicas int) []*Server {
	t.Helper()
	n := masters * (1 + replicas)
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Fatalf("redistest: redis-cli not found: %v", err)
	}
	var nodes []*Server
	var addrs []string
	for i := 0; i < n; i++ {
		s := &Server{t: t, bin: Binary(), dir: t.TempDir(),
			args: []string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000"}}
		if err := s.startOnFreePort(); err != nil {
			t.Fatalf("redistest: cluster node: %v", err)
		}
		t.Cleanup(s.Stop)
		nodes = append(nodes, s)
		addrs = append(addrs, s.Addr)
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, s := range nodes {
		s.waitFor("the cluster to be ok", 30*time.Second, func() bool {
			info, err := Do(s.Addr, "CLUSTER", "INFO")
			return err == nil && strings.Contains(info, "cluster_state:ok")
		})
		s.waitFor("replication links up", 30*time.Second, func() bool {
			info, err := Do(s.Addr, "INFO", "replication")
			return err == nil && (strings.Contains(info, "role:master") || strings.Contains(info, "master_link_status:up"))
		})
	}
	return nodes
}

// waitFor polls cond every 100 ms until it holds, or fails the test.
func (s *Server) waitFor(what string, within time.Duration, cond func() bool) {
	s.t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			s.t.Fatalf("redistest: waited %v for %s (log in %s)", within, what, s.dir)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startOnFreePort picks a free loopback port and starts the server there,
// trying a few ports in case another process takes one first.
func (s *Server) startOnFreePort() error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		var port int
		if port, err = freePort(); err != nil {
			continue
		}
		s.Port = port
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if err = s.start(); err == nil {
			return nil
		}
	}
	return err
}

// URL returns a redis:// URL for db 0.
func (s *Server) URL() string { return "redis://" + s.Addr + "/0" }

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) start() error {
	args := []string{
		"--port", strconv.Itoa(s.Port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", s.dir,
		"--dbfilename", "dump.rdb",
	}
	if s.sentinelConf != "" {
		// Sentinel rewrites its configuration file: each gets its own.
		conf := s.dir + "/sentinel.conf"
		if err := os.WriteFile(conf, []byte(s.sentinelConf), 0o644); err != nil {
			return err
		}
		args = []string{conf, "--sentinel", "--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1", "--dir", s.dir}
	}
	cmd := exec.Command(s.bin, append(args, s.args...)...)
	cmd.Dir = s.dir
	if len(s.env) > 0 {
		cmd.Env = append(os.Environ(), s.env...)
	}
	logf, err := os.OpenFile(s.dir+"/redis.log", os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd.Stdout = logf
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start redis-server: %w", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for ping(s.Addr) != nil {
		select {
		case <-done:
			return fmt.Errorf("redis-server on port %d exited (log in %s)", s.Port, s.dir)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("redis-server on port %d did not answer PING within 10s", s.Port)
		}
	}
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	return nil
}

// ping sends one PING over a fresh connection.
func ping(addr string) error {
	_, err := Do(addr, "PING")
	return err
}

// Do sends one command over a fresh connection and returns the reply: a
// status or integer line as it is, a bulk string whole (INFO, say), an
// error reply as an error. It is enough for PING, SAVE, SCRIPT FLUSH,
// DEBUG and INFO.
func Do(addr string, args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		return "", err
	}
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	switch {
	case strings.HasPrefix(line, "-"):
		return "", fmt.Errorf("redis: %s", line[1:])
	case !strings.HasPrefix(line, "$"):
		return line, nil
	}
	n, err := strconv.Atoi(line[1:])
	if err != nil || n < 0 {
		return "", fmt.Errorf("redis: bulk length %q", line)
	}
	buf := make([]byte, n+2)
	if _, err := io.ReadFull(r, buf); err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// Stop kills the server (SIGKILL: an abrupt outage) and waits for it to
// exit. Data not saved with Save is lost. Stopping a stopped server is a
// no-op. A server from Launch also loses its temp dir.
func (s *Server) Stop() {
	s.kill()
	if s.ownsDir {
		os.RemoveAll(s.dir)
	}
}

// kill stops the process and keeps the dir, for Restart.
func (s *Server) kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd, s.done = nil, nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGCONT) // in case it was paused
	_ = cmd.Process.Kill()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		if s.t != nil {
			s.t.Errorf("redistest: redis-server pid %d did not exit", cmd.Process.Pid)
		}
	}
}

// Restart starts the server again on the same port and dir; it loads the
// dump written by the last Save, if any.
func (s *Server) Restart() {
	s.t.Helper()
	s.kill()
	var err error
	for attempt := 0; attempt < 50; attempt++ {
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond) // the port may linger briefly
	}
	s.t.Fatalf("redistest: restart: %v", err)
}

// Save writes the dataset to the dump file (SAVE), so that Restart after
// Stop brings it back.
func (s *Server) Save() {
	s.t.Helper()
	if _, err := Do(s.Addr, "SAVE"); err != nil {
		s.t.Fatalf("redistest: SAVE: %v", err)
	}
}

// Kill sends sig to the server process and, for a signal that ends it,
// waits for it to exit; the server stays down (no Restart is implied).
func (s *Server) Kill(sig syscall.Signal) {
	s.t.Helper()
	if sig == syscall.SIGKILL || sig == syscall.SIGTERM {
		s.kill()
		return
	}
	s.signal(sig)
}

// Pause freezes the server (SIGSTOP): connections are accepted by the
// kernel but nothing answers, like a hung server or a partition.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume undoes Pause.
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) {
	s.t.Helper()
	s.mu.Lock()
	cmd := s.cmd
	s.mu.Unlock()
	if cmd == nil {
		s.t.Fatalf("redistest: %v: server not running", sig)
	}
	if err := cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("redistest: %v: %v", sig, err)
	}
}
