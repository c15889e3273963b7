package main

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"strings"
)

// Marker is in every line ringlb-fusionpbx adds to a file, and in no other.
const Marker = "ringlb-fusionpbx"

// hookLine is the line put at the top of FusionPBX's ring group script: it
// hands balancing groups to ringlb.fusionpbx and lets FusionPBX ring every
// other group. It never stops a ring group from ringing: when the module
// cannot be loaded it logs why and FusionPBX's script goes on.
//
//go:embed hook.lua
var hookLine string

// errNotExpected is wrapped by every refusal to edit a file whose shape is
// not the one the edit was written for.
var errNotExpected = errors.New("not as expected")

func notExpected(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), errNotExpected)
}

// An edit inserts one line, carrying Marker, into one FusionPBX file.
// Inserting whole lines and nothing else is what lets `off` give the
// original back byte for byte by taking them out.
type edit struct {
	// what the file is, for messages
	what string
	// root is "scripts" (FreeSWITCH's script directory) or "web"
	// (FusionPBX's document root); rel is the path under it.
	root, rel string
	// place checks the file (its lines, each with its "\n") and returns
	// the index of the line the new line goes before and the new line
	// (without "\n"), or an error wrapping errNotExpected.
	place func(lines []string) (int, string, error)
}

// edits are the files `on` changes, in the order it changes them.
var edits = []edit{
	{what: "ring group script", root: "scripts", rel: "app/ring_groups/index.lua", place: placeHook},
	{what: "ring group script (FusionPBX's copy that App Defaults installs)", root: "web",
		rel: "app/switch/resources/scripts/app/ring_groups/index.lua", place: placeHook},
	{what: "ring group page", root: "web", rel: "app/ring_groups/ring_group_edit.php", place: placeOption},
	{what: "ring group labels", root: "web", rel: "app/ring_groups/app_languages.php", place: placeLabel},
}

// splitLines splits b into lines that keep their "\n"; the last line has
// none when b does not end with one.
func splitLines(b []byte) []string {
	var lines []string
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			lines = append(lines, string(b))
			break
		}
		lines = append(lines, string(b[:i+1]))
		b = b[i+1:]
	}
	return lines
}

// checkText refuses files the edits were not written for: CRLF line ends
// and NUL bytes (a binary file).
func checkText(b []byte) error {
	if bytes.IndexByte(b, 0) >= 0 {
		return notExpected("holds NUL bytes")
	}
	if bytes.IndexByte(b, '\r') >= 0 {
		return notExpected("has CR line ends")
	}
	return nil
}

// insert returns b with line inserted before its line at index at.
func insert(lines []string, at int, line string) ([]byte, error) {
	if at > 0 && !strings.HasSuffix(lines[at-1], "\n") {
		return nil, notExpected("does not end with a newline")
	}
	var out bytes.Buffer
	for i, l := range lines {
		if i == at {
			out.WriteString(line + "\n")
		}
		out.WriteString(l)
	}
	if at == len(lines) {
		out.WriteString(line + "\n")
	}
	return out.Bytes(), nil
}

// plan returns the file's content with the edit's line added, or an error.
func (e edit) plan(b []byte) ([]byte, error) {
	if err := checkText(b); err != nil {
		return nil, err
	}
	if bytes.Contains(b, []byte(Marker)) || bytes.Contains(b, []byte("ringlb.fusionpbx")) {
		return nil, notExpected("already holds a line of ringlb's that is not this version's")
	}
	lines := splitLines(b)
	at, line, err := e.place(lines)
	if err != nil {
		return nil, err
	}
	if !strings.Contains(line, Marker) || strings.ContainsAny(line, "\r\n") {
		return nil, fmt.Errorf("internal error: the line for %s is not one marked line", e.rel)
	}
	return insert(lines, at, line)
}

// ours returns the indexes of the lines of b that the edit would add: lines
// that carry Marker and are one of the lines this version writes.
func (e edit) ours(b []byte) []int {
	var idx []int
	lines := splitLines(b)
	for i, l := range lines {
		if !strings.Contains(l, Marker) {
			continue
		}
		// Recompute the line the edit writes from the file without it:
		// the same line, at the same place, means it is ours.
		without := make([]string, 0, len(lines)-1)
		without = append(without, lines[:i]...)
		without = append(without, lines[i+1:]...)
		if at, line, err := e.place(without); err == nil && at == i && line+"\n" == l {
			idx = append(idx, i)
		}
	}
	return idx
}

// remove returns b without the lines at idx.
func remove(b []byte, idx []int) []byte {
	drop := make(map[int]bool, len(idx))
	for _, i := range idx {
		drop[i] = true
	}
	var out bytes.Buffer
	for i, l := range splitLines(b) {
		if !drop[i] {
			out.WriteString(l)
		}
	}
	return out.Bytes()
}

// placeHook puts the hook line after the comment block that opens
// FusionPBX's ring group script (its licence), before any code.
func placeHook(lines []string) (int, string, error) {
	text := strings.Join(lines, "")
	for _, want := range []string{"ring_group_uuid", "v_ring_group_destinations", "ring_group_strategy", "session"} {
		if !strings.Contains(text, want) {
			return 0, "", notExpected("is not FusionPBX's ring group script (no %q)", want)
		}
	}
	at := 0
	for at < len(lines) && strings.HasPrefix(lines[at], "--") {
		at++
	}
	if at == len(lines) {
		return 0, "", notExpected("has no code")
	}
	return at, strings.TrimRight(hookLine, "\n"), nil
}

// linesWith returns the indexes of the lines that contain s.
func linesWith(lines []string, s string) []int {
	var idx []int
	for i, l := range lines {
		if strings.Contains(l, s) {
			idx = append(idx, i)
		}
	}
	return idx
}

// placeOption puts a "balancing" option after the "rollover" option of the
// strategy list on the ring group page.
func placeOption(lines []string) (int, string, error) {
	sel := linesWith(lines, "name='ring_group_strategy'")
	opt := linesWith(lines, "<option value='rollover'")
	switch {
	case len(sel) != 1:
		return 0, "", notExpected("has %d strategy lists (want 1)", len(sel))
	case len(opt) != 1:
		return 0, "", notExpected("has %d rollover options (want 1)", len(opt))
	case opt[0] < sel[0] || opt[0]-sel[0] > 10:
		return 0, "", notExpected("has its rollover option outside the strategy list")
	case !strings.Contains(lines[opt[0]], "$ring_group_strategy") || !strings.HasPrefix(strings.TrimSpace(lines[opt[0]]), "echo "):
		return 0, "", notExpected("has a rollover option that is not an echo of $ring_group_strategy")
	}
	l := lines[opt[0]]
	indent := l[:len(l)-len(strings.TrimLeft(l, " \t"))]
	// The HTML indentation inside the string, as the rollover option has it.
	inner := ""
	if i := strings.Index(l, `echo "`); i >= 0 {
		rest := l[i+len(`echo "`):]
		inner = rest[:len(rest)-len(strings.TrimLeft(rest, " \t"))]
	}
	line := indent + `echo "` + inner + `<option value='balancing' ".(($ring_group_strategy == "balancing") ? "selected='selected'" : null).">".($text['option-balancing'] ?? 'Balancing')."</option>\n"; // ` + Marker
	return opt[0] + 1, line, nil
}

// placeLabel puts the "Balancing" label after the rollover labels, for the
// ring group list (it shows each group's strategy by its label).
func placeLabel(lines []string) (int, string, error) {
	idx := linesWith(lines, "$text['option-rollover']")
	if len(idx) == 0 {
		return 0, "", notExpected("has no rollover label")
	}
	if len(linesWith(lines, "'option-balancing'")) > 0 {
		return 0, "", notExpected("has a balancing label already")
	}
	last := idx[len(idx)-1]
	if !strings.HasPrefix(lines[last], "$text['option-rollover']") {
		return 0, "", notExpected("has a rollover label that is not a $text line")
	}
	return last + 1, `$text['option-balancing']['en-us'] = "Balancing"; // ` + Marker, nil
}
