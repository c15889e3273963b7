package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ringlb/ringlb/internal/version"
	"github.com/ringlb/ringlb/lb"
	"github.com/ringlb/ringlb/lb/redislb"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailed  = 1 // the operation failed: Redis unreachable, timed out, refused
	exitUsage   = 2 // bad command line
	exitUnknown = 3 // no such balancer under this URL and prefix
)

// openBalancer opens the balancer the command works on.
func openBalancer(name string, c *lb.Config) (lb.Balancer, error) { return lb.Open(name, c) }

// quiet drops go-redis's own log lines (a failed dial, say): the ctl
// reports every error itself, once, on stderr.
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

// command describes one subcommand.
type command struct {
	name    string
	args    string // positional arguments, for the usage line
	minArgs int
	maxArgs int      // -1 is no limit
	flags   []string // flags it accepts besides the common ones
	summary string
	help    string // the text of `ringlbctl help <name>`, examples included
	run     func(c *ctl) int
}

// Flags every command takes.
var commonFlags = []string{"url", "prefix", "balancer", "b", "json", "timeout", "help", "h"}

var commands = []*command{
	{
		name: "status", summary: "show each destination's active calls and drained flag",
		run: (*ctl).status,
		help: `Shows every destination the balancer knows: active calls (live holds),
whether it is drained, calls started since its keys were created, and
when its last call started.

Examples:
  ringlbctl status --balancer sales
  ringlbctl status -b sales --url redis://10.0.0.5:6379/0
  ringlbctl status -b sales --json | jq '.destinations[] | select(.drained)'
`,
	},
	{
		name: "holds", args: "[DEST...]", maxArgs: -1,
		summary: "list live holds (one per call) with owning node and age",
		run:     (*ctl).holds,
		help: `Lists the live holds: destination, call id (the FreeSWITCH call UUID),
the node that holds it, how long ago it started and when its lease
lapses unless that node renews it. With DEST arguments, only the holds
on those destinations.

Examples:
  ringlbctl holds --balancer sales
  ringlbctl holds -b sales user/1002
  ringlbctl holds -b sales --json | jq -r '.holds[] | select(.age_seconds > 3600) | .call_id'
`,
	},
	{
		name: "drain", args: "DEST...", minArgs: 1, maxArgs: -1, flags: []string{"force"},
		summary: "take destinations out of rotation on every node",
		run:     (*ctl).drain,
		help: `Takes destinations out of rotation on every node at once: next never
chooses them and order leaves them out. Their current calls keep counting
until they end. The drain stays until undrain, across restarts.

Examples:
  ringlbctl drain --balancer sales user/1002
  ringlbctl drain -b sales user/1002 user/1003

A balancer with no keys in Redis is taken for a typo (exit 3); --force
drains anyway, e.g. before the balancer's first call.
`,
	},
	{
		name: "undrain", args: "DEST...", minArgs: 1, maxArgs: -1, flags: []string{"force"},
		summary: "put drained destinations back into rotation",
		run:     (*ctl).undrain,
		help: `Puts drained destinations back into rotation on every node.

Examples:
  ringlbctl undrain --balancer sales user/1002
`,
	},
	{
		name: "away", args: "DEST...", minArgs: 1, maxArgs: -1, flags: []string{"force"},
		summary: "mark agents absent (a break, do-not-disturb) without draining them",
		run:     (*ctl).away,
		help: `Marks destinations absent without draining them: they stay in rotation,
and when they next answer a call (one that rings out does not count) they
are back and rejoin as rejoin says. The ring helper does this itself for a member it
skips for do-not-disturb.

Examples:
  ringlbctl away --balancer sales user/1002
`,
	},
	{
		name: "rejoin", args: "DEST...", minArgs: 1, maxArgs: -1, flags: []string{"force"},
		summary: "mark agents back from an absence: lifted to their group's mean score",
		run:     (*ctl).rejoin,
		help: `Marks destinations back from an absence (a break, a logout the balancer did
not see): the next ranking that includes each one lifts its tie score
(fewest: answered calls; talk: talk time) to the mean of the members it
is ranked with, if below, so that it takes its share of the calls rather
than every call until it has caught up; and its no-answer back-off ends,
so an agent left out for missing max_no_answer calls in a row is offered
again at once. Undrain does the same.

Examples:
  ringlbctl rejoin --balancer sales user/1002
`,
	},
	{
		name: "reset", args: "DEST...", minArgs: 1, maxArgs: -1, flags: []string{"force"},
		summary: "drop every hold on destinations (repair stuck counts)",
		run:     (*ctl).reset,
		help: `Drops every hold on the destinations, whichever node owns them, so their
active count is 0. For repairs: holds that outlived their calls, e.g.
after a node was lost. Calls still up on those destinations are no longer
counted; the nodes that held them stop renewing them and their later
release is harmless.

Examples:
  ringlbctl reset --balancer sales user/1002
  ringlbctl holds -b sales user/1002 && ringlbctl reset -b sales user/1002
`,
	},
}

const commonHelp = `Flags:
  --url URL         Redis URL (default: $RINGLB_URL): redis://, rediss://,
                    unix://, redis+sentinel://, redis+cluster://
  --prefix PREFIX   key prefix the balancers use (default "ringlb:")
  -b, --balancer NAME
                    the balancer (the name given to ringlb.open)
  --json            print JSON instead of tables
  --timeout D       give up on Redis after D (default 5s)
  --force           drain, undrain, away, rejoin, reset: act even if the balancer has
                    no keys in Redis

Exit codes: 0 done, 1 the operation failed (Redis unreachable or too slow),
2 usage error, 3 unknown balancer (no keys under this URL and prefix).
`

func findCommand(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

func mainUsage(w io.Writer) {
	fmt.Fprintf(w, `ringlbctl shows and steers ringlb balancers that share a Redis server.

Usage:
  ringlbctl COMMAND --balancer NAME [flags] [args]
  ringlbctl help [COMMAND]
  ringlbctl --version

Commands:
`)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\n%s", commonHelp)
	fmt.Fprintf(w, `
Examples:
  export RINGLB_URL=redis://10.0.0.5:6379/0
  ringlbctl status --balancer sales
  ringlbctl holds -b sales
  ringlbctl drain -b sales user/1002
  ringlbctl undrain -b sales user/1002
  ringlbctl reset -b sales user/1002
  ringlbctl status -b sales --json

In-memory balancers live inside FreeSWITCH: use
  fs_cli -x "lua ringlb_admin.lua status sales"
`)
}

func commandUsage(w io.Writer, c *command) {
	args := ""
	if c.args != "" {
		args = " " + c.args
	}
	fmt.Fprintf(w, "Usage: ringlbctl %s --balancer NAME [flags]%s\n\n%s.\n\n%s\n%s", c.name, args,
		strings.ToUpper(c.summary[:1])+c.summary[1:], c.help, commonHelp)
}

// ctl is one invocation.
type ctl struct {
	stdout, stderr io.Writer
	cmd            *command
	args           []string
	url            string
	prefix         string
	balancer       string
	json           bool
	force          bool
	timeout        time.Duration

	ctx context.Context
	b   lb.Balancer
}

// usageErr reports a command-line error and returns exitUsage.
func (c *ctl) usageErr(format string, args ...any) int {
	fmt.Fprintf(c.stderr, "ringlbctl: "+format+"\n", args...)
	if c.cmd != nil {
		fmt.Fprintf(c.stderr, "Run 'ringlbctl help %s' for usage.\n", c.cmd.name)
	} else {
		fmt.Fprintf(c.stderr, "Run 'ringlbctl help' for usage.\n")
	}
	return exitUsage
}

// run is the command with its arguments and outputs passed in, for tests. It
// returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	redis.SetLogger(quiet{})
	c := &ctl{stdout: stdout, stderr: stderr}
	fs := flag.NewFlagSet("ringlbctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported below, with a pointer to help
	fs.StringVar(&c.url, "url", os.Getenv("RINGLB_URL"), "")
	fs.StringVar(&c.prefix, "prefix", lb.DefaultKeyPrefix, "")
	fs.StringVar(&c.balancer, "balancer", "", "")
	fs.StringVar(&c.balancer, "b", "", "")
	fs.BoolVar(&c.json, "json", false, "")
	fs.BoolVar(&c.force, "force", false, "")
	fs.DurationVar(&c.timeout, "timeout", 5*time.Second, "")
	showVersion := fs.Bool("version", false, "")

	// Flags may come before or after the command and its arguments, so
	// parse, take one positional argument, and go on.
	var pos []string
	rest := args
	for {
		err := fs.Parse(rest)
		if errors.Is(err, flag.ErrHelp) {
			if len(pos) > 0 {
				if cmd := findCommand(pos[0]); cmd != nil {
					commandUsage(stdout, cmd)
					return exitOK
				}
			}
			mainUsage(stdout)
			return exitOK
		}
		if err != nil {
			if len(pos) > 0 {
				c.cmd = findCommand(pos[0])
			}
			return c.usageErr("%v", err)
		}
		used := len(rest) - fs.NArg()
		if used > 0 && rest[used-1] == "--" {
			pos = append(pos, fs.Args()...)
			break
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		rest = fs.Args()[1:]
	}

	if *showVersion {
		if len(pos) > 0 {
			return c.usageErr("--version takes no command")
		}
		fmt.Fprintf(stdout, "ringlbctl %s\n", version.Version)
		return exitOK
	}
	if len(pos) == 0 {
		mainUsage(stderr)
		return exitUsage
	}
	if pos[0] == "help" {
		switch {
		case len(pos) == 1:
			mainUsage(stdout)
		case len(pos) == 2 && findCommand(pos[1]) != nil:
			commandUsage(stdout, findCommand(pos[1]))
		default:
			return c.usageErr("help: unknown command %q", strings.Join(pos[1:], " "))
		}
		return exitOK
	}
	c.cmd = findCommand(pos[0])
	if c.cmd == nil {
		return c.usageErr("unknown command %q", pos[0])
	}
	c.args = pos[1:]

	var bad []string
	fs.Visit(func(f *flag.Flag) {
		if !slices.Contains(commonFlags, f.Name) && !slices.Contains(c.cmd.flags, f.Name) {
			bad = append(bad, "--"+f.Name)
		}
	})
	if len(bad) > 0 {
		return c.usageErr("%s: %s does not apply", c.cmd.name, strings.Join(bad, ", "))
	}
	if len(c.args) < c.cmd.minArgs {
		return c.usageErr("%s: missing %s", c.cmd.name, c.cmd.args)
	}
	if c.cmd.maxArgs >= 0 && len(c.args) > c.cmd.maxArgs {
		return c.usageErr("%s: unexpected argument %q", c.cmd.name, c.args[c.cmd.maxArgs])
	}
	for _, a := range c.args {
		if a == "" || strings.ContainsFunc(a, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return c.usageErr("%s: destination %q is empty or has a control character", c.cmd.name, a)
		}
	}
	if c.balancer == "" {
		return c.usageErr("%s: --balancer is required", c.cmd.name)
	}
	if c.url == "" {
		return c.usageErr("no Redis URL: give --url or set RINGLB_URL")
	}
	if c.timeout <= 0 {
		return c.usageErr("--timeout %v: must be positive", c.timeout)
	}

	// ParseOptions checks the URL and prefix the way ringlb.open does.
	opts, err := lb.ParseOptions([][2]string{
		{"url", c.url},
		{"key_prefix", c.prefix},
		{"timeout", c.timeout.String()},
		{"node", ctlNode()},
	})
	if err != nil {
		return c.usageErr("%v", strings.TrimPrefix(err.Error(), lb.ErrInvalidArgument.Error()+": "))
	}
	b, err := openBalancer(c.balancer, opts)
	if err != nil {
		if errors.Is(err, lb.ErrInvalidArgument) {
			return c.usageErr("%v", err)
		}
		return c.fail(err)
	}
	// The ctl never holds anything, so closing has nothing to release; it
	// only stops the client and any background work.
	defer b.Close()
	c.b = b
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	c.ctx = ctx
	return c.cmd.run(c)
}

// ctlNode names the ctl in Redis, should anything ever record it: the ctl
// takes no holds, so nothing is written under this name today.
func ctlNode() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	return fmt.Sprintf("ringlbctl@%s:%d", host, os.Getpid())
}

// where describes the Redis server and prefix, password hidden.
func (c *ctl) where() string {
	return fmt.Sprintf("%s (prefix %q)", redislb.RedactURL(c.url), c.prefix)
}

// fail reports a failed operation and returns exitFailed.
func (c *ctl) fail(err error) int {
	msg := err.Error()
	switch {
	case errors.Is(err, lb.ErrBackend), errors.Is(err, context.DeadlineExceeded):
		fmt.Fprintf(c.stderr, "ringlbctl: %s %s: cannot reach Redis at %s: %s\n",
			c.cmd.name, c.balancer, c.where(), msg)
	default:
		fmt.Fprintf(c.stderr, "ringlbctl: %s %s: %s\n", c.cmd.name, c.balancer, msg)
	}
	return exitFailed
}

// snapshot reads the balancer's state; ok is false, with the exit code in
// code, when that failed or the balancer is unknown and must not be.
func (c *ctl) snapshot(allowUnknown bool) (s lb.Snapshot, code int, ok bool) {
	s, err := c.b.Snapshot(c.ctx)
	if err != nil {
		return s, c.fail(err), false
	}
	if unknown(s) && !allowUnknown {
		fmt.Fprintf(c.stderr, "ringlbctl: %s: no balancer %q at %s: it has no keys there.\n"+
			"Check --balancer, --url and --prefix against the nodes' ringlb.open options.\n",
			c.cmd.name, c.balancer, c.where())
		if c.cmd.flags != nil {
			fmt.Fprintf(c.stderr, "Use --force to %s anyway.\n", c.cmd.name)
		}
		return s, exitUnknown, false
	}
	return s, exitOK, true
}

// unknown tells whether a snapshot shows a balancer that Redis has no keys
// for: every destination ever held, acquired or drained is remembered, so a
// balancer in use always has at least one.
func unknown(s lb.Snapshot) bool {
	return len(s.Destinations) == 0 && len(s.Holds) == 0
}

func (c *ctl) status() int {
	s, code, ok := c.snapshot(false)
	if !ok {
		return code
	}
	now := time.Now()
	if c.json {
		return c.writeJSON(statusJSON(s, c.prefix, now))
	}
	lb.WriteStatus(c.stdout, s, now, lb.StatusOptions{Prefix: c.prefix})
	return exitOK
}

func (c *ctl) holds() int {
	s, code, ok := c.snapshot(false)
	if !ok {
		return code
	}
	now := time.Now()
	if c.json {
		if len(c.args) > 0 {
			s.Holds = slices.DeleteFunc(s.Holds, func(h lb.HoldInfo) bool { return !slices.Contains(c.args, h.Dest) })
		}
		return c.writeJSON(holdsJSON(s, now))
	}
	lb.WriteHolds(c.stdout, s, now, c.args)
	return exitOK
}

func (c *ctl) drain() int   { return c.act(lb.ActionDrain) }
func (c *ctl) undrain() int { return c.act(lb.ActionUndrain) }
func (c *ctl) away() int    { return c.act(lb.ActionAway) }
func (c *ctl) rejoin() int  { return c.act(lb.ActionRejoin) }
func (c *ctl) reset() int   { return c.act(lb.ActionReset) }

// act applies drain, undrain, away, rejoin or reset to the destinations
// named.
func (c *ctl) act(action string) int {
	s, code, ok := c.snapshot(c.force)
	if !ok {
		return code
	}
	out, err := lb.Act(c.ctx, c.b, s, action, c.args)
	if err != nil {
		c.writeDone(out)
		return c.fail(err)
	}
	return c.writeDone(out)
}
