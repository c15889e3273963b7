// Command ringlb-fusionpbx turns ringlb's "balancing" strategy for FusionPBX
// ring groups on and off on a FusionPBX 5.x server:
//
//	ringlb-fusionpbx on       add the strategy (backs the files up first)
//	ringlb-fusionpbx off      take it away: the files are FusionPBX's again, byte for byte
//	ringlb-fusionpbx status   show what is on
//
// `on` adds one line to each of these files, and nothing else:
//
//   - <scripts>/app/ring_groups/index.lua, the ring group script mod_lua
//     runs, and <web>/app/switch/resources/scripts/app/ring_groups/index.lua,
//     the copy FusionPBX's App Defaults installs over it: a first line of
//     code that hands groups whose strategy is "balancing" to the Lua module
//     ringlb.fusionpbx (every other group rings as before);
//   - <web>/app/ring_groups/ring_group_edit.php: "Balancing" in the
//     strategy list of the ring group page;
//   - <web>/app/ring_groups/app_languages.php: its label, for the list page.
//
// It checks every file before it changes any, refuses (and changes none)
// when one is not as expected, keeps a copy of each original under -backup,
// and writes each file whole (a new file renamed over the old, owner and
// mode kept). Both are idempotent. A server without the web root (a switch
// of a multi-server install) gets the scripts only, and one without the
// script directory the web files only.
//
// The directories come from FusionPBX's config.conf (document.root and
// switch.scripts.dir) when it has them, else Debian's defaults; flags win.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Exit codes.
const (
	exitOK      = 0
	exitRefused = 1 // a file is not as expected, or a write failed: nothing was left half done
	exitUsage   = 2
)

// Defaults, as FusionPBX 5.x installs on Debian.
var (
	defaultConfigs = []string{"/etc/fusionpbx/config.conf", "/usr/local/etc/fusionpbx/config.conf"}
	defaultWeb     = "/var/www/fusionpbx"
	defaultScripts = "/usr/share/freeswitch/scripts"
	defaultBackup  = "/var/lib/ringlb/fusionpbx"
)

const usage = `usage: ringlb-fusionpbx [flags] on|off|status

  on      add ringlb's "balancing" strategy to FusionPBX's ring groups
  off     remove it; every file is FusionPBX's again, byte for byte
  status  show, file by file, whether it is on

flags:
  -web DIR      FusionPBX's document root (default: document.root of
                config.conf, else /var/www/fusionpbx)
  -scripts DIR  FreeSWITCH's script directory (default: switch.scripts.dir
                of config.conf, else /usr/share/freeswitch/scripts)
  -config FILE  FusionPBX's config.conf (default: /etc/fusionpbx/config.conf)
  -backup DIR   where the originals are kept (default: /var/lib/ringlb/fusionpbx)
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// target is one edit on one file of this server.
type target struct {
	edit
	path string
}

// state is what `on` records in the backup directory: per file, the
// checksum of the original and of the file as `on` left it.
type state struct {
	Files map[string]fileState `json:"files"`
}

type fileState struct {
	Original string `json:"original_sha256"`
	Edited   string `json:"edited_sha256"`
	Backup   string `json:"backup"`
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func run(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("ringlb-fusionpbx", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() { fmt.Fprint(stderr, usage) }
	web := fl.String("web", "", "")
	scripts := fl.String("scripts", "", "")
	config := fl.String("config", "", "")
	backup := fl.String("backup", defaultBackup, "")
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fl.NArg() != 1 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmd := fl.Arg(0)
	if cmd != "on" && cmd != "off" && cmd != "status" {
		fmt.Fprintf(stderr, "ringlb-fusionpbx: unknown command %q\n%s", cmd, usage)
		return exitUsage
	}
	conf, err := readConfig(*config)
	if err != nil {
		fmt.Fprintf(stderr, "ringlb-fusionpbx: %v\n", err)
		return exitUsage
	}
	roots := map[string]string{"web": *web, "scripts": *scripts}
	if roots["web"] == "" {
		roots["web"] = firstOf(conf["document.root"], defaultWeb)
	}
	if roots["scripts"] == "" {
		roots["scripts"] = firstOf(conf["switch.scripts.dir"], defaultScripts)
	}
	var targets []target
	for _, root := range []string{"scripts", "web"} {
		dir := roots[root]
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			fmt.Fprintf(stdout, "%s directory %s: not on this server, its files are left out\n", root, dir)
		}
	}
	for _, e := range edits {
		dir := roots[e.root]
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			continue
		}
		targets = append(targets, target{edit: e, path: filepath.Join(dir, filepath.FromSlash(e.rel))})
	}
	if len(targets) == 0 {
		fmt.Fprintln(stderr, "ringlb-fusionpbx: neither FusionPBX's web root nor FreeSWITCH's script directory is here (see -web, -scripts)")
		return exitRefused
	}
	c := &ctl{targets: targets, backup: *backup, stdout: stdout, stderr: stderr}
	switch cmd {
	case "on":
		return c.on()
	case "off":
		return c.off()
	}
	return c.status()
}

func firstOf(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

// readConfig reads FusionPBX's config.conf (key = value lines): the file
// given, else the first of the default places that exists, else nothing.
func readConfig(path string) (map[string]string, error) {
	out := map[string]string{}
	paths := defaultConfigs
	if path != "" {
		paths = []string{path}
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) && path == "" {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, "="); ok {
				out[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
		}
		break
	}
	return out, nil
}

type ctl struct {
	targets        []target
	backup         string
	stdout, stderr io.Writer
}

func (c *ctl) statePath() string { return filepath.Join(c.backup, "state.json") }

func (c *ctl) loadState() (*state, error) {
	st := &state{Files: map[string]fileState{}}
	b, err := os.ReadFile(c.statePath())
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("%s: %w", c.statePath(), err)
	}
	if st.Files == nil {
		st.Files = map[string]fileState{}
	}
	return st, nil
}

func (c *ctl) saveState(st *state) error {
	if len(st.Files) == 0 {
		err := os.Remove(c.statePath())
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return writeFile(c.statePath(), append(b, '\n'), 0o644, nil)
}

// backupName is where the original of path is kept.
func (c *ctl) backupName(path string) string {
	return filepath.Join(c.backup, strings.TrimPrefix(strings.ReplaceAll(filepath.Clean(path), string(filepath.Separator), "%"), "%")+".orig")
}

// change is one file's new content, ready to be written.
type change struct {
	t        target
	old, new []byte
	info     fs.FileInfo
}

// on checks every file, then backs up and edits those not on yet.
func (c *ctl) on() int {
	var todo []change
	failed := false
	for _, t := range c.targets {
		b, info, err := readFile(t.path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			fmt.Fprintf(c.stdout, "%s: not present (%s), left out\n", t.path, t.what)
			continue
		case err != nil:
			fmt.Fprintf(c.stderr, "ringlb-fusionpbx: %v\n", err)
			failed = true
			continue
		}
		if len(t.ours(b)) > 0 {
			fmt.Fprintf(c.stdout, "%s: on already\n", t.path)
			continue
		}
		nb, err := t.plan(b)
		if err != nil {
			fmt.Fprintf(c.stderr, "ringlb-fusionpbx: %s (%s): %v; nothing changed\n", t.path, t.what, err)
			failed = true
			continue
		}
		todo = append(todo, change{t: t, old: b, new: nb, info: info})
	}
	if failed {
		fmt.Fprintln(c.stderr, "ringlb-fusionpbx: refused: no file was changed")
		return exitRefused
	}
	if len(todo) == 0 {
		fmt.Fprintln(c.stdout, "balancing ring groups: on")
		return exitOK
	}
	st, err := c.loadState()
	if err != nil {
		fmt.Fprintf(c.stderr, "ringlb-fusionpbx: %v; nothing changed\n", err)
		return exitRefused
	}
	if err := os.MkdirAll(c.backup, 0o755); err != nil {
		fmt.Fprintf(c.stderr, "ringlb-fusionpbx: backup: %v; nothing changed\n", err)
		return exitRefused
	}
	// Back every original up before the first file is touched.
	for _, ch := range todo {
		bk := c.backupName(ch.t.path)
		if err := writeFile(bk, ch.old, 0o644, nil); err != nil {
			fmt.Fprintf(c.stderr, "ringlb-fusionpbx: backup: %v; nothing changed\n", err)
			return exitRefused
		}
		st.Files[ch.t.path] = fileState{Original: sum(ch.old), Edited: sum(ch.new), Backup: bk}
	}
	if err := c.saveState(st); err != nil {
		fmt.Fprintf(c.stderr, "ringlb-fusionpbx: backup: %v; nothing changed\n", err)
		return exitRefused
	}
	for i, ch := range todo {
		if err := writeFile(ch.t.path, ch.new, ch.info.Mode().Perm(), ch.info); err != nil {
			fmt.Fprintf(c.stderr, "ringlb-fusionpbx: %v\n", err)
			// Put back what was already changed: all or nothing.
			for _, done := range todo[:i] {
				if rerr := writeFile(done.t.path, done.old, done.info.Mode().Perm(), done.info); rerr != nil {
					fmt.Fprintf(c.stderr, "ringlb-fusionpbx: restoring %s: %v (its original is %s)\n",
						done.t.path, rerr, c.backupName(done.t.path))
				}
			}
			fmt.Fprintln(c.stderr, "ringlb-fusionpbx: refused: the files are as they were")
			return exitRefused
		}
		fmt.Fprintf(c.stdout, "%s: on (original kept in %s)\n", ch.t.path, c.backupName(ch.t.path))
	}
	fmt.Fprintln(c.stdout, "balancing ring groups: on")
	return exitOK
}

// off takes ringlb's lines out of every file; a file that was not changed
// since `on` is then its original byte for byte (checked against the
// original's checksum).
func (c *ctl) off() int {
	st, err := c.loadState()
	if err != nil {
		fmt.Fprintf(c.stderr, "ringlb-fusionpbx: %v\n", err)
		return exitRefused
	}
	code := exitOK
	for _, t := range c.targets {
		b, info, err := readFile(t.path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			fmt.Fprintf(c.stderr, "ringlb-fusionpbx: %v\n", err)
			code = exitRefused
			continue
		}
		fst, known := st.Files[t.path]
		idx := t.ours(b)
		if len(idx) == 0 {
			if bytes.Contains(b, []byte(Marker)) {
				fmt.Fprintf(c.stderr, "ringlb-fusionpbx: %s holds a ringlb line this version did not write; left as it is\n", t.path)
				code = exitRefused
				continue
			}
			if known {
				fmt.Fprintf(c.stdout, "%s: off already (replaced since on, by a FusionPBX upgrade?)\n", t.path)
				c.forget(st, t.path)
			}
			continue
		}
		nb := remove(b, idx)
		if err := writeFile(t.path, nb, info.Mode().Perm(), info); err != nil {
			fmt.Fprintf(c.stderr, "ringlb-fusionpbx: %v\n", err)
			code = exitRefused
			continue
		}
		switch {
		case known && sum(nb) == fst.Original:
			fmt.Fprintf(c.stdout, "%s: off, FusionPBX's original byte for byte\n", t.path)
		case known:
			fmt.Fprintf(c.stdout, "%s: off; the file was changed since on, so only ringlb's line was taken out (the original as it was: %s)\n", t.path, fst.Backup)
			continue // keep the original for the operator
		default:
			fmt.Fprintf(c.stdout, "%s: off\n", t.path)
		}
		c.forget(st, t.path)
	}
	if err := c.saveState(st); err != nil {
		fmt.Fprintf(c.stderr, "ringlb-fusionpbx: %v\n", err)
		code = exitRefused
	}
	if code == exitOK {
		fmt.Fprintln(c.stdout, "balancing ring groups: off")
	}
	return code
}

// forget drops the record and the original of path.
func (c *ctl) forget(st *state, path string) {
	if f, ok := st.Files[path]; ok && f.Backup != "" {
		if err := os.Remove(f.Backup); err != nil && !errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintf(c.stderr, "ringlb-fusionpbx: %v\n", err)
		}
	}
	delete(st.Files, path)
}

// status shows each file: on, off, missing, or not as expected.
func (c *ctl) status() int {
	on, off := 0, 0
	for _, t := range c.targets {
		b, _, err := readFile(t.path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			fmt.Fprintf(c.stdout, "%-8s %s (%s)\n", "missing", t.path, t.what)
			continue
		case err != nil:
			fmt.Fprintf(c.stdout, "%-8s %s: %v\n", "error", t.path, err)
			continue
		}
		if len(t.ours(b)) > 0 {
			on++
			fmt.Fprintf(c.stdout, "%-8s %s\n", "on", t.path)
		} else if _, err := t.plan(b); err != nil {
			fmt.Fprintf(c.stdout, "%-8s %s: %v\n", "refused", t.path, err)
		} else {
			off++
			fmt.Fprintf(c.stdout, "%-8s %s\n", "off", t.path)
		}
	}
	switch {
	case on > 0 && off == 0:
		fmt.Fprintln(c.stdout, "balancing ring groups: on")
	case on == 0:
		fmt.Fprintln(c.stdout, "balancing ring groups: off")
	default:
		fmt.Fprintln(c.stdout, "balancing ring groups: partly on (run `ringlb-fusionpbx on` again)")
	}
	return exitOK
}

func readFile(path string) ([]byte, fs.FileInfo, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s: not a regular file", path)
	}
	b, err := os.ReadFile(path)
	return b, info, err
}

// writeFile replaces path with b as a whole: a new file beside it, synced,
// renamed over it; like (when given) keeps its owner and group.
func writeFile(path string, b []byte, perm fs.FileMode, like fs.FileInfo) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".ringlb-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err = f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if like != nil {
		if sys, ok := like.Sys().(*syscall.Stat_t); ok {
			if cerr := f.Chown(int(sys.Uid), int(sys.Gid)); cerr != nil && os.Geteuid() == 0 {
				f.Close()
				return cerr
			}
		}
	}
	if err = f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
