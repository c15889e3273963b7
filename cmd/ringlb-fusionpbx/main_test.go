package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The fixtures under testdata are small files written for these tests in
// the shape of the FusionPBX 5.x lines the edits look at (no FusionPBX code
// is kept in the project). The command is checked against FusionPBX's real
// files by hand (docs/fusionpbx.md).

// server copies the fixtures into a fresh web root and script directory
// and returns the flags that point the command at them.
func server(t *testing.T) (web, scripts, backup string, flags []string) {
	t.Helper()
	dir := t.TempDir()
	web, scripts, backup = filepath.Join(dir, "www"), filepath.Join(dir, "scripts"), filepath.Join(dir, "backup")
	copyTree(t, "testdata/web", web)
	copyTree(t, "testdata/scripts", scripts)
	// A config.conf without the directories: the flags name them, and the
	// server's own /etc/fusionpbx/config.conf is never read.
	conf := filepath.Join(dir, "config.conf")
	if err := os.WriteFile(conf, []byte("database.0.type = sqlite\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return web, scripts, backup, []string{"-web", web, "-scripts", scripts, "-backup", backup, "-config", conf}
}

func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// snapshot returns every file under the directories, path -> content.
func snapshot(t *testing.T, dirs ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, d := range dirs {
		filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err == nil && !e.IsDir() {
				b, _ := os.ReadFile(p)
				out[p] = string(b)
			}
			return nil
		})
	}
	return out
}

func cmd(t *testing.T, flags []string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(append(append([]string{}, flags...), args...), &out, &errb)
	return code, out.String(), errb.String()
}

// files are the four files a run edits.
func files(web, scripts string) []string {
	return []string{
		filepath.Join(scripts, "app/ring_groups/index.lua"),
		filepath.Join(web, "app/switch/resources/scripts/app/ring_groups/index.lua"),
		filepath.Join(web, "app/ring_groups/ring_group_edit.php"),
		filepath.Join(web, "app/ring_groups/app_languages.php"),
	}
}

func TestOnAddsOneLinePerFileAndOffRestoresByteForByte(t *testing.T) {
	web, scripts, backup, flags := server(t)
	before := snapshot(t, web, scripts)
	code, out, errs := cmd(t, flags, "on")
	if code != exitOK {
		t.Fatalf("on: exit %d\n%s%s", code, out, errs)
	}
	for _, p := range files(web, scripts) {
		old, now := before[p], readString(t, p)
		added := lineDiff(old, now)
		if len(added) != 1 || !strings.Contains(added[0], Marker) {
			t.Errorf("%s: want one added line with %q, got %q", p, Marker, added)
		}
		if !strings.Contains(out, p+": on (original kept in ") {
			t.Errorf("on output lacks %s:\n%s", p, out)
		}
	}
	// The hook is the first line of code, after the comment header.
	idx := readString(t, files(web, scripts)[0])
	lines := strings.Split(idx, "\n")
	if lines[6] != strings.TrimRight(hookLine, "\n") || !strings.HasPrefix(lines[5], "--") {
		t.Errorf("hook not right after the header:\n%s", strings.Join(lines[:9], "\n"))
	}
	// The option follows the rollover option, indented alike.
	php := readString(t, files(web, scripts)[2])
	if !strings.Contains(php, `$text['option-rollover']."</option>\n";`+"\n"+`	echo "		<option value='balancing' ".(($ring_group_strategy == "balancing") ? "selected='selected'" : null).">".($text['option-balancing'] ?? 'Balancing')."</option>\n"; // ringlb-fusionpbx`+"\n") {
		t.Errorf("option line:\n%s", php)
	}
	lang := readString(t, files(web, scripts)[3])
	if !strings.Contains(lang, `$text['option-rollover']['fr-fr'] = "capotage";`+"\n"+`$text['option-balancing']['en-us'] = "Balancing"; // ringlb-fusionpbx`+"\n") {
		t.Errorf("label line:\n%s", lang)
	}
	// Originals are kept.
	for _, p := range files(web, scripts) {
		c := &ctl{backup: backup}
		if got := readString(t, c.backupName(p)); got != before[p] {
			t.Errorf("backup of %s differs from the original", p)
		}
	}
	// Idempotent.
	mid := snapshot(t, web, scripts)
	code, out, _ = cmd(t, flags, "on")
	if code != exitOK || strings.Count(out, "on already") != 4 {
		t.Errorf("second on: exit %d\n%s", code, out)
	}
	if !equal(mid, snapshot(t, web, scripts)) {
		t.Error("second on changed files")
	}
	code, out, _ = cmd(t, flags, "status")
	if code != exitOK || !strings.Contains(out, "balancing ring groups: on") {
		t.Errorf("status: exit %d\n%s", code, out)
	}

	code, out, errs = cmd(t, flags, "off")
	if code != exitOK || strings.Count(out, "FusionPBX's original byte for byte") != 4 {
		t.Fatalf("off: exit %d\n%s%s", code, out, errs)
	}
	if !equal(before, snapshot(t, web, scripts)) {
		t.Error("off did not restore the files byte for byte")
	}
	if left := snapshot(t, backup); len(left) != 0 {
		t.Errorf("backup dir not emptied: %v", keys(left))
	}
	code, out, _ = cmd(t, flags, "off")
	if code != exitOK || !strings.Contains(out, "balancing ring groups: off") {
		t.Errorf("second off: exit %d\n%s", code, out)
	}
	if !equal(before, snapshot(t, web, scripts)) {
		t.Error("second off changed files")
	}
	_, out, _ = cmd(t, flags, "status")
	if !strings.Contains(out, "balancing ring groups: off") {
		t.Errorf("status after off:\n%s", out)
	}
}

func TestOnRefusesAFileNotAsExpectedAndChangesNothing(t *testing.T) {
	cases := []struct {
		name, rel string
		mutate    func(string) string
		want      string
	}{
		{"page without a rollover option", "www/app/ring_groups/ring_group_edit.php",
			func(s string) string { return strings.ReplaceAll(s, "value='rollover'", "value='rollover2'") }, "0 rollover options"},
		{"page with two strategy lists", "www/app/ring_groups/ring_group_edit.php",
			func(s string) string { return s + "echo \"<select name='ring_group_strategy'>\";\n" }, "2 strategy lists"},
		{"script that is not the ring group script", "scripts/app/ring_groups/index.lua",
			func(s string) string { return strings.ReplaceAll(s, "v_ring_group_destinations", "v_other") }, "not FusionPBX's ring group script"},
		{"script with CRLF line ends", "scripts/app/ring_groups/index.lua",
			func(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }, "CR line ends"},
		{"labels without rollover", "www/app/ring_groups/app_languages.php",
			func(s string) string { return strings.ReplaceAll(s, "option-rollover", "option-x") }, "no rollover label"},
		{"labels with a balancing label of someone else's", "www/app/ring_groups/app_languages.php",
			func(s string) string { return s + "$text['option-balancing']['en-us'] = \"B\";\n" }, "balancing label already"},
		{"a ringlb line of another version", "scripts/app/ring_groups/index.lua",
			func(s string) string { return "-- x\nrequire 'ringlb.fusionpbx' -- old ringlb-fusionpbx\n" + s }, "not this version's"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			web, scripts, backup, flags := server(t)
			p := filepath.Join(filepath.Dir(web), tc.rel)
			if err := os.WriteFile(p, []byte(tc.mutate(readString(t, p))), 0o644); err != nil {
				t.Fatal(err)
			}
			before := snapshot(t, web, scripts)
			code, out, errs := cmd(t, flags, "on")
			if code != exitRefused || !strings.Contains(errs, tc.want) || !strings.Contains(errs, "no file was changed") {
				t.Errorf("exit %d, want %d with %q\n%s%s", code, exitRefused, tc.want, out, errs)
			}
			if !equal(before, snapshot(t, web, scripts)) {
				t.Error("a refused on changed files")
			}
			if _, err := os.Stat(backup); err == nil {
				t.Error("a refused on wrote a backup")
			}
			_, out, _ = cmd(t, flags, "status")
			if !strings.Contains(out, "refused  "+p) {
				t.Errorf("status does not show the refusal:\n%s", out)
			}
		})
	}
}

func TestOnKeepsModeAndWritesWholeFiles(t *testing.T) {
	web, scripts, _, flags := server(t)
	p := files(web, scripts)[2]
	if err := os.Chmod(p, 0o640); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := cmd(t, flags, "on"); code != exitOK {
		t.Fatalf("on: %d\n%s%s", code, out, errs)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("mode after on: %v %v", fi.Mode(), err)
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(p), ".*ringlb-*"))
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	cmd(t, flags, "off")
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode after off: %v", fi.Mode())
	}
}

func TestOffAfterTheFilesChanged(t *testing.T) {
	web, scripts, backup, flags := server(t)
	before := snapshot(t, web, scripts)
	if code, _, errs := cmd(t, flags, "on"); code != exitOK {
		t.Fatal(errs)
	}
	fs := files(web, scripts)
	// The operator edits the page below ringlb's line.
	page := readString(t, fs[2]) + "// operator's own line\n"
	os.WriteFile(fs[2], []byte(page), 0o644)
	// A FusionPBX upgrade replaces the labels with its own, without the line.
	os.WriteFile(fs[3], []byte(before[fs[3]]), 0o644)
	// App Defaults copies FusionPBX's script (which has the hook) over the
	// deployed one: the same content, still on.
	os.WriteFile(fs[0], []byte(readString(t, fs[1])), 0o644)

	code, out, errs := cmd(t, flags, "off")
	if code != exitOK {
		t.Fatalf("off: %d\n%s%s", code, out, errs)
	}
	if got := readString(t, fs[2]); got != before[fs[2]]+"// operator's own line\n" {
		t.Errorf("page after off keeps more than the operator's line:\n%s", got)
	}
	if !strings.Contains(out, fs[2]+": off; the file was changed since on") {
		t.Errorf("off does not say the page changed:\n%s", out)
	}
	c := &ctl{backup: backup}
	if readString(t, c.backupName(fs[2])) != before[fs[2]] {
		t.Error("the page's original is not kept when the page changed")
	}
	if !strings.Contains(out, fs[3]+": off already") {
		t.Errorf("off does not say the labels were replaced:\n%s", out)
	}
	for _, p := range []string{fs[0], fs[1], fs[3]} {
		if readString(t, p) != before[p] {
			t.Errorf("%s not restored", p)
		}
	}
}

func TestOnWithoutWebRootEditsTheScriptsOnly(t *testing.T) {
	web, scripts, _, flags := server(t)
	os.RemoveAll(web)
	code, out, errs := cmd(t, flags, "on")
	if code != exitOK || !strings.Contains(out, "web directory "+web+": not on this server") {
		t.Fatalf("on: %d\n%s%s", code, out, errs)
	}
	if !strings.Contains(readString(t, filepath.Join(scripts, "app/ring_groups/index.lua")), Marker) {
		t.Error("script not edited")
	}
	if code, _, _ := cmd(t, flags, "off"); code != exitOK {
		t.Error("off failed")
	}
	os.RemoveAll(scripts)
	if code, _, _ := cmd(t, flags, "on"); code != exitRefused {
		t.Error("on with neither directory did not refuse")
	}
}

func TestDirectoriesFromConfigConf(t *testing.T) {
	web, scripts, backup, _ := server(t)
	conf := filepath.Join(t.TempDir(), "config.conf")
	os.WriteFile(conf, []byte("document.root = "+web+"\nswitch.scripts.dir = "+scripts+"\n"), 0o644)
	code, out, errs := cmd(t, []string{"-config", conf, "-backup", backup}, "on")
	if code != exitOK || strings.Count(out, ": on (original kept") != 4 {
		t.Fatalf("on: %d\n%s%s", code, out, errs)
	}
	if code, _, _ := cmd(t, []string{"-config", conf, "-backup", backup}, "off"); code != exitOK {
		t.Error("off failed")
	}
	if code, _, _ := cmd(t, []string{"-config", filepath.Join(t.TempDir(), "none")}, "status"); code != exitUsage {
		t.Error("a -config that does not exist is not a usage error")
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"bogus"}, {"on", "off"}, {"-nope", "on"}} {
		if code, _, _ := cmd(t, nil, args...); code != exitUsage {
			t.Errorf("%q: exit %d, want %d", args, code, exitUsage)
		}
	}
}

func TestHookLineIsOneMarkedLine(t *testing.T) {
	if strings.Count(hookLine, "\n") != 1 || !strings.HasSuffix(hookLine, "\n") || !strings.Contains(hookLine, Marker) {
		t.Fatalf("hook.lua must be one line ending in a newline and carrying %q: %q", Marker, hookLine)
	}
	if !strings.Contains(hookLine, `pcall(require, "ringlb.fusionpbx")`) || !strings.Contains(hookLine, "then return end") {
		t.Errorf("hook line: %s", hookLine)
	}
}

func readString(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// lineDiff returns the lines of now that old lacks (by count).
func lineDiff(old, now string) []string {
	have := map[string]int{}
	for _, l := range strings.Split(old, "\n") {
		have[l]++
	}
	var added []string
	for _, l := range strings.Split(now, "\n") {
		if have[l] > 0 {
			have[l]--
		} else {
			added = append(added, l)
		}
	}
	return added
}

func equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
